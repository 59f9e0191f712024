"""Lesson 3, exercise 3: the next-token distribution of every text of a right-padded batch.

Expected values are the reference's logits for each text alone (no padding), computed at check
time on the loaded model; the named mistakes run the model on the padded batch itself.
"""
import numpy as np

from course_utils.checking import FunctionProblem, call_student, mistake
from course_utils.checking.figures import bars_figure, with_figure
from course_utils.checking.numeric import softmax


def right_padded_batch(tokenizer, texts):
    """``(input_ids, attention_mask)``, PyTorch int64 tensors of shape [len(texts), longest]: each
    text's ids followed by ``<|endoftext|>`` as padding; the mask is 1 on real tokens, 0 on padding."""
    import torch

    rows = [tokenizer.encode(text) for text in texts]
    width, pad = max(len(row) for row in rows), tokenizer.eos_token_id
    input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows])
    attention_mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    return input_ids, attention_mask


class NextTokenDistribution(FunctionProblem):
    """``next_token_distribution(model, input_ids, attention_mask)`` in PyTorch: for each text of a
    right-padded batch, the probabilities of its next token, shape [batch, vocab_size]."""

    id = "lesson3.q3"
    var = "next_token_distribution"
    framework = "pt"
    public_probes = [["The quick brown fox", "To be, or not to"], ["Hello", "In the beginning was the"]]
    hidden_probes = [["Once upon a time there", "Hi", "The weather today is"], ["A single text, no padding"]]
    rtol, atol = 1e-3, 1e-6
    hints = ("Each text's next token is predicted in the row of its *own* last real token; in a "
             "padded batch that is not the last column for the shorter texts.",
             "Run the model once on the batch (the mask may go with it); from the mask, work out for "
             "each text the position of its last real token; take that row of each text's logits and "
             "softmax it over the vocabulary.",
             "```\nwith torch.no_grad():\n    logits = model(input_ids, attention_mask=attention_mask)"
             ".logits\nlast = ...   # [batch]: each text's last real position, from the mask\n"
             "rows = logits[torch.arange(len(last)), last]\nreturn torch.softmax(rows, dim=-1)\n```")

    def run_probe(self, function, spec):
        input_ids, attention_mask = right_padded_batch(self.ctx.tokenizer, spec)
        return call_student(function, self.ctx.model("pt"), input_ids, attention_mask)

    def last_logits(self, spec) -> np.ndarray:
        """[batch, vocab] float64: each text's logits after its last token, the text alone."""
        from course_utils.lessons.lesson3 import logits_rows

        return np.stack([logits_rows(self.ctx, text, "pt")[-1] for text in spec])

    def padded_logits(self, spec, masked: bool) -> np.ndarray:
        """[batch, seq_len, vocab] float64: the model on the padded batch, with or without the mask."""
        import torch

        input_ids, attention_mask = right_padded_batch(self.ctx.tokenizer, spec)
        with torch.no_grad():
            out = self.ctx.model("pt")(input_ids, attention_mask=attention_mask if masked else None)
        return out.logits.double().numpy()

    def lengths(self, spec) -> list[int]:
        return [len(self.ctx.tokenizer.encode(text)) for text in spec]

    def expected(self, spec):
        return softmax(self.last_logits(spec)).tolist()

    def wrong_form(self, answer, spec):
        if not isinstance(answer, list) or not answer or not isinstance(answer[0], list):
            return ("that is one vector: return one row of probabilities per text of the batch, "
                    "shape [batch, vocab_size]")
        if isinstance(answer[0][0], list):
            return ("that has a row for every position: keep only each text's last real position, "
                    "shape [batch, vocab_size]")
        return None

    @mistake("For the shorter texts the last column is padding: the prediction after a text sits in "
             "the row of its own last real token, which the attention mask tells you.")
    def last_column(self, spec):
        return softmax(self.padded_logits(spec, masked=True)[:, -1]).tolist()

    @mistake("For the shorter texts the last column is padding (here read without the mask): the "
             "prediction after a text sits in the row of its own last real token.")
    def last_column_unmasked(self, spec):
        return softmax(self.padded_logits(spec, masked=False)[:, -1]).tolist()

    @mistake("Those are logits, not probabilities: apply softmax over the vocabulary.")
    def logits(self, spec):
        return self.last_logits(spec).tolist()

    @mistake("Softmax ran over the sequence axis instead of the vocabulary axis.")
    def sequence_axis(self, spec):
        over_positions = softmax(self.padded_logits(spec, masked=True), axis=1)
        return [over_positions[i, n - 1].tolist() for i, n in enumerate(self.lengths(spec))]

    @mistake("That is each text's distribution one position too early: the last real token is at "
             "(number of real tokens) - 1, not - 2.")
    def one_row_early(self, spec):
        lengths = self.lengths(spec)
        if min(lengths) < 2:
            return None
        probs = softmax(self.padded_logits(spec, masked=True))
        return [probs[i, n - 2].tolist() for i, n in enumerate(lengths)]

    def describe_probe(self, spec):
        return f"the batch {spec!r}"

    def judge(self, payload):
        return with_figure(super().judge(payload), lambda: self.comparison_figure(payload))

    def comparison_figure(self, payload):
        """Bars of the reference's ten most likely tokens after the first text of the first wrong
        public batch, next to the student's values for them."""
        vocab_size = len(self.ctx.tokenizer)
        for probe in payload.get("probes") or []:
            answer = probe.get("answer")
            if probe.get("hidden") or self.wrong_form(answer, probe["spec"]) is not None:
                continue
            yours = np.asarray(answer[0], dtype=np.float64) if len(answer[0]) == vocab_size else None
            if yours is None or yours.ndim != 1 or self.judge_probe(probe["spec"], answer) is None:
                continue
            return bars_figure(self.ctx.tokenizer, np.arange(vocab_size), np.asarray(self.expected(probe["spec"])[0]),
                               yours, f"After {probe['spec'][0]!r}: the reference's top 10 tokens", k=10,
                               ylabel="value for the next token")
        return None
