"""Lesson 5's filters (q3 top-k in TensorFlow, q4 top-p in PyTorch), bound by ``lesson5``.

Each is judged against the reference filter on the model's logits (``FilterProblem``); the mistakes
declared here are the ways students keep the wrong *set* of tokens: a count off by one, the lowest
instead of the highest, an unsorted running total, a mask left in sorted order, the tokens tied
with the k-th dropped. (Marking the right set the wrong way, 0 or probabilities instead of -inf, is
declared once in ``FilterProblem``.)
"""
import numpy as np

from course_utils.checking import mistake
from course_utils.checking.numeric import softmax
from course_utils.lessons.logits_problems import SUBSET, FilterProblem


class TopKTensorFlow(FilterProblem):
    """``top_k_filter(logits, k)`` in TensorFlow: keep the k highest logits (and any tied with the
    k-th, as ``generate()`` does), the rest -inf. A probe with ``"tie": True`` raises the (k+1)-th
    likeliest logit to the k-th's value."""

    id = "lesson5.q3"
    var = "top_k_filter"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "course_utils.lessons.lesson7_generate.top_k",
        "transformers.generation.logits_process.TopKLogitsWarper.__call__",
        "transformers.generation.tf_logits_process.TFTopKLogitsWarper.__call__",   # where transformers has TF
    )
    framework = "tf"
    param = "k"
    public_probes = [{"prompt": "In the future", "k": 5}, {"prompt": "My lord, the king", "k": 50},
                     {"prompt": "In the future", "k": 3, "tie": True}]
    hidden_probes = [{"prompt": "The function returns", "k": 1}, {"prompt": "A list is", "k": 20},
                     {"prompt": "A list is", "k": 2, "tie": True}]
    hints = ('Top-k keeps the k largest logits and removes the others by setting them to -inf '
             '(softmax later gives them probability 0). Which single number separates the kept '
             'logits from the removed ones?',
             'Find the k-th largest logit (`tf.math.top_k` returns the k largest values, sorted from '
             'the largest) and compare every logit with it, `tf.where` choosing between the logit '
             "and `float('-inf')`. A logit equal to it stays, so a tie with the k-th keeps it too.",
             '```\nthreshold = ...                    # the k-th largest logit: which index of the '
             'top-k values?\nreturn tf.where(<which logits go?>, float("-inf"), logits)\n```')

    @staticmethod
    def reference(ref):
        return ref.top_k_filter

    def numpy_logits(self, spec) -> np.ndarray:
        logits = super().numpy_logits(spec)
        if not spec.get("tie"):
            return logits
        tied = np.array(logits)
        ranked = np.argsort(-tied, kind="stable")
        tied[ranked[spec["k"]]] = tied[ranked[spec["k"] - 1]]
        return tied

    def describe_probe(self, spec):
        text = super().describe_probe({key: value for key, value in spec.items() if key != "tie"})
        if spec.get("tie"):
            text += f" (the {spec['k'] + 1}th likeliest logit raised to tie with the {spec['k']}th)"
        return text

    def ranked(self, spec) -> np.ndarray:
        """Positions from the highest logit to the lowest (ties: the lower id first)."""
        return np.argsort(-self.numpy_logits(spec), kind="stable")

    def keeping_highest(self, spec, n: int):
        """The logits with only the ``n`` highest kept (None when ``n`` is not a possible count)."""
        return self.keeping(spec, self.ranked(spec)[:n]) if 1 <= n <= SUBSET else None

    @mistake(lambda spec: f"On a tie with the {spec['k']}th largest logit you kept exactly k = "
                          f"{spec['k']} tokens: `generate()` (and this lesson) keeps every token tied "
                          "with the k-th, so compare each logit with the k-th largest value instead of "
                          "keeping k positions.")
    def tie_dropped(self, spec):
        return self.keeping_highest(spec, spec["k"]) if spec.get("tie") else None

    @mistake(lambda spec: f"You kept {spec['k'] + 1} tokens: keep k = {spec['k']} (is your "
                          "threshold the (k+1)-th largest value?).")
    def one_too_many(self, spec):
        return None if spec.get("tie") else self.keeping_highest(spec, spec["k"] + 1)

    @mistake(lambda spec: f"You kept {spec['k'] - 1} tokens: keep k = {spec['k']} (the k-th "
                          "largest logit itself stays: is there a `<=` where `<` belongs?).")
    def one_too_few(self, spec):
        return self.keeping_highest(spec, spec["k"] - 1)

    @mistake("You kept the k *lowest* logits: keep the k highest.")
    def lowest(self, spec):
        return self.keeping(spec, self.ranked(spec)[-spec["k"]:])

    @mistake("You kept all but the k lowest logits: `tf.sort` sorts from the smallest, so its k-th "
             "value is the k-th *smallest*. The threshold is the k-th largest.")
    def ascending_threshold(self, spec):
        return self.keeping_highest(spec, SUBSET - spec["k"])

    @mistake("You kept the first k logits in id order: the k to keep are the k *largest*, wherever "
             "they are (sort, or `tf.math.top_k`).")
    def first_positions(self, spec):
        return self.keeping(spec, np.arange(spec["k"]))


