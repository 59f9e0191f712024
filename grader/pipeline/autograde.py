"""Grade a folder of submissions: find them, grade them in parallel, write grades and feedback.

Layouts accepted: ``SUBMISSIONS/<student>/<lesson>.ipynb`` and nbgrader's
``SUBMISSIONS/submitted/<student>/<lesson>/<lesson>.ipynb``, as ``layout`` says (``auto``: by the
folder's structure as a whole, ``grader.pipeline.submissions.decide_layout``). The batch's lessons
(``lesson_ids``, else the course's lessons found) are written to ``OUT/lessons.json``: the exports
make columns of those only, never of a file name a student chose.

The coordinator (this process) decides what counts: it releases the lessons and hands each
worker the release notebook itself (read once per batch), hashes each submission (the worker
refuses a file that changed since), and alone writes results and ``grades.csv``. Nothing is lost:
each result is saved (atomically) as soon as it is known, under ``OUT/results``, keyed by the
submission's hash and the grader's fingerprint and signed with the coordinator's key
(``grader.pipeline.signing``), so a rerun reuses only what it computed itself, skips what it has already
graded, and resumes an interrupted run. ``grades.csv`` is rebuilt from all results at the end, in
a temporary file that replaces the old one only when complete, every cell neutralised for
spreadsheets (``grader.reports.sanitize``).
"""
from __future__ import annotations

import collections
import concurrent.futures as futures
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.pipeline import grade_one, local_pool, signing, student_ids, worker
from grader.reports import grades_csv, report_html
from grader.sandbox import contained
from grader.pipeline.fingerprint import fingerprint
from grader.pipeline.assemble import InvalidSubmission
from grader.pipeline.files import UnreadableFile, read_regular_file, write_atomically
from grader.pipeline.job import Job
from grader.options import GradingOptions
from grader.course_release.release import generate, lessons
from grader.pipeline.results import GradeRow, JobResult, Status, max_score
from grader.pipeline.submissions import Submission, decide_layout, find_submissions, read_bytes, sha256, with_missing

MAX_RESULT_BYTES = 64 * 2**20
LESSONS_FILE = "lessons.json"   # OUT/lessons.json: the lessons of the batch grades.csv was made from


@dataclass
class BatchReport:
    rows: list[GradeRow] = field(default_factory=list)
    graded_now: int = 0
    reused: int = 0
    layout: str = "plain"
    lessons: list = field(default_factory=list)

    def table(self) -> list[dict]:
        """The rows as ``grades.csv`` holds them (plain values)."""
        return [row.to_dict() for row in self.rows]


@dataclass
class Batch:
    """What the coordinator knows of the batch before grading: its options, lessons and releases."""

    options: GradingOptions
    out_dir: Path
    known: list[str]                  # the course's lessons
    expected: list[str]               # the lessons of this batch
    releases: dict = field(default_factory=dict)   # lesson: (release text, max score, fingerprint)
    hide: tuple[str, ...] = ()
    template: dict | None = None      # the machine's kernel template, where its workers share it


def autograde(submissions_dir, out_dir, workers: int | None = None, options: GradingOptions | dict | None = None,
              lesson_ids: list[str] | None = None, progress: bool = True, executor=None,
              layout: str = "auto") -> BatchReport:
    """Grade everything under ``submissions_dir`` into ``out_dir``; returns the rows.

    ``options``: a ``GradingOptions``, or a dict of the ones that differ from the defaults
    (``sandbox="none"``: kernels run with the grader's own rights, for trusted work only).
    ``layout``: ``auto``, ``plain`` or ``nbgrader`` (``grader.pipeline.submissions``).

    Raises ``contained.SandboxUnavailable`` when kernels cannot be sandboxed here and the options
    did not say ``sandbox="none"``.
    """
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions_dir}")
    options = GradingOptions.from_dict(options)
    contained.sandbox_flags(options)  # refuse now, before anything is written, if it cannot run
    secret = signing.key()
    chosen_layout = decide_layout(submissions_dir, layout)
    out_dir.mkdir(parents=True, exist_ok=True)  # hidden from the kernels: it must exist (bwrap.hidden_paths)
    hide = tuple(sorted({os.path.realpath(submissions_dir), os.path.realpath(out_dir)}))
    # The class report's plotting library loads while the kernel template starts (off the batch's end).
    threading.Thread(target=report_html.import_plotting, name="import-plotting", daemon=True).start()
    # The machine's kernel template loads from now on, while the batch is read and released; this
    # process keeps it for its next batches (each fork hides its own batch's folders).
    on_this_machine = executor is None or getattr(executor, "on_this_machine", False)
    template = contained.machine_template(options) if on_this_machine else None  # None: each worker decides
    found = find_submissions(submissions_dir, chosen_layout)
    batch = _batch(options, out_dir, found, lesson_ids)
    batch.hide, batch.template = hide, template and template.attachment()
    report = BatchReport(layout=chosen_layout, lessons=list(batch.expected))
    results, todo = {}, []
    for sub in with_missing(found, batch.expected):
        known, job = _known_or_job(batch, sub, secret)
        if known is not None:
            results[(sub.student, sub.notebook)] = known
            report.reused += job is not None
        else:
            todo.append(job)
    for (sub, key, job), result in _run_all(todo, workers, options, progress, executor, out_dir / "logs",
                                            batch.template):
        _save_result(out_dir, sub, key, result, secret)
        results[(sub.student, sub.notebook)] = result
        report.graded_now += 1

    report.rows = [results[k].row for k in sorted(results)]
    grades_csv.write(out_dir / "grades.csv", report.rows)
    write_atomically(out_dir / LESSONS_FILE, json.dumps({"lessons": list(batch.expected)}))  # the exports' columns
    _write_class_report(out_dir)
    return report


