"""Lesson 6 (log-probabilities and beam search): answers written from the student notebook only."""
from __future__ import annotations

import math
from collections import defaultdict

import tensorflow as tf
import torch

from fresh_answers.lesson6_search import (  # exercises 5, 6
    beam_step_flat, beam_step_per_row, beam_step_heap,
    beam_step_ignores_scores, beam_step_best_per_beam, beam_step_wrong_divmod,
    beam_step_adds_probabilities, beam_search_with_step, beam_search_own_loop,
    beam_search_max_score, beam_search_copies_of_prompt, beam_search_last_beam,
    beam_search_one_step_short, beam_search_new_only)

EXERCISES = {"q1": "log_probs_from_logits_tf", "q2": "sequence_logprob_pt", "q5": "beam_step",
             "q6": "beam_search_pt", "q7": "banned_tokens", "q9": "ranking_score"}


# -- q1: log_probs_from_logits_tf ------------------------------------------------------------------
def log_probs_batch_dims(logits, labels):
    """log_softmax over the vocabulary, then tf.gather with batch_dims=1."""
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    return tf.gather(log_probs, labels, axis=1, batch_dims=1)


def log_probs_gather_nd(logits, labels):
    """(row, label) index pairs for tf.gather_nd."""
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    rows = tf.range(tf.shape(labels)[0], dtype=labels.dtype)
    return tf.gather_nd(log_probs, tf.stack([rows, labels], axis=1))


def log_probs_one_hot(logits, labels):
    """A one-hot mask of the labels times the log-softmax, summed over the vocabulary."""
    vocab = tf.shape(logits)[-1]
    mask = tf.one_hot(labels, depth=vocab, dtype=logits.dtype)
    return tf.reduce_sum(mask * tf.nn.log_softmax(logits), axis=-1)


def log_probs_wrong_axis(logits, labels):
    """WRONG: log_softmax over the positions (axis 0)."""
    return tf.gather(tf.nn.log_softmax(logits, axis=0), labels, axis=1, batch_dims=1)


def log_probs_raw_logits(logits, labels):
    """WRONG: picks the raw logits, no log_softmax."""
    return tf.gather(logits, labels, axis=1, batch_dims=1)


def log_probs_probabilities(logits, labels):
    """WRONG: picks the probabilities (softmax), not their logs."""
    return tf.gather(tf.nn.softmax(logits), labels, axis=1, batch_dims=1)


def log_probs_no_batch_dims(logits, labels):
    """WRONG: tf.gather without batch_dims: every row at every label, shape [seq, seq]."""
    return tf.gather(tf.nn.log_softmax(logits), labels, axis=1)


# -- q2: sequence_logprob_pt -----------------------------------------------------------------------
def sequence_logprob_sliced(model, ids, input_len):
    """Shift (logits[:-1] with ids[1:]), gather, sum from entry input_len - 1."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    log_probs = torch.log_softmax(logits[:-1], dim=-1)
    picked = log_probs.gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float(picked[input_len - 1:].sum())


def sequence_logprob_loop(model, ids, input_len):
    """A loop over the continuation's positions, each read from the row before it."""
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
    total = 0.0
    for t in range(input_len, len(ids)):
        total += log_probs[t - 1, ids[t]].item()
    return total


def sequence_logprob_rows(model, ids, input_len):
    """Only the rows that predict the continuation, in float64 (input checked)."""
    if not 1 <= input_len <= len(ids):
        raise ValueError("need 1 <= input_len <= len(ids)")
    ids_t = torch.as_tensor(ids)
    with torch.no_grad():
        rows = model(ids_t[None]).logits[0, input_len - 1:-1].double()
    targets = ids_t[input_len:]
    return torch.log_softmax(rows, dim=-1).gather(-1, targets[:, None]).sum().item()


def sequence_logprob_off_by_one(model, ids, input_len):
    """WRONG: starts at entry input_len of the shifted log-probs: the first new token is skipped."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    picked = torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float(picked[input_len:].sum())


def sequence_logprob_with_prompt(model, ids, input_len):
    """WRONG: scores the prompt's tokens too."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    picked = torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float(picked.sum())


