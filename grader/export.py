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
  test cell, for ``nbgrader export`` and formgrader (``grader.export_nbgrader`` says how each
  status is recorded there).

Each cell's status decides its number: ``graded`` and the partial-credit statuses (``timeout``,
``crash``, ``oom``: the points of the tests the notebook reached) give their score; ``missing``
(nothing submitted) and the invalid statuses (not a notebook, another lesson's notebook, rejected)
give 0 or a blank cell, as ``--missing`` / ``--invalid`` say; ``error`` (the grader failed) is
always blank, so that no student gets a zero for the grader's fault. Cells are neutralised for
spreadsheets as ``grades.csv`` is (no leading ``= + - @``).

The columns are the lessons of the release, never a name a student chose: ``--lessons``, else the
batch's own list (``OUT/lessons.json``, written by autograde), else the course's lessons. A row of
any other file (``Midterm Exam.ipynb`` in a student's folder: ``invalid`` in ``grades.csv``) and a
row about a whole student folder are left out; ``left_out`` says which.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("canvas", "moodle", "wide")   # the CSV formats (``render``)
ALL_FORMATS = (*FORMATS, "nbgrader")
PARTIAL = {"graded", "timeout", "crash", "oom"}
MISSING = {"missing"}
ERROR = {"error"}
# Everything else (invalid, wrong_lesson, rejected, ...) counts as an invalid submission.


@dataclass
class Gradebook:
    """Students × lessons. ``cells[student][lesson] = (score or None, status, reason)``."""
    lessons: list[str]
    max_scores: dict[str, float]
    cells: dict[str, dict[str, tuple]] = field(default_factory=dict)

    def total(self, student: str) -> float:
        return sum(score for score, _, _ in self.cells[student].values() if score is not None)


def release_lessons(out_dir, lessons: list[str] | None = None) -> list[str]:
    """The lessons an export may have as columns: ``lessons``, else ``OUT/lessons.json``'s, else the
    course's (a ``grades.csv`` made before autograde wrote the list)."""
    if lessons:
        return list(lessons)
    try:
        listed = json.loads((Path(out_dir) / "lessons.json").read_text(encoding="utf-8"))["lessons"]
        if isinstance(listed, list) and all(isinstance(lesson, str) for lesson in listed):
            return listed
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from grader.release import lessons as course_lessons

    return course_lessons()


def read_grades(out_dir: str | os.PathLike, lessons: list[str] | None = None) -> list[dict]:
    """The rows of ``grades.csv`` for the release's lessons (``release_lessons``); the others
    are what ``left_out`` lists."""
    return [row for row in read_all_grades(out_dir) if row["notebook"] in release_lessons(out_dir, lessons)]


def left_out(out_dir, lessons: list[str] | None = None) -> list[dict]:
    """The rows of ``grades.csv`` no export shows: files that are no lesson of the release."""
    return [row for row in read_all_grades(out_dir) if row["notebook"] not in release_lessons(out_dir, lessons)]


def read_all_grades(out_dir: str | os.PathLike) -> list[dict]:
    path = Path(out_dir) / "grades.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no grades yet (run `python -m grader autograde ... --out {out_dir}` first)")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def build(rows: list[dict], missing: str = "zero", invalid: str = "zero") -> Gradebook:
    """Pivot ``grades.csv`` rows into a Gradebook, mapping each status to a number or a blank."""
    for name, value in (("missing", missing), ("invalid", invalid)):
        if value not in ("zero", "blank"):
            raise ValueError(f"--{name} must be 'zero' or 'blank', not {value!r}")
    lessons = sorted({row["notebook"] for row in rows}, key=_lesson_order)
    book = Gradebook(lessons, {lesson: 0.0 for lesson in lessons})
    for row in rows:
        status, lesson = row["status"], row["notebook"]
        max_score = float(row["max_score"] or 0)
        book.max_scores[lesson] = max(book.max_scores[lesson], max_score)
        if status in PARTIAL:
            score = float(row["score"] or 0)
        elif status in ERROR:
            score = None
        elif status in MISSING:
            score = 0.0 if missing == "zero" else None
        else:
            score = 0.0 if invalid == "zero" else None
        book.cells.setdefault(row["student_id"], {})[lesson] = (score, status, row.get("reason") or "")
    for student in book.cells:  # a lesson nobody listed for this student: missing
        for lesson in lessons:
            book.cells[student].setdefault(lesson, (0.0 if missing == "zero" else None, "missing", ""))
    return book


def render(book: Gradebook, fmt: str) -> str:
    """The export as CSV text."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [_title(lesson) for lesson in book.lessons]
    students = sorted(book.cells)
    if fmt == "canvas":
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names, "Total"])
        writer.writerow(["Points Possible", "", "", "", "", *(_number(book.max_scores[l]) for l in book.lessons),
                         _number(sum(book.max_scores.values()))])
        for student in students:
            writer.writerow([_safe(student), "", "", _safe(student), "", *_scores(book, student),
                             _number(book.total(student))])
    elif fmt == "moodle":
        writer.writerow(["Username", *names, *(f"{name} feedback" for name in names)])
        for student in students:
            writer.writerow([_safe(student), *_scores(book, student),
                             *(_safe(_feedback(book.cells[student][lesson])) for lesson in book.lessons)])
    else:
        writer.writerow(["student_id", *(h for name in names for h in (name, f"{name} status")), "total",
                         "max_total"])
        for student in students:
            cells = [v for lesson in book.lessons for v in (_cell(book.cells[student][lesson][0]),
                                                            book.cells[student][lesson][1])]
            writer.writerow([_safe(student), *cells, _number(book.total(student)),
                             _number(sum(book.max_scores.values()))])
    return buffer.getvalue()


def export(out_dir, fmt: str, missing: str = "zero", invalid: str = "zero", dest=None,
           lessons: list[str] | None = None) -> Path:
    """Write ``OUT/export-<fmt>.csv`` (``OUT/gradebook.db`` for ``nbgrader``), or ``dest``,
    atomically; returns its path. ``lessons``: the columns (``release_lessons``)."""
    if fmt == "nbgrader":
        from grader import export_nbgrader

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
    if status == "graded":
        return ""
    return {"missing": "not submitted", "error": "not graded yet (grader error)"}.get(status, f"{status}: {reason}")


def _title(lesson: str) -> str:
    return lesson.replace("lesson", "Lesson ", 1) if lesson.startswith("lesson") else lesson


def _lesson_order(lesson: str):
    digits = "".join(c for c in lesson if c.isdigit())
    return (int(digits) if digits else 10**9, lesson)


def _safe(text: str) -> str:
    """A cell no spreadsheet evaluates: a leading = + - @ (or tab/CR) gets a quote in front."""
    text = "".join(c for c in str(text) if c >= " " or c == "\t")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
