"""nbgrader's Validate tells the truth: on an unanswered student notebook it reports every exercise
as failed, on one answered with the sources' solutions it reports success; a student's own run of
the same cells never raises (nbval runs the unanswered notebooks for that).

``nbgrader validate`` (and the Validate button, which calls the same ``Validator``) sets
``NBGRADER_EXECUTION=validate`` while it executes the notebook; ``qK.grade()`` reads it
(``course_utils.checking.problem.locked_cell_mode``). One lesson, the cheapest, through the
Validator's Python API.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_utils.checking import ____
from course_utils.checking.problem import locked_cell_mode

ROOT = Path(__file__).resolve().parents[1]
LESSON = "lesson1"


def graded_ids(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")]


def validate(nb, folder: Path) -> dict:
    from nbgrader.validator import Validator

    path = folder / f"{LESSON}.ipynb"
    nbformat.write(nb, path)
    return Validator().validate(str(path))


@pytest.fixture
def release(monkeypatch):
    # Validate as a student would: not under the grader (an earlier nbval item may have set it).
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    return nbformat.read(ROOT / "notebooks" / f"{LESSON}.ipynb", as_version=4)


@pytest.mark.slow
def test_validate_fails_an_unanswered_notebook(release, tmp_path):
    results = validate(release, tmp_path)
    assert set(results) == {"failed"}, results.keys()
    failed = results["failed"]
    assert len(failed) == len(graded_ids(release)) >= 4
    for cell in failed:
        assert cell["source"].endswith(".grade()")
        assert "AssertionError" in cell["raw_error"] and "Not attempted" in cell["raw_error"], cell["raw_error"]


@pytest.mark.slow
def test_validate_passes_the_solutions(release, tmp_path):
    from grader.course_release.samples import answered

    assert validate(answered(release, LESSON), tmp_path) == {}      # no failed, no changed cell


def test_locked_cell_mode(monkeypatch):
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert locked_cell_mode() == "practice"
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    assert locked_cell_mode() == "validate"
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert locked_cell_mode() == "grade"
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.setenv("COURSE_GRADING", "1")
    assert locked_cell_mode() == "grade"


def test_grade_raises_only_when_validating_or_grading(monkeypatch, tokenizer, capsys):
    from course_utils.lessons import lesson1

    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    lesson1.q1.grade({"vocab_size": ____})                     # a student's run: shown, not raised
    assert "Not attempted" in capsys.readouterr().out
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    with pytest.raises(AssertionError, match="q1: Not attempted"):
        lesson1.q1.grade({"vocab_size": ____})
    lesson1.q1.grade({"vocab_size": len(tokenizer)})            # Correct: passes
    assert "vnd.course.answer" not in capsys.readouterr().out    # validating records nothing
