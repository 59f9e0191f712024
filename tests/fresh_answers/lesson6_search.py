"""Lesson 6, exercises 5 and 6 (beam_step, beam_search_pt): answers from the student notebook."""
from __future__ import annotations

import heapq

import torch


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
beam_step = beam_step_flat   # the search answers call the student's own beam_step, as the notebook asks
