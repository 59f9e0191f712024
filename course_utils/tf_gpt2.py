"""GPT-2 in plain TensorFlow: the course's own model, read from the same safetensors as PyTorch's.

transformers 5 removed its TensorFlow models, so the course brings its own, written with raw
TensorFlow ops (``tf.Module``, ``tf.Variable``, no Keras layers: it runs under Keras 2 or 3) and
called like transformers' ``TFGPT2LMHeadModel``::

    model = GPT2.from_pretrained("gpt2")                   # a hub id, or a folder with config.json
    output = model(input_ids)                              # (batch, seq) ids -> output.logits
    output.logits                                          # (batch, seq, vocab_size) float32
    output = model(next_ids, past_key_values=output.past_key_values)   # (batch, 1): the cache

``output.past_key_values`` is a tuple with one tensor per layer, of shape
(2, batch, n_head, seq_so_far, head_dim): the keys (index 0) and values (index 1) of every
position seen so far, so the next call only has to run the new tokens.

Shapes in comments: B batch, T new positions, P cached positions, S = P + T, E n_embd, H n_head,
D head_dim = E / H, V vocab_size, L n_layer. Weights keep their names from the safetensors file
(``model.weights["h.0.attn.c_attn.weight"]``), with GPT-2's Conv1D layout (in_features,
out_features): a linear layer is ``x @ weight + bias``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import types
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

__all__ = ["GPT2", "GPT2Config", "CausalLMOutput", "from_pretrained"]


def _options_without_grappler():
    """``(context, this thread's function-call options, the same with Grappler off)``, or None
    where this TensorFlow lacks these internals (no public API sets them per call)."""
    try:
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.eager import context

        ctx = context.context()
        before = ctx.function_call_options
        config = config_pb2.ConfigProto.FromString(before.config_proto_serialized)
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        return ctx, before, context.FunctionCallOptions(before.executor_type, config)
    except (ImportError, AttributeError, TypeError):
        return None


@contextlib.contextmanager
def _graph_not_reoptimized():
    """Calls of the model's graph in this block skip Grappler, TensorFlow's graph optimizer.

    Why: ``tf.random.set_seed`` clears TensorFlow's kernel cache, so the first call after it
    instantiates the graph again, and Grappler's passes were 60 of that call's 90 ms (a lesson-5
    loop seeds before every text; 3 ms per call otherwise). Without them a steady call costs
    ~0.3 ms more. Only this thread's options change, and only in the block; a TensorFlow without
    these internals just runs optimized.
    """
    found = _options_without_grappler()
    if found is None:
        yield
        return
    ctx, before, options = found
    ctx.function_call_options = options
    try:
        yield
    finally:
        ctx.function_call_options = before


_DEFAULTS = dict(n_inner=None, layer_norm_epsilon=1e-5, activation_function="gelu_new",
                 scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False,
                 bos_token_id=50256, eos_token_id=50256, model_type="gpt2")
# Arguments of transformers' call that would change the result: refuse them rather than ignore them.
_UNSUPPORTED = ("position_ids", "token_type_ids", "inputs_embeds", "head_mask",
                "output_attentions", "output_hidden_states")


class GPT2Config(types.SimpleNamespace):
    """``config.json`` with attribute access (``config.n_layer``), like transformers' GPT2Config."""

    @classmethod
    def from_dict(cls, values: dict) -> "GPT2Config":
        return cls(**{**_DEFAULTS, **values})

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class CausalLMOutput:
    """What a call returns: ``logits`` (B, T, V) float32 and ``past_key_values`` (see the module
    docstring; ``None`` when called with ``use_cache=False``). ``output["logits"]`` and
    ``output[0]`` work too, as on transformers' outputs."""
    logits: tf.Tensor
    past_key_values: tuple | None = None

    def __getitem__(self, key):
        if isinstance(key, str):
            return getattr(self, key)
        return tuple(v for v in (self.logits, self.past_key_values) if v is not None)[key]


# --- The pieces: pure functions of tensors -------------------------------------------------------

def layer_norm(x, weight, bias, epsilon):
    """Normalize the last axis to mean 0 and variance 1, then scale and shift: (..., E) -> (..., E)."""
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + epsilon) * weight + bias


def linear(x, weight, bias):
    """GPT-2's Conv1D: ``x @ weight + bias`` with weight (in, out): (..., in) -> (..., out)."""
    return tf.matmul(x, weight) + bias


