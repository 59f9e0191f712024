"""Lesson 2 — inside GPT-2, from ids to logits: the exercises and their checks.

Every expected value is read from the loaded model itself (its hidden states, layer 0's attention
through a hook or the TensorFlow model's ``attention_output``, its logits), never stored here;
the known mistakes are recomputed from the same layer's weights (``lesson2_layers``).
"""
import numpy as np

from course_utils.checking import (FunctionProblem, PredictionProblem, ValueProblem, bind_exercises,
                                   call_student, mistake, ____)  # noqa: F401
from course_utils.checking.context import default_framework
from course_utils.checking.reference_cache import forward_logits
from course_utils.lessons.lesson2_layers import (all_heads, attend, pt_attention_weights, pt_layer0_io,
                                                 split_qkv, tf_attention_weights, tf_layer0_io)

EMBED_TEXT = "Attention is all you need"
HEAD_PROBES = [{"text": "The quick brown fox jumps over the lazy dog", "head": 1},
               {"text": "Machine learning with TensorFlow can do amazing", "head": 3}]
HEAD_HIDDEN = [{"text": "To be, or not to be", "head": 0},
               {"text": "Once upon a time there was a", "head": 2}]
LAYER_PROBES = ["The quick brown fox jumps over the lazy dog", "Machine learning is fun"]
LAYER_HIDDEN = ["In the beginning was the word", "Hello"]
CHANGE_TEXT = "The cat sat on the mat and looked at the door"
CHANGED_POSITION, NEW_TOKEN = 5, " sofa"
TIED_TEXT = "The capital of France is"


def without_batch(answer, ndim: int = 2):
    """A batch of one, shape [1, ...] with ``ndim`` more axes, judged as the one item it holds."""
    depth, inner = 0, answer
    while isinstance(inner, list) and inner:
        depth, inner = depth + 1, inner[0]
    if depth == ndim + 1 and len(answer) == 1:
        return answer[0]
    return answer


class FirstHiddenState(ValueProblem):
    id = "lesson2.q1"
    var = "hidden_0"
    framework = "pt"
    hints = ("The first hidden state of each position is the sum of two looked-up rows: one for "
             "*what* the token is, one for *where* it is.",
             "`model.transformer.wte` and `model.transformer.wpe` are `nn.Embedding` layers: call "
             "them on a tensor of ids. The token ids come from the tokenizer; the positions are "
             "0, 1, ..., seq_len - 1 (`torch.arange`).",
             "```\nids = torch.tensor(tokenizer.encode(EMBED_TEXT))\npositions = torch.arange(...)\n"
             "with torch.no_grad():\n    hidden_0 = ...   # one lookup per table, then combine them\n```")

    def io(self):
        return pt_layer0_io(self.ctx.model("pt"), tuple(self.ctx.tokenizer.encode(EMBED_TEXT)))

    def tables(self):
        transformer = self.ctx.model("pt").transformer
        return transformer.wte.weight.detach().numpy(), transformer.wpe.weight.detach().numpy()

    def expected(self):
        return self.io()["hidden_0"]

    def normalise(self, answer):
        return without_batch(answer)

    @mistake("That is the token embeddings alone: without the position embeddings every position "
             "of a repeated word would look the same to the model. Add `wpe` of the positions.")
    def tokens_only(self):
        return self.tables()[0][self.ctx.tokenizer.encode(EMBED_TEXT)]

    @mistake("That is the position embeddings alone: add the token embeddings (`wte` of the ids).")
    def positions_only(self):
        return self.tables()[1][: len(self.ctx.tokenizer.encode(EMBED_TEXT))]

    @mistake("Your positions start at 1; Python's and GPT-2's positions start at 0 "
             "(`torch.arange(seq_len)`).")
    def positions_from_one(self):
        wte, wpe = self.tables()
        ids = self.ctx.tokenizer.encode(EMBED_TEXT)
        return wte[ids] + wpe[1: len(ids) + 1]

    @mistake("That is already layer-normalised (ln_1): the hidden state that enters block 0 is the "
             "plain sum of the two embeddings; each block normalises its own copy.")
    def layer_normed(self):
        return self.io()["attn_in"]


class AttentionHead(FunctionProblem):
    """``attention_head(model, x, head)`` in PyTorch: one causal self-attention head of layer 0."""

    id = "lesson2.q2"
    var = "attention_head"
    framework = "pt"
    public_probes, hidden_probes = HEAD_PROBES, HEAD_HIDDEN
    rtol, atol = 1e-3, 1e-4
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

    def variant(self, spec, slicing="right", **options):
        model = self.ctx.model("pt")
        q, k, v = split_qkv(self.io(spec)["attn_in"], pt_attention_weights(model), model.config.n_head,
                            spec["head"], slicing)
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


