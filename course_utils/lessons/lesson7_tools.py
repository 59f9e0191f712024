"""Lesson 7's helpers: numpy references for the checks, and what the notebook measures and draws.

Pure numpy where possible, so that a check runs with either framework; ``per_token_probs`` takes a
PyTorch model (the notebook's degeneration plot).
"""
from __future__ import annotations

import numpy as np

from course_utils.checking.numeric import log_softmax, softmax


def min_p_keep(logits, min_p: float) -> np.ndarray:
    """Boolean mask, shape (vocab_size,): the tokens min-p keeps, probability >= min_p x the top one
    (transformers' ``MinPLogitsWarper``; the top token always stays)."""
    probs = softmax(np.asarray(logits, np.float64))
    return probs >= min_p * probs.max()


def repetition_penalty_numpy(logits, input_ids, penalty: float, slip: str | None = None) -> np.ndarray:
    """transformers' ``RepetitionPenaltyLogitsProcessor`` on one row: every token seen in
    ``input_ids`` (once, however often) has a positive logit divided by ``penalty`` and a negative
    one multiplied by it. ``slip`` gives a classic mistake: "divide", "multiply" (one rule for both
    signs), "everything" (the whole vocabulary penalised), "per_occurrence" (compounded per repeat)."""
    logits = np.asarray(logits, np.float64)
    ids = np.asarray(input_ids, np.int64).reshape(-1)
    seen = np.zeros(logits.size, bool)
    seen[ids] = True
    if slip == "everything":
        seen[:] = True
    times = np.ones(logits.size)
    if slip == "per_occurrence":
        times = np.bincount(ids, minlength=logits.size).astype(np.float64)
    factor = penalty ** times
    penalised = np.where(logits > 0, logits / factor, logits * factor)
    if slip == "divide":
        penalised = logits / factor
    elif slip == "multiply":
        penalised = logits * factor
    return np.where(seen, penalised, logits)


def per_token_probs(model, ids) -> np.ndarray:
    """P(token t | tokens before t) for t = 1 .. len(ids) - 1, in one PyTorch forward pass."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([list(ids)])).logits[0].double().numpy()
    log_probs = log_softmax(logits[:-1])
    return np.exp(log_probs[np.arange(len(ids) - 1), list(ids)[1:]])


def repeated_ngram_share(ids, n: int = 3) -> float:
    """The share of the n-grams of ``ids`` that already appeared earlier in ``ids`` (0 = no repeat)."""
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    if not grams:
        return 0.0
    seen, repeats = set(), 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams)
