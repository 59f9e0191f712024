"""Answers the course's authors never saw, judged as a student's ``qN.check()`` judges them.

``tests/fresh_answers/lessonN.py`` holds, for each of the 29 function exercises, three right
answers in different styles and two to four wrong ones, the slips each lesson's text warns about,
all written from the student notebooks alone. A right answer must be Correct with no note; a
wrong one Incorrect, with a message that names the mistake rather than the checker's generic
fallback (where the values differ, "is not right", or only an exception's text).

What the checker gets wrong today is marked ``xfail(strict=True)`` with what it said
(``KNOWN_GAPS``), so the case turns into a failure, to be unmarked, when the checker is fixed.
"""
from __future__ import annotations

import importlib
import re

import pytest

from course_utils.checking import CORRECT, INCORRECT

from lesson_check_helpers import bundled, check  # noqa: F401 (bundled: autouse fixture)

LESSONS = [f"lesson{n}" for n in range(1, 8)]

# A Correct message with nothing to add: anything else is a note on a right answer.
PLAIN_CORRECT = re.compile(r"(all \d+ test cases pass|the one test case passes)\.")
# The fallbacks that say *that* an answer differs, never *why*.
GENERIC = [re.compile(pattern) for pattern in (
    r"differs from the expected values at \d+ of \d+ positions",
    r"which is not right",
    r"which is not the expected text",          # the same fallback for a string
    r"new token \d+ differs \(yours",            # my_generate's: the first token that differs
    r"^(for [^:]*: )?Your code raised",          # only the exception's own text
)]

# What the checker said on the day these answers were written (public probes, as check() runs).
KNOWN_GAPS = {
    # wrong answers judged Correct
    "lesson1.q3.round_trip_clean_spaces": "Correct: clean_up_tokenization_spaces=True is lossy "
        "('Hello , world' -> 'Hello, world') but no probe has a space before punctuation",
    "lesson6.q5.beam_step_ignores_scores": "Correct on the public probes (grading catches it, saying "
        "'the right beams, in the wrong order')",
    "lesson6.q5.beam_step_best_per_beam": "Correct on the public probes (grading catches it, saying "
        "'All your new beams extend the first beam')",
    "lesson7.q3.min_p_strict": "Correct, even when grading: no probe has min_p=1, where > drops every token",
    "lesson7.q6.distinct_no_empty_case": "Correct, even when grading: no probe without any n-gram "
        "(the answer raises ZeroDivisionError there)",
    # wrong answers with a generic message
    "lesson1.q5.token_cost_space_counted": "for 'Lisbon': your result is 0, which is not right.",
    "lesson1.q6.token_string_always_marker": "for 'be': your result is 'Ġbe', which is not the expected text.",
    "lesson1.q6.token_string_sentencepiece": "for ' be': your result is '▁be', which is not the expected text.",
    "lesson3.q3.next_token_length_as_index": "your result differs from the expected values at 12873 of "
        "100514 positions (largest difference 0.432); the first at row 0, column 0",
    "lesson5.q2.temperature_power": "your result differs from the expected values at 512 of 512 positions "
        "(largest difference 20); the first at position 0",
    "lesson6.q2.sequence_logprob_mean": "your result is -2.047976493835449, which is not right.",
    "lesson6.q5.beam_step_wrong_divmod": "the new beams are not the best extensions: differs from the "
        "expected values at 6 of 15 positions, the first at row 0, column 3",
    "lesson6.q9.ranking_penalty_as_factor": "your result is -2.5, which is not right.",
    "lesson6.q9.ranking_power_of_mean": "your result is -1.5625, which is not right.",
    "lesson7.q1.entropy_unweighted": "your result is 17.52091407775879, which is not right.",
    "lesson7.q5.generate_penalty_without_prompt": "your first 6 new tokens equal `generate()`'s, new "
        "token 7 differs (yours 11, generate's 338).",
}

