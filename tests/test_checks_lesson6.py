"""Lesson 6 (log-probabilities and beam search): the checks and the notebook.

References pass; every named mistake is named (probabilities for log-probs, the prompt counted,
unshifted positions, the first generated token left out, one token per beam, scores not added,
greedy, the last beam, n-gram bans off by one); stubs are Not attempted; answers that lie about
themselves fail; grading mode raises on wrong answers (hidden probes included) and the trusted
``judge_answer`` agrees. The source notebook runs with every reference answer Correct; its student
version runs unanswered.
"""
from __future__ import annotations


import numpy as np
import pytest

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, judge_answer, ____
from course_utils.lessons import lesson6


from lesson_check_helpers import assert_grading_agrees, EqualsEverythingFloat as EqualsEverything, LyingList, assert_named, bundled, check, grade  # noqa: F401 (bundled: autouse fixture)


def log_probs_tf(logits, labels):
    import tensorflow as tf

    return tf.gather(tf.nn.log_softmax(logits, axis=-1), labels, batch_dims=1)


def test_q1_log_probs_from_logits(tf_model):
    import tensorflow as tf

    def rows(values, labels):
        return tf.gather(values, labels, batch_dims=1)

    assert check(lesson6.q1, log_probs_from_logits_tf=log_probs_tf).status == CORRECT
    assert grade(lesson6.q1, log_probs_from_logits_tf=log_probs_tf).status == CORRECT
    assert_named(check(lesson6.q1, log_probs_from_logits_tf=lambda l, y: rows(tf.nn.softmax(l), y)),
                 "probabilities")
    assert_named(check(lesson6.q1, log_probs_from_logits_tf=lambda l, y: rows(l, y)), "raw logits")
    assert_named(check(lesson6.q1, log_probs_from_logits_tf=lambda l, y: rows(tf.nn.log_softmax(l, axis=0), y)),
                 "sequence axis")
    assert_named(check(lesson6.q1, log_probs_from_logits_tf=lambda l, y: tf.reduce_max(tf.nn.log_softmax(l), -1)),
                 "most likely token")
    lying = check(lesson6.q1, log_probs_from_logits_tf=lambda l, y: LyingList(
        [0.0] * len(y), log_probs_tf(l, y).numpy().tolist()))
    assert lying.status == INCORRECT
    assert check(lesson6.q1, log_probs_from_logits_tf=lambda l, y: EqualsEverything(0)).status == INCORRECT
    assert check(lesson6.q1, log_probs_from_logits_tf=lambda l, y: None).status == NOT_ATTEMPTED
    assert check(lesson6.q1, log_probs_from_logits_tf=____).status == NOT_ATTEMPTED


# -- q2: sequence log-prob (PyTorch) ------------------------------------------------------------------
def sequence_logprob(model, ids, input_len, mistake=None):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    log_probs = torch.log_softmax(logits, -1)
    if mistake == "unshifted":
        return float(log_probs.gather(-1, torch.tensor(ids)[:, None])[input_len:, 0].sum())
    token_log_probs = log_probs[:-1].gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
    if mistake == "product":
        return float(torch.exp(token_log_probs[input_len - 1:]).prod())
    if mistake == "prompt":
        return float(token_log_probs.sum())
    if mistake == "first":
        return float(token_log_probs[input_len:].sum())
    return float(token_log_probs[input_len - 1:].sum())


def test_q2_sequence_logprob(pt_model):
    assert check(lesson6.q2, sequence_logprob_pt=sequence_logprob).status == CORRECT
    assert grade(lesson6.q2, sequence_logprob_pt=sequence_logprob).status == CORRECT
    for mistake, phrase in [("product", "product of probabilities"), ("prompt", "includes the prompt"),
                            ("unshifted", "wrong positions"), ("first", "first generated token")]:
        verdict = check(lesson6.q2, sequence_logprob_pt=lambda m, i, n: sequence_logprob(m, i, n, mistake))
        assert_named(verdict, phrase)
    assert check(lesson6.q2, sequence_logprob_pt=lambda m, i, n: EqualsEverything(0.0)).status == INCORRECT
    assert check(lesson6.q2, sequence_logprob_pt=lambda m, i, n: None).status == NOT_ATTEMPTED

    def public_only(model, ids, input_len):   # right for the public probe's input_len only
        return sequence_logprob(model, ids, input_len, None if input_len == 3 else "prompt")
    assert check(lesson6.q2, sequence_logprob_pt=public_only).status == CORRECT
    assert_named(grade(lesson6.q2, sequence_logprob_pt=public_only), "hidden test")


