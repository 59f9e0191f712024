"""Lesson 4 — sampling: the exercises and their checks.

Random answers are judged by invariants (shape, dtype, support), seeded reproducibility and a
chi-square goodness-of-fit test (``course_utils.checking.stats``), never by exact ids. Temperature
and the filters are deterministic: they are compared with the references on the model's real
logits, restricted to the ``SUBSET`` likeliest tokens so that the recorded answers stay small.
"""
import numpy as np

from course_utils.checking import FunctionProblem, bind_exercises, call_student, ____  # noqa: F401
from course_utils.checking import compare, stats
from course_utils.checking.figures import bars_figure, with_figure
from course_utils.checking.numeric import softmax

LESSON = "lesson4"
NUM_SAMPLES = 3000          # draws per probe: enough for the chi-square test, quick to record
SEED, OTHER_SEED = 1234, 4321
SUBSET = 512                # filter probes see the logits of this many likeliest tokens
TINY_WEIGHTS = [0.1, 0.2, 0.5, 0.3]   # the notebook's four-token vocabulary (random.choices)


class LogitsProblem(FunctionProblem):
    """Probes are prompts; the student's function receives next-token logits of ``self.framework``."""

    framework = "pt"
    subset = True   # filters and temperature: the SUBSET likeliest tokens, in id order

    def full_logits(self, spec) -> np.ndarray:
        ref = self.ctx.ref(self.framework)
        row = ref.next_token_logits(self.ctx.model(self.framework), self.ctx.tokenizer.encode(spec["prompt"]))
        return np.asarray(row, dtype=np.float32)

    def numpy_logits(self, spec) -> np.ndarray:
        row = self.full_logits(spec)
        if self.subset:
            row = row[np.sort(np.argsort(-row, kind="stable")[:SUBSET])]
        return row

    def logits(self, spec):
        """A fresh tensor of the framework (the student's function may modify it in place)."""
        row = self.numpy_logits(spec)
        if self.framework == "tf":
            import tensorflow as tf

            return tf.constant(row)
        import torch

        return torch.tensor(row)

    def describe_probe(self, spec):
        what = f"the logits of the {SUBSET} likeliest tokens after" if self.subset else "the logits after"
        rest = ", ".join(f"{k}={v!r}" for k, v in spec.items() if k != "prompt")
        return f"{what} {spec['prompt']!r}" + (f" with {rest}" if rest else "")


# -- q1: tf.random.categorical ------------------------------------------------------------------
class CategoricalTensorFlow(LogitsProblem):
    """``sample_tf(logits, num_samples, seed)``: ids drawn with ``tf.random.categorical``."""

    var = "sample_tf"
    framework = "tf"
    subset = False
    public_probes = [{"prompt": "The function returns"}]
    hidden_probes = [{"prompt": "My lord, the king"}]
    hints = ("`tf.random.categorical` takes *logits* of shape [batch, vocab_size] and returns ids of "
             "shape [batch, num_samples]: add a batch axis with `logits[None, :]`, take row 0 of the result.",
             "For a draw that the seed decides, call `tf.random.set_seed(seed)` just before "
             "`tf.random.categorical(logits[None, :], num_samples)[0]`.")
    solution_code = ("def sample_tf(logits, num_samples, seed):\n"
                     "    tf.random.set_seed(seed)\n"
                     "    return tf.random.categorical(logits[None, :], num_samples)[0]")

    def run_probe(self, function, spec):
        logits = self.logits(spec)
        first = call_student(function, logits, NUM_SAMPLES, SEED)
        if first is None:
            return None
        return {"samples": first, "again": call_student(function, self.logits(spec), NUM_SAMPLES, SEED),
                "other": call_student(function, self.logits(spec), NUM_SAMPLES, OTHER_SEED)}

    def judge_probe(self, spec, answer):
        probs = softmax(self.numpy_logits(spec))
        problem = judge_samples(answer, NUM_SAMPLES, probs, "`sample_tf`")
        if problem is not None:
            return problem
        if not stats.fits(answer["samples"], probs):
            flat = {"right": probs, "uniform": np.full(probs.size, 1.0 / probs.size),
                    "softmax(probs)": softmax(probs)}
            if stats.likeliest(answer["samples"], flat) != "right":
                return ("the draws look (nearly) uniform over the vocabulary: `tf.random.categorical` "
                        "wants logits; given probabilities (numbers between 0 and 1) it softmaxes them "
                        "again, which is almost flat. Pass the model's logits")
            return (f"the draws do not follow softmax(logits) (chi-square p < {stats.ALPHA:g}): pass the "
                    "logits themselves, unchanged")
        return judge_seeds(answer, "`sample_tf`")

    def judge(self, payload):
        return with_figure(super().judge(payload), lambda: self._figure(payload))

    def _figure(self, payload):
        for probe in payload.get("probes") or []:
            answer = probe.get("answer")
            if not probe.get("hidden") and isinstance(answer, dict) and _is_id_list(answer.get("samples")):
                probs = softmax(self.numpy_logits(probe["spec"]))
                return counts_figure(self.ctx.tokenizer, answer["samples"], probs, probe["spec"]["prompt"])
        return None


