"""An answer that is the course's reference implementation earns nothing (issue 18, item 1).

Lesson 5's top-p filter answered by delegating to ``course_utils.reference``: directly, through an
alias or a module attribute taken earlier, through a copy of the function object, or through a
copy of its source with the locals renamed. Each is Incorrect with 0 points and says why, under
``check()`` and under grading (hidden probes included, the trusted judge agreeing); an honest
answer stays Correct, and lesson 7's strategy, which composes the reference filters by design,
is not accused.
"""
from __future__ import annotations

import inspect
import types

import pytest

from course_utils.checking import CORRECT, INCORRECT, judge_answer
from course_utils.checking.borrowed import MESSAGE, reference_names
from course_utils.lessons import lesson5, lesson7
from course_utils.reference import pt as ref_pt

from lesson_check_helpers import bundled, check, grade  # noqa: F401 (bundled: autouse fixture)


def own_top_p(logits, p):
    import torch

    logits = torch.as_tensor(logits)
    if p == 1.0:
        return logits.clone()
    ordered, order = torch.sort(logits, dim=-1)
    cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative <= 1 - p
    drop[..., -1:] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


def pasted_source():
    """The reference's source pasted into a cell, its local names changed."""
    source = inspect.getsource(ref_pt.top_p_filter).replace("logits", "scores").replace("sorted_", "ranked_")
    namespace = dict(vars(ref_pt))
    exec(source, namespace)  # noqa: S102 - the test's own text
    return namespace["top_p_filter"]


TAKEN_EARLIER = ref_pt.top_p_filter   # a module attribute taken before the test cell
BORROWED = {
    "alias": ref_pt.top_p_filter,
    "taken_earlier": lambda logits, p: TAKEN_EARLIER(logits, p),
    "wrapper": lambda logits, p: ref_pt.top_p_filter(logits, p * 1.0),
    "function_copy": types.FunctionType(ref_pt.top_p_filter.__code__, ref_pt.top_p_filter.__globals__),
    "source_copy": pasted_source(),
}


@pytest.mark.parametrize("how", sorted(BORROWED))
def test_an_answer_that_is_the_reference_earns_nothing(how):
    answer = BORROWED[how]
    for verdict in (check(lesson5.q4, top_p_filter=answer), grade(lesson5.q4, top_p_filter=answer)):
        assert verdict.status == INCORRECT and verdict.score == 0 and MESSAGE in verdict.message, verdict
    payload = lesson5.q4.collect({"top_p_filter": answer}, grading=True)
    assert payload["reference"] == "top_p_filter"
    assert judge_answer("lesson5.q4", payload).score == 0


def test_an_honest_answer_and_a_strategy_built_on_the_filters_are_not_accused():
    assert check(lesson5.q4, top_p_filter=own_top_p).status == CORRECT
    assert "reference" not in lesson5.q4.collect({"top_p_filter": own_top_p}, grading=True)
    assert reference_names(lesson7.q5) == ()
    assert ref_pt.top_p_filter.__code__.co_name == "top_p_filter"  # the watch put the code back
    assert ref_pt.top_p_filter(__import__("torch").tensor([1.0, 2.0]), 1.0).tolist() == [1.0, 2.0]
