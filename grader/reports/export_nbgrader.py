"""The grades as nbgrader's own gradebook: ``python -m grader export OUT --format nbgrader``.

Writes ``OUT/gradebook.db`` (or ``--dest``), an nbgrader gradebook (SQLite) made with nbgrader's
own API (``nbgrader.api.Gradebook``), so that ``nbgrader export --db sqlite:///OUT/gradebook.db``
and formgrader (point ``CourseDirectory.db_url`` at it, or export into the course's own
``gradebook.db`` with ``--dest``) show the grader's scores.

* Each lesson is an assignment holding one notebook of the same name, whose grade cells are the
  test cells of the nbgrader source ``grader/course/source/<lesson>/<lesson>.ipynb``: the same
  ``grade_id`` and ``points`` (its max score). Rows of files that are no lesson of the course (an
  ``invalid`` row with no source notebook) are left out: nbgrader has no assignment for them.
* Each student of ``grades.csv`` is a student (the id as ``grades.csv`` writes it).
* Each cell of ``grades.csv`` becomes, by its status:

  - ``graded``, ``timeout``, ``crash``, ``oom``: a submission whose grade cells hold the points
    the grader gave each test (``auto_score``, from ``OUT/results/<student>/<lesson>.json``,
    which must be the result ``grades.csv`` was made from), none needing a manual grade;
  - ``missing``: no submission, whatever ``--missing`` says: that is how nbgrader records "not
    submitted" (its export counts it 0, formgrader shows no submission);
  - invalid statuses (not a notebook, another lesson's, refused): a submission scored 0 on every
    cell with ``--invalid zero``; with ``--invalid blank`` a submission with no score whose cells
    *need a manual grade*, so formgrader lists it for a person;
  - ``error`` (the grader failed): always like ``--invalid blank``, never an automatic zero.

  nbgrader itself counts a cell without a score as 0 in its own export; formgrader shows it as
  waiting for a manual grade.

An existing gradebook at the destination is updated, not replaced: its other assignments,
students and manual grades stay (a manual score still takes precedence in nbgrader), the grader's
submissions and automatic scores are brought up to date, and a submission ``grades.csv`` calls
``missing`` is removed. The update is made on a copy that replaces the file only when complete.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import nbformat

from course_utils.checking.nbgrader_cells import grade_id_of, nbgrader_meta, points
from grader.pipeline import student_ids
from grader.reports import grades_csv
from grader.reports.grades_csv import Worth
from grader.course_release.release import SOURCE_DIR, interpreter_tools_on_path

GRADEBOOK = "gradebook.db"


def grade_cells(lesson: str, source_dir: Path = SOURCE_DIR) -> list[tuple[str, float, str]]:
    """``[(grade_id, points, cell_type)]`` of the source notebook's grade cells, in order
    (``[]`` when ``lesson`` has no source notebook)."""
    path = Path(source_dir) / lesson / f"{lesson}.ipynb"
    if not lesson.isidentifier() or not path.is_file():  # a file's name in an invalid row: no lesson
        return []
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        if nbgrader_meta(cell).get("grade") and grade_id_of(cell):
            cells.append((grade_id_of(cell), points(cell), cell.cell_type))
    return cells


def cell_scores(out_dir, row: dict, cells: list, invalid: str = "zero") -> dict[str, float | None]:
    """``{grade_id: auto_score or None}`` for one ``grades.csv`` row mapped to a submission (see
    the module's docstring); ``ValueError`` when a graded row's saved result does not match it."""
    kind = grades_csv.worth(row["status"])
    if kind is Worth.SCORE:
        return _graded_scores(out_dir, row, cells)
    if kind is Worth.ERROR:
        return {gid: None for gid, _, _ in cells}
    return {gid: None if invalid == "blank" else 0.0 for gid, _, _ in cells}


def write(out_dir, dest=None, missing: str = "zero", invalid: str = "zero",
          source_dir: Path = SOURCE_DIR, course_id: str = "", lessons: list[str] | None = None) -> Path:
    """Write (or update) the gradebook from ``OUT/grades.csv`` and ``OUT/results``; returns its path."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    grades_csv.check_choices(missing, invalid)
    rows = grades_csv.read_grades(out_dir, lessons)  # the release's lessons only (``release_lessons``)
    lessons = {row["notebook"] for row in rows}
    cells = {lesson: grade_cells(lesson, source_dir) for lesson in sorted(lessons)}
    cells = {lesson: found for lesson, found in cells.items() if found}
    planned = []  # (lesson, student, scores or None for no submission), all checked before writing
    for row in rows:
        if row["notebook"] not in cells:
            continue
        scores = None if grades_csv.worth(row["status"]) is Worth.MISSING else \
            cell_scores(out_dir, row, cells[row["notebook"]], invalid)
        planned.append((row["notebook"], row["student_id"], scores))

    dest = Path(dest) if dest else Path(out_dir) / GRADEBOOK
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    if dest.exists():
        shutil.copyfile(dest, tmp)
    try:  # nbgrader runs the `alembic` executable to stamp a new gradebook: this interpreter's
        with warnings.catch_warnings(), interpreter_tools_on_path(), \
                Gradebook(f"sqlite:///{tmp.resolve()}", course_id=course_id) as gradebook:
            # add_submission builds its objects in an order SQLAlchemy 2 warns about (harmlessly)
            warnings.filterwarnings("ignore", category=SAWarning, module="nbgrader")
            for lesson, found in cells.items():
                gradebook.update_or_create_assignment(lesson)
                gradebook.update_or_create_notebook(lesson, lesson)
                for gid, max_points, kind in found:
                    gradebook.update_or_create_grade_cell(gid, lesson, lesson, max_score=max_points, cell_type=kind)
            for lesson, student, scores in planned:
                gradebook.update_or_create_student(student)
                if scores is None:
                    _remove_submission(gradebook, lesson, student)
                else:
                    _record(gradebook, lesson, student, scores)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _graded_scores(out_dir, row: dict, cells: list) -> dict[str, float]:
    path = (Path(out_dir) / "results" / student_ids.path_name(row["student_id"])
            / f"{student_ids.path_name(row['notebook'])}.json")
    where = f"{row['student_id']}, {row['notebook']}"
    try:
        result = json.loads(path.read_text(encoding="utf-8"))["result"]
        saved, problems = result["row"], result["problems"]
        same = (saved["notebook"] == row["notebook"] and saved["status"] == row["status"]
                and abs(float(saved["score"]) - float(row["score"] or 0)) < 1e-6)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{where}: no readable result at {path} ({error}); run autograde again") from None
    if not same:
        raise ValueError(f"{where}: {path} is not the result grades.csv was made from; run autograde again")
    points = {gid: max_score for gid, max_score, _ in cells}
    scores = {gid: 0.0 for gid in points}
    for problem in problems:  # none at all: stopped before any test ran (all 0)
        gid = problem.get("grade_id")
        if gid not in points or abs(float(problem.get("max_score", -1)) - points[gid]) > 1e-9:
            raise ValueError(f"{where}: graded with test cell {gid!r} that the source notebook no longer "
                             f"has as it was; run autograde again")
        scores[gid] = float(problem.get("score") or 0)
    return scores


def _record(gradebook, lesson: str, student: str, scores: dict):
    """The submission of ``student`` for ``lesson`` with the grader's automatic scores."""
    from nbgrader.api import MissingEntry

    try:
        gradebook.find_submission(lesson, student)
        for gid in scores:
            gradebook.find_grade(gid, lesson, lesson, student)
    except MissingEntry:  # none yet, or made before a grade cell existed: (re)made whole
        _remove_submission(gradebook, lesson, student)
        gradebook.add_submission(lesson, student)
    for gid, score in scores.items():
        grade = gradebook.find_grade(gid, lesson, lesson, student)
        grade.auto_score = score
        grade.needs_manual_grade = score is None and grade.manual_score is None
    gradebook.db.commit()


def _remove_submission(gradebook, lesson: str, student: str):
    from nbgrader.api import MissingEntry

    try:
        gradebook.remove_submission(lesson, student)
    except MissingEntry:
        pass