def judge_samples(answer, num_samples, probs, name):
    """Shape, dtype and support of a bag of sampled ids; None if they are fine, else what is wrong."""
    if not isinstance(answer, dict) or not isinstance(answer.get("samples"), list):
        return f"{name} should return the sampled ids (a tensor, array or list)"
    samples = np.asarray(answer["samples"])
    if samples.shape == (1, num_samples):
        return f"{name} returned shape (1, {num_samples}): take row 0 so that it is 1-D"
    if samples.shape != (num_samples,):
        return f"{name} should return {num_samples} ids in a 1-D result, not shape {samples.shape}"
    if samples.dtype.kind not in "iu":
        return "sampled ids should be integers (token ids), not floats"
    if samples.min() < 0 or samples.max() >= probs.size:
        return f"some ids are outside the vocabulary (0 to {probs.size - 1})"
    if np.any(probs[samples] <= 0):
        return "some draws are tokens of probability 0"
    if np.unique(samples).size == 1 and samples[0] == probs.argmax() and probs.max() < 0.99:
        return "every draw is the most likely token: that is greedy decoding, not sampling"
    return None


def judge_seeds(answer, name):
    """Same seed, same draws; another seed, other draws."""
    if not isinstance(answer.get("again"), list) or answer["again"] != answer["samples"]:
        return f"calling {name} twice with the same seed gave different draws: use the seed"
    if answer.get("other") == answer["samples"]:
        return f"{name} gave the same draws for two different seeds: the seed must decide the draws"
    return None


# -- q2: temperature ----------------------------------------------------------------------------
class Temperature(LogitsProblem):
    """``apply_temperature(logits, temperature)`` in PyTorch: the logits divided by the temperature."""

    var = "apply_temperature"
    framework = "pt"
    public_probes = [{"prompt": "In the future", "temperature": 0.5},
                     {"prompt": "In the future", "temperature": 2.0}]
    hidden_probes = [{"prompt": "The function returns", "temperature": 0.7},
                     {"prompt": "My lord, the king", "temperature": 1.5}]
    hints = ("Temperature acts on the logits, before softmax: small T sharpens, large T flattens.",
             "`return logits / temperature`")
    solution_code = "def apply_temperature(logits, temperature):\n    return logits / temperature"

    def run_probe(self, function, spec):
        return call_student(function, self.logits(spec), spec["temperature"])

    def expected(self, spec):
        ref = self.ctx.ref("pt")
        return np.asarray(ref.apply_temperature(self.logits(spec), spec["temperature"]), np.float64).tolist()

    def wrong_variants(self, spec):
        logits, t = self.numpy_logits(spec).astype(np.float64), spec["temperature"]
        return {"You multiplied by the temperature: divide, so that T < 1 sharpens.": (logits * t).tolist(),
                "Temperature was applied to probabilities (after softmax); apply it to the logits.":
                    (softmax(logits) / t).tolist(),
                "That is the softmax of the scaled logits; return the scaled logits themselves.":
                    softmax(logits / t).tolist()}

    def judge(self, payload):
        return with_figure(super().judge(payload), lambda: self._figure(payload))

    def _figure(self, payload):
        """The student's temperature-scaled distribution next to the reference's."""
        for probe in payload.get("probes") or []:
            answer, spec = probe.get("answer"), probe["spec"]
            if probe.get("hidden") or not _is_float_vector(answer, SUBSET):
                continue
            expected = softmax(self.expected(spec))
            yours = softmax(answer)
            return bars_figure(self.ctx.tokenizer, self._ids(spec), expected, yours,
                               f"After {spec['prompt']!r} at T = {spec['temperature']}: softmax of the result")
        return None

    def _ids(self, spec):
        row = self.full_logits(spec)
        return np.sort(np.argsort(-row, kind="stable")[:SUBSET])