class AttentionTensorFlow(FunctionProblem):
    """``attention_tf(tf_model, x)`` in TensorFlow: layer 0's whole attention (every head, c_proj)."""

    id = "lesson2.q3"
    var = "attention_tf"
    framework = "tf"
    public_probes, hidden_probes = LAYER_PROBES, LAYER_HIDDEN
    rtol, atol = 1e-3, 1e-4
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


class WhatTheMaskHides(PredictionProblem):
    """Predict which positions' logits change when one token of the text is replaced."""

    id = "lesson2.q4"
    var = "changed_positions"
    explanation = ("The causal mask lets position t see positions 0..t only, in every layer: a "
                   f"change at position {CHANGED_POSITION} reaches position {CHANGED_POSITION} "
                   "itself and every later one, never an earlier one. That is also why the key/value "
                   "cache is exact: the keys and values of earlier positions never depend on tokens "
                   "that come after them.")
    hints = ("In every layer, which positions may position t attend to? Can information flow "
             "backwards?",
             f"Position {CHANGED_POSITION}'s own input changed; a position is affected if it can "
             f"see position {CHANGED_POSITION}, directly or through a layer below.",
             "`changed_positions = [...]`: list the positions, from 0, in increasing order (the "
             "text has `len(tokenizer.encode(CHANGE_TEXT))` tokens).")

    def ids(self):
        return self.ctx.tokenizer.encode(CHANGE_TEXT)

    def expected(self):
        # Measured on the model rather than derived: the two texts differ in one token only.
        framework = default_framework()
        ids = self.ids()
        changed = list(ids)
        changed[CHANGED_POSITION] = self.ctx.tokenizer.encode(NEW_TOKEN)[0]
        model = self.ctx.model(framework)
        before, after = (forward_logits(model, framework, tuple(t)) for t in (ids, changed))
        return [int(t) for t in np.flatnonzero(np.abs(before - after).max(axis=-1) > 1e-4)]

    def normalise(self, answer):
        if isinstance(answer, list) and all(isinstance(a, int) for a in answer):
            return sorted(set(answer))
        return answer

    @mistake("Every position? Attention is not free to look anywhere: the causal mask stops each "
             "position from seeing the positions after it, so the earlier logits cannot move.")
    def every_position(self):
        return list(range(len(self.ids())))

    @mistake("Only the changed position? Later positions attend to it, so their logits move too.")
    def only_itself(self):
        return [CHANGED_POSITION]

    @mistake("That is backwards: the positions *before* the change cannot see it; the ones after can.")
    def only_before(self):
        return list(range(CHANGED_POSITION + 1))

    @mistake(f"Position {CHANGED_POSITION} sees its own token: its logits change too.")
    def only_after(self):
        return list(range(CHANGED_POSITION + 1, len(self.ids())))


class TiedLogits(ValueProblem):
    id = "lesson2.q5"
    var = "tied_logits"
    framework = "pt"
    rtol, atol = 1e-3, 1e-3
    hints = ("GPT-2 has no separate output matrix: the scores of the next token compare the last "
             "hidden state with every row of the token embedding table.",
             "Two steps: the final layer norm `model.transformer.ln_f`, then a product with the "
             "embedding matrix `model.transformer.wte.weight` ([vocab, n_embd]) transposed, which "
             "gives one score per vocabulary entry. Keep the last position.",
             "```\nwith torch.no_grad():\n    normed = ...                 # final layer norm of final_hidden\n"
             "    tied_logits = normed[-1] @ ...   # [vocab]\n```")

    def io(self):
        return pt_layer0_io(self.ctx.model("pt"), tuple(self.ctx.tokenizer.encode(TIED_TEXT)))

    def expected(self):
        return self.io()["logits"][-1]

    def normalise(self, answer):
        return without_batch(answer, ndim=1)

    def wte(self):
        return self.ctx.model("pt").transformer.wte.weight.detach().numpy().astype(np.float64)

    @mistake("The final layer norm is missing: GPT-2 normalises the last block's output (ln_f) "
             "before the LM head.")
    def no_final_norm(self):
        return self.io()["final_hidden"][-1] @ self.wte().T

    @mistake("Those are probabilities: the LM head gives logits; a softmax would come after it.")
    def probabilities(self):
        logits = self.expected().astype(np.float64)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()

    @mistake("That is the first position's row; the next token after the text is scored at the "
             "last position, `[-1]`.")
    def first_position(self):
        return self.io()["logits"][0]


qvars = bind_exercises(globals(), [FirstHiddenState, AttentionHead, AttentionTensorFlow, WhatTheMaskHides,
                                   TiedLogits])
__all__ = qvars + ["EMBED_TEXT", "CHANGE_TEXT", "CHANGED_POSITION", "NEW_TOKEN", "TIED_TEXT", "____"]
