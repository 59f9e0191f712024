"""Lesson 6, search and its cost: the exercises q3 (the size of the search space), q4 (beam search
by hand on the toy tree of ``beam_steps``), q10 (predict the key/value cache of more beams) and q11
(explain the time measured), bound by ``lesson6``; and the cache measurement the notebook uses.

Expected values are computed, never typed in: the search space from the model's vocabulary, the
toy tree's answers by running greedy and beam search over ``TOY_TREE``, the cache by running
``generate()`` on the model, the time against the student's own measurement.
"""
from __future__ import annotations

import math

from course_utils.checking import PredictionProblem, ValueProblem, mistake
from course_utils.checking.reference_cache import once_per_model
from course_utils.checking.records import verdict_without_answer
from course_utils.checking.verdict import correct, incorrect
from course_utils.lessons.beam_steps import (TOY_TREE, toy_beam_search, toy_exact, toy_greedy_starts,
                                             toy_probability)

SEARCH_T = 20          # new tokens: the length of the greedy-vs-beam comparison in section 6
SEARCH_BEAMS = 5       # the beams of that comparison
SEARCH_PROMPT = "The function returns"   # its prompt
COST_BEAMS = (1, 2, 4, 8)
COST_SETTINGS = {"max_new_tokens": 8, "min_new_tokens": 8}     # every run writes exactly 8 tokens


# -- q3: the size of the search space ---------------------------------------------------------------
class SearchSpaceDigits(ValueProblem):
    """``search_space_digits``: the number of decimal digits of |V|^T, the count of all sequences."""

    id = "lesson6.q3"
    var = "search_space_digits"
    hints = ("Every one of the T new tokens can be any of the |V| tokens of the vocabulary, "
             "independently: count the sequences, then count the digits of that count.",
             "Read |V| from the model or the tokenizer (never type it in) and T from `SEARCH_T`. "
             "Python's integers have no size limit, so the count itself can be computed exactly; "
             "or use a logarithm: a number x >= 1 has floor(log10(x)) + 1 digits.",
             "```\nvocab_size = ...            # from the model's config\nsequences = ...            "
             "# |V| to the power T\nsearch_space_digits = len(str(...))\n```")

    def vocab(self):
        return len(self.ctx.tokenizer)

    def expected(self):
        return len(str(self.vocab() ** SEARCH_T))

    def wrong_form(self, answer):
        if isinstance(answer, bool) or not isinstance(answer, (int, float)):
            return "`search_space_digits` should be a number: how many digits |V|^T has."
        return None

    @mistake("That is log10(|V|^T), not its number of digits: a number x >= 1 has floor(log10(x)) + 1 "
             "digits (100 has 3).")
    def log10_only(self):
        return SEARCH_T * math.log10(self.vocab())

    @mistake("One digit short: floor(log10(x)) + 1 digits, not floor(log10(x)) (100 has 3 digits).")
    def floor_without_one(self):
        return math.floor(SEARCH_T * math.log10(self.vocab()))

    @mistake("That uses the natural logarithm; digits are counted in base 10 (log10).")
    def natural_log(self):
        return math.floor(SEARCH_T * math.log(self.vocab())) + 1

    @mistake("That is T^|V|; the count of sequences is |V|^T (|V| choices at each of T positions).")
    def swapped(self):
        return math.floor(self.vocab() * math.log10(SEARCH_T)) + 1     # too long for str(): 4300 digits at most

    @mistake("That is |V| x T: choices add up only for greedy decoding, which scores |V| tokens at each "
             "of T steps. The sequences multiply: |V| choices for each of T positions.")
    def product(self):
        return len(str(self.vocab() * SEARCH_T))

    @mistake("The prompt is given, not searched: count the T new tokens only.")
    def prompt_counted(self):
        prompt = len(self.ctx.tokenizer.encode(SEARCH_PROMPT))
        return len(str(self.vocab() ** (SEARCH_T + prompt)))


