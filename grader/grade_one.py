"""Grade one submitted notebook: the unit of work the executor hands out.

``grade_submission(job)`` takes and returns plain JSON-able dicts, so any executor can run it: a
local process pool today, a distributed engine's executor tomorrow (README, "Grading at scale").
The job carries the release notebook itself (read once by the coordinator) and the submission's
hash (the file is read again here, and must not have changed). The judge is loaded before the
kernel runs (``worker.prepare_judge``); the assembled notebook runs in a contained kernel
(``sandbox``); each answer payload is read from the test cell the assembler placed and judged
here, in the grader's process, with ``course_utils.checking.judge_answer`` against references on
the same model the kernel used. The whole job, parsing included, is bounded in time and in what it
adds to the worker's memory, in whatever thread runs it (``job_limits``). Each record is checked
(``record_limits``, then the exercise's declared probes, ``recorded_gap``) before any judge runs:
one that cannot be judged within bounds makes the row ``invalid`` with the reason, never ``error``.
"""
from __future__ import annotations

import resource
import time
import traceback
from pathlib import Path

import nbformat

from course_utils.checking import ANSWER_MIME
from course_utils.checking.borrowed_static import mark_reference_answers
from course_utils.checking import hidden_tests
from course_utils.checking.records import carries_nonce, seal_test_cells, unseal_test_cells
from grader import assemble, capped_client, feedback_html, record_limits, sandbox, submissions, worker
from grader.files import write_atomically
from grader.job_limits import JobLimits, JobMemory, JobTimeout
from grader.record_limits import RejectedRecord
from grader.results import GradeRow, Status, max_score, max_score_of_text

DEFAULT_JUDGE_MEMORY_MB = 1024   # GradingOptions.judge_memory_mb, for jobs made without it


def job_budget(options: dict) -> float:
    """Seconds a whole job may take: the notebook's limit, the kernel's start, and a margin."""
    return options["notebook_timeout"] + options.get("startup_timeout", 120) + 120


def grade_submission(job: dict) -> dict:
    """``job``: student, notebook (lesson id), path, sha256, release (the release notebook's
    text), lesson_ids, options, feedback_path, hide (paths no kernel may see).

    Returns ``{"row": {...grades.csv row...}, "problems": [...]}``; never raises. The job is bounded
    in time and in the worker's memory in any thread (``job_limits``): past a limit its row is
    ``timeout`` / ``oom``, even when the limit fires inside the judge.
    """
    started = time.monotonic()
    failure, timing = None, {}
    budget = job_budget(job["options"])
    memory = job["options"].get("judge_memory_mb", DEFAULT_JUDGE_MEMORY_MB) * 2**20
    try:
        with JobLimits(budget, memory) as limits:
            worker.prepare_judge(job["options"]["model"], (job["notebook"],))
            limits.measure_memory_from_now()  # the judge's model, loaded once per worker, is not the job's
            row, problems, timing = _grade(job, limits)
            limits.check()  # a limit that fired and was swallowed on the way still counts
    except JobTimeout:
        row, problems = _row(job, Status.TIMEOUT, f"grading this submission took longer than {budget:.0f} s"), []
    except JobMemory:
        row, problems = _row(job, Status.OOM, f"judging this submission's answers needed more than "
                                              f"{memory // 2**20} MiB of the grader's memory"), []
    except Exception as error:  # noqa: BLE001 - a grader bug must cost one row, not the batch
        row, problems = _row(job, Status.ERROR, f"the grader failed on this submission "
                                                f"({type(error).__name__}: {error})"), []
        failure = traceback.format_exc()
    row.seconds = round(time.monotonic() - started, 1)
    result = row.as_result(problems)
    if timing:  # for the benchmark's breakdown; not a column of grades.csv
        result["timing"] = {name: round(value, 3) if isinstance(value, float) else value
                            for name, value in timing.items()}
    if failure is not None:
        result["traceback"] = failure
    return result


