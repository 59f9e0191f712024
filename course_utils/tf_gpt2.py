"""GPT-2 in plain TensorFlow: the course's own model, read from the same safetensors as PyTorch's.

transformers 5 removed its TensorFlow models, so the course brings its own, written with raw
TensorFlow ops (a ``tf.Module`` holding its weights as tensors, no Keras layers: it runs under
Keras 2 or 3; the weights are read by ``course_utils.tf_gpt2_weights``) and
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
import math
import types
from dataclasses import dataclass

import tensorflow as tf

from course_utils.tf_gpt2_weights import as_tensor, load_weights, model_arrays, pretrained_files, read_config

__all__ = ["GPT2", "GPT2Config", "CausalLMOutput", "from_pretrained", "load_weights"]


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
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + epsilon) * weight + bias


def linear(x, weight, bias):
    """GPT-2's Conv1D: ``x @ weight + bias`` with weight (in, out): (..., in) -> (..., out)."""
    return tf.matmul(x, weight) + bias


def gelu_new(x):
    """GELU, tanh approximation (GPT-2's "gelu_new"); PyTorch's ``gelu(x, approximate="tanh")``."""
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def split_heads(qkv, qkv_shape):
    """(B, T, 3E), queries, keys and values side by side -> (3, B, H, T, D): each head attends on
    its own slice of the embedding. ``qkv_shape``: the tensor [B, T, 3, H, D]."""
    return tf.transpose(tf.reshape(qkv, qkv_shape), [2, 0, 3, 1, 4])


def merge_heads(x, embed_shape):
    """(B, H, T, D) -> (B, T, E), the heads side by side again. ``embed_shape``: the tensor [B, T, E]."""
    return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), embed_shape)


# --- The model -----------------------------------------------------------------------------------

class GPT2(tf.Module):
    """GPT-2 language model for inference: ``model(input_ids, attention_mask=None,
    past_key_values=None, use_cache=True)`` -> ``CausalLMOutput``.

    ``input_ids``: (B, T) ints (tensor, numpy array or nested list). ``attention_mask``: (B, S),
    1 for tokens and 0 for padding (covering the cached positions too); as in ``generate()``,
    a token's position is the number of real tokens before it, so a left-padded row gives the
    same logits as the row without its padding.
    """

    trainable = False  # inference only: the weights are constant tensors, not variables

    def __init__(self, config: GPT2Config, weights: dict, name_or_path: str = "", lm_head=None):
        super().__init__(name="gpt2")
        if config.activation_function != "gelu_new":
            raise NotImplementedError(f"activation {config.activation_function!r}: only gelu_new")
        self.config, self.name_or_path = config, name_or_path
        # Tensors over the arrays' own memory (``as_tensor``): no copy, shared with every model
        # built from the same file in this process (and, in a grading kernel, with its template).
        self.weights = {name: as_tensor(array) for name, array in weights.items()}
        # The LM head is wte itself (tied weights), transposed once: on CPU, h @ (E, V) is 2-5x
        # faster than h @ wte^T via transpose_b, and it is most of a decoding step's time.
        # (``model_arrays`` keeps that second copy of wte once per process: 25 MB here, 150 MB for gpt2.)
        self.lm_head = tf.transpose(self.weights["wte.weight"]) if lm_head is None else as_tensor(lm_head)
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
        config_file, weights_file = pretrained_files(path_or_repo_id)
        weights, lm_head = model_arrays(weights_file)
        return cls(GPT2Config.from_dict(read_config(config_file)), weights, path_or_repo_id, lm_head)

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
        return self._attention(layer, x, empty, visible, self._head_shapes(batch, new))[0]

    def _forward(self, input_ids, attention_mask, past):
        """input_ids (B, T) int32, attention_mask (B, S) float32, past (L, 2, B, H, P, D)
        -> logits (B, T, V) and one tensor (2, B, H, S, D) per layer."""
        w, c = self.weights, self.config
        batch, new = tf.unstack(tf.shape(input_ids))                          # B, T
        cached = tf.shape(past)[4]                                            # P
        head_shapes = self._head_shapes(batch, new)
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
                past[i], visible, head_shapes)
            h = h + attended                                                  # residual
            x = layer_norm(h, w[p + "ln_2.weight"], w[p + "ln_2.bias"], c.layer_norm_epsilon)
            x = gelu_new(linear(x, w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"]))   # (B, T, 4E)
            h = h + linear(x, w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"])   # residual
            present.append(keys_values)
        h = layer_norm(h, w["ln_f.weight"], w["ln_f.bias"], c.layer_norm_epsilon)
        # The LM head is the token embedding itself (tied weights): a score per vocabulary entry.
        logits = tf.matmul(h, self.lm_head)                                   # (B, T, V)
        return logits, present

    def _head_shapes(self, batch, new):
        """The shape tensors [B, T, 3, H, D] and [B, T, E] that split and merge the heads: built
        once per call and shared by every layer (fewer nodes: the graph is built again after
        each ``tf.random.set_seed``, at ~35 us per node)."""
        c = self.config
        return tf.stack([batch, new, 3, c.n_head, self.head_dim]), tf.stack([batch, new, c.n_embd])

    def _attention(self, i, x, past_keys_values, visible, head_shapes):
        """Causal self-attention of layer ``i``: x (B, T, E), past (2, B, H, P, D), visible
        (B, 1, T, S) -> (B, T, E) and the keys and values of all S positions (2, B, H, S, D)."""
        w, c, p = self.weights, self.config, f"h.{i}.attn."
        qkv_shape, embed_shape = head_shapes
        qkv = linear(x, w[p + "c_attn.weight"], w[p + "c_attn.bias"])         # (B, T, 3E)
        qkv = split_heads(qkv, qkv_shape)                                     # (3, B, H, T, D)
        q = qkv[0]                                                            # (B, H, T, D)
        # The new keys and values go after the cached ones; all of them are the next call's cache.
        keys_values = tf.concat([past_keys_values, qkv[1:]], axis=3)          # (2, B, H, S, D)
        k, v = tf.unstack(keys_values)                                        # (B, H, S, D) each
        scores = tf.matmul(q, k, transpose_b=True)                            # (B, H, T, S)
        if c.scale_attn_weights:
            scores /= math.sqrt(self.head_dim)
        if c.scale_attn_by_inverse_layer_idx:
            scores /= float(i + 1)
        # The lowest float, not -inf: a row with no visible key (padding) stays finite.
        scores = tf.where(visible, scores, tf.float32.min)
        attended = merge_heads(tf.matmul(tf.nn.softmax(scores, axis=-1), v), embed_shape)  # (B, T, E)
        return linear(attended, w[p + "c_proj.weight"], w[p + "c_proj.bias"]), keys_values


def from_pretrained(path_or_repo_id: str) -> GPT2:
    """``GPT2.from_pretrained``: a folder with config.json and model.safetensors, or a hub id."""
    return GPT2.from_pretrained(path_or_repo_id)