def gelu_new(x):
    """GELU, tanh approximation (GPT-2's "gelu_new"); PyTorch's ``gelu(x, approximate="tanh")``."""
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def split_heads(x, n_head):
    """(B, T, E) -> (B, H, T, D): each head attends on its own slice of the embedding."""
    batch, seq = tf.shape(x)[0], tf.shape(x)[1]
    return tf.transpose(tf.reshape(x, [batch, seq, n_head, x.shape[-1] // n_head]), [0, 2, 1, 3])


def merge_heads(x):
    """(B, H, T, D) -> (B, T, E): the heads side by side again."""
    batch, seq = tf.shape(x)[0], tf.shape(x)[2]
    return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [batch, seq, x.shape[1] * x.shape[3]])


# --- The model -----------------------------------------------------------------------------------

class GPT2(tf.Module):
    """GPT-2 language model for inference: ``model(input_ids, attention_mask=None,
    past_key_values=None, use_cache=True)`` -> ``CausalLMOutput``.

    ``input_ids``: (B, T) ints (tensor, numpy array or nested list). ``attention_mask``: (B, S),
    1 for tokens and 0 for padding (covering the cached positions too); as in ``generate()``,
    a token's position is the number of real tokens before it, so a left-padded row gives the
    same logits as the row without its padding.
    """

    trainable = False  # inference only: the weights are tf.Variables with trainable=False

    def __init__(self, config: GPT2Config, weights: dict, name_or_path: str = ""):
        super().__init__(name="gpt2")
        if config.activation_function != "gelu_new":
            raise NotImplementedError(f"activation {config.activation_function!r}: only gelu_new")
        self.config, self.name_or_path = config, name_or_path
        self.weights = {name: tf.Variable(array, trainable=False, name=name.replace(".", "/"))
                        for name, array in weights.items()}
        # The LM head is wte itself (tied weights), transposed once here: on CPU, h @ (E, V) is
        # 2-5x faster than h @ wte^T via transpose_b, and it is most of a decoding step's time.
        # (The price: a second copy of wte, 25 MB for the course model, 150 MB for gpt2.)
        self.lm_head = tf.Variable(tf.transpose(self.weights["wte.weight"]), trainable=False,
                                   name="lm_head")                          # (E, V)
        c = config
        self.head_dim = c.n_embd // c.n_head
        # One graph for every call: None in the signature lets the batch, the new tokens and the
        # cache grow without retracing (the cache is one tensor (L, 2, B, H, P, D) inside).
        # No AutoGraph: _forward branches on Python values only, and converting its source cost
        # 0.23 s of the first call's 0.38 s (and left a generated file in /tmp per process).
        self._step = tf.function(self._forward, autograph=False, input_signature=[
            tf.TensorSpec([None, None], tf.int32),                               # input_ids (B, T)
            tf.TensorSpec([None, None], tf.float32),                             # mask (B, S)
            tf.TensorSpec([c.n_layer, 2, None, c.n_head, None, self.head_dim], tf.float32)])

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str) -> "GPT2":
        """From a folder holding config.json and model.safetensors, or from a hub id (downloaded
        once into the Hugging Face cache; ``HF_HUB_OFFLINE=1`` uses the cache only)."""
        if os.path.isdir(path_or_repo_id):
            config_file, weights_file = (os.path.join(path_or_repo_id, f)
                                         for f in ("config.json", "model.safetensors"))
        else:
            from huggingface_hub import hf_hub_download

            config_file, weights_file = (hf_hub_download(path_or_repo_id, f)
                                         for f in ("config.json", "model.safetensors"))
        with open(config_file, encoding="utf-8") as f:
            config = GPT2Config.from_dict(json.load(f))
        return cls(config, load_weights(weights_file), name_or_path=path_or_repo_id)

    def __call__(self, input_ids=None, attention_mask=None, past_key_values=None, use_cache=True,
                 **unused) -> CausalLMOutput:
        refused = [k for k in _UNSUPPORTED if unused.get(k) is not None and unused[k] is not False]
        if refused:
            raise NotImplementedError(f"the course's TensorFlow GPT-2 does not support {refused}")
        c = self.config
        input_ids = tf.cast(tf.convert_to_tensor(input_ids), tf.int32)
        if input_ids.shape.rank != 2:
            raise ValueError(f"input_ids must have shape (batch, seq), not {input_ids.shape}")
        batch, new = input_ids.shape
        if past_key_values is None:
            past = tf.zeros([c.n_layer, 2, batch, c.n_head, 0, self.head_dim])
        else:  # a tuple or list of L tensors (2, B, H, P, D), as returned by the previous call
            past = tf.stack(past_key_values) if isinstance(past_key_values, (list, tuple)) \
                else tf.convert_to_tensor(past_key_values)
        seen = past.shape[4] + new                                           # S
        if seen > c.n_positions:
            raise ValueError(f"{seen} positions, but the model has only n_positions={c.n_positions}")
        if attention_mask is None:
            attention_mask = tf.ones([batch, seen])
        attention_mask = tf.cast(tf.convert_to_tensor(attention_mask), tf.float32)
        if tuple(attention_mask.shape) != (batch, seen):
            raise ValueError(f"attention_mask must have shape (batch, past + new) = {(batch, seen)}, "
                             f"not {tuple(attention_mask.shape)}")
        with _graph_not_reoptimized():
            logits, present = self._step(input_ids, attention_mask, past)
        return CausalLMOutput(logits, tuple(present) if use_cache else None)

    def attention_output(self, layer: int, x):
        """Read-only: layer ``layer``'s causal self-attention on ``x`` (B, T, E), with no cache
        and no padding -> (B, T, E), after the output projection c_proj: what the block adds to
        its residual stream. The lessons compare a student's attention with it."""
        x = tf.convert_to_tensor(x, tf.float32)
        batch, new = x.shape[0], x.shape[1]
        causal = tf.range(new)[None, :] <= tf.range(new)[:, None]                     # (T, T)
        visible = tf.broadcast_to(causal[None, None], [batch, 1, new, new])             # (B, 1, T, T)
        empty = tf.zeros([2, batch, self.config.n_head, 0, self.head_dim])
        return self._attention(layer, x, empty, visible)[0]

    def _forward(self, input_ids, attention_mask, past):
        """input_ids (B, T) int32, attention_mask (B, S) float32, past (L, 2, B, H, P, D)
        -> logits (B, T, V) and one tensor (2, B, H, S, D) per layer."""
        w, c = self.weights, self.config
        new, cached = tf.shape(input_ids)[1], tf.shape(past)[4]               # T, P
        # Position = number of real tokens before this one; padding gets 1, as in generate().
        positions = tf.cast(tf.cumsum(attention_mask, axis=1), tf.int32) - 1   # (B, S)
        positions = tf.where(attention_mask > 0, positions, 1)[:, cached:]    # (B, T)
        h = tf.gather(w["wte.weight"], input_ids) + tf.gather(w["wpe.weight"], positions)  # (B, T, E)

        # A query at position P + t may look at keys 0 .. P + t (causal), and never at padding.
        causal = tf.range(cached + new)[None, :] <= cached + tf.range(new)[:, None]      # (T, S)
        visible = causal[None, None] & (attention_mask > 0)[:, None, None, :]           # (B, 1, T, S)
        present = []
        for i in range(c.n_layer):
            p = f"h.{i}."
            attended, keys_values = self._attention(
                i, layer_norm(h, w[p + "ln_1.weight"], w[p + "ln_1.bias"], c.layer_norm_epsilon),
                past[i], visible)
            h = h + attended                                                  # residual
            x = layer_norm(h, w[p + "ln_2.weight"], w[p + "ln_2.bias"], c.layer_norm_epsilon)
            x = gelu_new(linear(x, w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"]))   # (B, T, 4E)
            h = h + linear(x, w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"])   # residual
            present.append(keys_values)
        h = layer_norm(h, w["ln_f.weight"], w["ln_f.bias"], c.layer_norm_epsilon)
        # The LM head is the token embedding itself (tied weights): a score per vocabulary entry.
        logits = tf.matmul(h, self.lm_head)                                   # (B, T, V)
        return logits, present

    def _attention(self, i, x, past_keys_values, visible):
        """Causal self-attention of layer ``i``: x (B, T, E), past (2, B, H, P, D), visible
        (B, 1, T, S) -> (B, T, E) and the keys and values of all S positions (2, B, H, S, D)."""
        w, c, p = self.weights, self.config, f"h.{i}.attn."
        q, k, v = tf.split(linear(x, w[p + "c_attn.weight"], w[p + "c_attn.bias"]), 3, axis=-1)
        q, k, v = (split_heads(t, c.n_head) for t in (q, k, v))               # (B, H, T, D)
        k = tf.concat([past_keys_values[0], k], axis=2)                       # (B, H, S, D)
        v = tf.concat([past_keys_values[1], v], axis=2)
        scores = tf.matmul(q, k, transpose_b=True)                            # (B, H, T, S)
        if c.scale_attn_weights:
            scores /= math.sqrt(self.head_dim)
        if c.scale_attn_by_inverse_layer_idx:
            scores /= float(i + 1)
        # The lowest float, not -inf: a row with no visible key (padding) stays finite.
        scores = tf.where(visible, scores, tf.float32.min)
        attended = merge_heads(tf.matmul(tf.nn.softmax(scores, axis=-1), v))  # (B, T, E)
        return linear(attended, w[p + "c_proj.weight"], w[p + "c_proj.bias"]), tf.stack([k, v])


def load_weights(file: str) -> dict:
    """``{name: float32 array}`` from a PyTorch-layout safetensors file, named as in transformers'
    GPT2Model (``"h.0.ln_1.weight"``, ``"wte.weight"``): without the ``transformer.`` prefix that
    GPT2LMHeadModel files carry, the attention-mask buffers, or the LM head (tied to ``wte``).
    float16 files are computed in float32."""
    from safetensors.numpy import load_file

    weights = {}
    for name, array in load_file(file).items():
        name = name.removeprefix("transformer.")
        if name.endswith((".attn.bias", ".attn.masked_bias")):               # buffers, not weights
            continue
        weights[name] = array.astype(np.float32)
    lm_head = weights.pop("lm_head.weight", None)
    if lm_head is not None and not np.array_equal(lm_head, weights["wte.weight"]):
        raise ValueError(f"{file}: lm_head.weight differs from wte.weight; GPT-2 ties them")
    return weights


def from_pretrained(path_or_repo_id: str) -> GPT2:
    """``GPT2.from_pretrained``: a folder with config.json and model.safetensors, or a hub id."""
    return GPT2.from_pretrained(path_or_repo_id)