class TopP(FilterProblem):
    """``top_p_filter(logits, p)`` in PyTorch: the nucleus, everything else set to -inf."""

    id = "lesson5.q4"
    var = "top_p_filter"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "course_utils.lessons.lesson7_generate.top_p",
        "transformers.generation.logits_process.TopPLogitsWarper.__call__",
        "transformers.generation.tf_logits_process.TFTopPLogitsWarper.__call__",   # where transformers has TF
    )
    framework = "pt"
    param = "p"
    public_probes = [{"prompt": "In the future", "p": 0.5}, {"prompt": "My lord, the king", "p": 0.9}]
    hidden_probes = [{"prompt": "The function returns", "p": 0.2}, {"prompt": "A list is", "p": 0.8}]
    hints = ('Sort the probabilities from most to least likely, add them up as you go, and keep '
             'tokens until the running total reaches p — the token that crosses p included.',
             'Decide for each token *in sorted order* whether it stays: it does when the tokens '
             'before it have not reached p yet (so the one that crosses p stays). Then carry the '
             "decision back to the token's own position (`torch.sort` also returns where each sorted "
             "value came from) and set the others to `float('-inf')`.",
             '```\nsorted_probs, order = torch.sort(torch.softmax(logits, dim=-1), '
             'descending=True)\nbefore = ...          # for each sorted token: the probability of the '
             'tokens before it\nfiltered = logits.clone()\nfiltered[...] = float("-inf")   # which '
             'positions? (the mask is in sorted order)\nreturn filtered\n```')

    @staticmethod
    def reference(ref):
        return ref.top_p_filter

    def sorted_probs(self, spec):
        """(probabilities, positions from the likeliest token to the least likely)."""
        probs = softmax(self.numpy_logits(spec))
        return probs, np.argsort(-probs, kind="stable")

    def nucleus_size(self, spec) -> int:
        return int(self.kept(spec).sum())

    @mistake("The token that crosses p was dropped: keep it, the nucleus is the smallest set whose "
             "total reaches p.")
    def crossing_token_dropped(self, spec):
        probs, order = self.sorted_probs(spec)
        return self.keeping(spec, order[np.cumsum(probs[order]) <= spec["p"]])

    @mistake("You removed the nucleus and kept everything else, the least likely tokens: the "
             "likeliest are the ones to keep (is a sort or a comparison the wrong way round?).")
    def complement(self, spec):
        return np.where(self.kept(spec), -np.inf, self.numpy_logits(spec).astype(np.float64)).tolist()

    @mistake("You kept the least likely tokens: sort from most to least likely.")
    def least_likely(self, spec):
        probs, order = self.sorted_probs(spec)
        ascending = order[::-1]
        return self.keeping(spec, ascending[np.cumsum(probs[ascending]) <= spec["p"]])

    @mistake("Your result keeps as many tokens as the nucleus, but they are the first ones *in id "
             "order*: the keep/drop mask was computed in sorted order and applied to the unsorted "
             "logits. Carry it back to the ids with the order `torch.sort` returned.")
    def mask_not_scattered_back(self, spec):
        return self.keeping(spec, np.arange(self.nucleus_size(spec)))

    @mistake("Your result is in sorted order (the largest logit first): the right values, at the wrong "
             "places. Put each kept logit back at its own token's position.")
    def left_sorted(self, spec):
        logits = self.numpy_logits(spec).astype(np.float64)
        in_order = logits[self.sorted_probs(spec)[1]]
        return np.where(np.arange(logits.size) < self.nucleus_size(spec), in_order, -np.inf).tolist()

    @mistake("You added the probabilities up in id order, without sorting: the nucleus is made of "
             "the *likeliest* tokens, so sort from most to least likely first.")
    def not_sorted(self, spec):
        probs = softmax(self.numpy_logits(spec))
        return self.keeping(spec, np.flatnonzero(np.cumsum(probs) - probs < spec["p"]))
