"""Lesson 2's references: what the loaded model itself computes inside, and attention done wrong.

The expected answers come from the model's own layers (a PyTorch forward hook on layer 0, the
course's TensorFlow GPT-2's ``attention_output``), computed once per model and text. The known
mistakes are recomputed here in NumPy (float64) from the same layer's weights, one switch per
mistake, so that each wrong answer is exactly what that slip gives.

Shapes: T tokens, E n_embd, H n_head, D = E / H head_dim, V vocab_size.
"""
from __future__ import annotations

import numpy as np

from course_utils.checking.reference_cache import once_per_model


# --- what the model computes (the expected answers) ---------------------------------------------
@once_per_model
def pt_layer0_io(model, ids: tuple) -> dict:
    """One PyTorch forward pass on ``ids``, read with hooks: ``hidden_0`` (T, E) the sum of the
    embeddings, ``attn_in`` (T, E) layer 0's ln_1 output (the attention's input), ``heads`` (T, E)
    layer 0's heads side by side before c_proj, ``final_hidden`` (T, E) the input of ln_f, and
    ``logits`` (T, V)."""
    import torch

    seen = {}
    transformer = model.transformer
    # Hooks on the layers themselves, not output_hidden_states: what each layer receives does not
    # depend on how a transformers version collects its outputs. ln_1's input is block 0's input.
    hooks = [transformer.h[0].ln_1.register_forward_hook(lambda m, i, o: seen.update(hidden_0=i[0], attn_in=o)),
             transformer.h[0].attn.c_proj.register_forward_hook(lambda m, i, o: seen.update(heads=i[0])),
             transformer.ln_f.register_forward_hook(lambda m, i, o: seen.update(final_hidden=i[0]))]
    try:
        with torch.no_grad():
            output = model(torch.tensor([list(ids)]))
    finally:
        for hook in hooks:
            hook.remove()
    found = {name: value[0].numpy() for name, value in seen.items()}
    found["logits"] = output.logits[0].numpy()
    return found


@once_per_model
def tf_layer0_io(model, ids: tuple) -> dict:
    """The TensorFlow twin of ``pt_layer0_io``, for what lesson 2 asks in TensorFlow:
    ``attn_in`` (T, E), the input of layer 0's attention (ln_1 of the embeddings), and
    ``attention`` (T, E), the model's own layer-0 attention output (after c_proj)."""
    import tensorflow as tf

    from course_utils.tf_gpt2 import layer_norm

    w = model.weights
    hidden_0 = tf.gather(w["wte.weight"], list(ids)) + w["wpe.weight"][: len(ids)]          # (T, E)
    attn_in = layer_norm(hidden_0, w["h.0.ln_1.weight"], w["h.0.ln_1.bias"], model.config.layer_norm_epsilon)
    attention = model.attention_output(0, attn_in[None])[0]
    return {"attn_in": attn_in.numpy(), "attention": attention.numpy()}


def pt_attention_weights(model) -> dict:
    """Layer 0's attention weights as float64 NumPy: ``c_attn_w`` (E, 3E), ``c_attn_b`` (3E,),
    ``c_proj_w`` (E, E), ``c_proj_b`` (E,) (GPT-2's Conv1D layout: ``x @ w + b``)."""
    attn = model.transformer.h[0].attn
    return {name: layer.detach().numpy().astype(np.float64) for name, layer in
            [("c_attn_w", attn.c_attn.weight), ("c_attn_b", attn.c_attn.bias),
             ("c_proj_w", attn.c_proj.weight), ("c_proj_b", attn.c_proj.bias)]}


def tf_attention_weights(model) -> dict:
    """``pt_attention_weights`` for the course's TensorFlow GPT-2 (the same names)."""
    w = model.weights
    return {name: np.asarray(w[key]).astype(np.float64) for name, key in
            [("c_attn_w", "h.0.attn.c_attn.weight"), ("c_attn_b", "h.0.attn.c_attn.bias"),
             ("c_proj_w", "h.0.attn.c_proj.weight"), ("c_proj_b", "h.0.attn.c_proj.bias")]}


