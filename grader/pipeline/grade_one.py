"""Grade one submitted notebook: the unit of work the executor hands out.

``grade_submission(job)`` takes and returns plain JSON-able dicts, so any executor can run it: a
local process pool today, a distributed engine's executor tomorrow (README, "Grading at scale").
The job carries the release notebook itself (read once by the coordinator) and the submission's
hash (the file is read again here, and must not have changed). The judge is loaded before the
kernel runs (``worker.prepare_judge``); the assembled notebook runs in a contained kernel
(``grader.sandbox``); each answer payload is read from the test cell the assembler placed and judged
here, in the grader's process, with ``course_utils.checking.judge_answer`` against references on
the same model the kernel used. The whole job, parsing included, is bounded in time and in what it
adds to the worker's memory: checked between its steps and, past a hard limit, stopped by ending
its worker (``job_limits``, ``local_pool``), never by raising into running code. Each record is checked
(``record_limits``, then the exercise's declared probes, ``recorded_gap``) before any judge runs:
one that cannot be judged within bounds makes the row ``invalid`` with the reason, never ``error``.
"""
from __future__ import annotations

import base64
import resource
import time
import traceback
from pathlib import Path

import nbformat

from course_utils.checking import ANSWER_MIME
from course_utils.checking.borrowed_static import mark_reference_answers
from course_utils.checking.checker_tampering import mark_tampering
from course_utils.checking.run_time_code import run_time_code
from course_utils.checking import hidden_tests
from course_utils.checking.records import carries_nonce, seal_test_cells, unseal_test_cells
from grader.pipeline import assemble, record_limits, submissions, worker
from grader.readings import evidence
from grader.reports import feedback_html, hidden_outputs
from grader.sandbox import capped_client, contained, forked_kernel
from grader.pipeline.files import write_atomically
from grader.pipeline.job import Job
from grader.pipeline.job_limits import JobLimits, JobMemory, JobTimeout
from grader.options import GradingOptions
from grader.pipeline.record_limits import RejectedRecord
from grader.pipeline.results import GradeRow, JobResult, Status, TestStatus
from grader.sandbox.contained import RunOutcome


def job_budget(options: GradingOptions) -> float:
    """Seconds a whole job may take: the notebook's limit, the kernel's start, and a margin."""
    return options.notebook_timeout + options.startup_timeout + 120


def grade_submission(job: dict) -> dict:
    """``job``: a ``Job`` as plain JSON (``Job.to_dict``: what crosses to this worker).

    Returns the ``JobResult`` as plain JSON; never raises. The job is bounded in time and in the
    worker's memory (``job_limits``): checked between steps here; past a hard limit the worker's
    process ends, and the pool records the row as ``timeout`` / ``oom`` (``local_pool``).
    """
    started = time.monotonic()
    job = Job.from_dict(job)
    if job.template is not None:  # a worker of this machine (a local Dask cluster): fork from its template
        forked_kernel.share(job.template)
    failure, timing = None, {}
    budget, memory = job_budget(job.options), job.options.judge_memory_mb * 2**20
    try:
        with JobLimits(budget, memory) as limits:
            worker.prepare_judge(job.options.model, (job.notebook,))
            limits.measure_memory_from_now()  # the judge's model, loaded once per worker, is not the job's
            row, problems, timing = _grade(job, limits)
            limits.check()  # a limit passed in the last step still counts
    except (JobTimeout, JobMemory) as limit:
        row, problems = limit_result(job, type(limit)).row, []
    except Exception as error:  # noqa: BLE001 - a grader bug must cost one row, not the batch
        row, problems = _row(job, Status.ERROR, f"the grader failed on this submission "
                                                f"({type(error).__name__}: {error})"), []
        failure = traceback.format_exc()
    row.seconds = round(time.monotonic() - started, 1)
    # The timing is for the benchmark's breakdown; not a column of grades.csv. The job's start and
    # end on the clock every process shares: the benchmark's timeline of a batch.
    ended_at = time.time()
    timing.update(began_at=ended_at - (time.monotonic() - started), ended_at=ended_at)
    rounded = {name: round(value, 3) if isinstance(value, float) else value for name, value in timing.items()}
    return JobResult(row, problems, rounded or None, failure).to_dict()


