"""Lesson 5 — sampling: the exercises and their checks.

Random answers are judged by invariants (shape, dtype, support), seeded reproducibility and a
chi-square goodness-of-fit test (``course_utils.checking.stats``), never by exact ids. Temperature
and the filters are deterministic: they are compared with the references on the model's real
logits, restricted to the ``SUBSET`` likeliest tokens so that the recorded answers stay small.

One job per module: the exercise kinds shared with lesson 7 (``LogitsProblem``, ``FilterProblem``)
are in ``logits_problems``, the sampling loop (q5) in ``lesson5_loop``, the judging of bags of
samples in ``sampling_checks``; this module declares q1-q4 and binds q1-q5.
"""
import numpy as np

from course_utils.checking import bind_exercises, call_student, mistake, ____  # noqa: F401
from course_utils.checking import stats
from course_utils.checking.figures import bars_figure, with_figure
from course_utils.checking.numeric import softmax
from course_utils.lessons.lesson5_loop import SampleLoopTensorFlow
from course_utils.lessons.logits_problems import SUBSET, FilterProblem, LogitsProblem, is_float_vector
from course_utils.lessons.sampling_checks import counts_figure, is_id_list, judge_samples, judge_seeds

NUM_SAMPLES = 3000          # draws per probe: enough for the chi-square test, quick to record
SEED, OTHER_SEED = 1234, 4321
TINY_WEIGHTS = [0.1, 0.2, 0.5, 0.3]   # the notebook's four-token vocabulary (random.choices)


# -- q1: tf.random.categorical ------------------------------------------------------------------
class CategoricalTensorFlow(LogitsProblem):
    """``sample_tf(logits, num_samples, seed)``: ids drawn with ``tf.random.categorical``.

    Judged by statistics, not against one expected answer: ``judge_probe`` is its own.
    """

    id = "lesson5.q1"
    var = "sample_tf"
    framework = "tf"
    subset = False
    public_probes = [{"prompt": "The function returns"}]
    hidden_probes = [{"prompt": "My lord, the king"}]
    hints = ('`tf.random.categorical` takes *logits* (not probabilities) with a batch axis, shape '
             '[batch, vocab_size], and returns ids of shape [batch, num_samples].',
             "Seed TensorFlow's random sequence first with `tf.random.set_seed(seed)`; then add a "
             'batch axis to the 1-D `logits`, draw, and take row 0 of the result.',
             '```\ntf.random.set_seed(...)\ndraws = tf.random.categorical(<logits with a batch '
             'axis>, num_samples)\nreturn draws[...]\n```')

    def run_probe(self, function, spec):
        first = call_student(function, self.logits(spec), NUM_SAMPLES, SEED)
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
        return with_figure(super().judge(payload), lambda: self.figure(payload))

    def figure(self, payload):
        for probe in payload.get("probes") or []:
            answer = probe.get("answer")
            if not probe.get("hidden") and isinstance(answer, dict) and is_id_list(answer.get("samples")):
                probs = softmax(self.numpy_logits(probe["spec"]))
                return counts_figure(self.ctx.tokenizer, answer["samples"], probs, probe["spec"]["prompt"])
        return None


# -- q2: temperature ----------------------------------------------------------------------------
class Temperature(LogitsProblem):
    """``apply_temperature(logits, temperature)`` in PyTorch: the logits divided by the temperature."""

    id = "lesson5.q2"
    var = "apply_temperature"
    framework = "pt"
    public_probes = [{"prompt": "In the future", "temperature": 0.5},
                     {"prompt": "In the future", "temperature": 2.0}]
    hidden_probes = [{"prompt": "The function returns", "temperature": 0.7},
                     {"prompt": "My lord, the king", "temperature": 1.5}]
    hints = ('Temperature acts on the logits, before softmax: a small T sharpens the distribution, '
             'a large T flattens it.',
             'Softmax of (logits / T): dividing by T < 1 spreads the logits apart (sharper), T > 1 '
             "pulls them together (flatter). Return the new logits; don't apply softmax.",
             '`return logits <operator> temperature`: which operator makes T = 2 flatter and T = '
             '0.5 sharper?')

    def run_probe(self, function, spec):
        return call_student(function, self.logits(spec), spec["temperature"])

    def expected(self, spec):
        ref = self.ctx.ref("pt")
        return np.asarray(ref.apply_temperature(self.logits(spec), spec["temperature"]), np.float64).tolist()

    @mistake("You multiplied by the temperature: divide, so that T < 1 sharpens.")
    def multiplied(self, spec):
        return (self.numpy_logits(spec).astype(np.float64) * spec["temperature"]).tolist()

    @mistake("Temperature was applied to probabilities (after softmax); apply it to the logits.")
    def after_softmax(self, spec):
        return (softmax(self.numpy_logits(spec)) / spec["temperature"]).tolist()

    @mistake("That is the softmax of the scaled logits; return the scaled logits themselves.")
    def softmax_of_scaled(self, spec):
        return softmax(self.numpy_logits(spec).astype(np.float64) / spec["temperature"]).tolist()

    def judge(self, payload):
        return with_figure(super().judge(payload), lambda: self.figure(payload))

    def figure(self, payload):
        """The student's temperature-scaled distribution next to the reference's."""
        for probe in payload.get("probes") or []:
            answer, spec = probe.get("answer"), probe["spec"]
            if probe.get("hidden") or not is_float_vector(answer, SUBSET):
                continue
            return bars_figure(self.ctx.tokenizer, self.subset_ids(spec), softmax(self.expected(spec)),
                               softmax(answer),
                               f"After {spec['prompt']!r} at T = {spec['temperature']}: softmax of the result")
        return None