# --- attention, with one slip at a time (the known mistakes) ------------------------------------
def softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = scores - np.max(scores, axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def split_qkv(x, weights, n_head, head, slicing="right", bias=True):
    """Queries, keys, values of one head from c_attn: each (T, D); ``head=None``: all heads (T, E).

    ``slicing``: ``"right"`` (head h's columns inside each third), ``"query_third"`` (all three
    read from the queries' third: the E and 2E offsets forgotten), ``"strided"`` (every H-th
    column, as a reshape to (T, D, H) instead of (T, H, D) gives), ``"keys_values_swapped"``
    (the thirds read as q, v, k), ``"per_head_thirds"`` (c_attn read as H blocks of [q | k | v],
    a reshape to (T, H, 3D) before the split). ``bias=False``: c_attn's bias left out.
    """
    qkv = np.asarray(x, np.float64) @ weights["c_attn_w"] + (weights["c_attn_b"] if bias else 0.0)  # (T, 3E)
    width = qkv.shape[-1] // 3
    d = width // n_head
    if slicing == "per_head_thirds":
        blocks = qkv.reshape(len(qkv), n_head, 3 * d)
        thirds = [blocks[..., i * d:(i + 1) * d].reshape(len(qkv), width) for i in range(3)]
        slicing = "right"
    else:
        thirds = [qkv[:, i * width:(i + 1) * width] for i in range(3)]                   # (T, E) each
    if slicing == "keys_values_swapped":
        thirds, slicing = [thirds[0], thirds[2], thirds[1]], "right"
    if head is None:
        return thirds
    if slicing == "query_third":
        return [thirds[0][:, head * d:(head + 1) * d]] * 3
    if slicing == "strided":
        return [t[:, head::n_head] for t in thirds]
    return [t[:, head * d:(head + 1) * d] for t in thirds]


def attend(q, k, v, *, scale=True, mask="before", axis=-1, swap=False, output="values"):
    """One head's causal self-attention, q k v (T, D) -> (T, D), with these switches:

    ``scale``: True divides by sqrt(D), a number divides by its square root, False not at all;
    ``mask``: ``"before"`` (-inf above the diagonal, then softmax), ``"after"`` (softmax, then
    zeros above the diagonal), ``"none"``, ``"past"`` (-inf *below* the diagonal: the mask the
    wrong way round), ``"diagonal"`` (-inf on the diagonal too: row 0 hides every key, NaN),
    ``"zero"`` (0 instead of -inf in the scores); ``axis``: the softmax's axis; ``swap``: keys
    and queries swapped (K Q^T); ``output``: ``"values"`` (weights @ V) or ``"weights"`` (T, T).
    """
    probs = attention_weights(q, k, scale=scale, mask=mask, axis=axis, swap=swap)
    return probs if output == "weights" else probs @ v


def masked_scores(q, k, *, scale=True, mask="before", swap=False):
    """The (T, T) scores, scaled and masked as ``attend`` says (the mask "after" is not applied)."""
    scores = (k @ q.T) if swap else (q @ k.T)                                            # (T, T)
    if scale is True:
        scores = scores / np.sqrt(q.shape[-1])
    elif scale:
        scores = scores / np.sqrt(scale)
    hidden = {"before": 1, "diagonal": 0}
    if mask in hidden:                                            # key after query: hidden
        return np.where(np.triu(np.ones(scores.shape, dtype=bool), k=hidden[mask]), -np.inf, scores)
    if mask == "past":
        return np.where(np.tril(np.ones(scores.shape, dtype=bool), k=-1), -np.inf, scores)
    if mask == "zero":
        return np.where(np.triu(np.ones(scores.shape, dtype=bool), k=1), 0.0, scores)
    return scores


def attention_weights(q, k, *, scale=True, mask="before", axis=-1, swap=False):
    """``attend``'s (T, T) weights."""
    scores = masked_scores(q, k, scale=scale, mask=mask, swap=swap)
    with np.errstate(invalid="ignore"):                           # a row of -inf: NaN, as torch gives
        probs = softmax(scores, axis=axis)
    if mask == "after":
        probs = np.where(np.triu(np.ones(probs.shape, dtype=bool), k=1), 0.0, probs)
    return probs


def all_heads(x, weights, n_head, *, merge="right", project=True, proj_bias=True, slicing="right",
              bias=True, **attend_options):
    """Every head of the layer, side by side (T, E), then c_proj (unless ``project=False``).

    ``merge``: ``"right"`` (head 0's D columns, then head 1's, ...), ``"no_transpose"`` (the
    (H, T, D) stack reshaped straight to (T, E): rows of different positions mixed),
    ``"interleaved"`` (transposed to (T, D, H) before the reshape: the heads' columns interleaved).
    ``slicing`` and ``bias`` are ``split_qkv``'s; ``axis="heads"``: the softmax over the heads
    axis of the (H, T, T) scores (NaN above the diagonal, where every head's score is -inf)."""
    n_tokens, width = np.asarray(x).shape
    qkvs = [split_qkv(x, weights, n_head, h, slicing, bias) for h in range(n_head)]
    if attend_options.get("axis") == "heads":
        options = {k: v for k, v in attend_options.items() if k != "axis"}
        scores = np.stack([masked_scores(q, k, **options) for q, k, _ in qkvs])           # (H, T, T)
        with np.errstate(invalid="ignore"):
            probs = softmax(scores, axis=0)
        heads = np.stack([p @ v for p, (_, _, v) in zip(probs, qkvs)])
    else:
        heads = np.stack([attend(*qkv, **attend_options) for qkv in qkvs])                # (H, T, D)
    order = {"no_transpose": None, "interleaved": (1, 2, 0)}.get(merge, (1, 0, 2))
    merged = (heads if order is None else heads.transpose(order)).reshape(n_tokens, width)  # (T, E)
    if not project:
        return merged
    return merged @ weights["c_proj_w"] + (weights["c_proj_b"] if proj_bias else 0.0)
