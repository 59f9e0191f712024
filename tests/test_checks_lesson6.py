"""Lesson 6 (log-probabilities and beam search): the checks and the notebook.

References pass; every named mistake is named (probabilities for log-probs, the prompt counted,
unshifted positions, the first generated token left out; the search space's digits miscounted; the
toy tree searched greedily, as greedy runs, exhaustively, its probability added or in logs; one
token per beam, scores not added, probabilities added, log-probs multiplied, the first row only,
// and % swapped; greedy, the last beam; n-gram bans off by one, ids[-0:] for n = 1, the last
window missed; the length penalty on the whole length, as a factor, left out, multiplied, on the score; the cache
predicted shared, squared, exponential; the time misread); stubs are Not
attempted; answers that lie about
themselves fail; grading mode raises on wrong answers (hidden probes included) and the trusted
``judge_answer`` agrees. The source notebook runs with every reference answer Correct; its student
version runs unanswered.
"""
from __future__ import annotations


import numpy as np
import pytest

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, judge_answer, ____
from course_utils.lessons import lesson6


from lesson_check_helpers import assert_grading_agrees, EqualsEverythingFloat as EqualsEverything, EqualsEverythingInt, LyingList, assert_named, bundled, check, grade  # noqa: F401 (bundled: autouse fixture)


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
    if mistake == "added":
        return float(torch.exp(token_log_probs[input_len - 1:]).sum())
    if mistake == "multiplied":
        return float(token_log_probs[input_len - 1:].prod())
    if mistake == "first":
        return float(token_log_probs[input_len:].sum())
    return float(token_log_probs[input_len - 1:].sum())


def test_q2_sequence_logprob(pt_model):
    assert check(lesson6.q2, sequence_logprob_pt=sequence_logprob).status == CORRECT
    assert grade(lesson6.q2, sequence_logprob_pt=sequence_logprob).status == CORRECT
    for mistake, phrase in [("product", "product of probabilities"), ("prompt", "includes the prompt"),
                            ("unshifted", "wrong positions"), ("first", "first generated token"),
                            ("added", "added probabilities"), ("multiplied", "multiplied log-probabilities")]:
        verdict = check(lesson6.q2, sequence_logprob_pt=lambda m, i, n: sequence_logprob(m, i, n, mistake))
        assert_named(verdict, phrase)
    assert check(lesson6.q2, sequence_logprob_pt=lambda m, i, n: EqualsEverything(0.0)).status == INCORRECT
    assert check(lesson6.q2, sequence_logprob_pt=lambda m, i, n: None).status == NOT_ATTEMPTED

    def public_only(model, ids, input_len):   # right for the public probe's input_len only
        return sequence_logprob(model, ids, input_len, None if input_len == 3 else "prompt")
    assert check(lesson6.q2, sequence_logprob_pt=public_only).status == CORRECT
    assert_named(grade(lesson6.q2, sequence_logprob_pt=public_only), "hidden test")


