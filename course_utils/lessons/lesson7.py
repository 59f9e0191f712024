"""Lesson 7 — choosing and judging a decoding strategy: the exercises and their checks.

Expected values are computed at check time on the model the notebook uses, in float64 numpy from
the model's own logits (``next_token_logits``, ``forward_logits``); the named mistakes are the same
computations with one classic slip. The filters reuse lesson 5's ``FilterProblem``
(``logits_problems``): the student's function sees the logits of the ``SUBSET`` likeliest tokens,
so the recorded answers stay small.
The helpers the notebook draws with live in ``lesson7_tools``. The capstone (q5, ``my_generate``
equals ``generate()``) is declared in ``lesson7_capstone`` on ``lesson7_generate``; distinct-n and the
strategy choice (q6, q7) in ``lesson7_choose`` on the measurements of ``lesson7_measure``.
"""
import math

import numpy as np

from course_utils.checking import FunctionProblem, bind_exercises, call_student, mistake, ____  # noqa: F401
from course_utils.checking.numeric import log_softmax, softmax
from course_utils.checking.reference_cache import forward_logits
from course_utils.lessons.logits_problems import FilterProblem, LogitsProblem
from course_utils.lessons.lesson7_tools import (min_p_keep, per_token_probs, repeated_ngram_share,
                                                 repetition_penalty_numpy)
from course_utils.lessons.lesson7_capstone import MyGenerate
from course_utils.lessons.lesson7_generate import negative_logits
from course_utils.lessons.lesson7_choose import ChooseStrategies, DistinctN
from course_utils.lessons.lesson7_choose import measured as strategy_table   # once per model: q7 reuses it
from course_utils.lessons.lesson7_measure import RULES, STRATEGIES, TASKS, as_frame, pick
from course_utils.reference.framework_free import banned_ngram_tokens

LN2 = math.log(2.0)


# -- q1: entropy of a next-token distribution (TensorFlow) ------------------------------------------
class EntropyTensorFlow(LogitsProblem):
    """``entropy_tf(logits)``: the entropy, in nats, of softmax(logits); logits shape (vocab_size,)."""

    id = "lesson7.q1"
    var = "entropy_tf"
    framework = "tf"
    subset = False                  # the whole distribution: the answer is one number
    public_probes = [{"prompt": "The function returns"}, {"prompt": "In the future"}]
    hidden_probes = [{"prompt": "My lord, the king"}, {"prompt": "A list is"}]
    rtol, atol = 1e-4, 1e-4
    hints = ("Entropy is the average surprise, H = -sum_v p_v log p_v: weight each token's "
             "surprise -log p_v by its probability p_v and add up. Use the natural log (nats).",
             "Turn the logits into log-probabilities with `tf.nn.log_softmax` (stable, unlike "
             "`tf.math.log(tf.nn.softmax(...))` where a probability underflows to 0), the "
             "probabilities with `tf.exp` of those, multiply, sum over the vocabulary, negate.",
             "```python\ndef entropy_tf(logits):\n    log_probs = tf.nn.log_softmax(logits, axis=-1)\n"
             "    probs = ...\n    return float(-tf.reduce_sum(...))\n```")

    def run_probe(self, function, spec):
        return call_student(function, self.logits(spec))

    def expected(self, spec):
        log_probs = log_softmax(self.numpy_logits(spec).astype(np.float64))
        return float(-(np.exp(log_probs) * log_probs).sum())

    def wrong_form(self, answer, spec):
        if isinstance(answer, list) and len(answer) == 1:
            return None
        if not isinstance(answer, (int, float)):
            return "`entropy_tf` should return one number (a float or a scalar tensor)"
        return None

    def normalise(self, answer):
        return answer[0] if isinstance(answer, list) and len(answer) == 1 else answer

    @mistake("That is the entropy in bits (log base 2); this lesson measures it in nats (natural log), "
             "as `log_softmax` does.")
    def bits(self, spec):
        return self.expected(spec) / LN2

    @mistake("The sign is wrong: log p <= 0, so H = -sum p log p is never negative.")
    def negated(self, spec):
        return -self.expected(spec)

    @mistake("You weighted the raw logits instead of the log-probabilities: normalise with "
             "`tf.nn.log_softmax` first (logits are not log-probabilities).")
    def logits_not_normalised(self, spec):
        logits = self.numpy_logits(spec).astype(np.float64)
        return float(-(softmax(logits) * logits).sum())

    @mistake("Each surprise -log p must be weighted by its probability p: you added them up unweighted.")
    def unweighted(self, spec):
        return float(-log_softmax(self.numpy_logits(spec).astype(np.float64)).sum())

    @mistake("That is a mean over the vocabulary; entropy is a *sum* over it (the probabilities do "
             "the weighting).")
    def mean(self, spec):
        return self.expected(spec) / self.numpy_logits(spec).size


