"""Sampling, tested statistically: draws must fit the distribution they claim to come from.

Every test uses a fixed seed, and the goodness-of-fit tests reject only at alpha = 1e-6, so a
correct sampler fails about once in a million runs; a wrong temperature or filter fails always.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats

ALPHA = 1e-6
PROMPT = "The cat sat on the"


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z[np.isfinite(z)].max())
    return z / z.sum()


def nucleus(probs, p) -> np.ndarray:
    """Boolean mask of the smallest set of most likely tokens with total probability >= p."""
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]           # mass of the tokens ranked above
    keep = np.zeros(len(probs), bool)
    keep[order[before < p]] = True
    return keep


def allowed(logits, temperature=1.0, top_k=None, top_p=None) -> np.ndarray:
    """Mask of the tokens sampling may pick, computed in numpy, in generate()'s order."""
    probs = softmax(np.asarray(logits) / temperature)
    keep = np.ones(len(probs), bool)
    if top_k is not None:
        keep &= probs >= np.sort(probs)[-top_k]
    if top_p is not None:
        keep &= nucleus(np.where(keep, probs, 0) / probs[keep].sum(), top_p)
    return keep


def restricted(probs, keep) -> np.ndarray:
    """``probs`` renormalised over ``keep``."""
    return np.where(keep, probs, 0) / probs[keep].sum()


def chi_square_pvalue(draws, probs, min_expected=5.0) -> float:
    """Goodness of fit of ``draws`` to ``probs``; bins expecting fewer than ``min_expected`` draws
    are merged into one (itself merged into the smallest bin if still too small)."""
    counts = np.bincount(draws, minlength=len(probs)).astype(np.float64)
    assert len(counts) == len(probs), "a draw outside the vocabulary"
    assert counts[probs == 0].sum() == 0, "a draw of a token with probability 0"
    expected = probs * len(draws)
    big = expected >= min_expected
    observed, expected = list(counts[big]), list(expected[big])
    rest_observed, rest_expected = counts[~big].sum(), (probs[~big] * len(draws)).sum()
    if rest_expected >= min_expected:
        observed.append(rest_observed)
        expected.append(rest_expected)
    else:
        smallest = int(np.argmin(expected))
        observed[smallest] += rest_observed
        expected[smallest] += rest_expected
    return stats.chisquare(observed, expected).pvalue


@pytest.fixture
def logits(fw, tokenizer) -> np.ndarray:
    return np.asarray(fw.ref.next_token_logits(fw.model, tokenizer.encode(PROMPT)))


@pytest.mark.parametrize("temperature", [1.0, 0.7, 1.5])
def test_draws_fit_softmax_of_logits_over_temperature(fw, logits, temperature):
    draws = np.asarray(fw.ref.sample_from_logits(logits, 20000, temperature=temperature, seed=1))
    assert draws.shape == (20000,)
    assert chi_square_pvalue(draws, softmax(logits / temperature)) > ALPHA


def test_top_k_draws_fit_the_renormalised_top_k(fw, logits):
    keep = allowed(logits, temperature=0.9, top_k=40)
    draws = np.asarray(fw.ref.sample_from_logits(logits, 20000, temperature=0.9, top_k=40, seed=2))
    assert keep[draws].all()
    assert chi_square_pvalue(draws, restricted(softmax(logits / 0.9), keep)) > ALPHA


@pytest.mark.parametrize("top_p", [0.5, 0.9])
def test_top_p_draws_fit_the_renormalised_nucleus(fw, logits, top_p):
    keep = allowed(logits, top_p=top_p)
    draws = np.asarray(fw.ref.sample_from_logits(logits, 20000, top_p=top_p, seed=3))
    assert keep[draws].all()
    assert chi_square_pvalue(draws, restricted(softmax(logits), keep)) > ALPHA


def test_sample_first_tokens_fit_the_model(fw, tokenizer, logits):
    """sample() itself, one step at a time, over many seeds."""
    ids = tokenizer.encode(PROMPT)
    draws = np.array([fw.ref.sample(fw.model, ids, 1, top_k=4, seed=seed)[-1] for seed in range(80)])
    keep = allowed(logits, top_k=4)
    assert keep[draws].all()
    assert chi_square_pvalue(draws, restricted(softmax(logits), keep)) > ALPHA


@pytest.mark.parametrize("kwargs", [dict(top_k=3), dict(top_p=0.5, temperature=1.3),
                                    dict(top_k=5, top_p=0.8)])
def test_sample_stays_in_the_top_k_and_nucleus_at_every_step(fw, tokenizer, kwargs):
    ids = tokenizer.encode("Once upon a time")
    out = fw.ref.sample(fw.model, ids, 5, seed=5, **kwargs)
    assert len(out) == len(ids) + 5 and out[:len(ids)] == ids
    for t in range(len(ids), len(out)):
        assert allowed(fw.ref.next_token_logits(fw.model, out[:t]), **kwargs)[out[t]], t


def test_low_temperature_approaches_greedy(fw, tokenizer):
    ids = tokenizer.encode("To be, or not to be")
    assert fw.ref.sample(fw.model, ids, 8, temperature=1e-4, seed=0) == fw.ref.greedy_search(fw.model, ids, 8)


def test_same_seed_same_ids_and_no_global_rng_moved(fw, tokenizer):
    ids = tokenizer.encode(PROMPT)
    python_state = random.getstate()
    if fw.name == "pt":
        import torch

        torch_state = torch.get_rng_state()
    first = fw.ref.sample(fw.model, ids, 6, temperature=1.2, seed=123)
    assert fw.ref.sample(fw.model, ids, 6, temperature=1.2, seed=123) == first
    assert all(type(t) is int for t in first)
    logits = fw.ref.next_token_logits(fw.model, ids)
    a = np.asarray(fw.ref.sample_from_logits(logits, 500, seed=9))
    np.testing.assert_array_equal(np.asarray(fw.ref.sample_from_logits(logits, 500, seed=9)), a)
    assert not np.array_equal(np.asarray(fw.ref.sample_from_logits(logits, 500, seed=10)), a)
    assert random.getstate() == python_state
    if fw.name == "pt":
        assert torch.equal(torch.get_rng_state(), torch_state)


def test_no_seed_uses_the_frameworks_global_rng(fw, logits):
    if fw.name == "pt":
        import torch

        set_seed = torch.manual_seed
    else:
        import tensorflow as tf

        set_seed = tf.random.set_seed
    set_seed(0)
    a = np.asarray(fw.ref.sample_from_logits(logits, 200))
    set_seed(0)
    np.testing.assert_array_equal(np.asarray(fw.ref.sample_from_logits(logits, 200)), a)


def test_batched_logits_give_one_row_of_draws_each(fw, logits):
    batch = np.stack([logits, logits[::-1].copy()])
    draws = np.asarray(fw.ref.sample_from_logits(batch, 7, top_k=3, seed=4))
    assert draws.shape == (2, 7)
    for row, row_logits in zip(draws, batch):
        assert set(row) <= set(np.argsort(-row_logits)[:3])
    with pytest.raises(ValueError, match="num_samples"):
        fw.ref.sample_from_logits(logits, 0)