# -- q4: beam search by hand on a toy tree -------------------------------------------------------------
class ToyTree(ValueProblem):
    """``toy_answer = (greedy_words, beam_words, beam_probability)`` for TOY_TREE, num_beams=2."""

    id = "lesson6.q4"
    var = "toy_answer"
    rtol, atol = 1e-3, 1e-6
    hints = ("Greedy keeps one partial sentence, the most likely next word each time. Beam search "
             "with 2 beams keeps the 2 best partial sentences at every step, ranked by the "
             "probability of the whole partial sentence, not of its last word.",
             "Step 1: the 2 best first words. Step 2: extend each by every word it allows, multiply "
             "each candidate's probability by its beam's, and keep the 2 best of all the candidates "
             "(they may both extend the same beam). Step 3 likewise; the best one wins.",
             "```\nstep 1: beams  'cat' (0.5), 'dog' (0.4)\nstep 2: candidates  'cat sat' = 0.5 x "
             "0.35 = 0.175, 'cat ran' = ..., 'dog barked' = ..., ...\n        keep the 2 best of "
             "all 5\nstep 3: ...\n```")

    def expected(self):
        beam = toy_beam_search(2)
        return (toy_beam_search(1), beam, toy_probability(beam))

    def with_part(self, index, value):
        answer = list(self.expected())
        answer[index] = value
        return tuple(answer)

    def wrong_form(self, answer):
        if not isinstance(answer, (list, tuple)) or len(answer) != 3:
            return ("`toy_answer` should be a triple: (greedy's words, beam search's words, the "
                    "probability of beam search's sentence).")
        if not all(isinstance(part, list) and all(isinstance(w, str) for w in part) for part in answer[:2]):
            return "the first two parts of `toy_answer` should be lists of words, e.g. ['cat', 'sat', 'down']."
        return None

    @mistake("Your beam search found greedy's sentence: with 2 beams, keep the 2 best partial sentences "
             "at every step, not only the best.")
    def beam_is_greedy(self):
        return self.with_part(1, toy_beam_search(1))

    @mistake("That is one greedy run from each of the 2 best first words. Beam search re-ranks all the "
             "candidates at every step: both beams may extend the same partial sentence.")
    def greedy_starts(self):
        return self.with_part(1, toy_greedy_starts(2))

    @mistake("That is the most likely sentence of all (exact search), but beam search never reaches it: "
             "its partial sentence fell out of the 2 beams at step 2. Follow the beams, not the whole tree.")
    def exact(self):
        return self.with_part(1, toy_exact())

    @mistake("Your greedy sentence is beam search's: greedy takes the single most likely word at each step.")
    def greedy_is_beam(self):
        return self.with_part(0, toy_beam_search(2))

    @mistake("The probability is a sum of probabilities; a sentence's probability is their product.")
    def added_probabilities(self):
        beam = toy_beam_search(2)
        return self.with_part(2, sum(TOY_TREE[tuple(beam[:i])][w] for i, w in enumerate(beam)))

    @mistake("That is the last word's probability only: the beam's own score (the words before it) "
             "multiplies in.")
    def last_word_only(self):
        beam = toy_beam_search(2)
        return self.with_part(2, TOY_TREE[tuple(beam[:-1])][beam[-1]])

    @mistake("That is the log-probability of the sentence; give the probability itself (its exp).")
    def log_probability(self):
        return self.with_part(2, math.log(toy_probability(toy_beam_search(2))))

    @mistake("You multiplied log-probabilities; logs of a product add up (and their sum's exp is the product).")
    def multiplied_logs(self):
        beam = toy_beam_search(2)
        return self.with_part(2, math.prod(math.log(TOY_TREE[tuple(beam[:i])][w]) for i, w in enumerate(beam)))

    def diagnose(self, answer, expected):
        parts = ("greedy's words are", "beam search's words are", "the probability of beam search's sentence is")
        for number, (what, part, right) in enumerate(zip(parts, answer, expected), 1):
            if not self.same(part, right):
                return f"{what} not right yet (part {number} of `toy_answer`)."
        return None


# -- q10: predict the memory of more beams ---------------------------------------------------------------
def cache_bytes(cache) -> int:
    """Bytes held by a key/value cache: a transformers Cache (4.5x: ``.layers`` of keys and values;
    older: ``key_cache``/``value_cache``) or the legacy tuple of (key, value) per layer."""
    if hasattr(cache, "layers"):
        tensors = [t for layer in cache.layers for t in (layer.keys, layer.values)]
    elif hasattr(cache, "key_cache"):
        tensors = list(cache.key_cache) + list(cache.value_cache)
    else:
        tensors = [t for layer in cache for t in layer]
    return sum(int(t.numel()) * t.element_size() for t in tensors if t is not None and hasattr(t, "numel"))


@once_per_model
def generate_cache_bytes(model, input_ids: tuple, num_beams: int, eos_token_id: int) -> int:
    """The key/value cache ``generate()`` holds at the end of a beam search (PyTorch model)."""
    import torch

    with torch.no_grad():
        output = model.generate(torch.tensor([input_ids]), attention_mask=torch.ones(1, len(input_ids), dtype=torch.long),
                                num_beams=num_beams, do_sample=False, return_dict_in_generate=True,
                                pad_token_id=eos_token_id, **COST_SETTINGS)
    return cache_bytes(output.past_key_values)