# -- q2: perplexity of a continuation (PyTorch) -------------------------------------------------------
class PerplexityPyTorch(FunctionProblem):
    """``perplexity_pt(model, ids, input_len)``: exp(mean negative log-likelihood of ids[input_len:])."""

    id = "lesson7.q2"
    var = "perplexity_pt"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = ("course_utils.lessons.lesson7_measure.perplexities",)
    framework = "pt"
    public_probes = [{"text": "The function returns the value of the object.", "input_len": 3}]
    hidden_probes = [{"text": "My lord, the king is dead.", "input_len": 4},
                     {"text": "In the future, the world will be a better place.", "input_len": 1}]
    rtol, atol = 1e-4, 1e-4
    hints = ("Perplexity is exp of the *average* negative log-probability of the scored tokens: "
             "here the tokens after the prompt, `ids[input_len:]`, each given everything before it.",
             "One forward pass gives the logits; row t scores token t + 1, so pair `log_softmax(logits[0, :-1])` "
             "with `ids[1:]` (lesson 6), keep the entries from `input_len - 1` on, average, negate, exp.",
             "```python\nwith torch.no_grad():\n    logits = model(torch.tensor([ids])).logits[0]\n"
             "log_probs = torch.log_softmax(logits[:-1], dim=-1)\n"
             "token_log_probs = log_probs.gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]\n"
             "scored = token_log_probs[...]\nreturn float(torch.exp(...))\n```")

    def run_probe(self, function, spec):
        return call_student(function, self.ctx.model("pt"), self.ctx.tokenizer.encode(spec["text"]),
                            spec["input_len"])

    def token_log_probs(self, spec):
        """Entry j scores token j + 1 given tokens 0..j: shape (len(ids) - 1,), float64."""
        ids = self.ctx.tokenizer.encode(spec["text"])
        log_probs = log_softmax(forward_logits(self.ctx.model("pt"), "pt", tuple(ids)).astype(np.float64))
        return log_probs[np.arange(len(ids) - 1), ids[1:]]

    def scored(self, spec):
        return self.token_log_probs(spec)[spec["input_len"] - 1:]

    def expected(self, spec):
        return float(np.exp(-self.scored(spec).mean()))

    def normalise(self, answer):
        return answer[0] if isinstance(answer, list) and len(answer) == 1 else answer

    @mistake("That is the mean negative log-likelihood (the cross-entropy): perplexity is its exp.")
    def no_exp(self, spec):
        return float(-self.scored(spec).mean())

    @mistake("Your average includes the prompt's tokens: score only the continuation, `ids[input_len:]`.")
    def prompt_counted(self, spec):
        return None if spec["input_len"] == 1 else float(np.exp(-self.token_log_probs(spec).mean()))

    @mistake("The sign is wrong: perplexity is exp of the *negative* mean log-probability (it is >= 1).")
    def sign(self, spec):
        return float(np.exp(self.scored(spec).mean()))

    @mistake("You divided by the number of tokens of the whole text: average over the scored tokens only.")
    def wrong_count(self, spec):
        return float(np.exp(-self.scored(spec).sum() / len(self.ctx.tokenizer.encode(spec["text"]))))

    @mistake("That is exp of the *sum*, not of the mean: perplexity averages per token, so that long "
             "and short texts compare.")
    def summed(self, spec):
        return float(np.exp(-self.scored(spec).sum()))

    def describe_probe(self, spec):
        return f"{spec['text']!r} with input_len={spec['input_len']}"


# -- q3: the min-p filter (PyTorch) ---------------------------------------------------------------------
class MinP(FilterProblem):
    """``min_p_filter(logits, min_p)``: keep tokens with probability >= min_p x the top probability."""

    id = "lesson7.q3"
    var = "min_p_filter"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "course_utils.lessons.lesson7_generate.min_p",
        "course_utils.lessons.lesson7_tools.min_p_keep",
        "transformers.generation.logits_process.MinPLogitsWarper.__call__",
    )
    framework = "pt"
    param = "min_p"
    public_probes = [{"prompt": "In the future", "min_p": 0.1}, {"prompt": "My lord, the king", "min_p": 0.05}]
    hidden_probes = [{"prompt": "The function returns", "min_p": 0.2}, {"prompt": "A list is", "min_p": 0.02}]
    hints = ("min-p scales its bar with the model's confidence: a token stays if its probability is at "
             "least `min_p` times the probability of the most likely token. Confident step, few tokens; "
             "flat step, many.",
             "Softmax the logits, take the largest probability, and set the logits of the tokens below "
             "`min_p * top_probability` to `float('-inf')`; the others stay as they are.",
             "```python\nprobs = torch.softmax(logits, dim=-1)\nthreshold = min_p * ...\n"
             "return torch.where(probs >= threshold, logits, ...)\n```")

    def expected(self, spec):
        return self.keeping(spec, min_p_keep(self.numpy_logits(spec), spec["min_p"]))

    @mistake("Your bar is `min_p` itself; min-p compares with `min_p` *times the top probability*.")
    def absolute(self, spec):
        probs = softmax(self.numpy_logits(spec).astype(np.float64))
        return self.keeping(spec, probs >= spec["min_p"])

    @mistake("You removed the likely tokens and kept the unlikely ones: keep tokens *at or above* the bar.")
    def inverted(self, spec):
        return self.keeping(spec, ~min_p_keep(self.numpy_logits(spec), spec["min_p"]))

    @mistake("You compared logits with `min_p` times the top logit; compare *probabilities* (softmax first).")
    def on_logits(self, spec):
        logits = self.numpy_logits(spec).astype(np.float64)
        return self.keeping(spec, logits >= spec["min_p"] * logits.max())


