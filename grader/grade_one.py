"""Grade one submitted notebook: the unit of work the executor hands out.

``grade_submission(job)`` takes and returns plain JSON-able dicts, so any executor can run it: a
local process pool today, a distributed engine's executor tomorrow (README, "Grading at scale").
The job carries the release notebook itself (read once by the coordinator) and the submission's
hash (the file is read again here, and must not have changed). The judge is loaded before the
kernel runs (``worker.prepare_judge``); the assembled notebook runs in a contained kernel
(``sandbox``); each answer payload is read from the test cell the assembler placed and judged
here, in the grader's process, with ``course_utils.checking.judge_answer`` against references on
the same model the kernel used. The whole job, parsing included, is bounded in time.
"""
from __future__ import annotations

import json
import signal
import threading
import time
import traceback
from pathlib import Path

import nbformat

from course_utils.checking import ANSWER_MIME
from grader import assemble, feedback_html, sandbox, submissions, worker

STATUS_GRADED = "graded"          # ran to the end; the score is what the answers earned
STATUS_INVALID = "invalid"        # not a gradable notebook
STATUS_WRONG_LESSON = "wrong_lesson"
STATUS_MISSING = "missing"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"            # the grader itself failed on this submission


class JobTimeout(Exception):
    """The whole job (parsing, kernel, judging, feedback) outlived its budget."""


def job_budget(options: dict) -> float:
    """Seconds a whole job may take: the notebook's limit, the kernel's start, and a margin."""
    return options["notebook_timeout"] + options.get("startup_timeout", 120) + 120


def grade_submission(job: dict) -> dict:
    """``job``: student, notebook (lesson id), path, sha256, release (the release notebook's
    text), lesson_ids, options, feedback_path, hide (paths no kernel may see).

    Returns ``{"row": {...grades.csv row...}, "problems": [...]}``; never raises.
    """
    started = time.monotonic()
    timer = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, _raise_timeout) if timer else None
    try:
        if timer:  # a backstop: the watchdog bounds the kernel, the caps bound everything else
            signal.setitimer(signal.ITIMER_REAL, job_budget(job["options"]))
        worker.prepare_judge(job["options"]["model"], (job["notebook"],))
        result = _grade(job)
    except JobTimeout:
        result = _row(job, STATUS_TIMEOUT, 0.0, _max_score(job),
                      f"grading this submission took longer than {job_budget(job['options']):.0f} s")
    except Exception as error:  # noqa: BLE001 - a grader bug must cost one row, not the batch
        result = _row(job, STATUS_ERROR, 0.0, _max_score(job),
                      f"the grader failed on this submission ({type(error).__name__}: {error})")
        result["traceback"] = traceback.format_exc()
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
    result["row"]["seconds"] = round(time.monotonic() - started, 1)
    return result


def _raise_timeout(signum, frame):
    raise JobTimeout()


def _grade(job: dict) -> dict:
    release = nbformat.reads(job["release"], as_version=4)
    try:
        data = submissions.read_bytes(job["path"])
        if submissions.sha256(data) != job["sha256"]:
            raise assemble.InvalidSubmission("the file changed while the batch was being graded; grade again")
        submitted = assemble.read_submission(data)
    except assemble.InvalidSubmission as error:
        result = _row(job, STATUS_INVALID, 0.0, max_score(release), str(error))
        _write_feedback(job, result, None)
        return result
    holds = assemble.lesson_of(submitted, job["lesson_ids"])
    if holds is not None and holds != job["notebook"]:
        result = _row(job, STATUS_WRONG_LESSON, 0.0, max_score(release),
                      f"this file holds the exercises of {holds}, not {job['notebook']}")
        _write_feedback(job, result, None)
        return result

    built = assemble.assemble(submitted, release, job["notebook"])
    status, message, info = sandbox.run_notebook(built.nb, job["options"], hidden=job.get("hide", []))
    stopped_at = info.get("stopped_at")
    problems = []
    for test in built.tests:
        problems.append(_judge_cell(built.nb.cells[test.index], test, status, stopped_at))
    score = sum(p["score"] for p in problems)
    out_of = sum(p["max_score"] for p in problems)
    if status == "ok":
        reason = "; ".join(built.notes)
        status = STATUS_GRADED
    else:
        reached = sum(1 for p in problems if p["reached"])
        reason = f"{message}; graded the {reached} of {len(problems)} tests it reached"
        if built.notes:
            reason += "; " + "; ".join(built.notes)
    result = _row(job, status, score, out_of, reason)
    result["problems"] = problems
    result["row"]["peak_memory_mib"] = info.get("peak_rss_mb")
    _write_feedback(job, result, built)
    return result


