"""Lesson 4 (the greedy loop): the checks and the notebook.

The TensorFlow loop and the PyTorch generator: references pass; each known mistake (never
appending, running past '.', dropping the '.', a budget off by one, the first position's logits,
argmax over the wrong axis; for the generator also a plain function returning a list, a list
yielded, the prompt yielded) is named, under check() and on the grader's recorded path; stubs are
Not attempted; hidden probes catch what public ones miss; grading mode raises and the trusted
``judge_answer`` agrees. The cached-calls prediction is judged from its payload alone: a wrong
first guess is recorded in the verdict, never sticky. The notebooks run as in the lesson 1 tests.
"""
from __future__ import annotations


import pytest

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, judge_answer, ____
from course_utils.lessons import lesson4


from lesson_check_helpers import assert_grading_agrees, assert_named, bundled, check, grade  # noqa: F401 (bundled: autouse fixture)


def greedy_loop(step, period, *, append=True, stop=True, stop_first=False, extra=0, only_new=False):
    """A greedy loop as a student might write it; the keywords plant one mistake each.

    ``step(ids) -> next id`` is one model call. Returns ``f(model, input_ids, max_new_tokens)``.
    """
    def greedy(model, input_ids, max_new_tokens):
        ids, fed = list(input_ids), list(input_ids)
        for _ in range(max_new_tokens + extra):
            next_id = step(fed)
            if stop_first and next_id == period:
                break                                  # stops before appending the '.'
            ids.append(next_id)
            if append:
                fed.append(next_id)
            if stop and next_id == period:
                break
        return ids[len(input_ids):] if only_new else ids

    return greedy


@pytest.fixture
def tf_steps(tf_model):
    import tensorflow as tf

    def logits(ids):
        return tf_model(tf.constant([ids])).logits

    return {"right": lambda ids: int(tf.argmax(logits(ids)[0, -1])),
            "first position": lambda ids: int(tf.argmax(logits(ids)[0, 0])),
            "sequence axis": lambda ids: int(tf.argmax(logits(ids)[0], axis=0)[-1])}


# -- q1: TensorFlow ---------------------------------------------------------------------------------
def test_q1_tensorflow_reference_and_stub(tf_steps, tokenizer):
    period = tokenizer.encode(".")[0]
    assert check(lesson4.q1, greedy_tf=greedy_loop(tf_steps["right"], period)).status == CORRECT
    assert grade(lesson4.q1, greedy_tf=greedy_loop(tf_steps["right"], period)).status == CORRECT

    def stub(model, input_ids, max_new_tokens):
        pass

    assert check(lesson4.q1, greedy_tf=stub).status == NOT_ATTEMPTED
    assert check(lesson4.q1, greedy_tf=____).status == NOT_ATTEMPTED
    assert check(lesson4.q1).status == NOT_ATTEMPTED
    crashed = check(lesson4.q1, greedy_tf=lambda m, i, n: i[n])
    assert crashed.status == INCORRECT and "IndexError" in crashed.message


@pytest.mark.parametrize("mistake, phrase", [
    (dict(append=False), "never appends"),
    (dict(stop=False), "runs past '.'"),
    (dict(stop_first=True), "'.' itself is missing"),
    (dict(extra=1), "One token too many"),
    (dict(extra=-1), "One token short"),
    (dict(only_new=True), "start with the prompt's ids"),
])
def test_q1_named_mistakes(tf_steps, tokenizer, mistake, phrase):
    period = tokenizer.encode(".")[0]
    function = greedy_loop(tf_steps["right"], period, **mistake)
    verdict = check(lesson4.q1, greedy_tf=function)
    assert verdict.status == INCORRECT and phrase in verdict.message, verdict
    assert_named(judge_answer("lesson4.q1", lesson4.q1.collect({"greedy_tf": function}, grading=True)), phrase)


@pytest.mark.parametrize("step, phrase", [("first position", "first position"),
                                          ("sequence axis", "look like positions")])
