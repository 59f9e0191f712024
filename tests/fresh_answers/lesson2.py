"""Lesson 2 (inside GPT-2): answers written from the student notebook only."""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
import torch

EXERCISES = {"q2": "attention_head", "q3": "attention_tf"}


# -- q2: one attention head (PyTorch) --------------------------------------------------------------
def _head_qkv(model, x, head):
    """Queries, keys and values of one head of layer 0, each [seq, d_head]."""
    attn = model.transformer.h[0].attn
    d_head = attn.head_dim
    q, k, v = attn.c_attn(x).split(attn.embed_dim, dim=-1)
    cols = slice(head * d_head, (head + 1) * d_head)
    return q[:, cols], k[:, cols], v[:, cols], d_head


def attention_head_split(model, x, head):
    """c_attn, split in thirds, the head's columns; triu mask of -inf before the softmax."""
    with torch.no_grad():
        q, k, v, d_head = _head_qkv(model, x, head)
        scores = q @ k.T / math.sqrt(d_head)
        future = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        return weights @ v


def attention_head_weights(model, x, head):
    """From c_attn's weight and bias directly (x @ W + b), columns picked per third; tril keeps."""
    conv = model.transformer.h[0].attn.c_attn
    n_embd = x.shape[-1]
    d_head = n_embd // model.config.n_head
    with torch.no_grad():
        def project(third):
            start = third * n_embd + head * d_head
            return x @ conv.weight[:, start:start + d_head] + conv.bias[start:start + d_head]

        q, k, v = project(0), project(1), project(2)
        scores = torch.matmul(q, k.transpose(0, 1)) * d_head ** -0.5
        allowed = torch.tril(torch.ones(len(x), len(x))).bool()
        scores = torch.where(allowed, scores, torch.tensor(float("-inf")))
        return torch.nn.functional.softmax(scores, dim=1) @ v


def attention_head_loop(model, x, head):
    """Query by query: position t attends to keys 0..t only (no mask needed)."""
    with torch.no_grad():
        q, k, v, d_head = _head_qkv(model, x, head)
        rows = []
        for t in range(q.shape[0]):
            scores = (k[: t + 1] @ q[t]) / math.sqrt(d_head)
            rows.append(torch.softmax(scores, dim=0) @ v[: t + 1])
        return torch.stack(rows)


def attention_head_unscaled(model, x, head):
    """WRONG: forgets to divide the scores by sqrt(d_head)."""
    with torch.no_grad():
        q, k, v, _ = _head_qkv(model, x, head)
        scores = q @ k.T
        future = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)
        return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v


def attention_head_mask_past(model, x, head):
    """WRONG: the mask the wrong way round: hides the past (below the diagonal), shows the future."""
    with torch.no_grad():
        q, k, v, d_head = _head_qkv(model, x, head)
        scores = q @ k.T / math.sqrt(d_head)
        past = torch.tril(torch.ones_like(scores, dtype=torch.bool), diagonal=-1)
        return torch.softmax(scores.masked_fill(past, float("-inf")), dim=-1) @ v


def attention_head_softmax_queries(model, x, head):
    """WRONG: softmax over the queries (dim=0) instead of over the keys."""
    with torch.no_grad():
        q, k, v, d_head = _head_qkv(model, x, head)
        scores = q @ k.T / math.sqrt(d_head)
        future = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)
        return torch.softmax(scores.masked_fill(future, float("-inf")), dim=0) @ v


def attention_head_mask_after_softmax(model, x, head):
    """WRONG: softmax first, then zero the future weights (rows no longer sum to 1)."""
    with torch.no_grad():
        q, k, v, d_head = _head_qkv(model, x, head)
        weights = torch.softmax(q @ k.T / math.sqrt(d_head), dim=-1)
        return torch.tril(weights) @ v


# -- q3: the whole attention layer (TensorFlow) ----------------------------------------------------
def _layer0(tf_model):
    w = tf_model.weights
    return (w["h.0.attn.c_attn.weight"], w["h.0.attn.c_attn.bias"],
            w["h.0.attn.c_proj.weight"], w["h.0.attn.c_proj.bias"])


def _causal_bias(seq_len):
    """[seq, seq]: 0 where key <= query, -inf above the diagonal."""
    keep = tf.linalg.band_part(tf.ones((seq_len, seq_len)), -1, 0)
    return tf.where(keep > 0, 0.0, float("-inf"))


def attention_tf_reshape(tf_model, x):
    """reshape + transpose to [n_head, seq, d_head], batched matmuls, merge back, c_proj."""
    w_attn, b_attn, w_proj, b_proj = _layer0(tf_model)
    n_head, seq_len, n_embd = tf_model.config.n_head, tf.shape(x)[0], x.shape[-1]
    d_head = n_embd // n_head
    qkv = tf.matmul(x, w_attn) + b_attn
    q, k, v = tf.split(qkv, 3, axis=-1)
    heads = lambda t: tf.transpose(tf.reshape(t, (seq_len, n_head, d_head)), (1, 0, 2))
    q, k, v = heads(q), heads(k), heads(v)
    scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(d_head) + _causal_bias(seq_len)
    out = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
    merged = tf.reshape(tf.transpose(out, (1, 0, 2)), (seq_len, n_embd))
    return tf.matmul(merged, w_proj) + b_proj


