"""What lessons 5 and 7 share: exercises whose probes are prompts and whose student functions
receive the model's next-token logits (``LogitsProblem``), and logits filters judged against a
reference filter, with a figure of the distribution after it (``FilterProblem``: lesson 5's top-k
and top-p, lesson 7's min-p).

Filters and temperature see the logits of the ``SUBSET`` likeliest tokens only, in id order, so that
the recorded answers stay small.
"""
import numpy as np

from course_utils.checking import FunctionProblem, call_student, compare, mistake
from course_utils.checking.figures import bars_figure, with_figure
from course_utils.checking.numeric import softmax
from course_utils.checking.reference_cache import next_token_logits

SUBSET = 512                # filter probes see the logits of this many likeliest tokens


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
        # The filter's own named mistakes first, where the values merely differ (a wrong shape or
        # type is said as such); the structural diagnoses only when none of them fits.
        if compare.mismatch(answer, expected, self.rtol, self.atol, explain=False) != "differs":
            return f"your result {compare.mismatch(answer, expected, self.rtol, self.atol)}"
        named = self._named_filter_mistake(np.asarray(answer, np.float64), np.asarray(expected))
        return named or f"your result {compare.mismatch(answer, expected, self.rtol, self.atol)}"

    @staticmethod
    def _named_filter_mistake(yours, expected) -> str | None:
        kept = np.isfinite(expected)
        if (np.all(np.isfinite(yours)) and np.all(yours[~kept] <= -1e4)
                and np.allclose(yours[kept], expected[kept], rtol=1e-4, atol=1e-5)):
            return "Filtered tokens should be -inf (float('-inf')), not a large negative number."
        if np.array_equal(np.isneginf(yours), ~kept):
            return "the right tokens are kept, but their logits changed: keep the kept logits as they are"
        yours_kept = ~np.isneginf(yours)
        if yours_kept.sum() == kept.sum():
            # The right size but the wrong tokens: the set is what is wrong, not the count.
            missing = int(np.sum(kept & ~yours_kept))
            return (f"your result keeps the right number of tokens ({int(kept.sum())}), but not the right "
                    f"ones: {missing} of the tokens that should stay are -inf and as many others are kept. "
                    "Were the tokens ranked (sorted by logit), and is every decision applied at the "
                    "token's own position?")
        if yours_kept.sum() != kept.sum() and np.all(np.isneginf(yours) | np.isfinite(yours)):
            return (f"your result keeps {int(yours_kept.sum())} tokens (not -inf) where the "
                    f"reference keeps {int(kept.sum())}")
        return None


def is_float_vector(answer, size) -> bool:
    return isinstance(answer, list) and len(answer) == size and all(isinstance(x, (int, float)) for x in answer)