def test_q1_wrong_logits(tf_steps, tokenizer, step, phrase):
    period = tokenizer.encode(".")[0]
    function = greedy_loop(tf_steps[step], period)
    verdict = check(lesson4.q1, greedy_tf=function)
    assert verdict.status == INCORRECT and phrase in verdict.message, verdict
    assert_named(judge_answer("lesson4.q1", lesson4.q1.collect({"greedy_tf": function}, grading=True)), phrase)


def test_q1_hidden_probes(tf_steps, tokenizer):
    right = greedy_loop(tf_steps["right"], tokenizer.encode(".")[0])

    def at_least_two(model, input_ids, max_new_tokens):   # wrong only for a budget of 1
        return right(model, input_ids, max(max_new_tokens, 2))

    assert check(lesson4.q1, greedy_tf=at_least_two).status == CORRECT
    hidden = grade(lesson4.q1, greedy_tf=at_least_two)
    assert hidden.status == INCORRECT and "hidden test" in hidden.message


# -- q2: PyTorch generator --------------------------------------------------------------------------
def pt_generator(period, append=True):
    import torch

    def greedy_ids_generator(model, input_ids, max_new_tokens):
        fed = list(input_ids)
        for _ in range(max_new_tokens):
            with torch.no_grad():
                next_id = int(torch.argmax(model(torch.tensor([fed])).logits[0, -1]))
            if append:
                fed.append(next_id)
            yield next_id
            if next_id == period:
                return

    return greedy_ids_generator


def test_q2_pytorch_generator(tokenizer):
    period = tokenizer.encode(".")[0]
    assert check(lesson4.q2, greedy_ids_generator=pt_generator(period)).status == CORRECT
    assert grade(lesson4.q2, greedy_ids_generator=pt_generator(period)).status == CORRECT
    stuck = check(lesson4.q2, greedy_ids_generator=pt_generator(period, append=False))
    assert stuck.status == INCORRECT and "never appends" in stuck.message
    payload = lesson4.q2.collect({"greedy_ids_generator": pt_generator(period, append=False)}, grading=True)
    assert_named(judge_answer("lesson4.q2", payload), "never appends")

    def crashes(model, input_ids, max_new_tokens):
        yield 1 // 0

    crashed = check(lesson4.q2, greedy_ids_generator=crashes)
    assert crashed.status == INCORRECT and "ZeroDivisionError" in crashed.message

    def stub(model, input_ids, max_new_tokens):
        pass

    assert check(lesson4.q2, greedy_ids_generator=stub).status == NOT_ATTEMPTED


def pt_list_function(period):
    """The right ids, returned as a list: a plain function, not a generator."""
    generator = pt_generator(period)

    def greedy_ids_generator(model, input_ids, max_new_tokens):
        return list(generator(model, input_ids, max_new_tokens))

    return greedy_ids_generator


def pt_generator_variant(period, kind):
    generator = pt_generator(period)

    def greedy_ids_generator(model, input_ids, max_new_tokens):
        new = list(generator(model, input_ids, max_new_tokens))
        if kind == "prompt too":
            yield from list(input_ids) + new
        else:                                   # "one list": everything at once
            yield new

    return greedy_ids_generator


@pytest.mark.parametrize("make, phrase", [
    (pt_list_function, "must be a generator: use `yield`"),
    (lambda period: pt_generator_variant(period, "prompt too"), "yields the prompt's ids too"),
    (lambda period: pt_generator_variant(period, "one list"), "yielded a list"),
])
def test_q2_not_a_stream_is_named_under_check_and_grader(tokenizer, make, phrase):
    function = make(tokenizer.encode(".")[0])
    assert_named(check(lesson4.q2, greedy_ids_generator=function), phrase)
    assert_named(grade(lesson4.q2, greedy_ids_generator=function), phrase)
    payload = lesson4.q2.collect({"greedy_ids_generator": function}, grading=True)
    assert_named(judge_answer("lesson4.q2", payload), phrase)


# -- q3: predict the number of cached calls ---------------------------------------------------------
def fresh_prediction():
    problem = lesson4.CachedModelCalls()
    problem.id = "lesson4.q3"
    return problem