def attention_tf_einsum(tf_model, x):
    """einsum throughout; the mask as a large negative number."""
    w_attn, b_attn, w_proj, b_proj = _layer0(tf_model)
    n_head = tf_model.config.n_head
    n_embd = int(x.shape[-1])
    d_head = n_embd // n_head
    qkv = tf.reshape(tf.einsum("se,ef->sf", x, w_attn) + b_attn, (-1, 3, n_head, d_head))
    q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]                      # [seq, head, d]
    scores = tf.einsum("thd,shd->hts", q, k) * (1.0 / d_head ** 0.5)
    seq_len = tf.shape(x)[0]
    future = 1.0 - tf.linalg.band_part(tf.ones((seq_len, seq_len)), -1, 0)
    weights = tf.nn.softmax(scores - 1e9 * future, axis=-1)
    out = tf.reshape(tf.einsum("hts,shd->thd", weights, v), (-1, n_embd))
    return tf.einsum("te,ef->tf", out, w_proj) + b_proj


def attention_tf_numpy_heads(tf_model, x):
    """Heads as a leading axis via tf.stack of tf.split (no Python loop), numpy's triu for the mask."""
    w_attn, b_attn, w_proj, b_proj = _layer0(tf_model)
    n_head = tf_model.config.n_head
    qkv = x @ w_attn + b_attn
    q, k, v = (tf.stack(tf.split(part, n_head, axis=-1)) for part in tf.split(qkv, 3, axis=-1))
    d_head = int(q.shape[-1])
    seq_len = int(x.shape[0])
    mask = tf.constant(np.triu(np.full((seq_len, seq_len), -np.inf, dtype=np.float32), k=1))
    weights = tf.nn.softmax(q @ tf.transpose(k, (0, 2, 1)) / np.sqrt(d_head) + mask)
    heads = weights @ v                                            # [head, seq, d]
    return tf.concat(tf.unstack(heads), axis=-1) @ w_proj + b_proj


def attention_tf_no_proj(tf_model, x):
    """WRONG: the heads side by side, but c_proj forgotten."""
    w_attn, b_attn, _, _ = _layer0(tf_model)
    n_head, seq_len, n_embd = tf_model.config.n_head, tf.shape(x)[0], x.shape[-1]
    d_head = n_embd // n_head
    q, k, v = tf.split(tf.matmul(x, w_attn) + b_attn, 3, axis=-1)
    heads = lambda t: tf.transpose(tf.reshape(t, (seq_len, n_head, d_head)), (1, 0, 2))
    scores = tf.matmul(heads(q), heads(k), transpose_b=True) / math.sqrt(d_head) + _causal_bias(seq_len)
    out = tf.matmul(tf.nn.softmax(scores, axis=-1), heads(v))
    return tf.reshape(tf.transpose(out, (1, 0, 2)), (seq_len, n_embd))


def attention_tf_merge_no_transpose(tf_model, x):
    """WRONG: merges [n_head, seq, d_head] back with a reshape alone (heads and positions mixed)."""
    w_attn, b_attn, w_proj, b_proj = _layer0(tf_model)
    n_head, seq_len, n_embd = tf_model.config.n_head, tf.shape(x)[0], x.shape[-1]
    d_head = n_embd // n_head
    q, k, v = tf.split(tf.matmul(x, w_attn) + b_attn, 3, axis=-1)
    heads = lambda t: tf.transpose(tf.reshape(t, (seq_len, n_head, d_head)), (1, 0, 2))
    scores = tf.matmul(heads(q), heads(k), transpose_b=True) / math.sqrt(d_head) + _causal_bias(seq_len)
    out = tf.matmul(tf.nn.softmax(scores, axis=-1), heads(v))
    return tf.matmul(tf.reshape(out, (seq_len, n_embd)), w_proj) + b_proj


def attention_tf_no_mask(tf_model, x):
    """WRONG: no causal mask: every position sees the whole text."""
    w_attn, b_attn, w_proj, b_proj = _layer0(tf_model)
    n_head, seq_len, n_embd = tf_model.config.n_head, tf.shape(x)[0], x.shape[-1]
    d_head = n_embd // n_head
    q, k, v = tf.split(tf.matmul(x, w_attn) + b_attn, 3, axis=-1)
    heads = lambda t: tf.transpose(tf.reshape(t, (seq_len, n_head, d_head)), (1, 0, 2))
    scores = tf.matmul(heads(q), heads(k), transpose_b=True) / math.sqrt(d_head)
    out = tf.matmul(tf.nn.softmax(scores, axis=-1), heads(v))
    return tf.matmul(tf.reshape(tf.transpose(out, (1, 0, 2)), (seq_len, n_embd)), w_proj) + b_proj


def attention_tf_scale_embd(tf_model, x):
    """WRONG: scales by sqrt(n_embd), the model's width, instead of sqrt(d_head)."""
    w_attn, b_attn, w_proj, b_proj = _layer0(tf_model)
    n_head, seq_len, n_embd = tf_model.config.n_head, tf.shape(x)[0], x.shape[-1]
    d_head = n_embd // n_head
    q, k, v = tf.split(tf.matmul(x, w_attn) + b_attn, 3, axis=-1)
    heads = lambda t: tf.transpose(tf.reshape(t, (seq_len, n_head, d_head)), (1, 0, 2))
    scores = tf.matmul(heads(q), heads(k), transpose_b=True) / math.sqrt(n_embd) + _causal_bias(seq_len)
    out = tf.matmul(tf.nn.softmax(scores, axis=-1), heads(v))
    return tf.matmul(tf.reshape(tf.transpose(out, (1, 0, 2)), (seq_len, n_embd)), w_proj) + b_proj


RIGHT = {
    "q2": [attention_head_split, attention_head_weights, attention_head_loop],
    "q3": [attention_tf_reshape, attention_tf_einsum, attention_tf_numpy_heads],
}
WRONG = {
    "q2": [attention_head_unscaled, attention_head_mask_past, attention_head_softmax_queries,
           attention_head_mask_after_softmax],
    "q3": [attention_tf_no_proj, attention_tf_merge_no_transpose, attention_tf_no_mask, attention_tf_scale_embd],
}
EXTRA: dict = {}
