"""Lesson 2 — next-token probabilities: the exercises and their checks.

Every expected value is computed at check time with the reference implementation on the model
the notebook uses (whichever framework is already loaded), never stored here.
"""
import numpy as np

from course_utils.checking import FunctionProblem, ValueProblem, bind_exercises, call_student, ____  # noqa: F401
from course_utils.checking.figures import bars_figure, with_figure
from course_utils.checking.numeric import softmax

LESSON = "lesson2"
PREFIX_PROMPT = "The quick brown fox jumps over the lazy"
RATIO_PREFIX = "To be, or not to"
RATIO_TOKENS = (" be", " do")


def _logits_rows(ctx, text: str) -> np.ndarray:
    """Logits for every position of ``text``, shape (seq_len, vocab_size), as float64 numpy."""
    ref = ctx.ref()
    ids = ctx.tokenizer.encode(text)
    rows = [np.asarray(ref.next_token_logits(ctx.model(), ids[: n + 1]), dtype=np.float64)
            for n in range(len(ids))]
    return np.stack(rows)


class ArgmaxPerPrefix(ValueProblem):
    var = "predicted_ids"
    hints = ("The logits have shape [batch, seq, vocab]: row `t` scores the token that follows the "
             "first t+1 tokens. Take the argmax over the vocabulary axis.",
             "`prompt_logits[0].argmax(dim=-1)` in PyTorch (`tf.argmax(logits[0], axis=-1)` if your "
             "logits come from the TensorFlow model).")
    solution_code = "predicted_ids = prompt_logits[0].argmax(dim=-1)   # one id per position"

    def expected(self):
        return _logits_rows(self.ctx, PREFIX_PROMPT).argmax(-1).tolist()

    def compare_with_expected(self, answer, expected, variants):
        from course_utils.checking.verdict import incorrect

        if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
            answer = answer[0]  # a batch of one, shape [1, seq]: judge the row it holds
        if isinstance(answer, list) and len(answer) == len(self.ctx.tokenizer) != len(expected):
            return incorrect("That has one entry per vocabulary token: the argmax ran over the "
                             "sequence axis. Take it over the last axis (the vocabulary), which "
                             "leaves one id per position." + self._hint_pointer())
        return super().compare_with_expected(answer, expected, variants)

    def wrong_variants(self):
        ids = self.ctx.tokenizer.encode(PREFIX_PROMPT)
        best = self.expected()
        return {"Those are the prompt's own token ids: the predictions are the argmax of the logits.": ids,
                "Those are the tokens that really follow each prefix; the exercise asks what the model "
                "predicts there: the argmax of each row.": ids[1:],
                "One row short: the last row (the whole prompt) predicts a next token too. Keep every "
                "row, in order.": best[:-1],
                "One row short and shifted: the first row (the prediction after the first token) "
                "counts too. Keep every row, in order.": best[1:]}


class ProbabilityRatio(ValueProblem):
    var = "ratio"
    rtol = 1e-3
    hints = (f"Softmax the last row of the logits for {RATIO_PREFIX!r}, then divide the probability of "
             f"{RATIO_TOKENS[0]!r} by that of {RATIO_TOKENS[1]!r} (ids from `tokenizer.encode`).",
             "Mind the leading space: ' be' is one token, different from 'be'.")
    solution_code = ("with torch.no_grad():\n"
                     "    ratio_logits = model(**tokenizer(ratio_prefix, return_tensors='pt')).logits\n"
                     "ratio_probs = torch.softmax(ratio_logits[0, -1], dim=-1)\n"
                     "be_id, do_id = tokenizer.encode(' be')[0], tokenizer.encode(' do')[0]\n"
                     "ratio = (ratio_probs[be_id] / ratio_probs[do_id]).item()")

    def _probs(self):
        return softmax(_logits_rows(self.ctx, RATIO_PREFIX)[-1])

    def _ids(self):
        return [self.ctx.tokenizer.encode(t)[0] for t in RATIO_TOKENS]

    def expected(self):
        probs, (be, do) = self._probs(), self._ids()
        return float(probs[be] / probs[do])

    def wrong_variants(self):
        probs, (be, do) = self._probs(), self._ids()
        logits = _logits_rows(self.ctx, RATIO_PREFIX)[-1]
        no_space = [self.ctx.tokenizer.encode(t.strip())[0] for t in RATIO_TOKENS]
        return {"Your ratio is upside down: P(' be') goes on top.": float(probs[do] / probs[be]),
                "That is a ratio of logits; turn them into probabilities with softmax first.":
                    float(logits[be] / logits[do]),
                "That is a difference of probabilities, not a ratio.": float(probs[be] - probs[do]),
                "Those are the tokens without their leading space ('be', 'do'); after a word GPT-2 "
                "expects ' be' and ' do'.": float(probs[no_space[0]] / probs[no_space[1]])}


class NextTokenDistribution(FunctionProblem):
    """``next_token_distribution(model, input_ids)`` in PyTorch: probabilities of the next token."""

    var = "next_token_distribution"
    framework = "pt"
    public_probes = ["The quick brown fox", "To be, or not to"]
    hidden_probes = ["Hello", "In the beginning was the"]
    rtol, atol = 1e-3, 1e-6
    hints = ("Run the model on `input_ids`, take the logits of the last position, apply softmax over "
             "the vocabulary.",
             "`torch.softmax(model(input_ids).logits[0, -1], dim=-1)`")
    solution_code = ("def next_token_distribution(model, input_ids):\n"
                     "    with torch.no_grad():\n"
                     "        logits = model(input_ids).logits      # [1, seq, vocab]\n"
                     "    return torch.softmax(logits[0, -1], dim=-1)")

    def run_probe(self, function, spec):
        import torch

        input_ids = torch.tensor([self.ctx.tokenizer.encode(spec)])
        return call_student(function, self.ctx.model("pt"), input_ids)

    def expected(self, spec):
        return softmax(_logits_rows(self.ctx, spec)[-1]).tolist()

    def wrong_variants(self, spec):
        rows = _logits_rows(self.ctx, spec)
        variants = {"Those are logits, not probabilities: apply softmax.": rows[-1].tolist(),
                    "Softmax ran over the sequence axis instead of the vocabulary axis.":
                        softmax(rows, axis=0)[-1].tolist()}
        if len(rows) > 1:
            variants["That is the distribution one position too early: use the last row, "
                     "`logits[0, -1]`."] = softmax(rows[-2]).tolist()
        return variants

    def describe_probe(self, spec):
        return f"the prompt {spec!r}"

    def judge(self, payload):
        return with_figure(super().judge(payload), lambda: self._comparison_figure(payload))

    def _comparison_figure(self, payload):
        """Bars of the reference's ten most likely tokens next to the student's values for them."""
        vocab_size = len(self.ctx.tokenizer)
        for probe in payload.get("probes") or []:
            answer = probe.get("answer")
            if probe.get("hidden") or not isinstance(answer, list) or len(answer) != vocab_size:
                continue
            yours = np.asarray(answer, dtype=np.float64)
            if yours.ndim != 1 or self.judge_probe(probe["spec"], answer) is None:
                continue
            return bars_figure(self.ctx.tokenizer, np.arange(vocab_size), np.asarray(self.expected(probe["spec"])),
                               yours, f"After {probe['spec']!r}: the reference's top 10 tokens", k=10,
                               ylabel="value for the next token")
        return None


qvars = bind_exercises(globals(), LESSON, [ArgmaxPerPrefix, ProbabilityRatio, NextTokenDistribution])
__all__ = qvars + ["____"]
