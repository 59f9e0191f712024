"""Issue 18, the grading pipeline's half: the worker's own work bounded (item 5), no submission can
make its row an ``error`` (7), the layout and the gradebook's columns are the instructor's (8), and
big outputs lose output, never answers (9). The parts that need no kernel are here; the whole
batches, under fork, fresh and Dask kernels, are at the end (marked slow)."""
from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from grader.course_release import release
from grader.pipeline import assemble, grade_one, job_limits, record_limits, submissions
from grader.reports import export
from grader.sandbox import capped_client
from grader.pipeline.assemble import InvalidSubmission
from grader.pipeline.record_limits import RejectedRecord

os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))
MIME = "application/vnd.course.answer+json"
DEEP_TEXT = "[" * 100_000 + "]" * 100_000
LONG_INT = "7" * 5000


def deep(levels: int):
    value = 1
    for _ in range(levels):
        value = [value]
    return value


def answer_cell(record) -> dict:
    return {"cell_type": "code", "outputs": [{"output_type": "display_data", "metadata": {},
                                              "data": {MIME: record, "text/plain": "[answer]"}}]}


# -- item 7: what a record may be ----------------------------------------------------------------
@pytest.mark.parametrize("record, reason", [
    (DEEP_TEXT, "nested too deeply"),
    ('{"problem": "lesson1.q1", "payload": {"value": ' + LONG_INT + "}}", "cannot be read"),
    ("not json", "is not JSON"),
    ({"problem": "lesson1.q1", "payload": {"value": deep(200)}}, "nested more than"),
    ({"problem": "lesson1.q1", "payload": {"value": 10 ** 400}}, r"integer of about 40\d digits"),
    ({"problem": "lesson1.q1", "payload": {"value": list(range(record_limits.MAX_NODES + 1))}}, "values"),
])
def test_records_no_judge_could_take_are_rejected_with_a_reason(record, reason):
    with pytest.raises(RejectedRecord, match=reason):
        grade_one._payload(answer_cell(record), "lesson1.q1", {})


def test_an_honest_record_passes_whole():
    payload = {"probes": [{"spec": {"prompt": "a"}, "answer": {"runs": [[1, 2, 3]] * 4, "again": [1, 2, 3]}}]}
    assert grade_one._payload(answer_cell({"problem": "lesson1.q1", "payload": payload}), "lesson1.q1", {}) == payload
    text = json.dumps({"problem": "lesson1.q1", "payload": {"value": [float("-inf"), 0.5]}})
    assert grade_one._payload(answer_cell(text), "lesson1.q1", {}) == {"value": [float("-inf"), 0.5]}


def test_the_client_reads_any_message_without_raising():
    read = capped_client.guarded(lambda data: json.loads(data))
    assert read(b'{"a": [1, 2]}') == {"a": [1, 2]}
    for data in [DEEP_TEXT.encode(), ('{"a": ' + LONG_INT + "}").encode(), json.dumps(deep(80)).encode()]:
        stand_in = read(data)
        assert capped_client.UNREADABLE in stand_in and stand_in["msg_id"] == ""
    assert read(('{"text": "' + "1" * 5000 + '"}').encode())["text"] == "1" * 5000  # digits in text: fine


@pytest.mark.parametrize("metadata, reason", [
    ('{"x": ' + LONG_INT + "}", "refuses to read"),
])
def test_a_notebook_file_with_a_long_int_is_invalid_not_an_error(metadata, reason):
    data = ('{"cells": [], "metadata": ' + metadata + ', "nbformat": 4, "nbformat_minor": 5}').encode()
    with pytest.raises(InvalidSubmission, match=reason):
        assemble.read_submission(data)


def test_what_grading_never_reads_is_dropped_before_it_can_break_anything():
    lesson1 = release.generate(["lesson1"])["lesson1"]
    raw = json.loads(release.dumps(lesson1))
    raw["metadata"]["deep"] = deep(900)
    raw["cells"][0]["metadata"]["deep"] = deep(900)
    raw["cells"][1]["metadata"]["big"] = 10 ** 4000
    nb = assemble.read_submission(json.dumps(raw).encode())
    assert nb.metadata == {} and "deep" not in nb.cells[0].metadata
    built = assemble.assemble(nb, lesson1, "lesson1")   # copies, validates: nothing deep is left
    assert len(built.tests) >= 4
    raw["cells"][2]["source"] = "x = '\ud800'"          # a lone surrogate: no kernel could be sent it
    with pytest.raises(InvalidSubmission, match="not valid Unicode"):
        assemble.read_submission(json.dumps(raw).encode())


