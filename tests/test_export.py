"""grader export: grades.csv as Canvas, Moodle and a plain wide table, statuses mapped explicitly."""
from __future__ import annotations

import csv
import io

import pytest

from grader.reports import export

FIELDS = ["student_id", "notebook", "score", "max_score", "status", "reason"]
ROWS = [
    ["ada", "lesson1", "4", "4", "graded", ""],
    ["ada", "lesson3", "3", "3", "graded", ""],
    ["ben", "lesson1", "2", "4", "graded", ""],
    ["ben", "lesson3", "0", "3", "missing", "no lesson3.ipynb"],
    ["cy", "lesson1", "1", "4", "timeout", "cell 7 ran past 60 s"],
    ["cy", "lesson3", "0", "3", "invalid", "not a notebook"],
    ["dee", "lesson10", "0", "5", "error", "grader failed"],
    ["=HYPERLINK(\"x\")", "lesson1", "0", "4", "graded", ""],
]


@pytest.fixture
def out(tmp_path):
    with open(tmp_path / "grades.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(FIELDS)
        writer.writerows(ROWS)
    (tmp_path / "lessons.json").write_text('{"lessons": ["lesson1", "lesson3", "lesson10"]}')  # as autograde writes
    return tmp_path


def table(text):
    return list(csv.reader(io.StringIO(text)))


def test_canvas_one_row_per_student_points_possible_and_totals(out):
    rows = table(export.export(out, "canvas").read_text())
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lesson 1", "Lesson 3",
                       "Lesson 10", "Total"]          # lessons in numeric order, not 1, 10, 2
    assert rows[1] == ["Points Possible", "", "", "", "", "4", "3", "5", "12"]
    by_login = {row[3]: row for row in rows[2:]}
    assert by_login["ada"][5:] == ["4", "3", "0", "7"]    # ada never submitted lesson 10: missing -> 0
    assert by_login["ben"][5:] == ["2", "0", "0", "2"]
    assert by_login["cy"][5:] == ["1", "0", "0", "1"]     # partial credit of a timeout kept
    assert by_login["dee"][5:] == ["0", "0", "", "0"]     # a grader error is never a zero
    assert len(rows) == 2 + 5


def test_blank_for_missing_and_invalid_when_asked(out):
    rows = table(export.render(export.build(export.read_grades(out), missing="blank", invalid="blank"), "canvas"))
    by_login = {row[3]: row for row in rows[2:]}
    assert by_login["ben"][5:7] == ["2", ""] and by_login["cy"][5:7] == ["1", ""]
    with pytest.raises(ValueError, match="zero"):
        export.build([], missing="half")


def test_moodle_username_scores_and_feedback(out):
    rows = table(export.render(export.build(export.read_grades(out)), "moodle"))
    assert rows[0] == ["Username", "Lesson 1", "Lesson 3", "Lesson 10", "Lesson 1 feedback",
                       "Lesson 3 feedback", "Lesson 10 feedback"]
    cy = next(row for row in rows if row[0] == "cy")
    assert cy[1:4] == ["1", "0", "0"]
    assert cy[4].startswith("timeout") and cy[5] == "invalid: not a notebook" and cy[6] == "not submitted"


def test_wide_keeps_each_status(out):
    rows = table(export.render(export.build(export.read_grades(out)), "wide"))
    assert rows[0][:3] == ["student_id", "Lesson 1", "Lesson 1 status"]
    ben = next(row for row in rows if row[0] == "ben")
    assert ben[1:5] == ["2", "graded", "0", "missing"]


def test_no_cell_a_spreadsheet_would_evaluate(out):
    for fmt in export.FORMATS:
        for row in table(export.render(export.build(export.read_grades(out)), fmt)):
            assert not any(cell[:1] in ("=", "+", "-", "@") for cell in row), (fmt, row)


def test_no_grades_yet_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="autograde"):
        export.export(tmp_path, "canvas")