def _judge_cell(cell, test: assemble.TestCell, run_status: str, stopped_at) -> dict:
    """Score one test cell from the payload it displayed, judged here (never in the kernel)."""
    from course_utils.checking import judge_answer

    reached = run_status == "ok" or stopped_at is None or test.index < stopped_at
    entry = {"grade_id": test.grade_id, "problem": test.problem_id, "max_score": test.points,
             "score": 0.0, "reached": reached, "status": "Not attempted", "message": ""}
    payload = _payload(cell, test.problem_id)
    if payload is None:
        error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        if not reached:
            entry["message"] = "the run stopped before this test"
        elif error is not None and error.get("ename") != "AssertionError":
            entry["message"] = (f"no answer was recorded: the test cell raised {error.get('ename')}: "
                                f"{str(error.get('evalue'))[:300]}")
        else:
            entry["message"] = "no answer was recorded by this test cell"
        entry["status"] = "Incorrect" if reached else "Not run"
        return entry
    verdict = judge_answer(test.problem_id, payload)
    fraction = verdict.score / verdict.max_score if verdict.max_score else 0.0
    entry.update(score=round(fraction * test.points, 4), status=verdict.status,
                 message=verdict.message)
    return entry


def _payload(cell, problem_id: str):
    """The first answer payload for ``problem_id`` among the cell's outputs (size-capped)."""
    for output in cell.get("outputs", []):
        data = output.get("data") if output.get("output_type") in ("display_data", "execute_result") else None
        if not isinstance(data, dict) or ANSWER_MIME not in data:
            continue
        record = data[ANSWER_MIME]
        if isinstance(record, str):
            if len(record) > sandbox.MAX_ANSWER_BYTES:
                return None
            try:
                record = json.loads(record)
            except json.JSONDecodeError:
                continue
        if isinstance(record, dict) and record.get("problem") == problem_id and isinstance(record.get("payload"), dict):
            return record["payload"]
    return None


def _max_score(job) -> float:
    try:
        return max_score(nbformat.reads(job["release"], as_version=4))
    except Exception:  # noqa: BLE001 - only for an error row
        return 0.0


def max_score(release) -> float:
    """The points of a release notebook's test cells."""
    total = 0.0
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            total += float(meta.get("points", 0))
    return total


def error_row(job, reason: str) -> dict:
    """The result of a submission the grader itself failed on (e.g. its worker died): no points,
    status ``error``, and the reason; the next run grades it again."""
    return _row(job, STATUS_ERROR, 0.0, _max_score(job), reason)


def _row(job, status, score, out_of, reason) -> dict:
    return {"row": {"student_id": job["student"], "notebook": job["notebook"], "score": round(score, 4),
                    "max_score": out_of, "status": status, "reason": reason},
            "problems": []}


def _write_feedback(job, result, built):
    """``feedback_path``: the executed notebook as inert HTML (``feedback_html``), each test
    cell's outputs replaced by the grader's own verdict (so no payload, hidden test input or
    kernel-side message shows)."""
    path = job.get("feedback_path")
    if not path:
        return
    from grader.release import write_atomically

    verdicts = {t.index: p for t, p in zip(built.tests, result["problems"])} if built is not None else None
    body = feedback_html.page(result["row"], result["problems"], built.nb.cells if built is not None else None,
                              verdicts)
    write_atomically(Path(path), body)
