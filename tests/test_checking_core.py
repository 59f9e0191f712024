"""The checker core: strict conversion, comparison, verdict text, problem kinds and grading mode."""
from __future__ import annotations

import json

import numpy as np
import pytest

from course_utils.checking import (CORRECT, INCORRECT, NOT_ATTEMPTED, FunctionProblem,
                                   MultipartProblem, PredictionProblem, ValueProblem, ____, mistake)
from course_utils.checking.compare import mismatch, same
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
    # An infinity equals only itself: a filter's -inf is not "close" to 0 or to -1e9.
    assert mismatch([0.0, 1.0], [float("-inf"), 1.0]) is not None
    assert mismatch([-1e9], [float("-inf")]) is not None and mismatch([float("inf")], [float("-inf")]) is not None


def test_same_is_the_one_equality_test():
    assert same([1, 2], [1, 2]) and not same([1, 2], [2, 1])
    assert same([[1, 2], [0.5]], ([1, 2], [0.50001]))             # a tuple is a record, part by part
    assert not same([[1, 2]], ([1, 2], [0.5])) and not same({"x": 1}, ([1], [2]))
    assert same(["Ġthe", "x"], ["Ġthe", "x"]) and not same(["the", "x"], ["Ġthe", "x"])
    assert same(0.10001, 0.1) and not same(0.10001, 0.1, rtol=1e-6, atol=0)


# -- problem kinds ------------------------------------------------------------------------------
class Double(ValueProblem):
    var = "answer"
    hints = ("Multiply by two.",)

    def expected(self):
        return 2 * 21

    @mistake("You added instead of multiplying.")
    def added(self):
        return 21 + 2


class Square(FunctionProblem):
    var = "square"
    public_probes = [2, 3]
    hidden_probes = [11]

    def expected(self, spec):
        return spec * spec

    @mistake("You doubled instead of squaring.")
    def doubled(self, spec):
        return 2 * spec


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
    changed = guess.verdict({"guess": 42})             # recorded beside the verdict, not judged
    assert changed.status == CORRECT and "first prediction in this kernel was 41" in changed.message
    fresh = Guess().verdict({"guess": 42})              # a restarted kernel, Validate, the grader
    assert fresh.status == CORRECT and "6 * 7" in fresh.message and "first prediction" not in fresh.message
    assert (changed.score, changed.max_score) == (fresh.score, fresh.max_score)


class Ordered(ValueProblem):
    var = "answer"

    def expected(self):
        return 10

    @mistake("first")
    def first(self):
        return 5

    @mistake("gives the right answer here")
    def harmless(self):
        return 10

    @mistake("not on this input")
    def not_applicable(self):
        return None

    @mistake("second, same value as first")
    def second(self):
        return 5


def test_declared_mistakes_in_order_skipping_right_and_inapplicable():
    assert Ordered().verdict({"answer": 5}).message == "first"
    assert Ordered().verdict({"answer": 10}).status == CORRECT

    class Derived(Ordered):
        @mistake("own mistakes come before inherited ones")
        def own(self):
            return 5

    assert Derived().verdict({"answer": 5}).message == "own mistakes come before inherited ones"
    assert "`answer` is 7" in Derived().verdict({"answer": 7}).message   # the fallback


def test_bind_exercises_uses_declared_ids():
    from course_utils.checking import bind_exercises

    class First(Double):
        id = "toy.first"

    class Second(Double):
        id = "toy.second"

    namespace = {}
    assert bind_exercises(namespace, [Second, First]) == ["second", "first"]
    assert namespace["first"].id == "toy.first"
    with pytest.raises(ValueError, match="id"):
        bind_exercises({}, [Double])
    with pytest.raises(ValueError, match="two exercises"):
        bind_exercises({}, [First, First])
    with pytest.raises(ValueError, match="declared in"):
        bind_exercises({"__name__": "course_utils.lessons.lesson9"}, [First])


def test_reference_values_are_computed_once_per_model():
    from course_utils.checking.reference_cache import once_per_model

    calls = []

    @once_per_model
    def passes(model, ids):
        calls.append(ids)
        return np.arange(3) + len(ids)

    model, other = object(), object()
    first = passes(model, (1, 2))
    assert passes(model, (1, 2)) is first and calls == [(1, 2)]
    passes(other, (1, 2))
    assert len(calls) == 2
    with pytest.raises(ValueError):
        first[0] = 7                                  # shared, so read-only


def test_solutions_come_from_the_source_notebook():
    from course_utils.checking import solutions

    cell = "x = ____\n### BEGIN SOLUTION\nx = 1 + 1\n### END SOLUTION\n"
    assert solutions.with_solution(cell) == "x = 1 + 1"
    function = "def f(a):\n    ### BEGIN SOLUTION\n    return a\n    ### END SOLUTION\n"
    assert solutions.with_solution(function) == "def f(a):\n    return a"
    code_lines = [line for line in solutions.solution_code("lesson1.q1").splitlines()
                  if not line.lstrip().startswith("#")]       # the solution's comments say why
    assert code_lines == ["vocab_size = len(tokenizer)"]
    assert solutions.solution_code("lesson9.q1") is None
    q = Double()
    q.id = "toy.q1"
    assert q.solution_code == ""


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
