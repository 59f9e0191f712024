"""Grade a folder of submissions: find them, grade them in parallel, write grades and feedback.

Layouts accepted: ``SUBMISSIONS/<student>/<lesson>.ipynb`` and nbgrader's
``SUBMISSIONS/submitted/<student>/<lesson>/<lesson>.ipynb``, as ``layout`` says (``auto``: by the
folder's structure as a whole, ``grader.submissions.decide_layout``). The batch's lessons
(``lesson_ids``, else the course's lessons found) are written to ``OUT/lessons.json``: the exports
make columns of those only, never of a file name a student chose.

The coordinator (this process) decides what counts: it releases the lessons and hands each
worker the release notebook itself (read once per batch), hashes each submission (the worker
refuses a file that changed since), and alone writes results and ``grades.csv``. Nothing is lost:
each result is saved (atomically) as soon as it is known, under ``OUT/results``, keyed by the
submission's hash and the grader's fingerprint and signed with the coordinator's key
(``grader.signing``), so a rerun reuses only what it computed itself, skips what it has already
graded, and resumes an interrupted run. ``grades.csv`` is rebuilt from all results at the end, in
a temporary file that replaces the old one only when complete, every cell neutralised for
spreadsheets (``grader.inert``).
"""
from __future__ import annotations

import concurrent.futures as futures
import csv
import hashlib
import io
import json
import multiprocessing
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from grader import grade_one, inert, sandbox, signing, student_ids, worker
from grader.fingerprint import fingerprint
from grader.assemble import InvalidSubmission
from grader.files import UnreadableFile, read_regular_file, write_atomically
from grader.options import GradingOptions
from grader.release import generate, lessons
from grader.results import CSV_FIELDS, GradeRow, Status, max_score
from grader.submissions import Submission, decide_layout, find_submissions, read_bytes, sha256, with_missing

DEFAULT_OPTIONS = GradingOptions().as_dict()   # the defaults as the jobs see them (``GradingOptions``)
MAX_RESULT_BYTES = 64 * 2**20
LESSONS_FILE = "lessons.json"   # OUT/lessons.json: the lessons of the batch grades.csv was made from


@dataclass
class BatchReport:
    rows: list = field(default_factory=list)
    graded_now: int = 0
    reused: int = 0
    layout: str = "plain"
    lessons: list = field(default_factory=list)


def autograde(submissions_dir, out_dir, workers: int | None = None, options: GradingOptions | dict | None = None,
              lesson_ids: list[str] | None = None, progress: bool = True, executor=None,
              unsafe_no_sandbox: bool = False, layout: str = "auto") -> BatchReport:
    """Grade everything under ``submissions_dir`` into ``out_dir``; returns the rows.

    ``options``: a ``GradingOptions``, or a dict of the ones that differ from the defaults.
    ``layout``: ``auto``, ``plain`` or ``nbgrader`` (``grader.submissions``).

    Raises ``sandbox.SandboxUnavailable`` when kernels cannot be sandboxed here, unless
    ``unsafe_no_sandbox`` (then kernels run with the grader's own rights: trusted work only).
    """
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions_dir}")
    chosen = GradingOptions.from_dict(options)
    options = replace(chosen, sandbox="none").as_dict() if unsafe_no_sandbox else chosen.as_dict()
    sandbox.sandbox_flags(options)  # refuse now, before anything is written, if it cannot run
    secret = signing.key()
    known = lessons()
    chosen_layout = decide_layout(submissions_dir, layout)
    found = find_submissions(submissions_dir, chosen_layout)
    unknown = sorted(set(lesson_ids or ()) - set(known))
    if unknown:
        raise ValueError(f"not lessons of this course: {', '.join(unknown)} (its lessons: {', '.join(known)})")
    expected = lesson_ids or sorted({s.notebook for s in found if s.notebook in known})
    releases, texts, keys = _release(expected, out_dir, options)
    hide = sorted({os.path.realpath(submissions_dir), os.path.realpath(out_dir)})

    todo, report = [], BatchReport(layout=chosen_layout, lessons=list(expected))
    results = {}
    for sub in with_missing(found, expected):
        at = (sub.student, sub.notebook)
        points = max_score(releases[sub.notebook]) if sub.notebook in releases else 0.0
        decided = _decided_without_running(sub, releases, expected or known, points)
        if decided is not None:
            results[at] = decided
            continue
        try:
            digest = sha256(read_bytes(sub.path))
        except InvalidSubmission as error:
            results[at] = _static_row(sub, Status.INVALID, str(error), points)
            continue
        key = hashlib.sha256((digest + keys[sub.notebook]).encode()).hexdigest()
        cached = _load_result(out_dir, sub, key, secret)
        if cached is not None:
            results[at] = cached
            report.reused += 1
            continue
        todo.append((sub, key, _job(sub, digest, texts[sub.notebook], known, options, hide, out_dir)))

    log_dir = out_dir / "logs"
    for (sub, key, job), result in _run_all(todo, workers, options, progress, executor, log_dir):
        _save_result(out_dir, sub, key, result, secret)
        results[(sub.student, sub.notebook)] = result
        report.graded_now += 1

    report.rows = [results[k]["row"] for k in sorted(results)]
    write_grades_csv(out_dir / "grades.csv", report.rows)
    write_atomically(out_dir / LESSONS_FILE, json.dumps({"lessons": list(expected)}))  # the exports' columns
    _write_class_report(out_dir)
    return report


def _write_class_report(out_dir: Path):
    """``OUT/report.html`` and ``OUT/report.csv`` (``grader.report``); the grades stand without them."""
    from grader import report as class_report

    try:
        class_report.write_report(out_dir)
    except Exception as error:  # noqa: BLE001 - a report that fails must not fail the batch
        print(f"the class report could not be written ({type(error).__name__}: {error}); "
              f"run `python -m grader report {out_dir}`")


