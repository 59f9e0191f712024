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


LOOK_ALIKES = ["lesson1\u200b", "lesson1\x1b[0m", "less\u043en1", "lesson\uff11"]   # invisible, ESC, Cyrillic, fullwidth


@pytest.mark.parametrize("first", [True, False])
def test_a_look_alike_never_takes_the_lessons_cell(tmp_path, first):
    """grades.csv shows each look-alike escaped (never as ``lesson1``), and the export keys on the
    lesson's real id: the graded row wins, whatever the order."""
    from grader.pipeline.results import GradeRow
    from grader.reports import grades_csv

    graded = GradeRow("ada", "lesson1", "graded", "", 7.0, 7.0)
    odd = [GradeRow("ada", name, "invalid", f"{name}.ipynb is not a lesson of this batch", 0.0, 0.0)
           for name in LOOK_ALIKES]
    rows = [graded, *odd] if first else [*odd, graded]
    grades_csv.write(tmp_path / "grades.csv", rows)
    (tmp_path / "lessons.json").write_text('{"lessons": ["lesson1"]}')
    written = list(csv.DictReader(open(tmp_path / "grades.csv", newline="", encoding="utf-8")))
    shown = sorted(r["notebook"] for r in written)
    assert shown == sorted(["lesson1", "lesson1\\u200b", "lesson1\\x1b[0m", "less\\u043en1", "lesson\\uff11"])
    assert all(r["reason"].startswith(r["notebook"] + ".ipynb") for r in written if r["status"] == "invalid")
    summary = grades_csv.summary_table(rows)
    assert summary.count("lesson1 ") == 1 and "\x1b" not in summary and "\u200b" not in summary
    canvas = table(export.export(tmp_path, "canvas").read_text())
    assert canvas[2][5:] == ["7", "7"]


def test_of_two_rows_of_one_cell_the_graded_one_counts_whatever_the_order():
    graded = {"student_id": "ada", "notebook": "lesson1", "score": "7", "max_score": "7", "status": "graded",
              "reason": ""}
    invalid = {**graded, "score": "0", "status": "invalid", "reason": "look-alike"}
    for rows in ([graded, invalid], [invalid, graded]):
        assert export.build(rows).cells["ada"]["lesson1"][:2] == (7.0, "graded")
