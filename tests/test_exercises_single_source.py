"""Each exercise is declared once: its id and points in its lesson module, its solution only in the
solution region of its source notebook, which ``qK.solution()`` shows and the tests run.

These tests fail when the two places disagree: an exercise without its answer and test cells, a
test cell without an exercise, a test cell that calls another exercise or gives other points, or a
lesson module that holds a copy of a solution.
"""
from __future__ import annotations

import importlib
import inspect
import json

import pytest

from course_utils.checking import Problem, solutions

LESSONS = ["lesson1", "lesson2", "lesson3", "lesson4", "lesson5", "lesson6", "lesson7"]


def graded_cells(lesson: str) -> dict[str, dict]:
    cells = json.loads(solutions.source_notebook(lesson).read_text(encoding="utf-8"))["cells"]
    found = {}
    for cell in cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("grade"):
            found[nbgrader["grade_id"]] = {"source": "".join(cell["source"]).strip(),
                                           "points": nbgrader.get("points")}
    return found


@pytest.mark.parametrize("lesson", LESSONS)
def test_exercises_and_source_cells_match(lesson):
    module = importlib.import_module(f"course_utils.lessons.{lesson}")
    problems = {getattr(module, name).id: getattr(module, name) for name in module.qvars}
    tests = graded_cells(lesson)
    assert sorted(tests) == sorted(pid.replace(".", "_") for pid in problems)
    for problem_id, problem in problems.items():
        name = problem_id.split(".", 1)[1]
        test = tests[problem_id.replace(".", "_")]
        assert test["source"] == f"{name}.grade()", problem_id
        assert test["points"] == problem.points, problem_id
        cell = solutions.solution_cells(lesson).get(solutions.answer_cell_id(problem_id))
        assert cell is not None and solutions.BEGIN in cell and solutions.END in cell, problem_id
        assert problem.solution_code and solutions.BEGIN not in problem.solution_code, problem_id


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_modules_hold_no_copy_of_a_solution(lesson):
    module = importlib.import_module(f"course_utils.lessons.{lesson}")
    for _, kind in inspect.getmembers(module, inspect.isclass):
        if issubclass(kind, Problem):
            assert "solution_code" not in vars(kind), f"{kind.__name__} declares its own solution"


def test_solution_shows_the_region_with_its_function_or_variable(capsys):
    from course_utils.lessons import lesson1, lesson5

    lesson5.q4.solution()
    shown = capsys.readouterr().out
    assert "def top_p_filter(logits, p):" in shown and "BEGIN SOLUTION" not in shown
    code = lesson1.q1.solution_code                # the "why" in comments, then the code
    assert code.splitlines()[-1] == "vocab_size = len(tokenizer)" and "____" not in code   # starter left out


def test_a_release_without_sources_has_no_solutions(monkeypatch, tmp_path, capsys):
    from course_utils.lessons import lesson1

    monkeypatch.setattr(solutions, "SOURCES", tmp_path)
    solutions.solution_cells.cache_clear()
    try:
        lesson1.q1.solution()
        assert solutions.NOT_IN_THIS_RELEASE in capsys.readouterr().out
    finally:
        solutions.solution_cells.cache_clear()


@pytest.mark.parametrize("lesson", LESSONS)
def test_each_lesson_has_four_exercises_and_both_frameworks(lesson):
    module = importlib.import_module(f"course_utils.lessons.{lesson}")
    problems = [getattr(module, name) for name in module.qvars]
    assert len(problems) >= 4, f"{lesson} has {len(problems)} graded exercises"
    if lesson != "lesson1":   # lesson 1 is about the tokenizer: no framework yet
        frameworks = {getattr(problem, "framework", None) for problem in problems}
        assert {"pt", "tf"} <= frameworks, f"{lesson}: exercises in {frameworks - {None}} only"
