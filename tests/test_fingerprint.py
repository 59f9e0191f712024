"""The key under which a signed grade is reused covers exactly what the lesson's judge runs.

Each test edits a copy of the sources (the modules and the model files the fingerprint reads), never
the checkout, and compares fingerprints before and after.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.pipeline import fingerprint

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "course_utils" / "lessons").glob("lesson[0-9].py"))


@pytest.fixture
def copy_root(tmp_path, monkeypatch):
    for package in fingerprint.PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.ipynb", "*.pyc"))
    monkeypatch.setattr(fingerprint, "ROOT", tmp_path)
    return tmp_path


def edited(root: Path, relative: str) -> None:
    path = root / relative
    path.write_text(path.read_text() + "\n# an edit\n")


def key(lesson: str) -> str:
    return fingerprint.fingerprint(lesson, "release", {"memory_mb": 1})


@pytest.mark.parametrize("lesson, helper", [("lesson5", "course_utils/lessons/lesson5_loop.py"),
                                            ("lesson6", "course_utils/lessons/lesson6_logprobs.py"),
                                            ("lesson7", "course_utils/lessons/lesson7_tools.py"),
                                            ("lesson6", "course_utils/reference/pt.py"),
                                            ("lesson3", "course_utils/checking/compare.py"),
                                            ("lesson1", "grader/pipeline/assemble.py")])
def test_editing_a_module_the_judge_imports_invalidates_saved_grades(copy_root, lesson, helper):
    before = key(lesson)
    edited(copy_root, helper)
    assert key(lesson) != before


def test_editing_another_lessons_checks_keeps_saved_grades(copy_root):
    before = {lesson: key(lesson) for lesson in LESSONS}
    edited(copy_root, "course_utils/lessons/lesson4.py")
    after = {lesson: key(lesson) for lesson in LESSONS}
    assert after["lesson4"] != before["lesson4"]
    assert {k: v for k, v in after.items() if k != "lesson4"} == {k: v for k, v in before.items() if k != "lesson4"}


def test_the_model_release_and_options_are_part_of_the_key(copy_root):
    before = key("lesson3")
    assert fingerprint.fingerprint("lesson3", "another release", {"memory_mb": 1}) != before
    assert fingerprint.fingerprint("lesson3", "release", {"memory_mb": 2}) != before
    edited(copy_root, "course_utils/models/course-gpt2/config.json")
    assert key("lesson3") != before


def test_every_lesson_module_is_covered_by_some_lessons_key():
    """A helper module no lesson's judge imports would be judged code that no key covers."""
    covered = {path for lesson in LESSONS for path in fingerprint.judge_sources(lesson)}
    modules = set((ROOT / "course_utils" / "lessons").glob("*.py"))
    assert modules - covered == set()
