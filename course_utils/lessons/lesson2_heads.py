"""Lesson 2's attention exercises: one head in PyTorch (q2), the whole layer in TensorFlow (q3).

Each is checked against the model's own layer 0 on the model's real input to it (the output of
its ``ln_1``), on public and hidden texts; each known slip (no scaling, no mask, the mask after
the softmax, the softmax over the queries, keys and queries swapped, a wrong head slice, the
heads merged without a transpose, no output projection...) is named, and so are the slips both
share (``lesson2_slips``: the scale's size, the mask's direction, c_attn's bias, the split).
``lesson2`` binds them.
"""
import numpy as np

from course_utils.checking import FunctionProblem, call_student, mistake
from course_utils.lessons.lesson2_layers import (all_heads, attend, pt_attention_weights, pt_layer0_io,
                                                 split_qkv, tf_attention_weights, tf_layer0_io)
from course_utils.lessons.lesson2_slips import AttentionSlips

HEAD_PROBES = [{"text": "The quick brown fox jumps over the lazy dog", "head": 1},
               {"text": "Machine learning with TensorFlow can do amazing", "head": 3}]
HEAD_HIDDEN = [{"text": "To be, or not to be", "head": 0},
               {"text": "Once upon a time there was a", "head": 2}]
LAYER_PROBES = ["The quick brown fox jumps over the lazy dog", "Machine learning is fun"]
LAYER_HIDDEN = ["In the beginning was the word", "Hello"]


def without_batch(answer, ndim: int = 2):
    """A batch of one, shape [1, ...] with ``ndim`` more axes, judged as the one item it holds."""
    depth, inner = 0, answer
    while isinstance(inner, list) and inner:
        depth, inner = depth + 1, inner[0]
    if depth == ndim + 1 and len(answer) == 1:
        return answer[0]
    return answer