# -- q3, q4: top-k and top-p --------------------------------------------------------------------
class FilterProblem(LogitsProblem):
    """A logits filter: kept entries unchanged, filtered ones -inf. Subclasses set ``param``."""

    param = ""

    def run_probe(self, function, spec):
        return call_student(function, self.logits(spec), spec[self.param])

    def expected(self, spec):
        ref = self.ctx.ref(self.framework)
        return np.asarray(self.reference(ref)(self.logits(spec), spec[self.param]), np.float64).tolist()

    def common_mistakes(self, spec, keep: np.ndarray) -> dict:
        """The right set of tokens, marked the wrong way."""
        logits = self.numpy_logits(spec).astype(np.float64)
        probs = softmax(logits)
        kept_probs = np.where(keep, probs, 0.0)
        return {"Filtered logits should be -inf, not 0 (a logit of 0 still has probability).":
                    np.where(keep, logits, 0.0).tolist(),
                "Those are probabilities with the filtered tokens set to 0; return *logits*, with the "
                "filtered ones set to -inf (softmax comes later).": kept_probs.tolist(),
                "Those are renormalised probabilities; return *logits*, with the filtered ones set to -inf.":
                    (kept_probs / kept_probs.sum()).tolist()}

    def judge_probe(self, spec, answer):
        expected = self.expected(spec)
        if _same_filtered(answer, expected):
            return None
        for message, wrong in self.wrong_variants(spec).items():
            if _same_filtered(answer, wrong):
                return message
        mismatch = compare.mismatch(answer, expected, self.rtol, self.atol)
        if mismatch is not None and not mismatch.startswith("differs"):
            return f"your result {mismatch}"
        yours, expected = np.asarray(answer, np.float64), np.asarray(expected)
        kept = np.isfinite(expected)
        if (np.all(np.isfinite(yours)) and np.all(yours[~kept] <= -1e4)
                and np.allclose(yours[kept], expected[kept], rtol=1e-4, atol=1e-5)):
            return "Filtered tokens should be -inf (float('-inf')), not a large negative number."
        if np.array_equal(np.isneginf(yours), ~kept):
            return "the right tokens are kept, but their logits changed: keep the kept logits as they are"
        return (f"your result keeps {int(np.sum(~np.isneginf(yours)))} tokens (not -inf) where the "
                f"reference keeps {int(kept.sum())}")

    def wrong_variants(self, spec):
        variants = {}
        for message, keep in self.wrong_keeps(spec).items():
            variants[message] = np.where(keep, self.numpy_logits(spec).astype(np.float64), -np.inf).tolist()
        keep = np.isfinite(np.asarray(self.expected(spec)))
        variants.update(self.common_mistakes(spec, keep))
        return variants


class TopKTensorFlow(FilterProblem):
    """``top_k_filter(logits, k)`` in TensorFlow: keep the k highest logits, the rest -inf."""

    var = "top_k_filter"
    framework = "tf"
    param = "k"
    public_probes = [{"prompt": "In the future", "k": 5}, {"prompt": "My lord, the king", "k": 50}]
    hidden_probes = [{"prompt": "The function returns", "k": 1}, {"prompt": "A list is", "k": 20}]
    hints = ("`tf.math.top_k(logits, k)` returns the k largest values (sorted) and their indices; the "
             "k-th largest value is the threshold.",
             "`threshold = tf.math.top_k(logits, k).values[-1]`, then "
             "`tf.where(logits < threshold, float('-inf'), logits)`.")
    solution_code = ("def top_k_filter(logits, k):\n"
                     "    threshold = tf.math.top_k(logits, k).values[-1]\n"
                     "    return tf.where(logits < threshold, float('-inf'), logits)")

    @staticmethod
    def reference(ref):
        return ref.top_k_filter

    def wrong_keeps(self, spec):
        logits, k = self.numpy_logits(spec), spec["k"]
        order = np.argsort(-logits, kind="stable")
        keeps = {}
        for n, message in [(k + 1, f"You kept {k + 1} tokens: keep exactly k = {k} (is your threshold "
                                    "the (k+1)-th largest value?)."),
                           (k - 1, f"You kept {k - 1} tokens: keep exactly k = {k} (the k-th largest "
                                    "logit itself stays: is there a `<=` where `<` belongs?).")]:
            if 1 <= n <= logits.size:
                keep = np.zeros(logits.size, bool)
                keep[order[:n]] = True
                keeps[message] = keep
        lowest = np.zeros(logits.size, bool)
        lowest[order[-k:]] = True
        keeps["You kept the k *lowest* logits: keep the k highest."] = lowest
        return keeps


