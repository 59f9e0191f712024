"""Statistics for random answers: is a bag of samples drawn from the expected distribution?

Sampling exercises are judged by a chi-square goodness-of-fit test at a fixed, tiny false-failure
rate (``ALPHA``): a correct sampler fails about once in a million checks, never by exact ids.
"""
from __future__ import annotations

import numpy as np

ALPHA = 1e-6
MIN_EXPECTED = 5.0  # chi-square's approximation needs about five expected counts per bin


def goodness_of_fit(samples, probs) -> float:
    """p-value of "``samples`` (token ids) were drawn from ``probs`` (shape (vocab_size,))".

    Tokens whose expected count is below ``MIN_EXPECTED`` are pooled into one bin; a sample of a
    token with probability 0 gives p = 0 (it is outside the support).
    """
    from scipy.stats import chisquare

    samples = np.asarray(samples, dtype=np.int64).ravel()
    probs = np.asarray(probs, dtype=np.float64)
    if samples.size == 0 or samples.min() < 0 or samples.max() >= probs.size:
        return 0.0
    if np.any(probs[samples] <= 0):
        return 0.0
    observed = np.bincount(samples, minlength=probs.size).astype(np.float64)
    expected = probs / probs.sum() * samples.size
    big = expected >= MIN_EXPECTED
    observed_bins = np.append(observed[big], observed[~big].sum())
    expected_bins = np.append(expected[big], expected[~big].sum())
    if expected_bins[-1] < MIN_EXPECTED:  # too little pooled mass for a bin of its own
        observed_bins[-2] += observed_bins[-1]
        expected_bins[-2] += expected_bins[-1]
        observed_bins, expected_bins = observed_bins[:-1], expected_bins[:-1]
    if observed_bins.size < 2:
        return 1.0 if observed_bins.sum() == samples.size else 0.0
    return float(chisquare(observed_bins, expected_bins).pvalue)


def fits(samples, probs) -> bool:
    return goodness_of_fit(samples, probs) >= ALPHA


def log_likelihood(samples, probs) -> float:
    """Total log-probability of ``samples`` under ``probs`` (-inf if one is outside its support)."""
    samples = np.asarray(samples, dtype=np.int64).ravel()
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum()
    if samples.size == 0 or samples.min() < 0 or samples.max() >= probs.size:
        return float("-inf")
    with np.errstate(divide="ignore"):
        return float(np.log(probs[samples]).sum())


def likeliest(samples, candidates: dict):
    """The key of ``candidates`` (name -> probs) under which ``samples`` are the most likely.

    A chi-square test has no power against a distribution spread thinly over 50,257 tokens (every
    bin would be pooled); to say *which* wrong distribution a sampler follows, compare likelihoods.
    """
    scores = {name: log_likelihood(samples, probs) for name, probs in candidates.items()}
    return max(scores, key=scores.get)