# -- q4: the repetition penalty (TensorFlow) -------------------------------------------------------------
class RepetitionPenaltyTensorFlow(LogitsProblem):
    """``repetition_penalty_tf(logits, input_ids, penalty)``: as transformers' RepetitionPenaltyLogitsProcessor."""

    id = "lesson7.q4"
    var = "repetition_penalty_tf"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "course_utils.lessons.lesson7_tools.repetition_penalty_numpy",
        "course_utils.lessons.lesson7_generate.penalise",
        "transformers.generation.logits_process.RepetitionPenaltyLogitsProcessor.__call__",
    )
    framework = "tf"
    public_probes = [{"prompt": "The function returns the value of the function", "penalty": 1.5},
                     {"logits": [2.0, -1.0, 0.5, -3.0, 4.0, 0.0], "input_ids": [0, 1, 1, 5], "penalty": 2.0}]
    hidden_probes = [{"prompt": "My lord, the king, the king is dead", "penalty": 1.2},
                     {"logits": [1.0, 3.0, -2.0, -0.5], "input_ids": [3, 1], "penalty": 0.5}]
    atol = 1e-5
    hints = ("Only tokens already in `input_ids` are penalised, each once however often it appeared; a "
             "penalty > 1 must make each of them *less* likely, whatever the sign of its logit.",
             "Build a boolean mask of the seen tokens over the vocabulary, then use `tf.where` twice: "
             "positive logits are divided by the penalty, negative ones multiplied by it.",
             "```python\nvocab = tf.range(tf.shape(logits)[-1])\n"
             "seen = tf.reduce_any(vocab[:, None] == input_ids[None, :], axis=1)\n"
             "penalised = tf.where(logits > 0, ..., ...)\nreturn tf.where(seen, penalised, logits)\n```")

    def inputs(self, spec):
        """(logits, input_ids) as numpy: a probe's own, or the model's over the SUBSET likeliest tokens
        after the prompt, with the prompt's tokens found there as input_ids (positions in that subset)."""
        if "logits" in spec:
            return np.asarray(spec["logits"], np.float32), np.asarray(spec["input_ids"], np.int32)
        subset = self.subset_ids(spec)
        where = {int(t): i for i, t in enumerate(subset)}
        ids = [where[t] for t in self.ctx.tokenizer.encode(spec["prompt"]) if t in where]
        return self.numpy_logits(spec), np.asarray(ids, np.int32)

    def run_probe(self, function, spec):
        import tensorflow as tf

        logits, ids = self.inputs(spec)
        return call_student(function, tf.constant(logits), tf.constant(ids), spec["penalty"])

    def penalised(self, spec, **slip):
        logits, ids = self.inputs(spec)
        return repetition_penalty_numpy(logits, ids, spec["penalty"], **slip).tolist()

    def expected(self, spec):
        return self.penalised(spec)

    @mistake("Dividing a *negative* logit by a penalty > 1 raises it (toward 0): multiply negative "
             "logits, divide positive ones.")
    def always_divided(self, spec):
        return self.penalised(spec, slip="divide")

    @mistake("Multiplying a *positive* logit by a penalty > 1 raises it: divide positive logits, "
             "multiply negative ones.")
    def always_multiplied(self, spec):
        return self.penalised(spec, slip="multiply")

    @mistake("You penalised every token of the vocabulary; only the tokens in `input_ids` are penalised.")
    def everything(self, spec):
        return self.penalised(spec, slip="everything")

    @mistake("A token is penalised once, however often it appeared (transformers does not compound "
             "the penalty per occurrence).")
    def per_occurrence(self, spec):
        return self.penalised(spec, slip="per_occurrence")

    def describe_probe(self, spec):
        if "logits" in spec:
            return f"logits={spec['logits']}, input_ids={spec['input_ids']}, penalty={spec['penalty']}"
        return (f"the logits of the 512 likeliest tokens after {spec['prompt']!r} (the prompt's tokens "
                f"among them as input_ids), penalty={spec['penalty']}")


qvars = bind_exercises(globals(), [EntropyTensorFlow, PerplexityPyTorch, MinP, RepetitionPenaltyTensorFlow,
                                   MyGenerate, DistinctN, ChooseStrategies])
__all__ = qvars + ["____", "per_token_probs", "repeated_ngram_share", "banned_ngram_tokens", "negative_logits",  # not the
                   "TASKS", "STRATEGIES", "RULES", "strategy_table", "as_frame", "pick"]    # references of q3..q6
