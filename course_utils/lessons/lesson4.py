"""Lesson 4 — sampling: the exercises and their checks.

Random answers are judged by invariants (shape, dtype, support), seeded reproducibility and a
chi-square goodness-of-fit test (``course_utils.checking.stats``), never by exact ids. Temperature
and the filters are deterministic: they are compared with the references on the model's real
logits, restricted to the ``SUBSET`` likeliest tokens so that the recorded answers stay small.
"""
import numpy as np

from course_utils.checking import FunctionProblem, bind_exercises, call_student, mistake, ____  # noqa: F401
from course_utils.checking import compare, stats
from course_utils.checking.figures import bars_figure, with_figure
from course_utils.checking.numeric import softmax
from course_utils.checking.reference_cache import next_token_logits
from course_utils.lessons.sampling_checks import counts_figure, is_id_list, judge_samples, judge_seeds

NUM_SAMPLES = 3000          # draws per probe: enough for the chi-square test, quick to record
SEED, OTHER_SEED = 1234, 4321
SUBSET = 512                # filter probes see the logits of this many likeliest tokens
TINY_WEIGHTS = [0.1, 0.2, 0.5, 0.3]   # the notebook's four-token vocabulary (random.choices)


class LogitsProblem(FunctionProblem):
    """Probes are prompts; the student's function receives next-token logits of ``self.framework``."""

    framework = "pt"
    subset = True   # filters and temperature: the SUBSET likeliest tokens, in id order

    def full_logits(self, spec) -> np.ndarray:
        """The next-token logits after the prompt, shape (vocab_size,), float32 (read-only: shared)."""
        ids = tuple(self.ctx.tokenizer.encode(spec["prompt"]))
        return np.asarray(next_token_logits(self.ctx.model(self.framework), self.framework, ids), np.float32)

    def subset_ids(self, spec) -> np.ndarray:
        """Ids of the SUBSET likeliest tokens after the prompt, in id order."""
        return np.sort(np.argsort(-self.full_logits(spec), kind="stable")[:SUBSET])

    def numpy_logits(self, spec) -> np.ndarray:
        """What the student's function receives, as numpy: shape (SUBSET,) or (vocab_size,)."""
        return self.full_logits(spec)[self.subset_ids(spec)] if self.subset else self.full_logits(spec)

    def logits(self, spec):
        """A fresh tensor of the framework (the student's function may modify it in place)."""
        row = np.array(self.numpy_logits(spec))
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
    """``sample_tf(logits, num_samples, seed)``: ids drawn with ``tf.random.categorical``.

    Judged by statistics, not against one expected answer: ``judge_probe`` is its own.
    """

    id = "lesson4.q1"
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

    id = "lesson4.q2"
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
class FilterProblem(LogitsProblem):
    """A logits filter: kept entries unchanged, filtered ones -inf. Subclasses set ``param`` and
    ``reference`` and declare mistakes that keep the wrong tokens (``keeping(spec, positions)``)."""

    param = ""
    atol = 1e-5  # -inf must sit exactly where the reference has it (``compare.same``)

    def run_probe(self, function, spec):
        return call_student(function, self.logits(spec), spec[self.param])

    def expected(self, spec):
        filtered = self.reference(self.ctx.ref(self.framework))(self.logits(spec), spec[self.param])
        return np.asarray(filtered, np.float64).tolist()

    def keeping(self, spec, positions) -> list:
        """The logits with only the tokens at ``positions`` kept, the others set to -inf."""
        logits = self.numpy_logits(spec).astype(np.float64)
        keep = np.zeros(logits.size, bool)
        keep[positions] = True
        return np.where(keep, logits, -np.inf).tolist()

    def kept(self, spec) -> np.ndarray:
        return np.isfinite(np.asarray(self.expected(spec)))

    # The right set of tokens, marked the wrong way.
    @mistake("Filtered logits should be -inf, not 0 (a logit of 0 still has probability).")
    def zeros(self, spec):
        return np.where(self.kept(spec), self.numpy_logits(spec).astype(np.float64), 0.0).tolist()

    @mistake("Those are probabilities with the filtered tokens set to 0; return *logits*, with the "
             "filtered ones set to -inf (softmax comes later).")
    def probabilities(self, spec):
        return np.where(self.kept(spec), softmax(self.numpy_logits(spec)), 0.0).tolist()

    @mistake("Those are renormalised probabilities; return *logits*, with the filtered ones set to -inf.")
    def renormalised(self, spec):
        kept_probs = np.where(self.kept(spec), softmax(self.numpy_logits(spec)), 0.0)
        return (kept_probs / kept_probs.sum()).tolist()

    def judge(self, payload):
        return with_figure(super().judge(payload), lambda: self.figure(payload))

    def figure(self, payload):
        """The distribution after the reference's filter next to the one after the student's."""
        size = self.numpy_logits(self.public_probes[0]).size
        for probe in payload.get("probes") or []:
            answer = probe.get("answer")
            if probe.get("hidden") or not is_float_vector(answer, size):
                continue
            yours = np.asarray(answer, np.float64)
            if np.any(np.isnan(yours)) or not np.any(np.isfinite(yours)):
                continue
            expected = softmax(np.asarray(self.expected(probe["spec"])))
            kept = int(np.isfinite(np.asarray(self.expected(probe["spec"]))).sum())
            spec = probe["spec"]
            return bars_figure(self.ctx.tokenizer, self.subset_ids(spec), expected, softmax(yours),
                               f"After {spec['prompt']!r}, {self.param}={spec[self.param]}: softmax of the "
                               f"filtered logits", k=min(25, max(12, kept + 4)),
                               ylabel="probability after the filter")
        return None

    def diagnose(self, answer, expected, spec):
        mismatch = compare.mismatch(answer, expected, self.rtol, self.atol)
        if not mismatch.startswith("differs"):
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