class TopP(FilterProblem):
    """``top_p_filter(logits, p)`` in PyTorch: the nucleus, everything else set to -inf."""

    var = "top_p_filter"
    framework = "pt"
    param = "p"
    public_probes = [{"prompt": "In the future", "p": 0.5}, {"prompt": "My lord, the king", "p": 0.9}]
    hidden_probes = [{"prompt": "The function returns", "p": 0.2}, {"prompt": "A list is", "p": 0.8}]
    hints = ("Sort the probabilities from most to least likely, add them up as you go, and keep tokens "
             "until the running total reaches p — the token that crosses p included.",
             "Keep a token if the total of the tokens *before* it (in sorted order) is still below p: "
             "`before = torch.cumsum(sorted_probs, -1) - sorted_probs`. Set the others' logits to "
             "`float('-inf')`.")
    solution_code = ("def top_p_filter(logits, p):\n"
                     "    sorted_probs, order = torch.sort(torch.softmax(logits, -1), descending=True)\n"
                     "    before = torch.cumsum(sorted_probs, -1) - sorted_probs\n"
                     "    filtered = logits.clone()\n"
                     "    filtered[order[before >= p]] = float('-inf')\n"
                     "    return filtered")

    @staticmethod
    def reference(ref):
        return ref.top_p_filter

    def wrong_keeps(self, spec):
        probs, p = softmax(self.numpy_logits(spec)), spec["p"]
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        without = np.zeros(probs.size, bool)
        without[order[cumulative <= p]] = True
        lowest = np.zeros(probs.size, bool)
        lowest[order[::-1][np.cumsum(probs[order[::-1]]) <= p]] = True
        return {"The token that crosses p was dropped: keep it, the nucleus is the smallest set whose "
                "total reaches p.": without,
                "You kept the least likely tokens: sort from most to least likely.": lowest}


# -- helpers: figures ---------------------------------------------------------------------------
def _is_float_vector(answer, size) -> bool:
    return isinstance(answer, list) and len(answer) == size and all(isinstance(x, (int, float)) for x in answer)


def _is_id_list(answer) -> bool:
    return isinstance(answer, list) and len(answer) > 0 and all(type(x) is int for x in answer)


def _same_filtered(answer, expected) -> bool:
    """Equal within tolerance *and* -inf at exactly the same places (a finite number is not -inf)."""
    if compare.mismatch(answer, expected, 1e-4, 1e-5) is not None:
        return False
    return bool(np.array_equal(np.isneginf(np.asarray(answer, np.float64)),
                               np.isneginf(np.asarray(expected, np.float64))))


def counts_figure(tokenizer, samples, probs, prompt, k=12):
    """Observed draws of the likeliest tokens next to the counts softmax(logits) predicts."""
    samples = np.asarray(samples, dtype=np.int64)
    counts = np.bincount(samples[(samples >= 0) & (samples < probs.size)], minlength=probs.size)
    return bars_figure(tokenizer, np.arange(probs.size), probs, counts / max(len(samples), 1),
                       f"After {prompt!r}: share of your draws vs softmax(logits)", k)


qvars = bind_exercises(globals(), LESSON, [CategoricalTensorFlow, Temperature, TopKTensorFlow, TopP])
__all__ = qvars + ["____", "NUM_SAMPLES", "TINY_WEIGHTS"]