class AttentionHead(FunctionProblem, AttentionSlips):
    """``attention_head(model, x, head)`` in PyTorch: one causal self-attention head of layer 0."""

    id = "lesson2.q2"
    var = "attention_head"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "course_utils.lessons.lesson2_layers.attend",
        "course_utils.lessons.lesson2_layers.all_heads",
        "course_utils.lessons.lesson2_layers.split_qkv",
    )
    framework = "pt"
    public_probes, hidden_probes = HEAD_PROBES, HEAD_HIDDEN
    rtol, atol = 1e-3, 1e-4
    answer_axes = ("position", "feature")
    hints = ("Each position asks a question (its query), every position offers a key and a value; "
             "a position mixes the values of the positions it may see (itself and the earlier ones), "
             "weighted by how well their keys answer its query.",
             "`c_attn(x)` gives [seq, 3 * n_embd]: queries, keys and values side by side, each "
             "`n_embd` wide and holding every head. Head `h` owns columns `h * d_head` to "
             "`(h + 1) * d_head` inside each third. Then: scores = queries times keys transposed, "
             "scaled by sqrt(d_head); the future (above the diagonal) set to -inf *before* the "
             "softmax; softmax over the keys (each row sums to 1); weights times values.",
             "```\nattn = model.transformer.h[0].attn\nd_head, n_embd = attn.head_dim, attn.embed_dim\n"
             "with torch.no_grad():\n    q, k, v = attn.c_attn(x).split(n_embd, dim=-1)      # [seq, n_embd] each\n"
             "    cols = slice(head * d_head, (head + 1) * d_head)\n    q, k, v = q[:, cols], k[:, cols], v[:, cols]\n"
             "    scores = ...                              # [seq, seq], scaled\n"
             "    future = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)\n"
             "    ...                                       # mask, softmax, weighted values\n```")

    def run_probe(self, function, spec):
        import torch

        x = self.io(spec)["attn_in"]
        return call_student(function, self.ctx.model("pt"), torch.tensor(x), spec["head"])

    def io(self, spec):
        return pt_layer0_io(self.ctx.model("pt"), tuple(self.ctx.tokenizer.encode(spec["text"])))

    def variant(self, spec, slicing="right", bias=True, **options):
        model = self.ctx.model("pt")
        q, k, v = split_qkv(self.io(spec)["attn_in"], pt_attention_weights(model), model.config.n_head,
                            spec["head"], slicing, bias)
        return attend(q, k, v, **options)

    def expected(self, spec):
        d_head = self.ctx.model("pt").transformer.h[0].attn.head_dim
        return self.io(spec)["heads"][:, spec["head"] * d_head:(spec["head"] + 1) * d_head]

    def normalise(self, answer):
        return without_batch(answer)

    def describe_probe(self, spec):
        return f"head {spec['head']} on {spec['text']!r}"

    @mistake("The scores are not scaled: divide them by sqrt(d_head) before the softmax (without "
             "it the softmax is too peaked).")
    def unscaled(self, spec):
        return self.variant(spec, scale=False)

    @mistake("You scaled by sqrt(n_embd), the model's width; the scale is sqrt(d_head), the width "
             "of one head's queries and keys.")
    def scaled_by_width(self, spec):
        return self.variant(spec, scale=self.ctx.model("pt").config.n_embd)

    @mistake("No causal mask: every position attended to the positions after it too. Set the scores "
             "above the diagonal to -inf before the softmax.")
    def unmasked(self, spec):
        return self.variant(spec, mask="none")

    @mistake("The mask came after the softmax: zeroing weights afterwards leaves rows that no longer "
             "sum to 1. Put -inf in the scores *before* the softmax.")
    def masked_after_softmax(self, spec):
        return self.variant(spec, mask="after")

    @mistake("The softmax ran over the queries (dim 0); each query's weights over the keys must sum "
             "to 1: softmax over the last axis.")
    def softmax_over_queries(self, spec):
        return self.variant(spec, axis=0)

    @mistake("Keys and queries are swapped (scores = K Q^T): row i must hold query i against every "
             "key, Q K^T.")
    def keys_queries_swapped(self, spec):
        return self.variant(spec, swap=True)

    @mistake("Your keys and values came from the queries' third: c_attn's output is [queries | keys "
             "| values], each n_embd wide; take the head's columns from each third.")
    def query_third_only(self, spec):
        return self.variant(spec, slicing="query_third")

    @mistake("Wrong head slice: your columns are every n_head-th one. Head h owns the contiguous "
             "columns h * d_head to (h + 1) * d_head of each third.")
    def strided_head(self, spec):
        return self.variant(spec, slicing="strided")

    @mistake("Those are the attention weights [seq, seq]; the head's output is the weights times "
             "the values.")
    def weights_only(self, spec):
        return self.variant(spec, output="weights")

    def diagnose(self, answer, expected, spec):
        try:
            shape = np.shape(answer)
        except ValueError:                                   # a ragged list: compare says so
            return None
        if len(shape) == 2 and shape[-1] == self.ctx.model("pt").config.n_embd:
            return ("Your result is n_embd wide: that is every head's columns at once (the full "
                    "c_attn third). Slice one head's d_head columns from the queries, keys and values."
                    + self.hint_pointer())
        for head in range(self.ctx.model("pt").config.n_head):   # any other head's output
            if head != spec["head"] and self.same(answer, self.variant({**spec, "head": head})):
                return (f"That is head {head}'s output; this test asks for head {spec['head']}: its "
                        f"columns start at head * d_head." + self.hint_pointer())
        return None


