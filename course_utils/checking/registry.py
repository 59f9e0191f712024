"""Find a problem by id (``"lesson3.q3"``, ``"lesson4.q2.a"``) and judge a recorded answer.

This is the grader's entry point: it runs in the trusted process, on payloads read from the
executed notebook, so nothing the student did in the kernel affects the verdict.
"""
from __future__ import annotations

import importlib

from course_utils.checking.verdict import Verdict


def get_problem(problem_id: str):
    lesson, *path = problem_id.split(".")
    if not lesson.isidentifier() or not path:
        raise KeyError(f"not a problem id: {problem_id!r}")
    module = importlib.import_module(f"course_utils.lessons.{lesson}")
    problem = module
    for name in path:
        problem = getattr(problem, name, None)
        if problem is None:
            raise KeyError(f"no problem {problem_id!r}")
    return problem


def judge_answer(problem_id: str, payload: dict) -> Verdict:
    """The verdict on a payload recorded by ``problem.grade()`` (scaled to the problem's points)."""
    return get_problem(problem_id).judge_recorded(payload)
