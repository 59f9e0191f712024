"""Lesson 3 — next-token probabilities: the exercises and their checks.

Every expected value is computed at check time with the reference implementation on the model
the notebook uses (whichever framework is already loaded), never stored here.
"""
import numpy as np

from course_utils.checking import FunctionProblem, ValueProblem, bind_exercises, call_student, mistake, ____  # noqa: F401
from course_utils.checking.context import default_framework
from course_utils.checking.numeric import softmax
from course_utils.checking.reference_cache import next_token_logits
from course_utils.lessons.lesson3_batch import NextTokenDistribution, right_padded_batch

PREFIX_PROMPT = "The quick brown fox jumps over the lazy"
RATIO_PREFIX = "To be, or not to"
RATIO_TOKENS = (" be", " do")


def logits_rows(ctx, text: str, framework: str | None = None) -> np.ndarray:
    """Logits after every prefix of ``text``, shape (seq_len, vocab_size), float64: row t is the
    reference's ``next_token_logits`` for the first t + 1 tokens, in ``framework`` (by default the
    framework already loaded)."""
    framework = framework or default_framework()
    model, ids = ctx.model(framework), tuple(ctx.tokenizer.encode(text))
    return np.stack([next_token_logits(model, framework, ids[: n + 1]) for n in range(len(ids))]).astype(np.float64)


class ArgmaxPerPrefix(ValueProblem):
    id = "lesson3.q1"
    var = "predicted_ids"
    values_are_tokens = True   # the last-resort message shows ids with their text
    hints = ("Each row of the logits is the model's guess for the token after one prefix; the best "
             "guess is the row's largest score.",
             'Drop the batch axis (there is one text), then take the argmax over the *last* axis, '
             'the vocabulary: one id per row, in order.',
             '`predicted_ids = prompt_logits[...].argmax(dim=...)`: the index of the one text, and '
             "the vocabulary's axis.")

    def expected(self):
        return logits_rows(self.ctx, PREFIX_PROMPT).argmax(-1).tolist()

    def normalise(self, answer):
        if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
            return answer[0]  # a batch of one, shape [1, seq]: judge the row it holds
        return answer

    @mistake("Those are the prompt's own token ids: the predictions are the argmax of the logits.")
    def prompt_ids(self):
        return self.ctx.tokenizer.encode(PREFIX_PROMPT)

    @mistake("Those are the tokens that really follow each prefix; the exercise asks what the model "
             "predicts there: the argmax of each row.")
    def following_ids(self):
        return self.ctx.tokenizer.encode(PREFIX_PROMPT)[1:]

    @mistake("One row short: the last row (the whole prompt) predicts a next token too. Keep every "
             "row, in order.")
    def last_row_dropped(self):
        return self.expected()[:-1]

    @mistake("One row short and shifted: the first row (the prediction after the first token) "
             "counts too. Keep every row, in order.")
    def first_row_dropped(self):
        return self.expected()[1:]

    def diagnose(self, answer, expected):
        if isinstance(answer, list) and len(answer) == len(self.ctx.tokenizer) != len(expected):
            return ("That has one entry per vocabulary token: the argmax ran over the sequence axis. "
                    "Take it over the last axis (the vocabulary), which leaves one id per position."
                    + self.hint_pointer())
        return None


class ProbabilityRatio(ValueProblem):
    id = "lesson3.q2"
    var = "ratio"
    rtol = 1e-3
    hints = ("Softmax the row of the logits that follows the whole prefix, then divide one token's "
             "probability by the other's.",
             "Run the model on the prefix, take the *last* position's logits, softmax over the "
             'vocabulary; the ids of `" be"` and `" do"` come from `tokenizer.encode`, leading '
             'space included.',
             '```\nwith torch.no_grad():\n    logits = model(**tokenizer(ratio_prefix, '
             'return_tensors="pt")).logits\nprobs = torch.softmax(logits[0, ...], dim=-1)\nbe_id, '
             'do_id = tokenizer.encode(" be")[0], ...\nratio = (probs[...] / '
             'probs[...]).item()\n```')

    def logits(self) -> np.ndarray:
        return logits_rows(self.ctx, RATIO_PREFIX)[-1]          # (vocab_size,)

    def ids(self, strip=False) -> list[int]:
        return [self.ctx.tokenizer.encode(t.strip() if strip else t)[0] for t in RATIO_TOKENS]

    def expected(self):
        probs, (be, do) = softmax(self.logits()), self.ids()
        return float(probs[be] / probs[do])

    @mistake("Your ratio is upside down: P(' be') goes on top.")
    def upside_down(self):
        probs, (be, do) = softmax(self.logits()), self.ids()
        return float(probs[do] / probs[be])

    @mistake("That is a ratio of logits; turn them into probabilities with softmax first.")
    def logits_ratio(self):
        logits, (be, do) = self.logits(), self.ids()
        return float(logits[be] / logits[do])

    @mistake("That is the difference of the two logits, the *logarithm* of the ratio: take its "
             "exponential.")
    def logit_difference(self):
        logits, (be, do) = self.logits(), self.ids()
        return float(logits[be] - logits[do])

    @mistake("That is a difference of probabilities, not a ratio.")
    def difference(self):
        probs, (be, do) = softmax(self.logits()), self.ids()
        return float(probs[be] - probs[do])

    @mistake("Those are the tokens without their leading space ('be', 'do'); after a word GPT-2 "
             "expects ' be' and ' do'.")
    def no_space(self):
        probs, (be, do) = softmax(self.logits()), self.ids(strip=True)
        return float(probs[be] / probs[do])