# -- q3: one beam step (PyTorch) ----------------------------------------------------------------------
def beam_step(model, beams, scores, num_beams):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor(beams)).logits[:, -1]
    table = torch.tensor(scores)[:, None] + torch.log_softmax(logits, -1)
    top = torch.topk(table.flatten(), num_beams)
    vocab_size = table.shape[-1]
    return [beams[i // vocab_size] + [i % vocab_size] for i in top.indices.tolist()], top.values.tolist()


def test_q3_beam_step(pt_model):
    import torch

    def best_per_beam(model, beams, scores, num_beams):
        picks = []
        for beam, score in zip(beams, scores):
            new, new_scores = beam_step(model, [beam], [score], 1)
            picks.append((new_scores[0], new[0]))
        picks.sort(key=lambda pair: -pair[0])
        return [b for _, b in picks[:num_beams]], [s for s, _ in picks[:num_beams]]

    def scores_not_added(model, beams, scores, num_beams):
        return beam_step(model, beams, [0.0] * len(beams), num_beams)

    def probabilities(model, beams, scores, num_beams):
        new, new_scores = beam_step(model, beams, scores, num_beams)
        return new, [float(np.exp(s)) for s in new_scores]

    def worst_first(model, beams, scores, num_beams):
        new, new_scores = beam_step(model, beams, scores, num_beams)
        return new[::-1], new_scores[::-1]

    assert check(lesson6.q3, beam_step=beam_step).status == CORRECT
    assert grade(lesson6.q3, beam_step=beam_step).status == CORRECT
    assert check(lesson6.q3, beam_step=lesson6.reference_beam_step).status == CORRECT
    assert_named(check(lesson6.q3, beam_step=best_per_beam), "best token of each beam")
    assert_named(check(lesson6.q3, beam_step=scores_not_added), "were not added")
    assert_named(check(lesson6.q3, beam_step=probabilities), "probabilities")
    assert_named(check(lesson6.q3, beam_step=worst_first), "best first")
    assert_named(check(lesson6.q3, beam_step=lambda m, b, s, k: b), "pair")
    lying = check(lesson6.q3, beam_step=lambda m, b, s, k: (LyingList([[0]] * k, beam_step(m, b, s, k)[0]),
                                                             beam_step(m, b, s, k)[1]))
    assert lying.status == INCORRECT
    assert check(lesson6.q3, beam_step=lambda m, b, s, k: None).status == NOT_ATTEMPTED
    del torch


# -- q4: the whole search (PyTorch) -------------------------------------------------------------------
def beam_search(model, input_ids, num_beams, max_new_tokens, pick=0, steps_short=0):
    beams, scores = [list(input_ids)], [0.0]
    for _ in range(max_new_tokens - steps_short):
        beams, scores = beam_step(model, beams, scores, num_beams)
    return beams[pick]


def test_q4_beam_search(pt_model, tokenizer):
    from course_utils.reference import pt as ref

    spec = lesson6.q4.public_probes[0]
    ids = tokenizer.encode(spec["prompt"])
    assert beam_search(pt_model, ids, spec["num_beams"], spec["max_new_tokens"]) == \
        ref.beam_search(pt_model, ids, spec["num_beams"], spec["max_new_tokens"])[0]
    assert check(lesson6.q4, beam_search_pt=beam_search).status == CORRECT
    assert grade(lesson6.q4, beam_search_pt=beam_search).status == CORRECT
    assert check(lesson6.q4, beam_search_pt=lambda m, i, k, n: ref.beam_search(m, i, k, n)).status == CORRECT
    assert_named(check(lesson6.q4, beam_search_pt=lambda m, i, k, n: ref.greedy_search(m, i, n)), "greedy")
    assert_named(check(lesson6.q4, beam_search_pt=lambda m, i, k, n: beam_search(m, i, k, n, pick=-1)), "last")
    assert_named(check(lesson6.q4, beam_search_pt=lambda m, i, k, n: beam_search(m, i, k, n)[len(i):]),
                 "only the new tokens")
    assert_named(check(lesson6.q4, beam_search_pt=lambda m, i, k, n: beam_search(m, i, k, n, steps_short=1)),
                 "One step too few")
    right = beam_search(pt_model, ids, spec["num_beams"], spec["max_new_tokens"])
    lying = check(lesson6.q4, beam_search_pt=lambda m, i, k, n: LyingList([0] * len(right), right))
    assert lying.status == INCORRECT
    assert check(lesson6.q4, beam_search_pt=lambda m, i, k, n: None).status == NOT_ATTEMPTED


# -- q5: banned n-gram tokens -------------------------------------------------------------------------
def banned_tokens(ids, n):
    prefix = ids[len(ids) - (n - 1):]
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == prefix]


def test_q5_banned_tokens():
    assert banned_tokens([10, 20, 30, 10, 20], 3) == [30]
    assert sorted(banned_tokens([5, 6, 5, 7, 5], 2)) == [6, 7]
    assert check(lesson6.q5, banned_tokens=banned_tokens).status == CORRECT
    assert grade(lesson6.q5, banned_tokens=banned_tokens).status == CORRECT
    assert check(lesson6.q5, banned_tokens=lambda ids, n: set(banned_tokens(ids, n))).status == INCORRECT
    assert_named(check(lesson6.q5, banned_tokens=lambda ids, n: banned_tokens(ids, n - 1)), "(n - 1)-grams")
    assert_named(check(lesson6.q5, banned_tokens=lambda ids, n: banned_tokens(ids, n + 1)), "(n + 1)-grams")
    lying = check(lesson6.q5, banned_tokens=lambda ids, n: LyingList([], banned_tokens(ids, n)))
    assert lying.status == INCORRECT
    assert check(lesson6.q5, banned_tokens=lambda ids, n: None).status == NOT_ATTEMPTED

    def public_only(ids, n):       # right for n >= 2 only: a hidden probe has n = 1
        return banned_tokens(ids, n) if n > 1 else []
    assert check(lesson6.q5, banned_tokens=public_only).status == CORRECT
    assert_named(grade(lesson6.q5, banned_tokens=public_only), "hidden test")


# -- q6: generate() with beams ------------------------------------------------------------------------
def test_q6_generate_beams(pt_model, tokenizer):
    import torch

    from course_utils.reference import pt as ref

    ids = torch.tensor([tokenizer.encode(lesson6.BEAM_PROMPT)])
    beam = pt_model.generate(ids, do_sample=False, pad_token_id=tokenizer.eos_token_id,
                             **lesson6.BEAM_SETTINGS)
    assert check(lesson6.q6, beam_ids=beam[0].tolist()).status == CORRECT
    assert check(lesson6.q6, beam_ids=beam).status == CORRECT                   # [1, seq_len]
    greedy = ref.greedy_search(pt_model, ids[0], lesson6.BEAM_SETTINGS["max_new_tokens"])
    if greedy != beam[0].tolist():
        assert_named(check(lesson6.q6, beam_ids=greedy), "greedy")
    assert_named(check(lesson6.q6, beam_ids=beam[0, ids.shape[1]:].tolist()), "only the new tokens")
    assert check(lesson6.q6, beam_ids=LyingList([0] * beam.shape[1], beam[0].tolist())).status == INCORRECT
    assert check(lesson6.q6, beam_ids=____).status == NOT_ATTEMPTED


def test_beam_tree_figure(pt_model, tokenizer):
    history = lesson6.beam_history(pt_model, tokenizer.encode("In the future"), 3, 3)
    assert [len(beams) for beams, _ in history] == [1, 3, 3, 3]
    figure = lesson6.draw_beam_tree(history, tokenizer)
    assert len(figure.axes) == 1
    import matplotlib.pyplot as plt

    plt.close(figure)


# -- grading mode and the trusted judge ---------------------------------------------------------------
def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, pt_model, tf_model):
    monkeypatch.setenv("COURSE_GRADING", "1")
    cases = {"q1": ({"log_probs_from_logits_tf": log_probs_tf},
                    {"log_probs_from_logits_tf": lambda l, y: -log_probs_tf(l, y)}),
             "q2": ({"sequence_logprob_pt": sequence_logprob},
                    {"sequence_logprob_pt": lambda m, i, n: sequence_logprob(m, i, n, "prompt")}),
             "q3": ({"beam_step": beam_step},
                    {"beam_step": lambda m, b, s, k: beam_step(m, b, [0.0] * len(b), k)}),
             "q4": ({"beam_search_pt": beam_search},
                    {"beam_search_pt": lambda m, i, k, n: beam_search(m, i, k, n, pick=-1)}),
             "q5": ({"banned_tokens": banned_tokens}, {"banned_tokens": lambda ids, n: banned_tokens(ids, n + 1)})}
    for name, (right, wrong) in cases.items():
        assert_grading_agrees(getattr(lesson6, name), right, wrong)
    right_ids = lesson6.q6.expected()
    lesson6.q6.grade({"beam_ids": right_ids})
    with pytest.raises(AssertionError, match="Incorrect"):
        lesson6.q6.grade({"beam_ids": right_ids[:-1]})
    assert judge_answer("lesson6.q6", {"value": right_ids}).status == CORRECT
    assert judge_answer("lesson6.q6", {"value": np.zeros(3, dtype=int).tolist()}).status == INCORRECT


# -- the notebook -------------------------------------------------------------------------------------