# -- q3, q4: top-k and top-p --------------------------------------------------------------------
class TopKTensorFlow(FilterProblem):
    """``top_k_filter(logits, k)`` in TensorFlow: keep the k highest logits, the rest -inf."""

    id = "lesson5.q3"
    var = "top_k_filter"
    framework = "tf"
    param = "k"
    public_probes = [{"prompt": "In the future", "k": 5}, {"prompt": "My lord, the king", "k": 50}]
    hidden_probes = [{"prompt": "The function returns", "k": 1}, {"prompt": "A list is", "k": 20}]
    hints = ('Top-k keeps the k largest logits and removes the others by setting them to -inf '
             '(softmax later gives them probability 0).',
             '`tf.math.top_k(logits, k)` returns the k largest values, sorted from largest; the '
             "last of them is the threshold. Every logit below it becomes `float('-inf')`, with "
             '`tf.where`.',
             '```\nthreshold = tf.math.top_k(logits, k).values[...]\nreturn tf.where(logits < '
             'threshold, ..., logits)\n```')

    @staticmethod
    def reference(ref):
        return ref.top_k_filter

    def ranked(self, spec) -> np.ndarray:
        """Positions from the highest logit to the lowest (ties: the lower id first)."""
        return np.argsort(-self.numpy_logits(spec), kind="stable")

    def keeping_highest(self, spec, n: int):
        """The logits with only the ``n`` highest kept (None when ``n`` is not a possible count)."""
        return self.keeping(spec, self.ranked(spec)[:n]) if 1 <= n <= SUBSET else None

    @mistake(lambda spec: f"You kept {spec['k'] + 1} tokens: keep exactly k = {spec['k']} (is your "
                          "threshold the (k+1)-th largest value?).")
    def one_too_many(self, spec):
        return self.keeping_highest(spec, spec["k"] + 1)

    @mistake(lambda spec: f"You kept {spec['k'] - 1} tokens: keep exactly k = {spec['k']} (the k-th "
                          "largest logit itself stays: is there a `<=` where `<` belongs?).")
    def one_too_few(self, spec):
        return self.keeping_highest(spec, spec["k"] - 1)

    @mistake("You kept the k *lowest* logits: keep the k highest.")
    def lowest(self, spec):
        return self.keeping(spec, self.ranked(spec)[-spec["k"]:])


class TopP(FilterProblem):
    """``top_p_filter(logits, p)`` in PyTorch: the nucleus, everything else set to -inf."""

    id = "lesson5.q4"
    var = "top_p_filter"
    framework = "pt"
    param = "p"
    public_probes = [{"prompt": "In the future", "p": 0.5}, {"prompt": "My lord, the king", "p": 0.9}]
    hidden_probes = [{"prompt": "The function returns", "p": 0.2}, {"prompt": "A list is", "p": 0.8}]
    hints = ('Sort the probabilities from most to least likely, add them up as you go, and keep '
             'tokens until the running total reaches p — the token that crosses p included.',
             'A token is kept when the probability of the tokens *before* it (in sorted order) is '
             "still below p: that is the running total minus the token's own probability. The "
             "others' logits become `float('-inf')`, at their original positions (`torch.sort` "
             'also returns the order).',
             '```\nsorted_probs, order = torch.sort(torch.softmax(logits, dim=-1), '
             'descending=True)\nbefore = ...                        # running total of the tokens '
             'before each one\nfiltered = logits.clone()\nfiltered[order[before >= p]] = '
             '...\nreturn filtered\n```')

    @staticmethod
    def reference(ref):
        return ref.top_p_filter

    @mistake("The token that crosses p was dropped: keep it, the nucleus is the smallest set whose "
             "total reaches p.")
    def crossing_token_dropped(self, spec):
        probs = softmax(self.numpy_logits(spec))
        order = np.argsort(-probs, kind="stable")
        return self.keeping(spec, order[np.cumsum(probs[order]) <= spec["p"]])

    @mistake("You kept the least likely tokens: sort from most to least likely.")
    def least_likely(self, spec):
        probs = softmax(self.numpy_logits(spec))
        ascending = np.argsort(-probs, kind="stable")[::-1]
        return self.keeping(spec, ascending[np.cumsum(probs[ascending]) <= spec["p"]])


qvars = bind_exercises(globals(), [CategoricalTensorFlow, Temperature, TopKTensorFlow, TopP, SampleLoopTensorFlow])
__all__ = qvars + ["____", "NUM_SAMPLES", "TINY_WEIGHTS"]