class TopKTensorFlow(FilterProblem):
    """``top_k_filter(logits, k)`` in TensorFlow: keep the k highest logits, the rest -inf."""

    id = "lesson4.q3"
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

    id = "lesson4.q4"
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


def is_float_vector(answer, size) -> bool:
    return isinstance(answer, list) and len(answer) == size and all(isinstance(x, (int, float)) for x in answer)


# -- q5: the sampling loop ------------------------------------------------------------------------
LOOP_SEEDS = (1, 2, 3, 4)
UNLIKELY = -9.0     # mean log-probability per drawn token below which the draws ignore the model


class SampleLoopTensorFlow(FunctionProblem):
    """``sample_loop_tf(model, input_ids, max_new_tokens, seed)``: lesson 3's loop, with draws.

    Judged by invariants: the form of the ids, the stopping rule, the seed deciding the text, and the
    drawn tokens being likely under the model (a loop that samples from probabilities, or ignores the
    model, draws tokens of almost no probability).
    """

    id = "lesson4.q5"
    var = "sample_loop_tf"
    framework = "tf"
    public_probes = [{"prompt": "In the future", "max_new_tokens": 8}]
    hidden_probes = [{"prompt": "The function returns", "max_new_tokens": 6}]
    hints = ("Take lesson 3's greedy loop and change one line: instead of the argmax of the last "
             "position's logits, *draw* the next token from them.",
             "Seed once, with `tf.random.set_seed(seed)`, before the loop. In each step run the model on "
             "`tf.constant([ids])`, keep the last position's logits with their batch axis, shape "
             "[1, vocab_size], draw one id with `tf.random.categorical` (it wants logits), append it, and "
             "stop after a '.'.",
             "```\ntf.random.set_seed(seed)\nids = list(input_ids)\nfor _ in range(max_new_tokens):\n"
             "    logits = model(tf.constant([ids])).logits[:, -1, :]\n"
             "    next_id = int(tf.random.categorical(..., num_samples=...)[0, 0])\n"
             "    ids.append(next_id)\n    if next_id == period_id:\n        break\nreturn ids\n```")

    def prompt(self, spec) -> list[int]:
        return self.ctx.tokenizer.encode(spec["prompt"])

    def run_probe(self, function, spec):
        model, n = self.ctx.model("tf"), spec["max_new_tokens"]
        first = call_student(function, model, self.prompt(spec), n, LOOP_SEEDS[0])
        if first is None:
            return None
        runs = [first] + [call_student(function, model, self.prompt(spec), n, seed) for seed in LOOP_SEEDS[1:]]
        return {"runs": runs, "again": call_student(function, model, self.prompt(spec), n, LOOP_SEEDS[0])}

    def log_probs(self, ids, prompt_len) -> np.ndarray:
        """Log-probability of each new token of ``ids`` under the model, given the tokens before it."""
        from course_utils.checking.reference_cache import forward_logits

        logits = np.asarray(forward_logits(self.ctx.model("tf"), "tf", tuple(ids)), np.float64)[:-1]
        logits = logits - logits.max(axis=-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        return log_probs[np.arange(len(ids) - 1), ids[1:]][prompt_len - 1:]

    def judge_probe(self, spec, answer):
        prompt, n = self.prompt(spec), spec["max_new_tokens"]
        period = self.ctx.tokenizer.encode(".")[0]
        vocab_size = len(self.ctx.tokenizer)
        if not isinstance(answer, dict) or not all(isinstance(run, list) for run in answer.get("runs", [None])):
            return "`sample_loop_tf` should return a list of ids: the prompt's, then the new ones"
        for run in answer["runs"]:
            if not all(type(i) is int and 0 <= i < vocab_size for i in run):
                return "`sample_loop_tf` should return a list of token ids (ints in the vocabulary)"
            if run[:len(prompt)] != prompt:
                return "the list should start with the prompt's ids, then the new ones"
            new = run[len(prompt):]
            if len(new) > n:
                return f"it wrote {len(new)} new tokens; the budget is `max_new_tokens` = {n}"
            if period in new[:-1]:
                return "the loop runs past '.': stop once the new token is the period"
            if len(new) < n and (not new or new[-1] != period):
                return "the loop stopped before the budget ran out without a '.' to stop at"
        if answer.get("again") != answer["runs"][0]:
            return ("the same seed gave two different texts: call `tf.random.set_seed(seed)` once, "
                    "before the loop")
        if all(run == answer["runs"][0] for run in answer["runs"]):
            return (f"{len(LOOP_SEEDS)} different seeds wrote the same text: that is greedy decoding (or "
                    "the seed is ignored); draw each token with `tf.random.categorical`")
        drawn = np.concatenate([self.log_probs(run, len(prompt)) for run in answer["runs"]])
        if drawn.size and drawn.mean() < UNLIKELY:
            return (f"the tokens your loop drew are very unlikely under the model (average log-probability "
                    f"{drawn.mean():.1f}, about 1 chance in {np.exp(-drawn.mean()):,.0f}): draw from the "
                    "logits of the last position as they are; given probabilities, "
                    "`tf.random.categorical` draws almost uniformly")
        return None

    def describe_probe(self, spec):
        return f"prompt {spec['prompt']!r} with max_new_tokens={spec['max_new_tokens']}"


qvars = bind_exercises(globals(), [CategoricalTensorFlow, Temperature, TopKTensorFlow, TopP, SampleLoopTensorFlow])
__all__ = qvars + ["____", "NUM_SAMPLES", "TINY_WEIGHTS"]
