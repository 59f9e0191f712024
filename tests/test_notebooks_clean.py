"""Committed notebooks carry no stale outputs and keep the metadata nbgrader needs."""
from __future__ import annotations

import glob
import os

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "grader/course/source/lesson*/lesson*.ipynb")))
STUDENT = sorted(glob.glob(os.path.join(ROOT, "notebooks/lesson*.ipynb")))


def test_every_lesson_has_a_source_and_a_student_notebook():
    names = lambda paths: sorted(os.path.basename(p) for p in paths)  # noqa: E731
    assert names(SOURCES) == [f"lesson{n}.ipynb" for n in range(1, 8)]
    assert names(STUDENT) == names(SOURCES)


@pytest.mark.parametrize("path", SOURCES + STUDENT, ids=os.path.basename)
def test_notebook_has_no_stale_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" not in cell.source:
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", SOURCES, ids=os.path.basename)
def test_source_has_graded_test_cells_with_points(path):
    nb = nbformat.read(path, as_version=4)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) >= 3
    for cell in graded:
        meta = cell.metadata["nbgrader"]
        assert meta["locked"] and meta["points"] > 0 and meta["grade_id"]
        assert ".grade()" in cell.source


@pytest.mark.parametrize("path", SOURCES, ids=os.path.basename)
def test_test_cells_match_the_checks_module(path):
    """Each graded cell calls an exercise of the lesson's checks module and carries its points."""
    import importlib

    lesson = os.path.basename(path)[:-len(".ipynb")]
    checks = importlib.import_module(f"course_utils.lessons.{lesson}")
    nb = nbformat.read(path, as_version=4)
    called = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            name = cell.source.strip()[:-len(".grade()")]
            problem = checks
            for part in name.split("."):
                problem = getattr(problem, part)
            assert meta["points"] == problem.points, (meta["grade_id"], meta["points"], problem.points)
            assert meta["grade_id"] == f"{lesson}_{name.replace('.', '_')}"
            called[name] = problem
    assert sorted(called) == sorted(checks.qvars), "every exercise of the module has a test cell"


@pytest.mark.parametrize("lesson", ["lesson4", "lesson5", "lesson6", "lesson7"])
def test_later_lessons_have_exercises_in_both_frameworks(lesson):
    import importlib

    checks = importlib.import_module(f"course_utils.lessons.{lesson}")
    frameworks = {getattr(getattr(checks, name), "framework", None) for name in checks.qvars}
    assert {"pt", "tf"} <= frameworks, frameworks


def test_student_notebooks_are_generated_from_the_sources():
    from grader.course_release.release import out_of_sync

    assert out_of_sync() == [], "run `python -m grader release` and commit notebooks/"