def _release(expected: list[str], out_dir: Path, options: dict):
    """``(releases, texts, keys)`` of the batch's lessons: each release notebook, its text (what
    the jobs carry) and its fingerprint; the texts are also written to ``OUT/release`` for people."""
    releases = generate(expected) if expected else {}  # only the lessons this batch grades
    texts, keys = {}, {}
    for lesson, nb in releases.items():
        texts[lesson] = nbformat.writes(nb)
        write_atomically(out_dir / "release" / f"{lesson}.ipynb", texts[lesson])  # never read back
        keys[lesson] = fingerprint(lesson, texts[lesson], options)
    return releases, texts, keys


def _decided_without_running(sub: Submission, releases: dict, lessons: list[str], points: float) -> dict | None:
    """The result of a submission nothing needs to run for (refused, missing, not a lesson of
    the batch), or ``None``."""
    if sub.problem is not None:
        return _static_row(sub, Status.INVALID, sub.problem, points)
    if sub.path is None:
        return _static_row(sub, Status.MISSING, f"no {sub.notebook}.ipynb was submitted", points)
    if sub.notebook not in releases:
        return _static_row(sub, Status.INVALID, f"{sub.path.name} is not a lesson of this batch (expected one "
                                                f"of: {', '.join(lessons)}): not graded, and left out of every export",
                           0.0)
    return None


def _job(sub: Submission, digest: str, release_text: str, known: list[str], options: dict, hide: list[str],
         out_dir: Path) -> dict:
    """What a worker needs to grade ``sub`` (``grade_one.grade_submission``): plain JSON."""
    return {"student": sub.student, "notebook": sub.notebook, "path": str(sub.path), "sha256": digest,
            "release": release_text, "lesson_ids": known, "options": options, "hide": hide,
            "feedback_path": str(out_dir / "feedback" / student_ids.path_name(sub.student) / f"{sub.notebook}.html")}


def _run_all(todo, workers, options, progress, executor, log_dir):
    """Yield ``(item, result)`` as submissions finish, with a progress bar of graded / failed."""
    if not todo:
        return
    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    own = executor is None
    bar = tqdm(total=len(todo), unit="notebook", desc="grading", disable=not progress, dynamic_ncols=True)
    failed = 0
    try:
        with worker.worker_environment():  # the pool's processes start (on submit) in it
            if own:
                executor = futures.ProcessPoolExecutor(
                    max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                    initializer=worker.init_worker,
                    initargs=(options["model"], str(log_dir), tuple(sorted({job["notebook"] for *_, job in todo})),
                              options, tuple(todo[0][2]["hide"])))
            pending = {executor.submit(grade_one.grade_submission, job): (sub, key, job) for sub, key, job in todo}
        for future in futures.as_completed(pending):
            item = pending[future]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - e.g. a worker process died
                result = grade_one.error_row(item[2], f"the grading worker failed ({type(error).__name__}: {error})")
            if result["row"]["status"] != Status.GRADED:
                failed += 1
            bar.update(1)
            bar.set_postfix(graded=bar.n - failed, failed=failed)
            yield item, result
    finally:
        bar.close()
        if own and executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _static_row(sub: Submission, status: Status, reason: str, points: float) -> dict:
    """The result of a submission decided without running it (missing, refused): scored 0."""
    return GradeRow(student_id=student_ids.display(sub.student), notebook=sub.notebook, status=status,
                    reason=reason, max_score=points).as_result()


def _result_path(out_dir: Path, sub: Submission) -> Path:
    return out_dir / "results" / student_ids.path_name(sub.student) / f"{student_ids.path_name(sub.notebook)}.json"


def _signed_fields(sub: Submission, key: str, result: dict) -> dict:
    return {"student": sub.student, "notebook": sub.notebook, "key": key, "result": result}


def _load_result(out_dir, sub, key, secret):
    """The saved result, if this coordinator's key signed it for this very file and fingerprint."""
    try:
        saved = json.loads(read_regular_file(_result_path(out_dir, sub), MAX_RESULT_BYTES).decode("utf-8"))
        result = saved["result"]
        fields = _signed_fields(sub, key, result)
        if saved.get("key") != key or not signing.verify(secret, fields, saved.get("signature")):
            return None
        return result if GradeRow.from_dict(result["row"]).status != Status.ERROR else None
    except (UnreadableFile, OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _save_result(out_dir, sub, key, result, secret):
    signature = signing.sign(secret, _signed_fields(sub, key, result))
    write_atomically(_result_path(out_dir, sub),
                     json.dumps({"key": key, "signature": signature, "result": result}, indent=1))


def write_grades_csv(path: Path, rows: list[dict]):
    """``grades.csv``, every text cell inert in a spreadsheet (``inert.csv_cell``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: inert.csv_cell(row.get(k)) for k in CSV_FIELDS} for row in rows)
    write_atomically(Path(path), buffer.getvalue())


def summary_table(rows: list[dict]) -> str:
    """A plain-text table of the rows, then the count per status (control characters escaped)."""
    headers = ["student_id", "notebook", "score", "status", "reason"]
    lines = [[inert.printable(r["student_id"]), inert.printable(r["notebook"]),
              f"{float(r['score']):g} / {float(r['max_score']):g}", inert.printable(r["status"]),
              inert.printable(r["reason"] or "")[:70]] for r in rows]
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(l, widths)) for l in lines]
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    out.append("")
    out.append(", ".join(f"{n} {inert.printable(status)}" for status, n in sorted(counts.items())))
    return "\n".join(out)
