"""Grades where instructors keep them: ``OUT/grades.csv`` as the files learning platforms import.

    python -m grader export OUT --format canvas|moodle|wide|nbgrader [--missing zero|blank] [--invalid zero|blank]
                                [--lessons lesson1 lesson3 ...]

``grades.csv`` has one row per (student, lesson) with a status. The exports have one row per student
and one column per lesson, plus a total:

* ``canvas``: Canvas's gradebook import (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID,
  Section``, one column per lesson, then a "Points Possible" row. Students are matched by *SIS Login
  ID*, which holds the submission folder's name: name the folders by your students' logins.
* ``moodle``: Moodle's grade import from CSV (Grades > Import > CSV file): ``Username``, one column
  per lesson and one feedback column per lesson; map "Username" to "username" when importing.
* ``wide``: the same table, plainly, with the status of each cell beside its score.
* ``nbgrader``: not a CSV but nbgrader's own gradebook, ``OUT/gradebook.db``, with a score per
  test cell, for ``nbgrader export`` and formgrader (``grader.reports.export_nbgrader`` says how each
  status is recorded there).

Each cell's status decides its number as ``grader.reports.grades_csv`` says (the score of a notebook that
ran; 0 or a blank for ``missing`` and for a submission that is not a gradable notebook, as
``--missing`` / ``--invalid`` say; always a blank for ``error``). Cells are sanitized for
spreadsheets as ``grades.csv`` is (``sanitize.csv_cell``: no leading ``= + - @``).

The columns are the lessons of the release, never a name a student chose: ``--lessons``, else the
batch's own list (``OUT/lessons.json``, written by autograde), else the course's lessons. A row of
any other file (``Midterm Exam.ipynb`` in a student's folder: ``invalid`` in ``grades.csv``) and a
row about a whole student folder are left out; ``left_out`` says which.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from grader.reports import export_nbgrader
from grader.reports.grades_csv import Worth, check_choices, left_out, read_grades, release_lessons, worth
from grader.course_release.release import short_title
from grader.pipeline.results import Status
from grader.reports.sanitize import csv_cell

__all__ = ["ALL_FORMATS", "FORMATS", "Gradebook", "build", "export", "left_out", "read_grades", "release_lessons",
           "render"]   # reading grades.csv: grader.reports.grades_csv, kept at hand here
FORMATS = ("canvas", "moodle", "wide")   # the CSV formats (``render``)
ALL_FORMATS = (*FORMATS, "nbgrader")


@dataclass
class Gradebook:
    """Students × lessons. ``cells[student][lesson] = (score or None, status, reason)``."""
    lessons: list[str]
    max_scores: dict[str, float]
    cells: dict[str, dict[str, tuple]] = field(default_factory=dict)

    def total(self, student: str) -> float:
        return sum(score for score, _, _ in self.cells[student].values() if score is not None)


def build(rows: list[dict], missing: str = "zero", invalid: str = "zero") -> Gradebook:
    """Pivot ``grades.csv`` rows into a Gradebook, mapping each status to a number or a blank."""
    check_choices(missing, invalid)
    lessons = sorted({row["notebook"] for row in rows}, key=_lesson_order)
    book = Gradebook(lessons, {lesson: 0.0 for lesson in lessons})
    for row in sorted(rows, key=_precedence):   # of two rows of one cell, the one that counts comes last
        status, lesson = row["status"], row["notebook"]
        book.max_scores[lesson] = max(book.max_scores[lesson], float(row["max_score"] or 0))
        book.cells.setdefault(row["student_id"], {})[lesson] = (_score(row, missing, invalid), status, row.get("reason") or "")
    for student in book.cells:  # a lesson nobody listed for this student: missing
        for lesson in lessons:
            book.cells[student].setdefault(lesson, (0.0 if missing == "zero" else None, "missing", ""))
    return book


PRECEDENCE = (Worth.MISSING, Worth.INVALID, Worth.ERROR, Worth.SCORE)   # which row of a cell counts: the last


def _precedence(row: dict) -> int:
    """Where two rows name one lesson of one student (a ``grades.csv`` of an older grader, which kept
    a look-alike file's name as the lesson's), the notebook that was graded wins, whatever the order."""
    return PRECEDENCE.index(worth(row["status"]))


def _score(row: dict, missing: str, invalid: str) -> float | None:
    """The row's number in the export, or ``None`` for a blank (``grades_csv.worth``)."""
    kind = worth(row["status"])
    if kind is Worth.SCORE:
        return float(row["score"] or 0)
    choice = {Worth.MISSING: missing, Worth.INVALID: invalid, Worth.ERROR: "blank"}[kind]
    return 0.0 if choice == "zero" else None


def render(book: Gradebook, fmt: str) -> str:
    """The export as CSV text."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [short_title(lesson) for lesson in book.lessons]
    students = sorted(book.cells)
    if fmt == "canvas":
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names, "Total"])
        writer.writerow(["Points Possible", "", "", "", "", *(_number(book.max_scores[l]) for l in book.lessons),
                         _number(sum(book.max_scores.values()))])
        for student in students:
            writer.writerow([csv_cell(student), "", "", csv_cell(student), "", *_scores(book, student),
                             _number(book.total(student))])
    elif fmt == "moodle":
        writer.writerow(["Username", *names, *(f"{name} feedback" for name in names)])
        for student in students:
            writer.writerow([csv_cell(student), *_scores(book, student),
                             *(csv_cell(_feedback(book.cells[student][lesson])) for lesson in book.lessons)])
    else:
        writer.writerow(["student_id", *(h for name in names for h in (name, f"{name} status")), "total",
                         "max_total"])
        for student in students:
            cells = [v for lesson in book.lessons for v in (_cell(book.cells[student][lesson][0]),
                                                            book.cells[student][lesson][1])]
            writer.writerow([csv_cell(student), *cells, _number(book.total(student)),
                             _number(sum(book.max_scores.values()))])
    return buffer.getvalue()


def export(out_dir, fmt: str, missing: str = "zero", invalid: str = "zero", dest=None,
           lessons: list[str] | None = None) -> Path:
    """Write ``OUT/export-<fmt>.csv`` (``OUT/gradebook.db`` for ``nbgrader``), or ``dest``,
    atomically; returns its path. ``lessons``: the columns (``release_lessons``)."""
    if fmt == "nbgrader":
        return export_nbgrader.write(out_dir, dest, missing, invalid, lessons=lessons)
    text = render(build(read_grades(out_dir, lessons), missing, invalid), fmt)
    dest = Path(dest) if dest else Path(out_dir) / f"export-{fmt}.csv"
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)
    return dest


def _scores(book, student):
    return [_cell(book.cells[student][lesson][0]) for lesson in book.lessons]


def _cell(score):
    return "" if score is None else _number(score)


def _number(value: float) -> str:
    return f"{value:g}"


def _feedback(cell) -> str:
    score, status, reason = cell
    if status == Status.GRADED:
        return ""
    return {Status.MISSING: "not submitted", Status.ERROR: "not graded yet (grader error)"}.get(
        status, f"{status}: {reason}")


def _lesson_order(lesson: str):
    digits = "".join(c for c in lesson if c.isdigit())
    return (int(digits) if digits else 10**9, lesson)