def log_softmax(rows: np.ndarray) -> np.ndarray:
    """Log-probabilities of each row of logits, float64 (stable: the row's maximum is taken out)."""
    shifted = rows - rows.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class ContinuationLogprobTensorFlow(FunctionProblem):
    """``continuation_logprob_tf(model, prefix_ids, continuation_ids)``: log P(continuation | prefix).

    The chain rule of section 2 in TensorFlow: one forward pass over prefix + continuation; the
    continuation's token j is scored by the row of the position just before it.
    """

    id = "lesson3.q4"
    var = "continuation_logprob_tf"
    framework = "tf"
    public_probes = [{"prefix": "Machine learning with TensorFlow can", "continuation": " be used to"},
                     {"prefix": "To be, or not to", "continuation": " be, that is"}]
    hidden_probes = [{"prefix": "The quick brown fox", "continuation": " jumps"},
                     {"prefix": "Hello", "continuation": " world, how are you"}]
    rtol, atol = 1e-3, 1e-3
    hints = ("The chain rule: the log-probability of the continuation is a sum, one log-probability per "
             "continuation token, each read from the row that predicts it.",
             "Run the model once on prefix + continuation; row `t` of the logits predicts token `t + 1`, "
             "so the continuation's tokens are predicted by the rows from the prefix's last position up "
             "to the one before the end. Turn those rows into log-probabilities and pick each token's.",
             "```\nids = list(prefix_ids) + list(continuation_ids)\nlogits = model(tf.constant([ids]))"
             ".logits[0]          # [len(ids), vocab_size]\nrows = logits[...]                        "
             "          # which rows predict the continuation?\nlog_probs = ...                          "
             "  # log-probabilities of each row\npicked = tf.gather(log_probs, continuation_ids, axis=1, "
             "batch_dims=1)\nreturn float(tf.reduce_sum(picked))\n```")

    def run_probe(self, function, spec):
        tokenizer = self.ctx.tokenizer
        return call_student(function, self.ctx.model("tf"), tokenizer.encode(spec["prefix"]),
                            tokenizer.encode(spec["continuation"]))

    def ids(self, spec) -> tuple[list[int], list[int]]:
        return self.ctx.tokenizer.encode(spec["prefix"]), self.ctx.tokenizer.encode(spec["continuation"])

    def rows(self, spec) -> np.ndarray:
        """Logits after every prefix of prefix + continuation, (seq_len, vocab_size), TensorFlow."""
        prefix, continuation = self.ids(spec)
        ids = tuple(prefix + continuation)
        model = self.ctx.model("tf")
        return np.stack([next_token_logits(model, "tf", ids[: n + 1]) for n in range(len(ids))]).astype(np.float64)

    def scored(self, spec, rows: np.ndarray, first_row: int) -> np.ndarray:
        """Each continuation token's value in ``rows``, read from row ``first_row + j`` for token j."""
        _, continuation = self.ids(spec)
        return np.array([rows[first_row + j, token] for j, token in enumerate(continuation)
                         if first_row + j < len(rows)])

    def expected(self, spec):
        prefix, _ = self.ids(spec)
        return float(self.scored(spec, log_softmax(self.rows(spec)), len(prefix) - 1).sum())

    def wrong_form(self, answer, spec):
        if isinstance(answer, list):
            return ("`continuation_logprob_tf` should return one number, the sum over the continuation's "
                    "tokens, not one value per token.")
        return None

    @mistake("Each token is scored by the row *before* it (row t predicts token t + 1); you read each "
             "token's log-probability from its own row.")
    def own_row(self, spec):
        prefix, continuation = self.ids(spec)
        rows = log_softmax(self.rows(spec))
        return float(self.scored(spec, rows, len(prefix)).sum()) if len(prefix) + len(continuation) <= len(rows) else None

    @mistake("That is the probability itself, a product; the exercise asks for its logarithm, the sum "
             "of the tokens' log-probabilities.")
    def probability(self, spec):
        return float(np.exp(self.expected(spec)))

    @mistake("Those are raw logits summed; turn each row into log-probabilities (a log-softmax over the "
             "vocabulary) before you pick the tokens.")
    def raw_logits(self, spec):
        prefix, _ = self.ids(spec)
        return float(self.scored(spec, self.rows(spec), len(prefix) - 1).sum())

    @mistake("You scored only the first token of the continuation; the chain rule has one factor per "
             "token, so add them all.")
    def first_token_only(self, spec):
        prefix, _ = self.ids(spec)
        return float(self.scored(spec, log_softmax(self.rows(spec)), len(prefix) - 1)[0])

    @mistake("That is the average log-probability per token; the continuation's log-probability is "
             "the sum.")
    def mean(self, spec):
        prefix, _ = self.ids(spec)
        return float(self.scored(spec, log_softmax(self.rows(spec)), len(prefix) - 1).mean())

    @mistake("You scored the prefix's tokens too; the prefix is given: score only the continuation.")
    def prefix_too(self, spec):
        prefix, continuation = self.ids(spec)
        rows, ids = log_softmax(self.rows(spec)), prefix + continuation
        return float(sum(rows[t, ids[t + 1]] for t in range(len(ids) - 1)))

    def describe_probe(self, spec):
        return f"the prefix {spec['prefix']!r} and the continuation {spec['continuation']!r}"


qvars = bind_exercises(globals(), [ArgmaxPerPrefix, ProbabilityRatio, NextTokenDistribution,
                                   ContinuationLogprobTensorFlow])
__all__ = qvars + ["right_padded_batch", "____"]