# Wrong answers whose message names a mistake they did not make: (answer, the wrong diagnosis).
MISDIAGNOSED = {
    "lesson4.q4.max_length_minus_one": ("len(tokenizer(prompt))", "blames `len(tokenizer(prompt))` "
        "(dict keys): a 3-token prompt minus one equals 2 keys"),
    "lesson5.q1.sample_tf_scaled": ("given probabilities", "a stray temperature of 2 is told it passed "
        "probabilities"),
    "lesson7.q6.distinct_off_by_one": ("averaged each sample's own distinct-n", "a missed last n-gram is "
        "told it averaged per sample (the two values coincide on the probe)"),
}


def _answers(lesson):
    return importlib.import_module(f"fresh_answers.{lesson}")


def _cases(kind):
    for lesson in LESSONS:
        answers = _answers(lesson)
        for exercise in answers.EXERCISES:
            for answer in getattr(answers, kind)[exercise]:
                key = f"{lesson}.{exercise}.{answer.__name__}"
                marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[key])]
                         if key in KNOWN_GAPS else [])
                yield pytest.param(lesson, exercise, answer.__name__, id=key, marks=marks)


def _verdict(lesson, exercise, name):
    """The verdict ``qN.check()`` gives with this answer in the notebook's namespace."""
    answers = _answers(lesson)
    answer = getattr(answers, name)
    namespace = {**answers.EXTRA.get(exercise, {}), answers.EXERCISES[exercise]: answer}
    problem = getattr(importlib.import_module(f"course_utils.lessons.{lesson}"), exercise)
    return check(problem, **namespace)


def _is_generic(message):
    return any(pattern.search(message) for pattern in GENERIC)


def test_every_function_exercise_has_its_answers():
    exercises = [(lesson, q) for lesson in LESSONS for q in _answers(lesson).EXERCISES]
    assert len(exercises) == 29
    for lesson, q in exercises:
        answers = _answers(lesson)
        assert len(answers.RIGHT[q]) == 3 and 2 <= len(answers.WRONG[q]) <= 4, (lesson, q)
        for answer in answers.RIGHT[q] + answers.WRONG[q]:
            assert answer.__doc__, answer.__name__
            assert answer.__doc__.startswith("WRONG") == (answer in answers.WRONG[q]), answer.__name__


@pytest.mark.parametrize("lesson, exercise, name", list(_cases("RIGHT")))
def test_right_answer_is_correct_without_note(lesson, exercise, name):
    verdict = _verdict(lesson, exercise, name)
    assert verdict.status == CORRECT and PLAIN_CORRECT.fullmatch(verdict.message), verdict


@pytest.mark.parametrize("lesson, exercise, name", list(_cases("WRONG")))
def test_wrong_answer_is_incorrect_and_named(lesson, exercise, name):
    verdict = _verdict(lesson, exercise, name)
    assert verdict.status == INCORRECT, verdict
    assert not _is_generic(verdict.message), verdict


@pytest.mark.parametrize("key", [pytest.param(key, marks=pytest.mark.xfail(strict=True, reason=reason))
                                 for key, (_, reason) in MISDIAGNOSED.items()])
def test_wrong_answer_is_not_told_a_mistake_it_did_not_make(key):
    lesson, exercise, name = key.split(".")
    verdict = _verdict(lesson, exercise, name)
    assert verdict.status == INCORRECT and MISDIAGNOSED[key][0] not in verdict.message, verdict


def test_the_generic_patterns_catch_the_fallbacks():
    """The detector itself: the fallbacks are caught, a named mistake is not."""
    assert _is_generic("for 'Lisbon': your result is 0, which is not right. Try `q5.hint()` for a nudge.")
    assert _is_generic("for x: your result differs from the expected values at 3 of 9 positions (largest 1)")
    assert _is_generic("for x: Your code raised ZeroDivisionError: division by zero")
    assert not _is_generic("for x: You dropped the space; the vocabulary keeps it, written `Ġ`.")