def test_q3_prediction():
    right = lesson4.CachedModelCalls.new_tokens
    assert fresh_prediction().verdict({"predicted_calls": right}).status == CORRECT
    assert fresh_prediction().verdict({"predicted_calls": ____}).status == NOT_ATTEMPTED


@pytest.mark.parametrize("guess, phrase", [(11, "One call too many"), (9, "One call short"),
                                           (1, "each new token needs its own")])
def test_q3_named_mistakes(guess, phrase):
    verdict = fresh_prediction().verdict({"predicted_calls": guess})
    assert_named(verdict, phrase)
    assert_named(judge_answer("lesson4.q3", {"value": guess, "first": guess}), phrase)


def test_q3_a_wrong_first_guess_is_recorded_not_sticky():
    """The first guess stays in the verdict; a corrected value is judged on its own merits."""
    right = lesson4.CachedModelCalls.new_tokens
    problem = fresh_prediction()
    assert problem.verdict({"predicted_calls": 11}).status == INCORRECT
    fixed = problem.verdict({"predicted_calls": right})          # re-run after the explanation
    assert fixed.status == CORRECT and "first prediction was 11" in fixed.message
    again = problem.verdict({"predicted_calls": 9})               # the first guess is still 11
    assert_named(again, "One call short")
    assert "first prediction was 11" in again.message


def test_q3_judge_keeps_no_memory_between_payloads():
    right = lesson4.CachedModelCalls.new_tokens
    assert judge_answer("lesson4.q3", {"value": 1, "first": 1}).status == INCORRECT
    assert judge_answer("lesson4.q3", {"value": right, "first": right}).status == CORRECT
    assert judge_answer("lesson4.q3", {"value": right}).status == CORRECT
    recorded = judge_answer("lesson4.q3", {"value": right, "first": 1})
    assert recorded.status == CORRECT and "first prediction was 1;" in recorded.message


# -- grading mode and the trusted judge ------------------------------------------------------------
def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, tf_steps, tokenizer):
    monkeypatch.setenv("COURSE_GRADING", "1")
    period = tokenizer.encode(".")[0]
    cases = {"q1": ({"greedy_tf": greedy_loop(tf_steps["right"], period)},
                    {"greedy_tf": greedy_loop(tf_steps["right"], period, stop=False)}),
             "q2": ({"greedy_ids_generator": pt_generator(period)},
                    {"greedy_ids_generator": pt_generator(period, append=False)})}
    for name, (right, wrong) in cases.items():
        assert_grading_agrees(getattr(lesson4, name), right, wrong)
    prediction = fresh_prediction()
    prediction.grade({"predicted_calls": lesson4.CachedModelCalls.new_tokens})
    with pytest.raises(AssertionError, match="Incorrect"):
        fresh_prediction().grade({"predicted_calls": 1})


# -- the notebook ----------------------------------------------------------------------------------


# -- q4: max_length from max_new_tokens ------------------------------------------------------------
def test_q4_max_length(tokenizer):
    def right(prompt, max_new_tokens):
        return len(tokenizer.encode(prompt)) + max_new_tokens

    assert check(lesson4.q4, max_length_for=right).status == CORRECT
    assert grade(lesson4.q4, max_length_for=right).status == CORRECT
    for wrong, phrase in [(lambda prompt, n: n, "counts the prompt"),
                          (lambda prompt, n: len(prompt.split()) + n, "words"),
                          (lambda prompt, n: len(prompt) + n, "characters"),
                          (lambda prompt, n: right(prompt, n) + 1, "One too many"),
                          (lambda prompt, n: len(tokenizer(prompt)) + n, "keys of the dictionary"),
                          (lambda prompt, n: 20 + n, "default `max_length` plus")]:
        verdict = check(lesson4.q4, max_length_for=wrong)
        assert verdict.status == INCORRECT and phrase in verdict.message, (phrase, verdict)
        assert_named(judge_answer("lesson4.q4", lesson4.q4.collect({"max_length_for": wrong}, grading=True)),
                     phrase)
        assert "`q4.hint()`" in verdict.message

    def stub(prompt, max_new_tokens):
        pass

    assert check(lesson4.q4, max_length_for=stub).status == NOT_ATTEMPTED