def _grade(job: dict, limits: JobLimits) -> tuple[GradeRow, list[dict], dict]:
    """The row, each test's verdict, and where the time went (template, kernel start, cells, judging)."""
    release = nbformat.reads(job["release"], as_version=4)
    try:
        data = submissions.read_bytes(job["path"])
        if submissions.sha256(data) != job["sha256"]:
            raise assemble.InvalidSubmission("the file changed while the batch was being graded; grade again")
        submitted = assemble.read_submission(data)
    except assemble.InvalidSubmission as error:
        row = _row(job, Status.INVALID, str(error), out_of=max_score(release))
        _write_feedback(job, row, [], None)
        return row, [], {}
    holds = assemble.lesson_of(submitted, job["lesson_ids"])
    if holds is not None and holds != job["notebook"]:
        row = _row(job, Status.WRONG_LESSON, f"this file holds the exercises of {holds}, not {job['notebook']}",
                   out_of=max_score(release))
        _write_feedback(job, row, [], None)
        return row, [], {}

    built = assemble.assemble(submitted, release, job["notebook"])
    # Only a test cell's own records count (its nonce), and its hidden tests reach the kernel only there.
    seal_test_cells([built.nb.cells[test.index] for test in built.tests],
                    [_hidden_argument(test.problem_id) for test in built.tests])
    status, message, info = sandbox.run_notebook(built.nb, job["options"], hidden=job.get("hide", []))
    stopped_at = info.get("stopped_at")
    judging = time.monotonic()
    problems, rejected = [], []
    for test in built.tests:
        limits.check()
        problems.append(_judge_cell(built.nb.cells[test.index], test, status, stopped_at, rejected))
    unseal_test_cells([built.nb.cells[test.index] for test in built.tests])  # feedback shows them as released
    mark_reference_answers(built.nb.cells, problems)  # the grader's own reading: answers that are the reference
    row = _outcome(job, built, problems, rejected, status, message)
    row.peak_memory_mib = info.get("peak_rss_mb")
    timing = info.get("timing", {})
    timing["memory_mib"] = {"kernel": info.get("peak_rss_mb"), "template": info.get("template_peak_rss_mb"),
                            "worker": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                            "judge_growth": limits.peak_growth // 2**20}
    timing["judge_s"] = time.monotonic() - judging
    _write_feedback(job, row, problems, built, stopped_at)
    timing["feedback_s"] = time.monotonic() - judging - timing["judge_s"]
    return row, problems, timing


def _hidden_argument(problem_id: str) -> str:
    """The exercise's hidden tests as its test cell's ``hidden=`` argument ("" when it has none)."""
    from course_utils.checking.registry import get_problem

    tests = hidden_tests.of(get_problem(problem_id))
    return hidden_tests.as_argument(tests) if tests else ""


def _outcome(job, built, problems: list[dict], rejected: list[str], status: str, message: str) -> GradeRow:
    """The row: ``graded`` (or the run's own status) with the points earned; ``invalid``, scored 0,
    when an answer record had to be rejected (only a kernel that forges records makes one)."""
    score = sum(p["score"] for p in problems)
    out_of = sum(p["max_score"] for p in problems)
    notes = list(built.notes) + _cut_notes(built)
    if rejected:
        return _row(job, Status.INVALID, "; ".join(rejected), 0.0, out_of)
    if status == Status.OK:
        return _row(job, Status.GRADED, "; ".join(notes), score, out_of)
    reached = sum(1 for p in problems if p["reached"])
    reason = f"{message}; graded the {reached} of {len(problems)} tests it reached"
    if notes:
        reason += "; " + "; ".join(notes)
    return _row(job, Status(status), reason, score, out_of)


def _cut_notes(built) -> list[str]:
    """One note when the capped client cut printed output somewhere."""
    cut = [cell for cell in built.nb.cells if cell.get("cell_type") == "code" and capped_client.was_cut(cell)]
    return [f"printed output was cut in {len(cut)} cell(s) (it was too large to keep; answers are "
            f"not affected)"] if cut else []


def _judge_cell(cell, test: assemble.TestCell, run_status: str, stopped_at, rejected: list[str]) -> dict:
    """Score one test cell from the payload it displayed, judged here (never in the kernel). A
    record that cannot be judged within bounds is refused before any judge runs and its reason
    appended to ``rejected``."""
    from course_utils.checking import judge_answer
    from course_utils.checking.registry import get_problem

    reached = run_status == Status.OK or stopped_at is None or test.index < stopped_at
    entry = {"grade_id": test.grade_id, "problem": test.problem_id, "max_score": test.points,
             "score": 0.0, "reached": reached, "status": "Not attempted", "message": ""}
    try:
        payload = _payload(cell, test.problem_id)
        gap = None if payload is None else get_problem(test.problem_id).recorded_gap(payload)
        if gap is not None:
            raise RejectedRecord(gap)
    except RejectedRecord as error:
        rejected.append(f"the answer record of {test.grade_id} was rejected before judging: it {error}")
        entry.update(status="Incorrect", message=f"your answer record was rejected before judging: it {error}")
        return entry
    if payload is None:
        entry["status"] = "Incorrect" if reached else "Not run"
        entry["message"] = _no_answer(cell, reached)
        return entry
    verdict = judge_answer(test.problem_id, payload)
    fraction = verdict.score / verdict.max_score if verdict.max_score else 0.0
    entry.update(score=round(fraction * test.points, 4), status=verdict.status,
                 message=verdict.message)
    # The named mistake's id and the failed tests' labels, when known: for the class report.
    entry.update({k: v for k, v in verdict.to_dict().items() if k in ("mistake", "failed_tests")})
    return entry


def _no_answer(cell, reached: bool) -> str:
    error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
    if not reached:
        return "the run stopped before this test"
    if error is not None and error.get("ename") != "AssertionError":
        return f"no answer was recorded: the test cell raised {error.get('ename')}: {str(error.get('evalue'))[:300]}"
    return "no answer was recorded by this test cell"


def _payload(cell, problem_id: str):
    """The first answer payload for ``problem_id`` among the cell's outputs (size-capped);
    ``RejectedRecord`` when that record cannot be read or judged within bounds."""
    for output in cell.get("outputs", []):
        data = output.get("data") if output.get("output_type") in ("display_data", "execute_result") else None
        if not isinstance(data, dict) or ANSWER_MIME not in data:
            continue
        record = data[ANSWER_MIME]
        if isinstance(record, str):
            if len(record) > sandbox.MAX_ANSWER_BYTES:
                raise RejectedRecord(f"is larger than {sandbox.MAX_ANSWER_BYTES:,} bytes")
            record = record_limits.parse_record(record)
        if (isinstance(record, dict) and record.get("problem") == problem_id and carries_nonce(record, cell)
                and isinstance(record.get("payload"), dict)):
            return record_limits.checked(record["payload"])
    return None


def error_row(job, reason: str) -> dict:
    """The result of a submission the grader itself failed on (e.g. its worker died): no points,
    status ``error``, and the reason; the next run grades it again."""
    return _row(job, Status.ERROR, reason).as_result()


def _row(job, status: Status, reason: str, score: float = 0.0, out_of: float | None = None) -> GradeRow:
    """The job's row; ``out_of`` defaults to the release's points (0 if it cannot be read)."""
    return GradeRow(student_id=job["student"], notebook=job["notebook"], status=status, reason=reason,
                    score=round(score, 4),
                    max_score=max_score_of_text(job.get("release")) if out_of is None else out_of)


def _write_feedback(job, row: GradeRow, problems: list[dict], built, stopped_at: int | None = None):
    """``feedback_path``: the executed notebook as inert HTML (``feedback_html``), each test
    cell's outputs replaced by the grader's own verdict (so no payload, hidden test input or
    kernel-side message shows)."""
    path = job.get("feedback_path")
    if not path:
        return
    verdicts = {t.index: p for t, p in zip(built.tests, problems)} if built is not None else None
    body = feedback_html.page(row.to_dict(), problems, built.nb.cells if built is not None else None, verdicts,
                              stopped_at=stopped_at)
    write_atomically(Path(path), body)
