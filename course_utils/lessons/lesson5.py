"""Lesson 5 — sampling: the exercises and their checks.

Random answers are judged by invariants (shape, dtype, support), seeded reproducibility and a
chi-square goodness-of-fit test (``course_utils.checking.stats``), never by exact ids. Temperature
and the filters are deterministic: they are compared with the references on the model's real
logits, restricted to the ``SUBSET`` likeliest tokens so that the recorded answers stay small.

One job per module: the exercise kinds shared with lesson 7 (``LogitsProblem``, ``FilterProblem``)
are in ``logits_problems``, the filters (q3, q4) in ``lesson5_filters``, the sampling loop (q5) in
``lesson5_loop``, the judging of bags of samples in ``sampling_checks``; this module declares q1 and
q2 and binds q1-q5.
"""
import numpy as np

from course_utils.checking import CORRECT, bind_exercises, call_student, mistake, ____  # noqa: F401
from course_utils.checking import stats
from course_utils.checking.figures import bars_figure, with_figure
from course_utils.checking.mistakes import Judged
from course_utils.checking.verdict import incorrect
from course_utils.checking.numeric import softmax
from course_utils.lessons.lesson5_filters import TopKTensorFlow, TopP
from course_utils.lessons.lesson5_loop import SampleLoopTensorFlow
from course_utils.lessons.logits_problems import SUBSET, LogitsProblem, is_float_vector
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
    hints = ('`tf.random.categorical` does the sampling; what is left to you is getting its shapes '
             'right (it works on a *batch* of rows) and making the seed decide the draws.',
             "Seed TensorFlow's random sequence with `tf.random.set_seed(seed)` first. "
             '`tf.random.categorical` wants logits (not probabilities) of shape [batch, vocab_size] and '
             'returns ids of shape [batch, num_samples]: give the 1-D `logits` a batch axis, and take '
             'row 0 of the result.',
             '```\ntf.random.set_seed(seed)\nbatch = ...      # the logits as a batch of one row: '
             '[1, vocab_size]\ndraws = ...      # [1, num_samples]\nreturn ...       # [num_samples]\n```')

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
        probes = (payload.get("probes") if isinstance(payload, dict) else None) or []
        errors = [str(p.get("error", "")) for p in probes if isinstance(p, dict)]
        if any("logits should be a matrix" in error for error in errors):
            # TensorFlow's own message names no fix: say what the shapes are, and what to do.
            return incorrect("`tf.random.categorical` raised: it wants a batch of rows, logits of shape "
                             "[batch, vocab_size], and `logits` here is one row of shape [vocab_size]. "
                             "Give it a batch axis, then take row 0 of the draws." + self.hint_pointer())
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
    """``apply_temperature(logits, temperature)`` in PyTorch: the logits divided by the temperature.

    Found from a measurement (the notebook prints the gaps between log-probabilities at several
    temperatures), not copied from a formula. Logits that differ from ``logits / T`` by one constant
    give the same distribution: they are accepted, with a note (``judge``).
    """

    id = "lesson5.q2"
    var = "apply_temperature"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = ("transformers.generation.logits_process.TemperatureLogitsWarper.__call__",
                   "transformers.generation.tf_logits_process.TFTemperatureLogitsWarper.__call__")
    framework = "pt"
    public_probes = [{"prompt": "In the future", "temperature": 0.5},
                     {"prompt": "In the future", "temperature": 2.0}]
    hidden_probes = [{"prompt": "The function returns", "temperature": 0.7},
                     {"prompt": "My lord, the king", "temperature": 1.5}]
    hints = ('Read the table: how does each gap between two log-probabilities change from T = 1 to '
             'T = 2, and to T = 0.5? A gap between log-probabilities is a gap between logits (softmax '
             'subtracts the same number from every logit).',
             'Every gap is multiplied by the same factor, a function of T alone. Do that to the '
             'logits themselves and every gap follows. Work on the logits, not on probabilities, and '
             'return logits: no softmax in your function.',
             '```\ndef apply_temperature(logits, temperature):\n    return ...   # the logits, every '
             'gap scaled by the factor the table shows for this temperature\n```')

    def run_probe(self, function, spec):
        return call_student(function, self.logits(spec), spec["temperature"])

    def expected(self, spec):
        ref = self.ctx.ref("pt")
        return np.asarray(ref.apply_temperature(self.logits(spec), spec["temperature"]), np.float64).tolist()

    def scaled(self, spec, factor) -> list:
        return (self.numpy_logits(spec).astype(np.float64) * factor).tolist()

    @mistake("You multiplied by the temperature: the table shows the gaps *shrinking* at T = 2, so "
             "divide, and T < 1 sharpens.")
    def multiplied(self, spec):
        return self.scaled(spec, spec["temperature"])

    @mistake("Temperature was applied to probabilities (after softmax): dividing probabilities by T "
             "changes nothing once they are normalised again. Apply it to the logits.")
    def after_softmax(self, spec):
        return (softmax(self.numpy_logits(spec)) / spec["temperature"]).tolist()

    @mistake("That is the softmax of the scaled logits; return the scaled logits themselves (the "
             "softmax comes later, after the filters).")
    def softmax_of_scaled(self, spec):
        return softmax(self.numpy_logits(spec).astype(np.float64) / spec["temperature"]).tolist()

    @mistake("Those are probabilities raised to the power 1/T: the right distribution once "
             "normalised, but not logits. Return logits (the filters and softmax come later).")
    def powered_probabilities(self, spec):
        return (softmax(self.numpy_logits(spec)) ** (1.0 / spec["temperature"])).tolist()

    @mistake("You subtracted the temperature: that moves every logit by the same amount, and softmax "
             "ignores such a shift (the gaps in the table would not change). Scale the logits.")
    def subtracted(self, spec):
        return self.shifted(spec, -spec["temperature"])

    @mistake("You added the temperature: that moves every logit by the same amount, and softmax "
             "ignores such a shift (the gaps in the table would not change). Scale the logits.")
    def added(self, spec):
        return self.shifted(spec, spec["temperature"])

    def shifted(self, spec, amount) -> list:
        return (self.numpy_logits(spec).astype(np.float64) + amount).tolist()

    def same_up_to_a_shift(self, answer, expected) -> bool:
        """Whether ``answer`` is ``expected`` plus one constant (the same distribution after softmax)."""
        difference = np.asarray(answer, np.float64) - np.asarray(expected, np.float64)
        scale = max(1.0, float(np.abs(expected).max()))
        return bool(np.all(np.isfinite(difference)) and np.ptp(difference) <= 1e-4 * scale)

    def judged(self, answer, *probe):
        judged = super().judged(answer, *probe)
        if (judged.outcome in ("mistake", "other") and is_float_vector(judged.answer, SUBSET)
                and self.same_up_to_a_shift(judged.answer, judged.expected)):
            # log-probabilities / T: the same distribution, right (``judge`` adds a note).
            return Judged("right", None, judged.answer, judged.expected)
        return judged

    def judge(self, payload):
        verdict = with_figure(super().judge(payload), lambda: self.figure(payload))
        probes = payload.get("probes") or [] if isinstance(payload, dict) else []
        shifted = [p for p in probes if isinstance(p, dict) and is_float_vector(p.get("answer"), SUBSET)
                   and not self.same(p["answer"], self.expected(p["spec"]))]
        if verdict.status == CORRECT and shifted:
            verdict.message += (" Your logits differ from `logits / temperature` by one constant "
                                "(log-probabilities divided by T?): softmax gives the same distribution, so "
                                "this is accepted; `generate()` returns the logits themselves divided by T.")
        return verdict

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


qvars = bind_exercises(globals(), [CategoricalTensorFlow, Temperature, TopKTensorFlow, TopP, SampleLoopTensorFlow])
__all__ = qvars + ["____", "NUM_SAMPLES", "TINY_WEIGHTS"]
