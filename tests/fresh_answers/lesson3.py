"""Lesson 3 (next-token probabilities): answers written from the student notebook only."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import torch

EXERCISES = {"q3": "next_token_distribution", "q4": "continuation_logprob_tf"}


# -- q3: next_token_distribution for a right-padded batch (PyTorch) --------------------------------
def next_token_gather(model, input_ids, attention_mask):
    """The row of each text's last real token (mask sum - 1), picked with fancy indexing."""
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    last = attention_mask.sum(dim=1) - 1
    rows = logits[torch.arange(logits.shape[0]), last]
    return torch.softmax(rows, dim=-1)


def next_token_one_by_one(model, input_ids, attention_mask):
    """Each text alone, its padding cut off, the last row of its own forward pass."""
    probs = []
    for ids, mask in zip(input_ids, attention_mask):
        real = ids[mask.bool()]
        with torch.no_grad():
            logits = model(real[None, :]).logits[0, -1]
        probs.append(torch.softmax(logits, dim=-1))
    return torch.stack(probs)


def next_token_last_one(model, input_ids, attention_mask):
    """The position of the last 1 in each mask row (from the flipped argmax), then gather."""
    if input_ids.shape != attention_mask.shape:
        raise ValueError("input_ids and attention_mask must have the same shape")
    seq_len = attention_mask.shape[1]
    last = seq_len - 1 - torch.argmax(attention_mask.flip(dims=[1]), dim=1)
    with torch.no_grad():
        logits = model(input_ids, attention_mask=attention_mask).logits
    index = last[:, None, None].expand(-1, 1, logits.shape[-1])
    return torch.softmax(logits.gather(1, index)[:, 0], dim=-1)


def next_token_last_column(model, input_ids, attention_mask):
    """WRONG: the last column for every text, padding or not."""
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    return torch.softmax(logits[:, -1, :], dim=-1)


def next_token_logits_not_probs(model, input_ids, attention_mask):
    """WRONG: the right rows, but logits returned (no softmax)."""
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    last = attention_mask.sum(dim=1) - 1
    return logits[torch.arange(logits.shape[0]), last]


def next_token_softmax_batch_axis(model, input_ids, attention_mask):
    """WRONG: softmax over the batch axis instead of the vocabulary."""
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    last = attention_mask.sum(dim=1) - 1
    return torch.softmax(logits[torch.arange(logits.shape[0]), last], dim=0)


def next_token_length_as_index(model, input_ids, attention_mask):
    """WRONG: the row at the text's length (one past its last token): a padding row, or an error."""
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    lengths = attention_mask.sum(dim=1)
    index = torch.clamp(lengths, max=logits.shape[1] - 1)
    return torch.softmax(logits[torch.arange(logits.shape[0]), index], dim=-1)


# -- q4: the log-probability of a continuation (TensorFlow) ----------------------------------------
def continuation_sliced(model, prefix_ids, continuation_ids):
    """Rows len(prefix)-1 .. -2 predict the continuation; log_softmax, gather, sum."""
    ids = list(prefix_ids) + list(continuation_ids)
    logits = model(tf.constant([ids])).logits[0]
    rows = tf.nn.log_softmax(logits[len(prefix_ids) - 1:-1], axis=-1)
    picked = tf.gather(rows, continuation_ids, axis=1, batch_dims=1)
    return float(tf.reduce_sum(picked))


def continuation_loop(model, prefix_ids, continuation_ids):
    """One forward pass, then a Python loop over the continuation's tokens."""
    ids = list(prefix_ids) + list(continuation_ids)
    log_probs = tf.nn.log_softmax(model(tf.constant([ids])).logits[0], axis=-1).numpy()
    total = 0.0
    for j, token in enumerate(continuation_ids):
        total += float(log_probs[len(prefix_ids) + j - 1, token])
    return total


def continuation_gather_nd(model, prefix_ids, continuation_ids):
    """(row, token) pairs for tf.gather_nd, summed in float64."""
    if not prefix_ids:
        raise ValueError("the prefix must hold at least one token")
    ids = tf.constant([list(prefix_ids) + list(continuation_ids)])
    log_probs = tf.nn.log_softmax(model(ids).logits[0])
    start = len(prefix_ids) - 1
    pairs = tf.stack([tf.range(start, start + len(continuation_ids)),
                      tf.constant(continuation_ids, dtype=tf.int32)], axis=1)
    return float(tf.reduce_sum(tf.cast(tf.gather_nd(log_probs, pairs), tf.float64)))


def continuation_no_shift(model, prefix_ids, continuation_ids):
    """WRONG: row t paired with token t (the rows that *follow* each token)."""
    ids = list(prefix_ids) + list(continuation_ids)
    logits = model(tf.constant([ids])).logits[0]
    rows = tf.nn.log_softmax(logits[len(prefix_ids):], axis=-1)
    return float(tf.reduce_sum(tf.gather(rows, continuation_ids, axis=1, batch_dims=1)))


def continuation_with_prefix(model, prefix_ids, continuation_ids):
    """WRONG: scores every token after the first, the prefix's too."""
    ids = list(prefix_ids) + list(continuation_ids)
    rows = tf.nn.log_softmax(model(tf.constant([ids])).logits[0, :-1], axis=-1)
    return float(tf.reduce_sum(tf.gather(rows, ids[1:], axis=1, batch_dims=1)))


def continuation_mean(model, prefix_ids, continuation_ids):
    """WRONG: the mean log-probability per token instead of the sum."""
    ids = list(prefix_ids) + list(continuation_ids)
    rows = tf.nn.log_softmax(model(tf.constant([ids])).logits[0, len(prefix_ids) - 1:-1], axis=-1)
    return float(tf.reduce_mean(tf.gather(rows, continuation_ids, axis=1, batch_dims=1)))


def continuation_probability(model, prefix_ids, continuation_ids):
    """WRONG: the probability (the exp of the sum), not its log."""
    return float(np.exp(continuation_sliced(model, prefix_ids, continuation_ids)))


RIGHT = {
    "q3": [next_token_gather, next_token_one_by_one, next_token_last_one],
    "q4": [continuation_sliced, continuation_loop, continuation_gather_nd],
}
WRONG = {
    "q3": [next_token_last_column, next_token_logits_not_probs, next_token_softmax_batch_axis,
           next_token_length_as_index],
    "q4": [continuation_no_shift, continuation_with_prefix, continuation_mean, continuation_probability],
}
EXTRA: dict = {}
