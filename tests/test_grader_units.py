"""The grader's parts that need no kernel: reading files, rebuilding notebooks, finding
submissions, writing grades. (Whole batches, with real kernels, are in test_grader_batch.py.)"""
from __future__ import annotations

import json

import nbformat
import pytest

from grader import assemble, autograde, release
from grader.assemble import InvalidSubmission, grade_id_of
from grader.samples import answered, insert_after, replace_cell


@pytest.fixture(scope="module")
def lesson1():
    return release.generate(["lesson1"])["lesson1"]


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not text"),
    (b'{"cells": [', "not valid notebook JSON"),
    (b"[1, 2, 3]", "not a notebook"),
    (b'{"nbformat": 4}', "not a notebook"),
    (b'{"cells": [{"cell_type": "code", "source": 5}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "could not be read"),
])
def test_unreadable_files_are_rejected_with_a_reason(data, reason):
    with pytest.raises(InvalidSubmission, match=reason):
        assemble.read_submission(data)


def test_a_released_notebook_reads_back(lesson1):
    nb = assemble.read_submission(release.dumps(lesson1).encode())
    assert [grade_id_of(c) for c in nb.cells] == [grade_id_of(c) for c in lesson1.cells]


def test_edited_locked_cells_are_restored_and_answers_kept(lesson1):
    submitted = answered(lesson1, "lesson1", which=("lesson1_q1_answer",))
    submitted = replace_cell(submitted, "lesson1_q1", "print('Correct')")
    submitted = replace_cell(submitted, "setup", "import os")
    built = assemble.assemble(submitted, lesson1, "lesson1")
    cells = {grade_id_of(c): c for c in built.nb.cells if grade_id_of(c)}
    original = {grade_id_of(c): c for c in lesson1.cells if grade_id_of(c)}
    assert cells["lesson1_q1"].source == original["lesson1_q1"].source == "q1.grade()"
    assert cells["setup"].source == original["setup"].source
    assert "len(tokenizer)" in cells["lesson1_q1_answer"].source
    assert any("lesson1_q1" in note for note in built.notes)
    assert [t.problem_id for t in built.tests] == ["lesson1.q1", "lesson1.q2", "lesson1.q3", "lesson1.q4"]


def test_deleted_test_cells_come_back_after_their_answer(lesson1):
    submitted = replace_cell(replace_cell(lesson1, "lesson1_q2", None), "setup", None)
    built = assemble.assemble(submitted, lesson1, "lesson1")
    ids = [grade_id_of(c) for c in built.nb.cells]
    assert ids.index("setup") < ids.index("lesson1_q1_answer")
    assert ids.index("lesson1_q2_answer") + 1 == ids.index("lesson1_q2")
    test = next(t for t in built.tests if t.grade_id == "lesson1_q2")
    assert built.nb.cells[test.index].source == "q2.grade()"


def test_copies_of_graded_cells_grade_nothing(lesson1):
    # A second "test cell" (with the metadata copied) placed before the answer must not count.
    nb = lesson1
    copy = next(c for c in nb.cells if grade_id_of(c) == "lesson1_q1")
    nb = insert_after(nb, "lesson1_q1", "q1.grade()")
    nb.cells[[grade_id_of(c) for c in nb.cells].index("lesson1_q1") + 1].metadata = json.loads(
        json.dumps(copy.metadata))
    built = assemble.assemble(nb, lesson1, "lesson1")
    assert [t.grade_id for t in built.tests].count("lesson1_q1") == 1
    assert sum(1 for c in built.nb.cells if grade_id_of(c) == "lesson1_q1") == 1


def test_students_own_cells_are_kept_without_grading_metadata(lesson1):
    nb = insert_after(lesson1, "lesson1_q1_answer", "helper = 42")
    nb.cells[[grade_id_of(c) for c in nb.cells].index("lesson1_q1_answer") + 1].metadata["nbgrader"] = {
        "grade": True, "grade_id": "made_up", "points": 100}
    built = assemble.assemble(nb, lesson1, "lesson1")
    mine = next(c for c in built.nb.cells if c.source == "helper = 42")
    assert "nbgrader" not in mine.metadata
    assert sum(t.points for t in built.tests) == 4


def test_outputs_in_the_submission_are_dropped(lesson1):
    nb = answered(lesson1, "lesson1")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("display_data", data={
                "application/vnd.course.answer+json": {"problem": "lesson1.q1", "payload": {"value": 50257}}})]
    built = assemble.assemble(nb, lesson1, "lesson1")
    assert all(not c.get("outputs") for c in built.nb.cells if c.cell_type == "code")


def test_which_lesson_a_notebook_holds(lesson1):
    lesson2 = release.generate(["lesson2"])["lesson2"]
    assert assemble.lesson_of(lesson1, ["lesson1", "lesson2"]) == "lesson1"
    assert assemble.lesson_of(lesson2, ["lesson1", "lesson2"]) == "lesson2"
    assert assemble.lesson_of(nbformat.v4.new_notebook(), ["lesson1"]) is None


def test_both_submission_layouts_are_found(tmp_path):
    flat, nbgrader_style = tmp_path / "flat", tmp_path / "course"
    for path in [flat / "s1" / "lesson1.ipynb", flat / "s2" / "lesson2.ipynb",
                 flat / "s2" / ".ipynb_checkpoints" / "lesson2-checkpoint.ipynb",
                 nbgrader_style / "submitted" / "s3" / "lesson1" / "lesson1.ipynb"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    found = autograde.find_submissions(flat)
    assert [(s.student, s.notebook) for s in found] == [("s1", "lesson1"), ("s2", "lesson2")]
    assert [(s.student, s.notebook) for s in autograde.find_submissions(nbgrader_style)] == [("s3", "lesson1")]
    full = autograde.with_missing(found, ["lesson1", "lesson2"])
    assert [(s.student, s.notebook, s.path is None) for s in full] == [
        ("s1", "lesson1", False), ("s1", "lesson2", True), ("s2", "lesson1", True), ("s2", "lesson2", False)]


def test_grades_csv_is_replaced_whole(tmp_path):
    path = tmp_path / "grades.csv"
    rows = [{"student_id": "a,b", "notebook": "lesson1", "score": 1.0, "max_score": 4.0,
             "status": "graded", "reason": 'quote " and, comma', "seconds": 3}]
    autograde.write_grades_csv(path, rows)
    autograde.write_grades_csv(path, rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grades.csv"]  # no temporary files left
    import csv

    with open(path, newline="") as f:
        read = list(csv.DictReader(f))
    assert read[0]["student_id"] == "a,b" and read[0]["reason"] == 'quote " and, comma'
    assert list(read[0]) == autograde.CSV_FIELDS


def test_forged_payloads_without_hidden_probes_earn_nothing():
    from course_utils.checking import judge_answer
    from course_utils.lessons import lesson1 as checks

    probes = [{"spec": s, "hidden": False, "answer": None} for s in checks.q3.public_probes]
    verdict = judge_answer("lesson1.q3", {"probes": probes})
    assert verdict.status == "Incorrect" and "hidden" in verdict.message