# -- item 5: the worker's work bounded, and never by raising into running code (issue 29) -------
def _busy_with_a_catch_all(seconds: float) -> str:
    """What a judge looks like to the limits: Python code behind a checker's own ``except Exception``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sum(range(1000))
        except Exception:        # noqa: BLE001 - "the checker could not judge"
            pass
    return "ran to the end"


def test_a_time_limit_is_checked_between_steps_and_never_raised_into_running_code():
    ended = []
    with job_limits.JobLimits(0.2, None, end_process=ended.append) as limits:
        assert _busy_with_a_catch_all(1.0) == "ran to the end"   # nothing was injected into it
        with pytest.raises(job_limits.JobTimeout):
            limits.check()
    assert ended == []                                           # the grace had not run out


def test_a_job_that_never_reaches_a_check_ends_its_worker(monkeypatch):
    monkeypatch.setattr(job_limits, "GRACE_S", 0.3)
    ended = []
    with job_limits.JobLimits(0.2, None, end_process=ended.append):
        _busy_with_a_catch_all(2.0)
    assert ended == [job_limits.EXIT_TIMEOUT]


def _grow_past(limit_bytes: int):
    with job_limits.JobLimits(60, limit_bytes) as limits:
        limits.measure_memory_from_now()
        held = []
        for _ in range(400):
            held.append(bytearray(2**20))
            held[-1][::4096] = b"x" * len(held[-1][::4096])
            time.sleep(0.005)


def test_a_memory_limit_ends_the_worker_process_with_its_own_exit_code():
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=_grow_past, args=(64 * 2**20,))
    child.start()
    child.join(60)
    assert child.exitcode == job_limits.EXIT_MEMORY


def test_nothing_fires_after_the_job_ended():
    ended = []
    with job_limits.JobLimits(0.2, 1, end_process=ended.append) as limits:
        limits.measure_memory_from_now()
    time.sleep(1.0)
    assert ended == []


def test_a_forged_sampling_record_is_rejected_before_any_forward_pass(monkeypatch):
    pytest.importorskip("tensorflow")
    from course_utils.checking.registry import get_problem
    from course_utils.lessons import lesson5_loop
    from grader.sandbox.contained import RunOutcome

    problem = get_problem("lesson5.q5")
    monkeypatch.setattr(lesson5_loop, "run_logits", lambda *a: pytest.fail("a forward pass was made"))
    runs = [problem.prompt(problem.public_probes[0]) + [13]] * 1000
    probes = [{"spec": spec, "hidden": hidden, "answer": {"runs": runs, "again": runs[0]}}
              for spec, hidden in [(s, False) for s in problem.public_probes] + [(s, True) for s in problem.hidden_probes]]
    cell = answer_cell({"problem": "lesson5.q5", "payload": {"probes": probes}})
    test = assemble.TestCell(index=0, grade_id="lesson5_q5", problem_id="lesson5.q5", points=2.0)
    rejected = []
    entry = grade_one._judge_cell(cell, test, RunOutcome(), rejected)   # a run that went to the end
    assert entry["score"] == 0 and "rejected before judging" in entry["message"] and "1000 runs" in rejected[0]


# -- item 8: the layout and the columns are the instructor's -------------------------------------
def _notebook(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")


def test_a_student_named_submitted_cannot_erase_the_class(tmp_path):
    for student in ["ann", "bob", "submitted", ".hidden"]:
        _notebook(tmp_path / student / "lesson1.ipynb")
    assert submissions.decide_layout(tmp_path) == "plain"
    found = {(s.student, s.notebook): s for s in submissions.find_submissions(tmp_path)}
    assert {("ann", "lesson1"), ("bob", "lesson1"), ("submitted", "lesson1")} <= set(found)
    assert "hidden" in found[(".hidden", submissions.NOT_A_LESSON)].problem


def test_nbgrader_layout_is_read_from_the_whole_folder(tmp_path):
    for student in ["ann", "bob"]:
        _notebook(tmp_path / "submitted" / student / "lesson1" / "lesson1.ipynb")
    _notebook(tmp_path / "source" / "lesson1" / "lesson1.ipynb")    # an nbgrader course folder
    assert submissions.decide_layout(tmp_path) == "nbgrader"
    assert {s.student for s in submissions.find_submissions(tmp_path)} == {"ann", "bob"}
    assert submissions.decide_layout(tmp_path, "plain") == "plain"
    _notebook(tmp_path / "cy" / "lesson1.ipynb")                      # a student beside `submitted`
    assert submissions.decide_layout(tmp_path) == "plain"
    with pytest.raises(ValueError):
        submissions.decide_layout(tmp_path, "mixed")


def _grades(out: Path, rows, lessons=None):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "notebook", "score", "max_score", "status", "reason"])
        writer.writerows(rows)
    if lessons is not None:
        (out / "lessons.json").write_text(json.dumps({"lessons": lessons}))


def test_a_file_a_student_named_never_becomes_a_column(tmp_path):
    _grades(tmp_path, [["ann", "lesson1", 7, 7, "graded", ""], ["bob", "lesson1", 3, 7, "graded", ""],
                       ["bob", "Midterm Exam", 0, 0, "invalid", "not a lesson"],
                       ["bob", "lesson7", 0, 0, "invalid", "not a lesson of this batch"],
                       [".x", "*", 0, 0, "invalid", "hidden"]], lessons=["lesson1"])
    for fmt in export.FORMATS:
        text = export.export(tmp_path, fmt).read_text()
        assert "Midterm" not in text and "Lesson 7" not in text and "Lesson 1" in text, fmt
    assert {r["notebook"] for r in export.left_out(tmp_path)} == {"Midterm Exam", "lesson7", "*"}
    assert "Lesson 7" in export.export(tmp_path, "wide", lessons=["lesson1", "lesson7"]).read_text()


def test_without_a_lesson_list_the_columns_are_the_course_lessons(tmp_path):
    _grades(tmp_path, [["ann", "lesson1", 7, 7, "graded", ""], ["ann", "Midterm Exam", 0, 0, "invalid", ""]])
    header = export.export(tmp_path, "canvas").read_text().splitlines()[0]
    assert "Lesson 1" in header and "Midterm" not in header


# -- whole batches: a loud but honest student, and malformed answers -----------------------------
@pytest.fixture
def batch(one_worker_batch):
    """This module's students (tests/shared_batches.py), graded with the isolation tests' by one
    worker under fork, fresh and Dask kernels in turn (tests/conftest.py)."""
    report = one_worker_batch["report"]
    return {"rows": {(r["student_id"], r["notebook"]): r for r in report.table()}, "out": one_worker_batch["out"],
            "report": report}


@pytest.mark.slow
def test_no_submission_makes_its_row_an_error(batch):
    rows = batch["rows"]
    assert all(r["status"] != "error" for r in rows.values()), [r for r in rows.values() if r["status"] == "error"]
    assert rows[("honest", "lesson1")]["status"] == "graded" and rows[("honest", "lesson1")]["score"] > 0
    forging = rows[("forging", "lesson1")]
    assert forging["status"] in ("invalid", "graded") and forging["reason"]
    result = json.loads((batch["out"] / "results" / "forging" / "lesson1.json").read_text())["result"]
    earned = {p["grade_id"]: p["score"] for p in result["problems"]}
    assert all(earned.get(f"lesson1_q{k}", 0) == 0 for k in range(1, 5)), earned
    assert rows[("long_int_file", "lesson1")]["status"] == "invalid"
    assert "refuses to read" in rows[("long_int_file", "lesson1")]["reason"]


@pytest.mark.slow
def test_a_loud_but_honest_student_keeps_every_point(batch):
    row, honest = batch["rows"][("loud", "lesson1")], batch["rows"][("honest", "lesson1")]
    assert row["status"] == "graded" and row["score"] == honest["score"] > 0, row   # every point the answers earn
    assert "output was cut" in row["reason"]   # "graded", not "timeout": it ended within its budget
    page = (batch["out"] / "feedback" / "loud" / "lesson1.html").read_text()
    assert "cut" in page and "no answer was recorded" not in page


@pytest.mark.slow
def test_every_folder_gets_a_row_and_only_the_release_becomes_columns(batch):
    rows, out = batch["rows"], batch["out"]
    assert batch["report"].layout == "plain"
    assert rows[("submitted", "lesson1")]["score"] == rows[("honest", "lesson1")]["score"] > 0
    assert rows[(".hidden", "*")]["status"] == "invalid" and "hidden" in rows[(".hidden", "*")]["reason"]
    assert rows[("honest", "Midterm Exam")]["status"] == "invalid"
    assert json.loads((out / "lessons.json").read_text()) == {"lessons": ["lesson1"]}
    header = export.export(out, "canvas").read_text().splitlines()[0]
    assert "Midterm" not in header and "Lesson 1" in header
