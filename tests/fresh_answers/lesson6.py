"""Lesson 6 (log-probabilities and beam search): answers written from the student notebook only."""
from __future__ import annotations

import heapq
import math
from collections import defaultdict

import tensorflow as tf
import torch

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


# -- q5: beam_step ---------------------------------------------------------------------------------
def _next_log_probs(model, beams):
    """[len(beams), vocab]: log P(next token | beam)."""
    with torch.no_grad():
        logits = model(torch.tensor(beams)).logits[:, -1, :]
    return torch.log_softmax(logits, dim=-1)


def beam_step_flat(model, beams, scores, num_beams):
    """The whole table flattened, topk, then divmod by the vocabulary size."""
    log_probs = _next_log_probs(model, beams)
    table = torch.tensor(scores, dtype=log_probs.dtype)[:, None] + log_probs
    vocab = table.shape[1]
    best = torch.topk(table.flatten(), num_beams)
    new_beams, new_scores = [], []
    for value, index in zip(best.values.tolist(), best.indices.tolist()):
        beam, token = divmod(index, vocab)
        new_beams.append(list(beams[beam]) + [token])
        new_scores.append(value)
    return new_beams, new_scores


def beam_step_per_row(model, beams, scores, num_beams):
    """Each row's num_beams best (enough: the table's best are among them), merged and sorted."""
    log_probs = _next_log_probs(model, beams)
    candidates = []
    for b, (beam, score) in enumerate(zip(beams, scores)):
        top = torch.topk(log_probs[b], num_beams)
        for lp, token in zip(top.values.tolist(), top.indices.tolist()):
            candidates.append((score + lp, list(beam) + [token]))
    candidates.sort(key=lambda c: c[0], reverse=True)
    best = candidates[:num_beams]
    return [beam for _, beam in best], [float(s) for s, _ in best]


def beam_step_heap(model, beams, scores, num_beams):
    """heapq.nlargest over (score, beam, token) candidates, float64 scores."""
    log_probs = _next_log_probs(model, beams).double()
    table = log_probs + torch.tensor(scores, dtype=torch.float64)[:, None]
    k = min(num_beams, table.shape[1])
    shortlist = [(float(v), b, int(t)) for b in range(len(beams))
                 for v, t in zip(*torch.topk(table[b], k))]
    best = heapq.nlargest(num_beams, shortlist, key=lambda c: c[0])
    return [beams[b] + [t] for _, b, t in best], [v for v, _, _ in best]


def beam_step_ignores_scores(model, beams, scores, num_beams):
    """WRONG: ranks by the new token's log-probability alone, the beams' scores forgotten."""
    log_probs = _next_log_probs(model, beams)
    vocab = log_probs.shape[1]
    best = torch.topk(log_probs.flatten(), num_beams)
    new_beams = [list(beams[i // vocab]) + [i % vocab] for i in best.indices.tolist()]
    new_scores = [scores[i // vocab] + v for v, i in zip(best.values.tolist(), best.indices.tolist())]
    return new_beams, new_scores


def beam_step_best_per_beam(model, beams, scores, num_beams):
    """WRONG: the best of each row (every beam keeps one child), not of the whole table."""
    log_probs = _next_log_probs(model, beams)
    candidates = []
    for b, beam in enumerate(beams):
        lp, token = torch.max(log_probs[b], dim=0)
        candidates.append((scores[b] + float(lp), list(beam) + [int(token)]))
    if len(candidates) < num_beams:   # the first step: one beam, so take its num_beams best instead
        top = torch.topk(log_probs[0], num_beams)
        candidates = [(scores[0] + float(v), list(beams[0]) + [int(t)]) for v, t in zip(*top)]
    candidates.sort(key=lambda c: -c[0])
    return [c[1] for c in candidates[:num_beams]], [c[0] for c in candidates[:num_beams]]


def beam_step_wrong_divmod(model, beams, scores, num_beams):
    """WRONG: beam = index % vocab, token = index // vocab (the two swapped)."""
    log_probs = _next_log_probs(model, beams)
    table = torch.tensor(scores)[:, None] + log_probs
    vocab = table.shape[1]
    best = torch.topk(table.flatten(), num_beams)
    new_beams = [list(beams[(i % vocab) % len(beams)]) + [i // vocab] for i in best.indices.tolist()]
    return new_beams, best.values.tolist()


def beam_step_adds_probabilities(model, beams, scores, num_beams):
    """WRONG: adds probabilities (softmax) to the scores instead of log-probabilities."""
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor(beams)).logits[:, -1, :], dim=-1)
    table = torch.tensor(scores)[:, None] + probs
    vocab = table.shape[1]
    best = torch.topk(table.flatten(), num_beams)
    new_beams = [list(beams[i // vocab]) + [i % vocab] for i in best.indices.tolist()]
    return new_beams, best.values.tolist()


# -- q6: beam_search_pt ----------------------------------------------------------------------------
def beam_search_with_step(model, input_ids, num_beams, max_new_tokens):
    """One beam (the prompt, score 0), max_new_tokens calls of beam_step, the best beam."""
    beams, scores = [list(input_ids)], [0.0]
    for _ in range(max_new_tokens):
        beams, scores = beam_step(model, beams, scores, num_beams)
    return beams[0]


def beam_search_own_loop(model, input_ids, num_beams, max_new_tokens):
    """Self-contained: the beams as one tensor, scores as a tensor, a flat topk per step."""
    beams = torch.tensor([list(input_ids)])
    scores = torch.zeros(1)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            log_probs = torch.log_softmax(model(beams).logits[:, -1, :], dim=-1)
        table = (scores[:, None] + log_probs).flatten()
        scores, index = torch.topk(table, num_beams)
        rows, tokens = index // log_probs.shape[1], index % log_probs.shape[1]
        beams = torch.cat([beams[rows], tokens[:, None]], dim=1)
    return beams[0].tolist()


def beam_search_max_score(model, input_ids, num_beams, max_new_tokens):
    """Does not rely on the order beam_step returns: the beam of the highest score at the end."""
    beams, scores = [list(input_ids)], [0.0]
    step = 0
    while step < max_new_tokens:
        beams, scores = beam_step(model, beams, scores, num_beams)
        step += 1
    best_score, best_beam = max(zip(scores, beams), key=lambda pair: pair[0])
    return list(best_beam)


def beam_search_copies_of_prompt(model, input_ids, num_beams, max_new_tokens):
    """WRONG: starts from num_beams copies of the prompt (duplicate beams all the way)."""
    beams, scores = [list(input_ids)] * num_beams, [0.0] * num_beams
    for _ in range(max_new_tokens):
        beams, scores = beam_step(model, beams, scores, num_beams)
    return beams[0]


def beam_search_last_beam(model, input_ids, num_beams, max_new_tokens):
    """WRONG: returns the last beam, the worst of the best-first list."""
    beams, scores = [list(input_ids)], [0.0]
    for _ in range(max_new_tokens):
        beams, scores = beam_step(model, beams, scores, num_beams)
    return beams[-1]


def beam_search_one_step_short(model, input_ids, num_beams, max_new_tokens):
    """WRONG: range(1, max_new_tokens): one step short."""
    beams, scores = [list(input_ids)], [0.0]
    for _ in range(1, max_new_tokens):
        beams, scores = beam_step(model, beams, scores, num_beams)
    return beams[0]


def beam_search_new_only(model, input_ids, num_beams, max_new_tokens):
    """WRONG: returns only the new tokens."""
    return beam_search_with_step(model, input_ids, num_beams, max_new_tokens)[len(input_ids):]


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