# -- q5: one beam step (PyTorch) ----------------------------------------------------------------------
def beam_step(model, beams, scores, num_beams, slip=None):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor(beams)).logits[:, -1]
    scores = torch.tensor(scores, dtype=torch.float64)[:, None]
    log_probs = torch.log_softmax(logits.double(), -1)
    table = {"probabilities": scores + log_probs.exp(), "multiplied": scores * log_probs}.get(slip, scores + log_probs)
    vocab_size = table.shape[-1]
    if slip == "per_row":                  # topk of the 2-D table: row by row; then the first num_beams
        top = torch.topk(table, num_beams)
        return ([beams[0] + [i] for i in top.indices[0].tolist()], top.values[0].tolist())
    top = torch.topk(table.flatten(), num_beams)
    if slip == "swapped":                  # beam = index % vocab_size, token = index // vocab_size
        return [beams[i % vocab_size] + [i // vocab_size] for i in top.indices.tolist()], top.values.tolist()
    return [beams[i // vocab_size] + [i % vocab_size] for i in top.indices.tolist()], top.values.tolist()


def test_q5_beam_step(pt_model):
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

    assert check(lesson6.q5, beam_step=beam_step).status == CORRECT
    assert grade(lesson6.q5, beam_step=beam_step).status == CORRECT
    # The lesson's own reference step (the demos draw with it) is not an answer (issue 18, item 1).
    assert_named(check(lesson6.q5, beam_step=lesson6.reference_beam_step), "`reference_beam_step`")
    assert_named(grade(lesson6.q5, beam_step=lambda m, b, s, k: lesson6.reference_beam_step(m, b, s, k)),
                 "course's reference implementation")
    assert_named(check(lesson6.q5, beam_step=best_per_beam), "best token of each beam")
    assert_named(check(lesson6.q5, beam_step=scores_not_added), "were not added")
    assert_named(check(lesson6.q5, beam_step=probabilities), "probabilities")
    assert_named(check(lesson6.q5, beam_step=worst_first), "best first")
    assert_named(check(lesson6.q5, beam_step=lambda m, b, s, k: b), "pair")
    for slip, phrase in [("probabilities", "added probabilities"), ("multiplied", "multiplied the beam's score"),
                         ("per_row", "extend the first beam"), ("swapped", "index // vocab_size")]:
        assert_named(check(lesson6.q5, beam_step=lambda m, b, s, k: beam_step(m, b, s, k, slip)), phrase)
        assert_named(grade(lesson6.q5, beam_step=lambda m, b, s, k: beam_step(m, b, s, k, slip)), phrase)
    lying = check(lesson6.q5, beam_step=lambda m, b, s, k: (LyingList([[0]] * k, beam_step(m, b, s, k)[0]),
                                                             beam_step(m, b, s, k)[1]))
    assert lying.status == INCORRECT
    assert check(lesson6.q5, beam_step=lambda m, b, s, k: None).status == NOT_ATTEMPTED
    del torch


# -- q6: the whole search (PyTorch) -------------------------------------------------------------------
def beam_search(model, input_ids, num_beams, max_new_tokens, pick=0, steps_short=0):
    beams, scores = [list(input_ids)], [0.0]
    for _ in range(max_new_tokens - steps_short):
        beams, scores = beam_step(model, beams, scores, num_beams)
    return beams[pick]


def test_q6_beam_search(pt_model, tokenizer):
    from course_utils.reference import pt as ref

    spec = lesson6.q6.public_probes[0]
    ids = tokenizer.encode(spec["prompt"])
    assert beam_search(pt_model, ids, spec["num_beams"], spec["max_new_tokens"]) == \
        ref.beam_search(pt_model, ids, spec["num_beams"], spec["max_new_tokens"])[0]
    assert check(lesson6.q6, beam_search_pt=beam_search).status == CORRECT
    assert grade(lesson6.q6, beam_search_pt=beam_search).status == CORRECT
    assert check(lesson6.q6, beam_search_pt=lambda m, i, k, n: ref.beam_search(m, i, k, n)).status == CORRECT
    assert_named(check(lesson6.q6, beam_search_pt=lambda m, i, k, n: ref.greedy_search(m, i, n)), "greedy")
    assert_named(check(lesson6.q6, beam_search_pt=lambda m, i, k, n: beam_search(m, i, k, n, pick=-1)), "last")
    assert_named(check(lesson6.q6, beam_search_pt=lambda m, i, k, n: beam_search(m, i, k, n)[len(i):]),
                 "only the new tokens")
    assert_named(check(lesson6.q6, beam_search_pt=lambda m, i, k, n: beam_search(m, i, k, n, steps_short=1)),
                 "One step too few")
    right = beam_search(pt_model, ids, spec["num_beams"], spec["max_new_tokens"])
    lying = check(lesson6.q6, beam_search_pt=lambda m, i, k, n: LyingList([0] * len(right), right))
    assert lying.status == INCORRECT
    assert check(lesson6.q6, beam_search_pt=lambda m, i, k, n: None).status == NOT_ATTEMPTED


# -- q7: banned n-gram tokens -------------------------------------------------------------------------
def banned_tokens(ids, n):
    prefix = ids[len(ids) - (n - 1):]
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == prefix]


def banned_minus_zero(ids, n):
    """The classic slip: ids[-(n - 1):] is ids[-0:], the whole list, when n = 1."""
    prefix = ids[-(n - 1):]
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == prefix]


def banned_last_window_missed(ids, n):
    prefix = ids[len(ids) - (n - 1):]
    return [ids[i + n - 1] for i in range(len(ids) - n) if ids[i:i + n - 1] == prefix]


def test_q7_public_probes_cover_the_text():
    """Every case the text describes is a public probe: its example, n = 1, the last window."""
    probes = lesson6.q7.public_probes
    assert {"ids": [10, 20, 30, 10, 20], "n": 3} in probes
    assert any(p["n"] == 1 for p in probes)
    assert banned_tokens([10, 20, 30, 10, 20], 3) == [30]
    assert sorted(banned_tokens([10, 20, 30, 10, 20], 1)) == [10, 10, 20, 20, 30]
    assert banned_minus_zero([10, 20, 30, 10, 20], 3) == [30]       # right for n > 1 ...
    assert banned_minus_zero([10, 20, 30, 10, 20], 1) == []         # ... wrong for n = 1


def test_q7_n_equals_one_named_under_check_and_grader(monkeypatch):
    for verdict in (check(lesson6.q7, banned_tokens=banned_minus_zero),
                    grade(lesson6.q7, banned_tokens=banned_minus_zero)):
        assert_named(verdict, "ids[-0:]")
        assert "(n - 1)-grams" not in verdict.message
    # the grader's path: the kernel records the payload (hidden probes too), the trusted judge reads it
    monkeypatch.setenv("COURSE_GRADING", "1")
    payload = lesson6.q7.collect({"banned_tokens": banned_minus_zero}, grading=True)
    assert len(payload["probes"]) == len(lesson6.q7.public_probes) + len(lesson6.q7.hidden_probes)
    judged = judge_answer("lesson6.q7", payload)
    assert judged.status == INCORRECT and "ids[-0:]" in judged.message
    assert judge_answer("lesson6.q7", lesson6.q7.collect({"banned_tokens": banned_tokens}, grading=True)).status == CORRECT
    with pytest.raises(AssertionError, match="Incorrect"):
        lesson6.q7.grade({"banned_tokens": banned_minus_zero})


def test_q7_banned_tokens():
    assert sorted(banned_tokens([5, 6, 5, 7, 5], 2)) == [6, 7]
    assert_named(check(lesson6.q7, banned_tokens=banned_last_window_missed), "last window")
    assert check(lesson6.q7, banned_tokens=banned_tokens).status == CORRECT
    assert grade(lesson6.q7, banned_tokens=banned_tokens).status == CORRECT
    assert check(lesson6.q7, banned_tokens=lambda ids, n: set(banned_tokens(ids, n))).status == INCORRECT
    assert_named(check(lesson6.q7, banned_tokens=lambda ids, n: banned_tokens(ids, n - 1)), "(n - 1)-grams")
    assert_named(check(lesson6.q7, banned_tokens=lambda ids, n: banned_tokens(ids, n + 1)), "(n + 1)-grams")
    lying = check(lesson6.q7, banned_tokens=lambda ids, n: LyingList([], banned_tokens(ids, n)))
    assert lying.status == INCORRECT
    assert check(lesson6.q7, banned_tokens=lambda ids, n: None).status == NOT_ATTEMPTED

    def public_only(ids, n):       # right on the public probes only: a hidden probe has n = 4
        return banned_tokens(ids, n) if n < 4 else []
    assert check(lesson6.q7, banned_tokens=public_only).status == CORRECT
    assert_named(grade(lesson6.q7, banned_tokens=public_only), "hidden test")


# -- q8: generate() with beams ------------------------------------------------------------------------
def test_q8_generate_beams(pt_model, tokenizer):
    import torch

    from course_utils.reference import pt as ref

    ids = torch.tensor([tokenizer.encode(lesson6.BEAM_PROMPT)])
    beam = pt_model.generate(ids, do_sample=False, pad_token_id=tokenizer.eos_token_id,
                             **lesson6.BEAM_SETTINGS)
    assert check(lesson6.q8, beam_ids=beam[0].tolist()).status == CORRECT
    assert check(lesson6.q8, beam_ids=beam).status == CORRECT                   # [1, seq_len]
    greedy = ref.greedy_search(pt_model, ids[0], lesson6.BEAM_SETTINGS["max_new_tokens"])
    if greedy != beam[0].tolist():
        assert_named(check(lesson6.q8, beam_ids=greedy), "greedy")
    assert_named(check(lesson6.q8, beam_ids=beam[0, ids.shape[1]:].tolist()), "only the new tokens")
    assert check(lesson6.q8, beam_ids=LyingList([0] * beam.shape[1], beam[0].tolist())).status == INCORRECT
    assert check(lesson6.q8, beam_ids=____).status == NOT_ATTEMPTED


def test_beam_tree_figure(pt_model, tokenizer):
    history = lesson6.beam_history(pt_model, tokenizer.encode("In the future"), 3, 3)
    assert [len(beams) for beams, _ in history] == [1, 3, 3, 3]
    figure = lesson6.draw_beam_tree(history, tokenizer)
    assert len(figure.axes) == 1
    import matplotlib.pyplot as plt

    plt.close(figure)


# -- q3: the size of the search space ---------------------------------------------------------------
def test_q3_search_space_digits(tokenizer):
    import math

    vocab, steps = len(tokenizer), lesson6.SEARCH_T
    assert check(lesson6.q3, search_space_digits=len(str(vocab ** steps))).status == CORRECT
    assert check(lesson6.q3, search_space_digits=math.floor(steps * math.log10(vocab)) + 1).status == CORRECT
    prompt = len(tokenizer.encode("The function returns"))
    for wrong, phrase in [(steps * math.log10(vocab), "not its number of digits"),
                          (math.floor(steps * math.log10(vocab)), "One digit short"),
                          (math.floor(steps * math.log(vocab)) + 1, "natural logarithm"),
                          (math.floor(vocab * math.log10(steps)) + 1, "T^|V|"),
                          (len(str(vocab * steps)), "|V| x T"),
                          (len(str(vocab ** (steps + prompt))), "prompt is given")]:
        assert_named(check(lesson6.q3, search_space_digits=wrong), phrase)
    assert check(lesson6.q3, search_space_digits="95").status == INCORRECT
    assert check(lesson6.q3, search_space_digits=EqualsEverythingInt(3)).status == INCORRECT
    assert check(lesson6.q3, search_space_digits=____).status == NOT_ATTEMPTED


# -- q4: the toy tree by hand -----------------------------------------------------------------------
def test_q4_toy_tree():
    import math

    from course_utils.lessons import beam_steps

    greedy, beam = ["cat", "sat", "down"], ["dog", "was", "happy"]
    assert beam_steps.toy_beam_search(1) == greedy and beam_steps.toy_beam_search(2) == beam
    assert beam_steps.toy_probability(beam) > beam_steps.toy_probability(greedy)           # beam beats greedy
    assert beam_steps.toy_probability(beam_steps.toy_exact()) > beam_steps.toy_probability(beam)  # and is no exact search
    assert check(lesson6.q4, toy_answer=(greedy, beam, 0.4 * 0.45 * 0.9)).status == CORRECT
    assert check(lesson6.q4, toy_answer=[greedy, beam, 0.162]).status == CORRECT
    for wrong, phrase in [((greedy, greedy, 0.162), "found greedy's sentence"),
                          ((greedy, ["dog", "barked", "loudly"], 0.162), "one greedy run from each"),
                          ((greedy, ["cat", "ran", "away"], 0.162), "exact search"),
                          ((beam, beam, 0.162), "Your greedy sentence is beam search's"),
                          ((greedy, beam, 0.4 + 0.45 + 0.9), "sum of probabilities"),
                          ((greedy, beam, 0.9), "last word's probability"),
                          ((greedy, beam, math.log(0.162)), "log-probability"),
                          ((greedy, beam, math.log(0.4) * math.log(0.45) * math.log(0.9)), "multiplied log"),
                          ((greedy, beam, 0.2), "part 3"),
                          (("cat sat down", beam, 0.162), "lists of words"),
                          ((greedy, beam), "triple")]:
        assert_named(check(lesson6.q4, toy_answer=wrong), phrase)
    assert check(lesson6.q4, toy_answer=____).status == NOT_ATTEMPTED


# -- q9: the length penalty ---------------------------------------------------------------------------
def ranking_score(sum_logprob, prompt_len, total_len, length_penalty):
    return sum_logprob / (total_len - prompt_len) ** length_penalty


def test_q9_ranking_score():
    assert check(lesson6.q9, ranking_score=ranking_score).status == CORRECT
    assert grade(lesson6.q9, ranking_score=ranking_score).status == CORRECT
    for slip, phrase in [(lambda s, p, t, lp: s / t ** lp, "prompt counted"),
                         (lambda s, p, t, lp: s / ((t - p) * lp), "not a factor"),
                         (lambda s, p, t, lp: s / (t - p), "left out"),
                         (lambda s, p, t, lp: s * (t - p) ** lp, "multiplied"),
                         (lambda s, p, t, lp: s ** lp / (t - p), "exponent went on the score")]:
        assert_named(check(lesson6.q9, ranking_score=slip), phrase)
        assert_named(grade(lesson6.q9, ranking_score=slip), phrase)
    assert_named(check(lesson6.q9, ranking_score=lambda s, p, t, lp: "x"), "should return a number")
    assert check(lesson6.q9, ranking_score=lambda s, p, t, lp: None).status == NOT_ATTEMPTED


@pytest.mark.parametrize("length_penalty", [1.0, 2.0])
def test_generate_ranks_beams_by_the_lessons_rule(pt_model, tokenizer, length_penalty):
    """The library behaviour q9 teaches: sequences_scores = summed log-prob / new tokens ** length_penalty."""
    import torch

    from course_utils.reference import pt as ref

    ids = tokenizer.encode(lesson6.BEAM_PROMPT)
    out = pt_model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                            do_sample=False, num_beams=3, max_new_tokens=6, length_penalty=length_penalty,
                            output_scores=True, return_dict_in_generate=True, pad_token_id=tokenizer.eos_token_id)
    sequence = out.sequences[0].tolist()
    total = ref.sequence_logprob(pt_model, sequence, len(ids))
    assert float(out.sequences_scores[0]) == pytest.approx(ranking_score(total, len(ids), len(sequence), length_penalty),
                                                           rel=1e-3, abs=1e-3)


# -- q10: predict the cache of 8 beams ---------------------------------------------------------------
def test_q10_cache_ratio(pt_model, tokenizer):
    import torch

    ids = tokenizer("The function returns", return_tensors="pt")
    sizes = {}
    for k in (1, 8):
        out = pt_model.generate(**ids, num_beams=k, do_sample=False, return_dict_in_generate=True,
                                pad_token_id=tokenizer.eos_token_id, **lesson6.COST_SETTINGS)
        assert out.sequences.shape[1] == ids["input_ids"].shape[1] + lesson6.COST_SETTINGS["max_new_tokens"]
        sizes[k] = lesson6.cache_bytes(out.past_key_values)
    assert sizes[1] > 0 and sizes[8] == 8 * sizes[1]
    for wrong, phrase in [(1, "do not share"), (64, "Squared"), (8 ** lesson6.COST_SETTINGS["max_new_tokens"], "does not store")]:
        lesson6.q10.first_collected = None
        assert_named(check(lesson6.q10, predicted_cache_ratio=wrong), phrase)
    lesson6.q10.first_collected = None
    assert check(lesson6.q10, predicted_cache_ratio=8).status == CORRECT
    lesson6.q10.first_collected = None
    assert check(lesson6.q10, predicted_cache_ratio=____).status == NOT_ATTEMPTED
    del torch


# -- q11: the time, read from the student's own measurement ------------------------------------------
def test_q11_time_growth_against_own_measurement():
    def times(ratio):
        return {1: 0.5, 2: 0.6, 4: 0.8, 8: 0.5 * ratio}

    for ratio, right in [(1.2, "a"), (3.0, "b"), (7.0, "c"), (1.5, "a"), (1.5, "b"), (5.0, "b"), (5.0, "c")]:
        assert check(lesson6.q11, time_growth=right, beam_times=times(ratio)).status == CORRECT, (ratio, right)
    for ratio, wrong, phrase in [(3.0, "c", "well under 8"), (3.0, "d", "nowhere near exponential"),
                                 (3.0, "a", "more than 'hardly changes'"), (7.5, "b", "close to num_beams"),
                                 (1.1, "b", "hardly a change"), (7.5, "d", "nowhere near exponential")]:
        assert_named(check(lesson6.q11, time_growth=wrong, beam_times=times(ratio)), phrase)
    assert_named(check(lesson6.q11, time_growth="e", beam_times=times(3.0)), "should be one of")
    assert_named(check(lesson6.q11, time_growth="b"), "run the measurement cell")
    assert check(lesson6.q11, time_growth=____, beam_times=times(3.0)).status == NOT_ATTEMPTED
    # the grader judges what the kernel recorded: the choice and the student's own times
    payload = lesson6.q11.collect({"time_growth": "b", "beam_times": times(3.0)}, grading=True)
    assert judge_answer("lesson6.q11", payload).status == CORRECT
    payload = lesson6.q11.collect({"time_growth": "c", "beam_times": times(3.0)}, grading=True)
    assert judge_answer("lesson6.q11", payload).status == INCORRECT


# -- grading mode and the trusted judge ---------------------------------------------------------------
def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, pt_model, tf_model):
    monkeypatch.setenv("COURSE_GRADING", "1")
    cases = {"q1": ({"log_probs_from_logits_tf": log_probs_tf},
                    {"log_probs_from_logits_tf": lambda l, y: -log_probs_tf(l, y)}),
             "q2": ({"sequence_logprob_pt": sequence_logprob},
                    {"sequence_logprob_pt": lambda m, i, n: sequence_logprob(m, i, n, "prompt")}),
             "q5": ({"beam_step": beam_step},
                    {"beam_step": lambda m, b, s, k: beam_step(m, b, [0.0] * len(b), k)}),
             "q6": ({"beam_search_pt": beam_search},
                    {"beam_search_pt": lambda m, i, k, n: beam_search(m, i, k, n, pick=-1)}),
             "q7": ({"banned_tokens": banned_tokens}, {"banned_tokens": lambda ids, n: banned_tokens(ids, n + 1)}),
             "q9": ({"ranking_score": ranking_score}, {"ranking_score": lambda s, p, t, lp: s / t ** lp})}
    for name, (right, wrong) in cases.items():
        assert_grading_agrees(getattr(lesson6, name), right, wrong)
    lesson6.q3.grade({"search_space_digits": lesson6.q3.expected()})
    with pytest.raises(AssertionError, match="Incorrect"):
        lesson6.q3.grade({"search_space_digits": lesson6.q3.expected() - 1})
    assert judge_answer("lesson6.q4", {"value": [["cat", "sat", "down"], ["dog", "was", "happy"], 0.162]}).status == CORRECT
    assert judge_answer("lesson6.q4", {"value": [["cat", "sat", "down"], ["cat", "ran", "away"], 0.162]}).status == INCORRECT
    right_ids = lesson6.q8.expected()
    lesson6.q8.grade({"beam_ids": right_ids})
    with pytest.raises(AssertionError, match="Incorrect"):
        lesson6.q8.grade({"beam_ids": right_ids[:-1]})
    assert judge_answer("lesson6.q8", {"value": right_ids}).status == CORRECT
    assert judge_answer("lesson6.q8", {"value": np.zeros(3, dtype=int).tolist()}).status == INCORRECT


# -- the notebook -------------------------------------------------------------------------------------
