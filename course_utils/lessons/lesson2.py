"""Lesson 2 — inside GPT-2, from ids to logits: the exercises and their checks.

Every expected value is read from the loaded model itself (its hidden states, layer 0's attention
through a hook or the TensorFlow model's ``attention_output``, its logits), never stored here;
the known mistakes are recomputed from the same layer's weights (``lesson2_layers``). The two
attention exercises, q2 and q3, are declared in ``lesson2_heads``.
"""
import numpy as np

from course_utils.checking import PredictionProblem, ValueProblem, bind_exercises, mistake, ____  # noqa: F401
from course_utils.checking.context import default_framework
from course_utils.checking.reference_cache import forward_logits
from course_utils.lessons.lesson2_heads import AttentionHead, AttentionTensorFlow, without_batch
from course_utils.lessons.lesson2_layers import pt_layer0_io

EMBED_TEXT = "Attention is all you need"
CHANGE_TEXT = "The cat sat on the mat and looked at the door"
CHANGED_POSITION, NEW_TOKEN = 5, " sofa"
TIED_TEXT = "The capital of France is"


class FirstHiddenState(ValueProblem):
    id = "lesson2.q1"
    var = "hidden_0"
    framework = "pt"
    answer_axes = ("position", "feature")
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
    answer_axes = ("token",)
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
