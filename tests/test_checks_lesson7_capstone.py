"""Lesson 7's capstone (q5, ``my_generate``): the rules the text states, each on a probe that shows it.

<|endoftext|> kept and the loop stopped there, the prompt's n-grams banned, one repetition penalty per
seen token, min-p at its bounds, ``top_k=0`` as "off": each wrong loop is Incorrect with its own
message, under ``check()`` where a public probe shows it and under the grader's recorded path; a
right loop written another way (the key/value cache, a sorted nucleus) stays Correct with no slip named.
"""
from __future__ import annotations

import pytest

from course_utils.checking import CORRECT, INCORRECT, judge_answer
from course_utils.lessons import lesson7

from lesson_check_helpers import assert_named, bundled, check, grade  # noqa: F401


def student_generate(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0, min_p=None,
                     repetition_penalty=1.0, no_repeat_ngram_size=0, do_sample=False, seed=0, slip=None):
    """A student's loop with the key/value cache, written from the lesson's text; ``slip`` plants one
    mistake."""
    import torch

    prompt = input_ids[0].tolist()
    ids, past, feed = list(prompt), None, input_ids
    torch.manual_seed(seed)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            out = model(feed, past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1].float()
        if repetition_penalty != 1.0:
            seen = ids if slip == "penalty_per_occurrence" else sorted(set(ids))
            for _ in range(2 if slip == "penalty_twice" else 1):
                for token in seen:                          # one token at a time, as the text reads
                    score = logits[token]
                    logits[token] = score * repetition_penalty if score < 0 else score / repetition_penalty
        if no_repeat_ngram_size:
            history = ids[len(prompt):] if slip == "ngram_new_only" else ids
            banned = lesson7.banned_ngram_tokens(history, no_repeat_ngram_size)
            if banned:
                logits[banned] = float("-inf")
        if do_sample:
            logits = logits / temperature
            if top_k is not None if slip == "top_k_unguarded" else top_k:
                kth = torch.topk(logits, top_k).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            if top_p < 1.0:
                ordered, order = torch.sort(logits)          # ascending, as transformers
                drop = ordered.softmax(-1).cumsum(-1) <= 1 - top_p
                drop[-1] = False
                logits = logits.masked_fill(drop.scatter(0, order, drop), float("-inf"))
            if min_p is not None:
                probs = logits.softmax(-1)
                below = probs <= min_p * probs.max() if slip == "min_p_inclusive" else probs < min_p * probs.max()
                logits = logits.masked_fill(below, float("-inf"))
            next_id = int(torch.multinomial(logits.softmax(-1), 1))
        else:
            next_id = int(logits.argmax())
        if next_id == model.config.eos_token_id and slip == "eos_dropped":
            break
        ids.append(next_id)
        if next_id == model.config.eos_token_id and slip != "eos_ignored":
            break
        feed = torch.tensor([[next_id]])
    return ids


def with_slip(slip):
    return lambda model, input_ids, **settings: student_generate(model, input_ids, slip=slip, **settings)


RULE_SLIPS = [("eos_dropped", "drops <|endoftext|>"), ("eos_ignored", "goes on after <|endoftext|>"),
              ("ngram_new_only", "looks at the new tokens only"),
              ("penalty_per_occurrence", "once per occurrence"), ("penalty_twice", "applied twice per step")]


def test_a_right_loop_with_the_cache_is_correct_with_no_note(pt_model):
    assert check(lesson7.q5, my_generate=student_generate).status == CORRECT
    graded = grade(lesson7.q5, my_generate=student_generate)
    assert graded.status == CORRECT and graded.mistake is None
    assert judge_answer(lesson7.q5.id, lesson7.q5.collect({"my_generate": student_generate},
                                                          grading=True)).status == CORRECT


@pytest.mark.parametrize("slip, phrase", RULE_SLIPS)
def test_every_rule_the_text_states_is_named_under_check(pt_model, slip, phrase):
    verdict = check(lesson7.q5, my_generate=with_slip(slip))
    assert_named(verdict, phrase)
    assert verdict.mistake == f"lesson7.q5:{slip}"


@pytest.mark.parametrize("slip, phrase", RULE_SLIPS[::2])
def test_rule_slips_named_on_the_graders_recorded_path(pt_model, slip, phrase):
    payload = lesson7.q5.collect({"my_generate": with_slip(slip)}, grading=True)
    assert_named(judge_answer(lesson7.q5.id, payload), phrase)


def test_top_k_zero_means_off_on_every_probe(pt_model):
    """top_k=0 is passed to every probe (the off value): a loop that calls topk(logits, 0) fails."""
    verdict = check(lesson7.q5, my_generate=with_slip("top_k_unguarded"))
    assert verdict.status == INCORRECT and "raised" in verdict.message


def test_min_p_at_its_bounds_is_a_hidden_test(pt_model):
    """min_p=1.0 keeps the most likely token only; a `<=` removes it too (every logit -inf): only a
    hidden probe sets min-p to its bound, so check() passes and the grader does not."""
    assert check(lesson7.q5, my_generate=with_slip("min_p_inclusive")).status == CORRECT
    graded = grade(lesson7.q5, my_generate=with_slip("min_p_inclusive"))
    assert graded.status == INCORRECT and "hidden test" in graded.message
    bounds = [spec["settings"].get("min_p") for spec in lesson7.q5.hidden_probes]
    assert 0.0 in bounds and 1.0 in bounds
