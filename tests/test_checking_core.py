"""The checker core: strict conversion, comparison, verdict text, problem kinds and grading mode."""
from __future__ import annotations

import json

import numpy as np
import pytest

from course_utils.checking import (CORRECT, INCORRECT, NOT_ATTEMPTED, FunctionProblem,
                                   MultipartProblem, PredictionProblem, ValueProblem, ____,
                                   call_student)
from course_utils.checking.compare import mismatch
from course_utils.checking.convert import AnswerTypeError, to_plain


# -- conversion ---------------------------------------------------------------------------------
class EqualsEverything:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class LyingList(list):
    def __iter__(self):
        return iter([1, 2, 3])

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return [1, 2, 3][i]

    def __eq__(self, other):
        return True


class LyingInt(int):
    def __eq__(self, other):
        return True

    def __int__(self):
        return 42


class FakeArray(np.ndarray):
    def __array__(self, *args, **kwargs):
        return np.array([1, 2, 3])


def test_plain_values_pass_through():
    assert to_plain([1, 2.5, True, "a"]) == [1, 2.5, True, "a"]
    assert to_plain((1, (2, 3))) == [1, [2, 3]]
    assert to_plain(np.arange(3)) == [0, 1, 2]
    assert to_plain(np.float32(0.5)) == 0.5


def test_lying_objects_are_read_through_base_types():
    assert to_plain(LyingList([7])) == [7]          # the stored element, not what __iter__ claims
    assert to_plain(LyingInt(5)) == 5               # int.__int__, not the override
    fake = np.array([9, 9]).view(FakeArray)
    assert to_plain(fake) == [9, 9]
    with pytest.raises(AnswerTypeError):
        to_plain(EqualsEverything())


def test_framework_tensors_are_converted_without_their_methods():
    import tensorflow as tf
    import torch

    assert to_plain(torch.tensor([[1, 2]])) == [[1, 2]]
    assert to_plain(tf.constant([0.5, 1.5])) == [0.5, 1.5]
    assert to_plain(torch.nn.Parameter(torch.ones(2))) == [1.0, 1.0]

    class SneakyTensor(torch.Tensor):
        pass

    with pytest.raises(AnswerTypeError):
        to_plain(torch.ones(2).as_subclass(SneakyTensor))


def test_oversized_and_non_numeric_answers_are_refused():
    with pytest.raises(AnswerTypeError):
        to_plain(np.zeros(2_000_000))
    with pytest.raises(AnswerTypeError):
        to_plain(np.array(["a", "b"]))


# -- comparison ---------------------------------------------------------------------------------
def test_mismatch_is_dtype_and_shape_aware():
    assert mismatch([1, 2], [1, 2]) is None
    assert "shape" in mismatch([1, 2, 3], [1, 2])
    assert mismatch([1.0, 2.0], [1, 2]) is None                 # integral floats are fine for ids
    assert "whole numbers" in mismatch([1.5, 2.0], [1, 2])
    assert mismatch([0.10001], [0.1]) is None
    assert mismatch([0.2], [0.1]) is not None
    assert mismatch([float("-inf"), 1.0], [float("-inf"), 1.0]) is None
    assert mismatch("abc", "abc") is None and mismatch("abd", "abc") is not None
    assert "string" in mismatch(3, "abc")


# -- problem kinds ------------------------------------------------------------------------------
class Double(ValueProblem):
    var = "answer"
    hints = ("Multiply by two.",)

    def expected(self):
        return 2 * 21

    def wrong_variants(self):
        return {"You added instead of multiplying.": 21 + 2}


class Square(FunctionProblem):
    var = "square"
    public_probes = [2, 3]
    hidden_probes = [11]

    def run_probe(self, function, spec):
        return call_student(function, spec)

    def expected(self, spec):
        return spec * spec

    def wrong_variants(self, spec):
        return {"You doubled instead of squaring.": 2 * spec}


class Guess(PredictionProblem):
    var = "guess"
    explanation = "Because 6 * 7 = 42."

    def expected(self):
        return 42


def test_value_problem_statuses_and_messages():
    q = Double()
    assert q.verdict({}).status == NOT_ATTEMPTED
    assert q.verdict({"answer": ____}).status == NOT_ATTEMPTED
    assert q.verdict({"answer": 42}).status == CORRECT
    wrong = q.verdict({"answer": 23})
    assert wrong.status == INCORRECT and "added instead of multiplying" in wrong.message
    assert q.verdict({"answer": EqualsEverything()}).status == INCORRECT
    assert q.verdict({"answer": LyingInt(1)}).status == INCORRECT
    assert str(q.verdict({"answer": 42})).startswith("Correct")


def test_function_problem_probes_errors_and_partial_credit():
    q = Square()
    assert q.verdict({"square": lambda x: x * x}, grading=True).status == CORRECT
    named = q.verdict({"square": lambda x: 2 * x})
    assert "doubled instead of squaring" in named.message
    assert q.verdict({"square": lambda x: None}).status == NOT_ATTEMPTED

    def crashes(x):
        return x / 0

    crashed = q.verdict({"square": crashes})
    assert crashed.status == INCORRECT and "ZeroDivisionError" in crashed.message and "x / 0" in crashed.message
    partial = q.verdict({"square": lambda x: x * x if x < 10 else 0}, grading=True)
    assert partial.status == INCORRECT and partial.score == pytest.approx(2 / 3)
    assert "11" not in partial.message  # hidden probe inputs stay secret


def test_multipart_and_prediction_problems():
    q = MultipartProblem(a=Double(), b=Square())
    both = q.verdict({"answer": 42, "square": lambda x: x * x})
    assert both.status == CORRECT and both.score == 2
    half = q.verdict({"answer": 42, "square": lambda x: None})
    assert half.status == INCORRECT and half.score == 1

    guess = Guess()
    assert guess.verdict({"guess": 41}).status == INCORRECT
    changed = guess.verdict({"guess": 42})
    assert changed.status == INCORRECT and "changed your prediction" in changed.message
    fresh = Guess().verdict({"guess": 42})
    assert fresh.status == CORRECT and "6 * 7" in fresh.message


def test_grade_records_payload_and_raises_only_under_the_grader(capsys, monkeypatch):
    q = Double()
    q.id = "demo.q1"
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    q.grade({"answer": 1})                       # a student's run: shows, never raises
    assert capsys.readouterr().out.startswith("Incorrect")
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(AssertionError, match="Incorrect"):
        q.grade({"answer": 1})
    q.grade({"answer": 42})
    recorded = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert recorded[-1]["application/vnd.course.answer+json"]["payload"] == {"value": 42}


def test_checker_failure_is_a_message_not_a_traceback():
    class Broken(ValueProblem):
        var = "answer"

        def expected(self):
            raise RuntimeError("reference exploded")

    verdict = Broken().verdict({"answer": 1})
    assert verdict.status == INCORRECT and "could not judge" in verdict.message
    assert "Traceback" not in verdict.message


def test_html_rendering_is_coloured_and_escaped():
    verdict = Double().verdict({"answer": "<script>"})
    html = verdict._repr_html_()
    assert "<script>" not in html and "Incorrect" in html