class AttentionTensorFlow(FunctionProblem, AttentionSlips):
    """``attention_tf(tf_model, x)`` in TensorFlow: layer 0's whole attention (every head, c_proj)."""

    id = "lesson2.q3"
    var = "attention_tf"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "course_utils.lessons.lesson2_layers.attend",
        "course_utils.lessons.lesson2_layers.all_heads",
        "course_utils.lessons.lesson2_layers.split_qkv",
    )
    framework = "tf"
    public_probes, hidden_probes = LAYER_PROBES, LAYER_HIDDEN
    rtol, atol = 1e-3, 1e-4
    answer_axes = ("position", "feature")
    hints = ("Run every head at once: give the heads their own axis, attend within each head, put "
             "their outputs side by side again, and let c_proj mix them into one vector per position.",
             "From c_attn's [seq, 3 * n_embd] output take the three thirds; reshape each to "
             "[seq, n_head, d_head] and transpose to [n_head, seq, d_head]. `tf.matmul(q, k, "
             "transpose_b=True)` then scores every head at once, [n_head, seq, seq]. Scale, mask, "
             "softmax over the last axis, multiply by the values; transpose back to [seq, n_head, "
             "d_head] before the reshape to [seq, n_embd]; finally `x @ weight + bias` with c_proj.",
             "```\nw, n_head = tf_model.weights, tf_model.config.n_head\nseq, n_embd = x.shape\n"
             "d_head = n_embd // n_head\nqkv = x @ w[\"h.0.attn.c_attn.weight\"] + w[\"h.0.attn.c_attn.bias\"]\n"
             "q, k, v = (tf.transpose(tf.reshape(t, [seq, n_head, d_head]), [1, 0, 2])\n"
             "           for t in tf.split(qkv, 3, axis=-1))                 # [n_head, seq, d_head]\n"
             "scores = ...                                                   # scaled\n"
             "future = tf.range(seq)[None, :] > tf.range(seq)[:, None]       # [seq, seq]\n"
             "heads = ...                                                    # [n_head, seq, d_head]\n"
             "merged = ...                                                   # [seq, n_embd]\n"
             "return merged @ w[\"h.0.attn.c_proj.weight\"] + ...\n```")

    def run_probe(self, function, spec):
        import tensorflow as tf

        return call_student(function, self.ctx.model("tf"), tf.constant(self.io(spec)["attn_in"]))

    def io(self, spec):
        return tf_layer0_io(self.ctx.model("tf"), tuple(self.ctx.tokenizer.encode(spec)))

    def variant(self, spec, **options):
        model = self.ctx.model("tf")
        return all_heads(self.io(spec)["attn_in"], tf_attention_weights(model), model.config.n_head, **options)

    def expected(self, spec):
        return self.io(spec)["attention"]

    def normalise(self, answer):
        return without_batch(answer)

    def describe_probe(self, spec):
        return f"the text {spec!r}"

    @mistake("The output projection is missing: after the heads are side by side, c_proj "
             "(`x @ weight + bias`) mixes them.")
    def no_projection(self, spec):
        return self.variant(spec, project=False)

    @mistake("c_proj's bias is missing: a linear layer is `x @ weight + bias`.")
    def no_projection_bias(self, spec):
        return self.variant(spec, proj_bias=False)

    @mistake("The heads were merged without the transpose: reshaping [n_head, seq, d_head] straight "
             "to [seq, n_embd] mixes positions. Transpose to [seq, n_head, d_head] first.")
    def merged_without_transpose(self, spec):
        return self.variant(spec, merge="no_transpose")

    @mistake("The scores are not scaled: divide them by sqrt(d_head) before the softmax.")
    def unscaled(self, spec):
        return self.variant(spec, scale=False)

    @mistake("You scaled by sqrt(n_embd); the scale is sqrt(d_head), one head's width.")
    def scaled_by_width(self, spec):
        return self.variant(spec, scale=self.ctx.model("tf").config.n_embd)

    @mistake("No causal mask: positions attended to the future. Set the scores above the diagonal "
             "to -inf before the softmax.")
    def unmasked(self, spec):
        return self.variant(spec, mask="none")

    @mistake("The mask came after the softmax; rows then no longer sum to 1. Mask the scores first.")
    def masked_after_softmax(self, spec):
        return self.variant(spec, mask="after")

    @mistake("The softmax ran over the queries; it must run over the keys, the last axis.")
    def softmax_over_queries(self, spec):
        return self.variant(spec, axis=-2)

    @mistake("Keys and queries are swapped: the scores are Q K^T, one row per query.")
    def keys_queries_swapped(self, spec):
        return self.variant(spec, swap=True)

    @mistake("The heads were merged in the wrong order: a transpose to [seq, d_head, n_head] "
             "interleaves their columns. Transpose [n_head, seq, d_head] to [seq, n_head, d_head] "
             "(`[1, 0, 2]`), then reshape: head 0's d_head columns, then head 1's...")
    def merged_interleaved(self, spec):
        return self.variant(spec, merge="interleaved")

    @mistake("The softmax ran over the heads (axis 0 of [n_head, seq, seq]); each query's weights "
             "over the keys must sum to 1: `axis=-1`.")
    def softmax_over_heads(self, spec):
        return self.variant(spec, axis="heads")

    @mistake("Wrong head split: a reshape to [seq, d_head, n_head] gives each head every n_head-th "
             "column. Reshape each third to [seq, n_head, d_head]: head h owns columns h * d_head "
             "to (h + 1) * d_head.")
    def strided_heads(self, spec):
        return self.variant(spec, slicing="strided")