def sequence_logprob_no_shift(model, ids, input_len):
    """WRONG: row t paired with token t (no shift)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    picked = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids)[:, None])[:, 0]
    return float(picked[input_len:].sum())


def sequence_logprob_mean(model, ids, input_len):
    """WRONG: the mean per token, not the sum."""
    return sequence_logprob_sliced(model, ids, input_len) / (len(ids) - input_len)


# -- q7: banned_tokens -----------------------------------------------------------------------------
def banned_windows(ids, n):
    """Every earlier window of n-1 tokens equal to the last n-1: the token after it is banned."""
    if n == 1:
        return list(set(ids))
    tail = ids[len(ids) - (n - 1):]
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == tail]


def banned_by_prefix(ids, n):
    """A dict from each (n-1)-gram to the tokens that followed it, looked up at the end."""
    followers = defaultdict(set)
    for i in range(len(ids) - n + 1):
        followers[tuple(ids[i:i + n - 1])].add(ids[i + n - 1])
    key = tuple(ids[len(ids) - n + 1:]) if n > 1 else ()
    return sorted(followers.get(key, set()))


def banned_zip(ids, n):
    """The n-grams from zip of shifted copies; keep those whose first n-1 match the tail."""
    if n < 1:
        raise ValueError("n must be at least 1")
    grams = zip(*(ids[k:] for k in range(n)))
    tail = tuple(ids[-(n - 1):]) if n > 1 else ()
    return list({gram[-1] for gram in grams if gram[:-1] == tail})


def banned_tail_minus_zero(ids, n):
    """WRONG: the tail is ids[-(n - 1):], which for n = 1 is the whole list (nothing is banned)."""
    tail = ids[-(n - 1):]
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == tail]


def banned_tail_of_n(ids, n):
    """WRONG: compares windows of n tokens with the last n tokens."""
    tail = ids[-n:]
    return [ids[i + n] for i in range(len(ids) - n) if ids[i:i + n] == tail]


def banned_misses_last_window(ids, n):
    """WRONG: range(len(ids) - n) skips the last n-gram."""
    if n == 1:
        return list(set(ids))
    tail = ids[len(ids) - (n - 1):]
    return [ids[i + n - 1] for i in range(len(ids) - n) if ids[i:i + n - 1] == tail]


def banned_whole_ngrams(ids, n):
    """WRONG: returns the matching n-grams, not the tokens they would end with."""
    if n == 1:
        return [[t] for t in set(ids)]
    tail = ids[len(ids) - (n - 1):]
    return [ids[i:i + n] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == tail]


# -- q9: ranking_score -----------------------------------------------------------------------------
def ranking_new_tokens(sum_logprob, prompt_len, total_len, length_penalty):
    """The summed log-probability over (new tokens) ** length_penalty."""
    return sum_logprob / (total_len - prompt_len) ** length_penalty


def ranking_math_pow(sum_logprob, prompt_len, total_len, length_penalty):
    """math.pow, with the lengths checked."""
    new_tokens = total_len - prompt_len
    if new_tokens <= 0:
        raise ValueError("a finished beam has at least one new token")
    return float(sum_logprob) / math.pow(new_tokens, length_penalty)


def ranking_exp_log(sum_logprob, prompt_len, total_len, length_penalty):
    """The divisor as exp(length_penalty * log(new tokens))."""
    return sum_logprob * math.exp(-length_penalty * math.log(total_len - prompt_len))


def ranking_total_length(sum_logprob, prompt_len, total_len, length_penalty):
    """WRONG: divides by the whole length, the prompt included."""
    return sum_logprob / total_len ** length_penalty


def ranking_multiplies(sum_logprob, prompt_len, total_len, length_penalty):
    """WRONG: multiplies by the length term instead of dividing."""
    return sum_logprob * (total_len - prompt_len) ** length_penalty


def ranking_penalty_as_factor(sum_logprob, prompt_len, total_len, length_penalty):
    """WRONG: the penalty as a factor, not an exponent."""
    return sum_logprob / (total_len - prompt_len) * length_penalty


def ranking_power_of_mean(sum_logprob, prompt_len, total_len, length_penalty):
    """WRONG: the mean log-probability raised to the penalty."""
    mean = sum_logprob / (total_len - prompt_len)
    return -((-mean) ** length_penalty)


RIGHT = {
    "q1": [log_probs_batch_dims, log_probs_gather_nd, log_probs_one_hot],
    "q2": [sequence_logprob_sliced, sequence_logprob_loop, sequence_logprob_rows],
    "q5": [beam_step_flat, beam_step_per_row, beam_step_heap],
    "q6": [beam_search_with_step, beam_search_own_loop, beam_search_max_score],
    "q7": [banned_windows, banned_by_prefix, banned_zip],
    "q9": [ranking_new_tokens, ranking_math_pow, ranking_exp_log],
}
WRONG = {
    "q1": [log_probs_wrong_axis, log_probs_raw_logits, log_probs_probabilities, log_probs_no_batch_dims],
    "q2": [sequence_logprob_off_by_one, sequence_logprob_with_prompt, sequence_logprob_no_shift,
           sequence_logprob_mean],
    "q5": [beam_step_ignores_scores, beam_step_best_per_beam, beam_step_wrong_divmod,
           beam_step_adds_probabilities],
    "q6": [beam_search_copies_of_prompt, beam_search_last_beam, beam_search_one_step_short,
           beam_search_new_only],
    "q7": [banned_tail_minus_zero, banned_tail_of_n, banned_misses_last_window, banned_whole_ngrams],
    "q9": [ranking_total_length, ranking_multiplies, ranking_penalty_as_factor, ranking_power_of_mean],
}
# The search answers call the student's own beam_step, as the notebook asks: a right one.
beam_step = beam_step_flat
EXTRA = {"q6": {"beam_step": beam_step_flat}}
