"""Grade one submitted notebook: the unit of work the executor hands out.

``grade_submission(job)`` takes and returns plain JSON-able dicts, so any executor can run it: a
local process pool today, a distributed engine's executor tomorrow (README, "Grading at scale").
It runs the assembled notebook in a contained kernel (``sandbox``), reads each answer payload from
the test cell the assembler placed, and judges it here, in the grader's process, with
``course_utils.checking.judge_answer`` against references on the same model the kernel used.
"""
from __future__ import annotations

import html
import json
import os
import time
import traceback
from pathlib import Path

import nbformat

from course_utils.checking.problem import ANSWER_MIME
from grader import assemble, sandbox

STATUS_GRADED = "graded"          # ran to the end; the score is what the answers earned
STATUS_INVALID = "invalid"        # not a gradable notebook
STATUS_WRONG_LESSON = "wrong_lesson"
STATUS_MISSING = "missing"
STATUS_ERROR = "error"            # the grader itself failed on this submission


def grade_submission(job: dict) -> dict:
    """``job``: student, notebook (lesson id), path, release_path, lesson_ids, options, feedback_path.

    Returns ``{"row": {...grades.csv row...}, "problems": [...]}``; never raises.
    """
    started = time.monotonic()
    # The judge must use the model the kernel ran; set here (not only by the local pool's worker
    # initializer) so that any executor's worker judges with it.
    os.environ.update({"COURSE_MODEL": job["options"]["model"], "HF_HUB_OFFLINE": "1"})
    os.environ.pop("COURSE_GRADING", None)
    try:
        result = _grade(job)
    except Exception as error:  # noqa: BLE001 - a grader bug must cost one row, not the batch
        result = _row(job, STATUS_ERROR, 0.0, _max_score(job),
                      f"the grader failed on this submission ({type(error).__name__}: {error})")
        result["traceback"] = traceback.format_exc()
    result["row"]["seconds"] = round(time.monotonic() - started, 1)
    return result


def _grade(job: dict) -> dict:
    release = nbformat.read(job["release_path"], as_version=4)
    try:
        with open(job["path"], "rb") as f:
            submitted = assemble.read_submission(f.read())
    except assemble.InvalidSubmission as error:
        result = _row(job, STATUS_INVALID, 0.0, _max_score(job, release), str(error))
        _write_feedback(job, result, None)
        return result
    holds = assemble.lesson_of(submitted, job["lesson_ids"])
    if holds is not None and holds != job["notebook"]:
        result = _row(job, STATUS_WRONG_LESSON, 0.0, _max_score(job, release),
                      f"this file holds the exercises of {holds}, not {job['notebook']}")
        _write_feedback(job, result, None)
        return result

    built = assemble.assemble(submitted, release, job["notebook"])
    status, message, info = sandbox.run_notebook(built.nb, [], job["options"])
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


def _max_score(job, release=None) -> float:
    if release is None:
        try:
            release = nbformat.read(job["release_path"], as_version=4)
        except Exception:  # noqa: BLE001 - only for an error row
            return 0.0
    return max_score(release)


def max_score(release) -> float:
    """The points of a release notebook's test cells."""
    total = 0.0
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            total += float(meta.get("points", 0))
    return total


def _row(job, status, score, out_of, reason) -> dict:
    return {"row": {"student_id": job["student"], "notebook": job["notebook"], "score": round(score, 4),
                    "max_score": out_of, "status": status, "reason": reason},
            "problems": []}


# -- feedback -----------------------------------------------------------------------------------
def _write_feedback(job, result, built):
    """``feedback_path``: the executed notebook as HTML, each test cell's outputs replaced by the
    grader's own verdict (so no payload, hidden test input or kernel-side message shows)."""
    path = job.get("feedback_path")
    if not path:
        return
    from nbconvert import HTMLExporter

    from grader.release import write_atomically

    row = result["row"]
    summary = [f"# Feedback: {row['notebook']}, {row['student_id']}",
               f"**Score: {row['score']:g} / {row['max_score']:g}** — status `{row['status']}`."]
    if row["reason"]:
        summary.append(f"Grader's note: {row['reason']}")
    if built is None:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("\n\n".join(summary))]
    else:
        nb = built.nb
        by_index = {t.index: p for t, p in zip(built.tests, result["problems"])}
        table = ["| test | points | result |", "|---|---|---|"]
        for p in result["problems"]:
            table.append(f"| `{p['problem']}` | {p['score']:g} / {p['max_score']:g} | {p['status']} |")
        summary.append("\n".join(table))
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if index in by_index:
                p = by_index[index]
                cell.outputs = [nbformat.v4.new_output(
                    "display_data", data={"text/html": _verdict_html(p), "text/plain": f"{p['status']}: {p['message']}"})]
            else:
                cell.outputs = [o for o in cell.outputs if ANSWER_MIME not in o.get("data", {})]
        nb.cells.insert(0, nbformat.v4.new_markdown_cell("\n\n".join(summary)))
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    write_atomically(Path(path), body)


def _verdict_html(p: dict) -> str:
    colour = {"Correct": "#e6f4ea", "Incorrect": "#fce8e6"}.get(p["status"], "#f1f3f4")
    return (f'<div style="background:{colour};padding:6px;border-radius:4px">'
            f"<b>{html.escape(p['problem'])}: {p['score']:g} / {p['max_score']:g} — "
            f"{html.escape(p['status'])}</b><br>{html.escape(p['message'])}</div>")
