"""Shared by the per-lesson check tests: answers that lie, and the two ways a check is run."""
from __future__ import annotations

import pytest

from course_utils.checking import INCORRECT


class EqualsEverythingInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class EqualsEverythingFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class LyingList(list):
    """Holds one thing but claims, through every method a naive checker would call, another."""

    def __init__(self, items, claimed):
        super().__init__(items)
        self.claimed = claimed

    def __iter__(self):
        return iter(self.claimed)

    def __len__(self):
        return len(self.claimed)

    def __getitem__(self, index):
        return self.claimed[index]

    def __eq__(self, other):
        return True


@pytest.fixture(autouse=True)
def bundled(monkeypatch, pt_model):
    """Every check test judges on the bundled model, as a student would (not under the grader)."""
    monkeypatch.setenv("COURSE_MODEL", "course")
    monkeypatch.delenv("COURSE_GRADING", raising=False)


def check(problem, **namespace):
    """The verdict as ``qK.check()`` computes it for a student (public probes only)."""
    return problem.verdict(namespace)


def grade(problem, **namespace):
    """The verdict with hidden probes, as under the grader."""
    return problem.verdict(namespace, grading=True)


def assert_named(verdict, phrase):
    assert verdict.status == INCORRECT and phrase in verdict.message, (phrase, verdict)


def assert_grading_agrees(problem, right: dict, wrong: dict):
    """Grading mode passes ``right`` and raises on ``wrong``; the trusted judge, given what the
    kernel recorded (hidden probes included), says the same."""
    from course_utils.checking import CORRECT, judge_answer

    problem.grade(right)                                   # no exception: Correct
    with pytest.raises(AssertionError, match="Incorrect"):
        problem.grade(wrong)
    for namespace, expected in [(right, CORRECT), (wrong, INCORRECT)]:
        payload = problem.collect(namespace, grading=True)
        assert len(payload["probes"]) == len(problem.public_probes) + len(problem.hidden_probes)
        assert judge_answer(problem.id, payload).status == expected
