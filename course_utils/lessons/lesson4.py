"""Lesson 4 — sampling: the exercises and their checks.

Random answers are judged by invariants (shape, support), seeded reproducibility and a chi-square
goodness-of-fit test (``course_utils.checking.stats``), never by exact ids. Filters and
temperature are deterministic and compared with the references on the model's real logits.
"""
import numpy as np

from course_utils.checking import FunctionProblem, bind_exercises, call_student, ____  # noqa: F401
from course_utils.checking import stats

LESSON = "lesson4"
NUM_SAMPLES = 3000


def _softmax(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - logits[np.isfinite(logits)].max())
    return exp / exp.sum()


class LogitsProblem(FunctionProblem):
    """Probes are prompts; the student's function receives the model's next-token logits."""

    def logits(self, spec):
        ref = self.ctx.ref(self.framework)
        return ref.next_token_logits(self.ctx.model(self.framework), self.ctx.tokenizer.encode(spec["prompt"]))

    def numpy_logits(self, spec) -> np.ndarray:
        return np.asarray(self.logits(spec), dtype=np.float64)

    def describe_probe(self, spec):
        return ", ".join(f"{k}={v!r}" for k, v in spec.items())


class CategoricalTensorFlow(LogitsProblem):
    """``sample_tf(logits, num_samples, seed)``: ids drawn with ``tf.random.categorical``."""

    var = "sample_tf"
    framework = "tf"
    public_probes = [{"prompt": "The function returns"}]
    hidden_probes = [{"prompt": "My lord, the king"}]
    hints = ("`tf.random.categorical` takes *logits* of shape [batch, vocab] and returns ids of shape "
             "[batch, num_samples].",
             "`tf.random.categorical(logits[None, :], num_samples, seed=seed)[0]`; for a repeatable "
             "draw set `tf.random.set_seed(seed)` first, or use `tf.random.stateless_categorical`.")
    solution_code = ("def sample_tf(logits, num_samples, seed):\n"
                     "    return tf.random.stateless_categorical(logits[None, :], num_samples, seed=[seed, 0])[0]")

    def run_probe(self, function, spec):
        logits = self.logits(spec)
        first = call_student(function, logits, NUM_SAMPLES, 1234)
        if first is None:
            return None
        again = call_student(function, logits, NUM_SAMPLES, 1234)
        return {"samples": first, "again": again}

    def judge_probe(self, spec, answer):
        if not isinstance(answer, dict):
            return "`sample_tf` should return the sampled ids"
        samples = np.asarray(answer["samples"])
        if samples.shape != (NUM_SAMPLES,):
            return f"expected {NUM_SAMPLES} ids in a 1-D result, got shape {samples.shape}"
        if samples.dtype.kind not in "iu":
            return "sampled ids should be integers"
        probs = _softmax(self.numpy_logits(spec))
        if np.unique(samples).size == 1 and samples[0] == probs.argmax():
            return "every draw is the most likely token: that is greedy decoding, not sampling"
        if not stats.fits(samples, probs):
            if stats.fits(samples, np.full(probs.size, 1.0 / probs.size)):
                return "the draws look uniform over the vocabulary: pass the logits to the sampler"
            return (f"the draws do not follow softmax(logits) (chi-square p < {stats.ALPHA:g}); did you "
                    "pass probabilities where logits belong?")
        if np.asarray(answer["again"]).tolist() != samples.tolist():
            return "the same seed gave different draws: use the seed so the result is reproducible"
        return None


class Temperature(LogitsProblem):
    """``apply_temperature(logits, temperature)`` in PyTorch: logits scaled by the temperature."""

    var = "apply_temperature"
    framework = "pt"
    public_probes = [{"prompt": "In the future", "temperature": 0.5},
                     {"prompt": "In the future", "temperature": 2.0}]
    hidden_probes = [{"prompt": "The function returns", "temperature": 0.7}]
    hints = ("Temperature divides the logits before softmax: small T sharpens, large T flattens.",
             "`return logits / temperature`")
    solution_code = "def apply_temperature(logits, temperature):\n    return logits / temperature"

    def run_probe(self, function, spec):
        return call_student(function, self.logits(spec), spec["temperature"])

    def expected(self, spec):
        return np.asarray(self.ctx.ref("pt").apply_temperature(self.logits(spec), spec["temperature"]),
                          dtype=np.float64).tolist()

    def wrong_variants(self, spec):
        logits, t = self.numpy_logits(spec), spec["temperature"]
        return {"You multiplied by the temperature: divide, so that T < 1 sharpens.": (logits * t).tolist(),
                "Temperature was applied to probabilities (after softmax); apply it to the logits.":
                    (_softmax(logits) / t).tolist(),
                "That is the softmax of the scaled logits; return the scaled logits themselves.":
                    _softmax(logits / t).tolist()}


class TopP(LogitsProblem):
    """``top_p_filter(logits, p)`` in PyTorch: the nucleus, everything else set to -inf."""

    var = "top_p_filter"
    framework = "pt"
    public_probes = [{"prompt": "In the future", "p": 0.5}, {"prompt": "My lord, the king", "p": 0.9}]
    hidden_probes = [{"prompt": "The function returns", "p": 0.2}, {"prompt": "A list is", "p": 0.8}]
    hints = ("Sort the probabilities from most to least likely, accumulate them, and keep tokens until "
             "the running total reaches p — including the token that crosses p.",
             "Keep a token if the total *before* it is still below p; set the others' logits to "
             "`float('-inf')`.")
    solution_code = ("def top_p_filter(logits, p):\n"
                     "    probs, order = torch.sort(torch.softmax(logits, -1), descending=True)\n"
                     "    before = torch.cumsum(probs, -1) - probs\n"
                     "    drop = order[before >= p]\n"
                     "    filtered = logits.clone()\n"
                     "    filtered[drop] = float('-inf')\n"
                     "    return filtered")

    def run_probe(self, function, spec):
        return call_student(function, self.logits(spec).clone(), spec["p"])

    def expected(self, spec):
        return np.asarray(self.ctx.ref("pt").top_p_filter(self.logits(spec), spec["p"]),
                          dtype=np.float64).tolist()

    def wrong_variants(self, spec):
        logits = self.numpy_logits(spec)
        probs = _softmax(logits)
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        without_crosser = logits.copy()
        without_crosser[order[cumulative > spec["p"]]] = -np.inf
        zeroed = logits.copy()
        zeroed[np.isinf(np.asarray(self.expected(spec)))] = 0.0
        return {"The token that crosses p was dropped: keep it, the nucleus is the smallest set whose "
                "total reaches p.": without_crosser.tolist(),
                "Filtered logits should be -inf, not 0 (a logit of 0 still has probability).": zeroed.tolist()}


qvars = bind_exercises(globals(), LESSON, [CategoricalTensorFlow, Temperature, TopP])
__all__ = qvars + ["____"]