class CacheRatio(PredictionProblem):
    """Predict: the key/value cache of 8 beams is how many times that of 1 beam?"""

    id = "lesson6.q10"
    var = "predicted_cache_ratio"
    framework = "pt"
    explanation = ("Beam search runs the beams as one batch: every beam is its own row, with its own keys "
                   "and values at every layer, so the cache grows in proportion to num_beams.")
    hints = ("What does the cache hold for one sequence, and does a beam share any of it with the "
             "other beams once their tokens differ?",
             "generate() stacks the beams as rows of one batch; the cache holds keys and values for "
             "every row, layer and position.",
             "`predicted_cache_ratio = <cache of 8 beams> / <cache of 1 beam>`: a number you reason out, "
             "not measure.")

    def expected(self):
        tokenizer = self.ctx.tokenizer
        ids, model = tuple(tokenizer.encode(SEARCH_PROMPT)), self.ctx.model("pt")
        one, eight = (generate_cache_bytes(model, ids, k, tokenizer.eos_token_id) for k in (1, 8))
        return eight / one

    @mistake("The beams do not share one cache: once their tokens differ, so do their keys and values.")
    def shared(self):
        return 1

    @mistake("Squared: each beam keeps one sequence's keys and values, not one per pair of beams.")
    def squared(self):
        return 64

    @mistake("Beam search does not store all the sequences it could explore: only num_beams of them.")
    def exponential(self):
        return 8 ** COST_SETTINGS["max_new_tokens"]


# -- q11: explain the time measured, by choosing ---------------------------------------------------------
TIME_CHOICES = {
    "a": "hardly changes: all the beams go through the model together, as one batch",
    "b": "grows, but much less than num_beams times: one batched forward pass per step serves all the beams",
    "c": "grows about num_beams times: every beam costs a forward pass of its own",
    "d": "grows exponentially with num_beams, like the |V|^T sequences of the search space",
}


def accepted_choices(ratio: float) -> set:
    """The choices of TIME_CHOICES that describe a measured ratio time(8 beams) / time(1 beam);
    neighbouring bands overlap, so a ratio near a border accepts both readings."""
    accepted = set()
    if ratio < 2.0:
        accepted.add("a")
    if 1.3 <= ratio <= 6.0:
        accepted.add("b")
    if ratio >= 4.0:
        accepted.add("c")
    return accepted


class TimeGrowth(ValueProblem):
    """``time_growth``: the letter of TIME_CHOICES that your own ``beam_times`` show."""

    id = "lesson6.q11"
    var = "time_growth"
    hints = ("Read your own table: divide the time with 8 beams by the time with 1 beam.",
             "Compare that ratio with 8 (every beam paying its own forward pass) and with 1 (the beams "
             "free); which description fits your number? On another machine the answer can differ.",
             "```\nratio = ...          # time with 8 beams over time with 1, from your table\n"
             "time_growth = ...    # the letter whose description fits that ratio\n```")

    def collect(self, namespace, grading=False):
        payload = super().collect(namespace, grading)
        times = namespace.get("beam_times")
        if "value" in payload and isinstance(times, dict):
            try:
                payload["times"] = {str(int(k)): float(v) for k, v in times.items()}
            except (TypeError, ValueError):
                pass
        return payload

    def judge(self, payload):
        early = verdict_without_answer(payload)
        if early is not None:
            return early
        choice, times = payload.get("value"), payload.get("times") or {}
        if choice not in TIME_CHOICES:
            return incorrect(f"`time_growth` should be one of {sorted(TIME_CHOICES)}, not {choice!r}.")
        if not (times.get("1", 0) > 0 and times.get("8", 0) > 0):
            return incorrect("run the measurement cell first: `beam_times` should hold the seconds for "
                             "num_beams 1 and 8.")
        ratio = times["8"] / times["1"]
        accepted = accepted_choices(ratio)
        reading = f"your 8 beams took {ratio:.1f} times as long as 1 beam"
        if choice in accepted:
            return correct(f"{reading}: the time {TIME_CHOICES[choice]}.")
        if choice == "d":
            return incorrect(f"{reading}, nowhere near exponential: beam search scores num_beams x |V| "
                             "candidates per step; only exact search would face |V|^T.")
        if choice == "c":
            return incorrect(f"{reading}, well under 8: the beams share each step's forward pass as one "
                             "batch, so they do not each pay a full pass.")
        if choice == "a":
            return incorrect(f"{reading}: that is more than 'hardly changes'; the batch is bigger, so "
                             "each step costs more.")
        return incorrect(f"{reading}: " + ("that is close to num_beams times, more than 'much less'."
                                           if ratio > 6 else "that is hardly a change at all."))