def _batch(options: GradingOptions, out_dir: Path, found: list[Submission], lesson_ids) -> Batch:
    """The batch's lessons (``lesson_ids``, else those found) and their releases."""
    known = lessons()
    unknown = sorted(set(lesson_ids or ()) - set(known))
    if unknown:
        raise ValueError(f"not lessons of this course: {', '.join(unknown)} (its lessons: {', '.join(known)})")
    expected = lesson_ids or sorted({s.notebook for s in found if s.notebook in known})
    batch = Batch(options, out_dir, known, list(expected))
    batch.releases = _release(batch.expected, out_dir, options)
    return batch


def _known_or_job(batch: Batch, sub: Submission, secret: bytes):
    """``(result, None)`` for a submission nothing needs to run for, ``(result, True)`` for one
    whose saved result is reused, else ``(None, (sub, key, job))``: the job to run."""
    text, points, lesson_key = batch.releases.get(sub.notebook, (None, 0.0, None))
    decided = _decided_without_running(sub, batch.releases, batch.expected or batch.known, points)
    if decided is not None:
        return decided, None
    try:
        digest = sha256(read_bytes(sub.path))
    except InvalidSubmission as error:
        return _static_result(sub, Status.INVALID, str(error), points), None
    key = hashlib.sha256((digest + lesson_key).encode()).hexdigest()
    cached = _load_result(batch.out_dir, sub, key, secret)
    if cached is not None:
        return cached, True
    feedback = batch.out_dir / "feedback" / student_ids.path_name(sub.student) / f"{sub.notebook}.html"
    job = Job(student=sub.student, notebook=sub.notebook, release=text, options=batch.options,
              lesson_ids=tuple(batch.known), path=str(sub.path), sha256=digest, hide=batch.hide,
              feedback_path=str(feedback), max_score=points, template=batch.template)
    return None, (sub, key, job)


def _write_class_report(out_dir: Path):
    """``OUT/report.html`` and ``OUT/report.csv`` (``grader.reports.report``); the grades stand without them."""
    from grader.reports import report as class_report

    try:
        class_report.write_report(out_dir)
    except Exception as error:  # noqa: BLE001 - a report that fails must not fail the batch
        print(f"the class report could not be written ({type(error).__name__}: {error}); "
              f"run `python -m grader report {out_dir}`")


def _release(expected: list[str], out_dir: Path, options: GradingOptions) -> dict:
    """``{lesson: (release text, max score, fingerprint)}`` of the batch's lessons: the text is what
    the jobs carry, the max score is computed here once; the texts are also written to
    ``OUT/release`` for people."""
    releases = {}
    for lesson, nb in (generate(expected) if expected else {}).items():  # only the lessons this batch grades
        text = nbformat.writes(nb)
        write_atomically(out_dir / "release" / f"{lesson}.ipynb", text)  # never read back
        releases[lesson] = (text, max_score(nb), fingerprint(lesson, text, options.to_dict()))
    return releases


