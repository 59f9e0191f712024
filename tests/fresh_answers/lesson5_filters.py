"""Lesson 5, exercises 3 and 4 (top-k in TensorFlow, top-p in PyTorch): answers from the student notebook."""
from __future__ import annotations

import tensorflow as tf
import torch


# -- q3: top_k_filter (TensorFlow) -----------------------------------------------------------------
def top_k_threshold(logits, k):
    """The k-th largest value (top_k is sorted) is the bar; >= keeps ties."""
    kth = tf.math.top_k(logits, k=k).values[-1]
    return tf.where(logits >= kth, logits, tf.fill(tf.shape(logits), float("-inf")))


def top_k_sorted(logits, k):
    """tf.sort descending, the value at k-1, a boolean mask."""
    bar = tf.sort(logits, direction="DESCENDING")[k - 1]
    keep = tf.greater_equal(logits, bar)
    return tf.where(keep, logits, -float("inf") * tf.ones_like(logits))


def top_k_count_above(logits, k):
    """A token stays when fewer than k logits are strictly above it (ties with the k-th stay)."""
    above = tf.reduce_sum(tf.cast(logits[None, :] > logits[:, None], tf.int32), axis=1)
    return tf.where(above < k, logits, tf.constant(float("-inf"), dtype=logits.dtype))


def top_k_strict(logits, k):
    """WRONG: > instead of >=, which drops the k-th token itself."""
    kth = tf.math.top_k(logits, k=k).values[-1]
    return tf.where(logits > kth, logits, float("-inf"))


def top_k_scatter(logits, k):
    """WRONG: keeps exactly the k indices top_k returns (a token tied with the k-th is dropped)."""
    top = tf.math.top_k(logits, k=k)
    base = tf.fill(tf.shape(logits), float("-inf"))
    return tf.tensor_scatter_nd_update(base, top.indices[:, None], top.values)


def top_k_ascending(logits, k):
    """WRONG: tf.sort is ascending by default: the bar is the k-th smallest logit."""
    bar = tf.sort(logits)[k - 1]
    return tf.where(logits >= bar, logits, float("-inf"))


def top_k_off_by_one(logits, k):
    """WRONG: the bar at index k (keeps k + 1 tokens)."""
    bar = tf.sort(logits, direction="DESCENDING")[k]
    return tf.where(logits >= bar, logits, float("-inf"))


# -- q4: top_p_filter (PyTorch) --------------------------------------------------------------------
def top_p_exclusive_cumsum(logits, p):
    """Sorted descending; a token stays when the probability before it is still below p."""
    sorted_logits, order = torch.sort(logits, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs
    keep_sorted = before < p
    keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def top_p_searchsorted(logits, p):
    """The nucleus size m from searchsorted on the cumulative sum, then the m-th logit as a bar."""
    sorted_logits, _ = torch.sort(logits, descending=True)
    cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
    m = int(torch.searchsorted(cumulative, torch.tensor(float(p)))) + 1
    m = min(m, len(logits))
    filtered = logits.clone()
    filtered[logits < sorted_logits[m - 1]] = float("-inf")
    return filtered


def top_p_loop(logits, p):
    """Plain Python: add probabilities in order until they reach p."""
    probs = torch.softmax(logits, dim=-1).tolist()
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    kept, total = [], 0.0
    for i in order:
        kept.append(i)
        total += probs[i]
        if total >= p:
            break
    out = torch.full_like(logits, float("-inf"))
    out[kept] = logits[kept]
    return out


def top_p_drops_crossing(logits, p):
    """WRONG: keeps cumsum <= p, which drops the token that crosses p."""
    sorted_logits, order = torch.sort(logits, descending=True)
    keep_sorted = torch.cumsum(torch.softmax(sorted_logits, -1), -1) <= p
    keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def top_p_mask_in_sorted_order(logits, p):
    """WRONG: the mask computed in sorted order applied to the unsorted logits (no scatter back)."""
    sorted_logits, _ = torch.sort(logits, descending=True)
    probs = torch.softmax(sorted_logits, -1)
    keep_sorted = torch.cumsum(probs, -1) - probs < p
    return torch.where(keep_sorted, logits, torch.full_like(logits, float("-inf")))


def top_p_cumsum_of_logits(logits, p):
    """WRONG: adds up softmax-free logits rescaled to [0, 1] instead of probabilities."""
    sorted_logits, order = torch.sort(logits, descending=True)
    shares = sorted_logits - sorted_logits.min()
    shares = shares / shares.sum()
    keep_sorted = torch.cumsum(shares, -1) - shares < p
    keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def top_p_ascending(logits, p):
    """WRONG: torch.sort without descending=True: the nucleus built from the least likely tokens."""
    sorted_logits, order = torch.sort(logits)
    probs = torch.softmax(sorted_logits, -1)
    keep_sorted = torch.cumsum(probs, -1) - probs < p
    keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))