def _grade(job: Job, limits: JobLimits) -> tuple[GradeRow, list[dict], dict]:
    """The row, each test's verdict, and where the time went (template, kernel start, cells, judging)."""
    release = nbformat.reads(job.release, as_version=4)
    try:
        data = submissions.read_bytes(job.path)
        if submissions.sha256(data) != job.sha256:
            raise assemble.InvalidSubmission("the file changed while the batch was being graded; grade again")
        submitted = assemble.read_submission(data)
    except assemble.InvalidSubmission as error:
        return _not_run(job, _row(job, Status.INVALID, str(error)))
    holds = assemble.lesson_of(submitted, list(job.lesson_ids))
    if holds is not None and holds != job.notebook:
        return _not_run(job, _row(job, Status.WRONG_LESSON,
                                  f"this file holds the exercises of {holds}, not {job.notebook}"))

    built = assemble.assemble(submitted, release, job.notebook)
    # Only a test cell's own records count (its nonce), and its hidden tests reach the kernel only there.
    seal_test_cells([built.nb.cells[test.index] for test in built.tests], [test.problem_id for test in built.tests],
                    [_hidden_argument(test.problem_id) for test in built.tests])
    run = contained.run_notebook(built.nb, job.options, hidden=list(job.hide))
    judging = time.monotonic()
    problems, rejected = [], []
    for test in built.tests:
        limits.check()
        problems.append(_judge_cell(built.nb.cells[test.index], test, run, rejected))
    unseal_test_cells([built.nb.cells[test.index] for test in built.tests])  # feedback shows them as released
    _withhold_hidden_inputs(built, job.release)
    hooked = evidence.mark_hooked(problems)  # what ran around collect: a hook, a reference's code replaced
    similar = mark_reference_answers(built.nb.cells, problems)  # the grader's own reading: answers that are the reference
    tampered = mark_tampering(built.nb.cells, problems)  # ... and cells that change the checker
    review = None if tampered else run_time_code(built.nb.cells, release.cells)  # ... or code it does not show
    built.notes.extend(hooked + [f"changes how it is graded: {tampered}"] if tampered else
                       hooked + [f"for review: {note}" for note in similar + ([review] if review else [])])
    row = _outcome(job, built, problems, rejected, run)
    row.peak_memory_mib = run.peak_rss_mib
    timing = dict(run.timing)
    timing["memory_mib"] = {"kernel": run.peak_rss_mib, "template": run.template_peak_rss_mib,
                            "worker": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                            "judge_growth": limits.peak_growth // 2**20}
    timing["judge_s"] = time.monotonic() - judging
    _write_feedback(job, row, problems, built, run.stopped_at)
    timing["feedback_s"] = time.monotonic() - judging - timing["judge_s"]
    return row, problems, timing


def _not_run(job: Job, row: GradeRow) -> tuple[GradeRow, list[dict], dict]:
    """A submission refused before any kernel ran: its row, and a feedback page saying why."""
    _write_feedback(job, row, [], None)
    return row, [], {}


def _withhold_hidden_inputs(built, release_text: str):
    """Outputs of the student's cells that show a hidden test's input (a string the release does
    not show itself) are withheld from the feedback page (``hidden_outputs``)."""
    from course_utils.checking.registry import get_problem

    secrets = hidden_outputs.secret_strings([hidden_tests.of(get_problem(t.problem_id)) for t in built.tests])
    hidden_outputs.withhold(built.nb.cells, {t.index for t in built.tests},
                            {s for s in secrets if s not in release_text})


def _hidden_argument(problem_id: str) -> str:
    """The exercise's hidden tests as its test cell's ``hidden=`` argument ("" when it has none)."""
    from course_utils.checking.registry import get_problem

    tests = hidden_tests.of(get_problem(problem_id))
    return hidden_tests.as_argument(tests) if tests else ""


def _outcome(job: Job, built, problems: list[dict], rejected: list[str], run: RunOutcome) -> GradeRow:
    """The row: ``graded`` (or the run's own status) with the points earned; ``invalid``, scored 0,
    when an answer record had to be rejected (only a kernel that forges records makes one)."""
    score = sum(p["score"] for p in problems)
    notes = list(built.notes) + _cut_notes(built)
    if rejected:
        return _row(job, Status.INVALID, "; ".join(rejected))
    if run.status == Status.OK:
        return _row(job, Status.GRADED, "; ".join(notes), score)
    reached = sum(1 for p in problems if p["reached"])
    reason = f"{run.message}; graded the {reached} of {len(problems)} tests it reached"
    if notes:
        reason += "; " + "; ".join(notes)
    return _row(job, run.status, reason, score)


def _cut_notes(built) -> list[str]:
    """One note when the capped client cut printed output somewhere."""
    cut = [cell for cell in built.nb.cells if cell.get("cell_type") == "code" and capped_client.was_cut(cell)]
    return [f"printed output was cut in {len(cut)} cell(s) (it was too large to keep; answers are "
            f"not affected)"] if cut else []


def _judge_cell(cell, test: assemble.TestCell, run: RunOutcome, rejected: list[str]) -> dict:
    """Score one test cell from the payload it displayed, judged here (never in the kernel). A
    record that cannot be judged within bounds is refused before any judge runs and its reason
    appended to ``rejected``."""
    from course_utils.checking import judge_answer
    from course_utils.checking.records import scaled
    from course_utils.checking.registry import get_problem

    reached = run.status == Status.OK or run.stopped_at is None or test.index < run.stopped_at
    entry = {"grade_id": test.grade_id, "problem": test.problem_id, "max_score": test.points,
             "score": 0.0, "reached": reached, "status": TestStatus.NOT_ATTEMPTED.value, "message": ""}
    try:
        payload = _payload(cell, test.problem_id, entry)
        gap = None if payload is None else get_problem(test.problem_id).recorded_gap(payload)
        if gap is not None:
            raise RejectedRecord(gap)
    except RejectedRecord as error:
        rejected.append(f"the answer record of {test.grade_id} was rejected before judging: it {error}")
        entry.update(status=TestStatus.INCORRECT.value,
                     message=f"your answer record was rejected before judging: it {error}")
        return entry
    if payload is None:
        entry["status"] = (TestStatus.INCORRECT if reached else TestStatus.NOT_RUN).value
        entry["message"] = _no_answer(cell, reached)
        return entry
    verdict = scaled(judge_answer(test.problem_id, payload), test.points)   # to the release's points
    entry.update(score=round(verdict.score, 4), status=TestStatus(verdict.status).value, message=verdict.message)
    # The named mistake's id and the failed tests' labels, when known: for the class report.
    entry.update({k: v for k, v in verdict.to_dict().items() if k in ("mistake", "failed_tests")})
    if verdict.figure_png:  # the checker's picture, for the feedback page (feedback_html re-encodes it)
        entry["figure"] = base64.b64encode(verdict.figure_png).decode("ascii")
    return entry


def _no_answer(cell, reached: bool) -> str:
    error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
    if not reached:
        return "the run stopped before this test"
    if error is not None and error.get("ename") != "AssertionError":
        return f"no answer was recorded: the test cell raised {error.get('ename')}: {str(error.get('evalue'))[:300]}"
    return "no answer was recorded by this test cell"


def _payload(cell, problem_id: str, entry: dict):
    """The first answer payload for ``problem_id`` among the cell's outputs (size-capped), its
    record's ``evidence`` put in ``entry`` (``evidence.mark_hooked`` reads it); ``RejectedRecord``
    when that record cannot be read or judged within bounds."""
    for output in cell.get("outputs", []):
        data = output.get("data") if output.get("output_type") in ("display_data", "execute_result") else None
        if not isinstance(data, dict) or ANSWER_MIME not in data:
            continue
        record = data[ANSWER_MIME]
        if isinstance(record, str):
            if len(record) > capped_client.MAX_ANSWER_BYTES:
                raise RejectedRecord(f"is larger than {capped_client.MAX_ANSWER_BYTES:,} bytes")
            record = record_limits.parse_record(record)
        if (isinstance(record, dict) and record.get("problem") == problem_id and carries_nonce(record, cell)
                and isinstance(record.get("payload"), dict)):
            entry["evidence"] = record.get("evidence")
            return record_limits.checked(record["payload"])
    return None


def limit_result(job: Job, limit) -> JobResult:
    """The result of a job stopped at a limit (``JobTimeout`` / ``JobMemory``), whether by its own
    check or by its worker's end (``local_pool``): no points, ``timeout`` / ``oom``, and the reason."""
    if limit is JobTimeout:
        return JobResult(_row(job, Status.TIMEOUT, f"grading this submission took longer than "
                                                   f"{job_budget(job.options):.0f} s"))
    return JobResult(_row(job, Status.OOM, f"judging this submission's answers needed more than "
                                           f"{job.options.judge_memory_mb} MiB of the grader's memory"))


def error_result(job: Job, reason: str) -> JobResult:
    """The result of a submission the grader itself failed on (e.g. its worker died): no points,
    status ``error``, and the reason; the next run grades it again."""
    return JobResult(_row(job, Status.ERROR, reason))


def _row(job: Job, status: Status, reason: str, score: float = 0.0) -> GradeRow:
    """The job's row, out of the release's points (computed once, ``Job.max_score``)."""
    return GradeRow(student_id=job.student, notebook=job.notebook, status=status, reason=reason,
                    score=round(score, 4), max_score=job.max_score)


def _write_feedback(job: Job, row: GradeRow, problems: list[dict], built, stopped_at: int | None = None):
    """``feedback_path``: the executed notebook as sanitized HTML (``feedback_html``), each test
    cell's outputs replaced by the grader's own verdict (so no payload, hidden test input or
    kernel-side message shows)."""
    if not job.feedback_path:
        return
    verdicts = {t.index: p for t, p in zip(built.tests, problems)} if built is not None else None
    body = feedback_html.page(row.to_dict(), problems, built.nb.cells if built is not None else None, verdicts,
                              stopped_at=stopped_at)
    write_atomically(Path(job.feedback_path), body)