def _decided_without_running(sub: Submission, releases: dict, lessons: list[str], points: float):
    """The result of a submission nothing needs to run for (refused, missing, not a lesson of
    the batch), or ``None``."""
    if sub.problem is not None:
        return _static_result(sub, Status.INVALID, sub.problem, points)
    if sub.path is None:
        return _static_result(sub, Status.MISSING, f"no {sub.notebook}.ipynb was submitted", points)
    if sub.notebook not in releases:
        return _static_result(sub, Status.INVALID, f"{sub.path.name} is not a lesson of this batch (expected one "
                                                   f"of: {', '.join(lessons)}): not graded, and left out of every "
                                                   "export", 0.0)
    return None


def _run_all(todo, workers, options: GradingOptions, progress, executor, log_dir, template: dict | None):
    """Yield ``(item, JobResult)`` as submissions finish, with a progress bar of the rows per status.
    Each job crosses to its worker as plain JSON (``Job.to_dict``), its result comes back as one;
    the local pool's workers fork their kernels from ``template`` (``KernelTemplate.attachment``)."""
    if not todo:
        return
    from tqdm import tqdm

    own = executor is None
    bar = tqdm(total=len(todo), unit="notebook", desc="grading", disable=not progress, dynamic_ncols=True)
    counted = collections.Counter()   # status word: rows, as grades.csv and the summary say it
    try:
        # The pool's processes start (on submit) in it; its fork server imports the judge of every
        # lesson of the release, so that a later batch of this process finds it ready too.
        with worker.worker_environment(options.model, tuple(todo[0][2].lesson_ids), str(log_dir)):
            if own:
                executor = _local_pool(todo, workers or os.cpu_count() or 1, options, log_dir, template)
            pending = {executor.submit(grade_one.grade_submission, job.to_dict()): (sub, key, job)
                       for sub, key, job in todo}
        for future in futures.as_completed(pending):
            item = pending[future]
            try:
                result = JobResult.from_dict(local_pool.result_of(future, item[2]) if own else future.result())
            except Exception as error:  # noqa: BLE001 - e.g. a Dask worker that died (KilledWorker)
                result = grade_one.error_result(item[2], f"the grading worker failed ({type(error).__name__}: "
                                                         f"{error})")
            counted[str(result.row.status)] += 1
            bar.update(1)
            bar.set_postfix_str(", ".join(f"{n} {status}" for status, n in sorted(counted.items())))
            yield item, result
    finally:
        bar.close()
        if own and executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _local_pool(todo, workers: int, options: GradingOptions, log_dir: Path, template: dict | None):
    """The local process pool (``local_pool``: a job past its deadline is stopped by killing its
    worker, from this process): each worker loads the judge of the batch's lessons before its first
    job (``worker.init_worker``), while ``template`` (the machine's kernel template, shared by
    every worker; ``None``: each worker starts its own) loads."""
    lessons_graded = tuple(sorted({job.notebook for *_, job in todo}))
    return local_pool.LocalPool(min(workers, len(todo)), worker.pool_context(options.model), worker.init_worker,
                                (options.model, str(log_dir), lessons_graded, options, template))



def _static_result(sub: Submission, status: Status, reason: str, points: float) -> JobResult:
    """The result of a submission decided without running it (missing, refused): scored 0."""
    return JobResult(GradeRow(student_id=student_ids.display(sub.student), notebook=sub.notebook, status=status,
                              reason=reason, max_score=points))


def _result_path(out_dir: Path, sub: Submission) -> Path:
    return out_dir / "results" / student_ids.path_name(sub.student) / f"{student_ids.path_name(sub.notebook)}.json"


def _signed_fields(sub: Submission, key: str, result: dict) -> dict:
    return {"student": sub.student, "notebook": sub.notebook, "key": key, "result": result}


def _load_result(out_dir, sub, key, secret) -> JobResult | None:
    """The saved result, if this coordinator's key signed it for this very file and fingerprint."""
    try:
        saved = json.loads(read_regular_file(_result_path(out_dir, sub), MAX_RESULT_BYTES).decode("utf-8"))
        fields = _signed_fields(sub, key, saved["result"])
        if saved.get("key") != key or not signing.verify(secret, fields, saved.get("signature")):
            return None
        result = JobResult.from_dict(saved["result"])
        return result if result.row.status != Status.ERROR else None
    except (UnreadableFile, OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _save_result(out_dir, sub, key, result: JobResult, secret):
    saved = result.to_dict()
    signature = signing.sign(secret, _signed_fields(sub, key, saved))
    write_atomically(_result_path(out_dir, sub),
                     json.dumps({"key": key, "signature": signature, "result": saved}, indent=1))
