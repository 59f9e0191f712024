"""Lesson 6, what ``generate()`` adds to the plain search: the exercises q7 (the n-gram ban) and q9
(the length penalty), bound by ``lesson6``.

The expected ban comes from the reference ``banned_ngram_tokens`` (the rule of transformers'
``NoRepeatNGramLogitsProcessor``), the ranking score from transformers' rule for finished beams (a
test in ``tests/test_checks_lesson6.py`` holds ``generate()``'s ``sequences_scores`` to it); the
named mistakes are those rules with one classic slip.
"""
from course_utils.checking import FunctionProblem, call_student, mistake
from course_utils.reference import banned_ngram_tokens


# -- q7: the n-gram ban -------------------------------------------------------------------------------
class BannedTokens(FunctionProblem):
    """``banned_tokens(ids, n)``: the tokens that, appended to ``ids``, would repeat an n-gram."""

    id = "lesson6.q7"
    var = "banned_tokens"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "transformers.generation.logits_process._calc_banned_ngram_tokens",
        "transformers.generation.logits_process._get_ngrams",
        "transformers.generation.logits_process.NoRepeatNGramLogitsProcessor.__call__",
    )
    # Every case the text describes is public: its example (n = 3), n = 1 (every token already in
    # `ids` is banned) and a ban found only in the last window; hidden ones add the same kinds.
    public_probes = [{"ids": [10, 20, 30, 10, 20], "n": 3}, {"ids": [10, 20, 30, 10, 20], "n": 1},
                     {"ids": [5, 6, 5, 7, 5], "n": 2}, {"ids": [4, 3, 4, 4], "n": 2}]
    hidden_probes = [{"ids": [1, 2, 3, 4], "n": 2}, {"ids": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], "n": 1},
                     {"ids": [7, 8, 9, 7, 8, 9, 7, 8], "n": 3}, {"ids": [1, 2, 1, 2, 1, 2, 1], "n": 4},
                     {"ids": [4, 4], "n": 3}, {"ids": [2, 9, 9, 9], "n": 3}]
    hints = ("An n-gram is n tokens in a row. The next token would complete an n-gram whose first "
             "n - 1 tokens are the last n - 1 tokens of `ids` (none at all when n = 1).",
             "Take the last n - 1 tokens as a prefix (mind n = 1: the prefix is empty, and the slice "
             "`ids[-0:]` is the whole list, not an empty one). Slide a window of n tokens over "
             "`ids`, the last window included: wherever its first n - 1 tokens equal the prefix, its "
             "last token is banned.",
             "```\nprefix = ...                     # the last n - 1 tokens, [] when n = 1\nbanned = "
             "[]\nfor i in range(...):             # every window ids[i:i + n], the last one too\n    "
             "if ...:                       # its first n - 1 tokens are the prefix\n        "
             "banned.append(...)          # the token that completed it\nreturn banned\n```")

    def run_probe(self, function, spec):
        return call_student(function, list(spec["ids"]), spec["n"])

    @staticmethod
    def banned(ids, n):
        """The reference's ban as a sorted list without repeats (the order of a ban does not matter)."""
        return sorted(set(banned_ngram_tokens(list(ids), n))) if n >= 1 else []

    def expected(self, spec):
        return self.banned(spec["ids"], spec["n"])

    def wrong_form(self, answer, spec):
        if not isinstance(answer, list) or not all(type(t) is int for t in answer):
            return "`banned_tokens` should return a list of token ids (ints)"
        return None

    def normalise(self, answer):
        return sorted(set(answer))

    @mistake("For n = 1 the prefix is empty, but `ids[-(n - 1):]` is `ids[-0:]`, the whole list: nothing "
             "matches it. With n = 1 every token already in `ids` is banned; slice with "
             "`ids[len(ids) - (n - 1):]`.")
    def minus_zero_slice(self, spec):
        return [] if spec["n"] == 1 else None

    @mistake("Off by one: you banned tokens for (n - 1)-grams. An n-gram is the last n - 1 tokens plus "
             "the candidate.")
    def shorter_ngrams(self, spec):
        return self.banned(spec["ids"], spec["n"] - 1) if spec["n"] > 1 else None

    @mistake("Off by one: you banned tokens for (n + 1)-grams. An n-gram is the last n - 1 tokens plus "
             "the candidate.")
    def longer_ngrams(self, spec):
        return self.banned(spec["ids"], spec["n"] + 1)

    @mistake("Off by one in the windows: the last window, `ids[len(ids) - n:]`, was left out. There are "
             "len(ids) - n + 1 windows of n tokens.")
    def last_window_missed(self, spec):
        ids, n = spec["ids"], spec["n"]
        prefix = ids[len(ids) - (n - 1):]
        return sorted({ids[i + n - 1] for i in range(len(ids) - n) if ids[i:i + n - 1] == prefix})

    def diagnose(self, answer, expected, spec):
        return f"the banned tokens should be {expected}, not {answer}"

    def describe_probe(self, spec):
        return f"ids={spec['ids']}, n={spec['n']}"


# -- q9: the length penalty ------------------------------------------------------------------------------
class RankingScore(FunctionProblem):
    """``ranking_score(sum_logprob, prompt_len, total_len, length_penalty)``: how generate() ranks a
    finished beam, ``sum_logprob / new_tokens ** length_penalty`` (transformers' beam search)."""

    id = "lesson6.q9"
    var = "ranking_score"
    public_probes = [{"sum_logprob": -12.5, "prompt_len": 3, "total_len": 13, "length_penalty": 1.0},
                     {"sum_logprob": -12.5, "prompt_len": 3, "total_len": 13, "length_penalty": 2.0},
                     {"sum_logprob": -4.0, "prompt_len": 5, "total_len": 9, "length_penalty": 0.5}]
    hidden_probes = [{"sum_logprob": -30.0, "prompt_len": 10, "total_len": 22, "length_penalty": 1.5},
                     {"sum_logprob": -7.25, "prompt_len": 1, "total_len": 6, "length_penalty": 0.0},
                     {"sum_logprob": -18.0, "prompt_len": 4, "total_len": 10, "length_penalty": -1.0}]
    rtol, atol = 1e-6, 1e-9
    hints = ("The score of a finished beam is its summed log-probability, normalised by its length: "
             "which tokens count as its length, and where does `length_penalty` act on it?",
             "Only the generated tokens were scored, so only they count (the prompt was given). The "
             "length is raised to the power `length_penalty` (1.0: the mean log-probability per new "
             "token; 0.0: no normalisation), and the score is divided by that.",
             "```\nnew_tokens = ...      # the tokens after the prompt\nreturn ...            # the "
             "summed log-prob, normalised by new_tokens to the power length_penalty\n```")

    def run_probe(self, function, spec):
        return call_student(function, spec["sum_logprob"], spec["prompt_len"], spec["total_len"],
                            spec["length_penalty"])

    def expected(self, spec):
        return spec["sum_logprob"] / (spec["total_len"] - spec["prompt_len"]) ** spec["length_penalty"]

    def wrong_form(self, answer, spec):
        if isinstance(answer, bool) or not isinstance(answer, (int, float)):
            return "`ranking_score` should return a number"
        return None

    @mistake("The prompt counted in the length: only the new tokens were scored, so only they count.")
    def prompt_counted(self, spec):
        return spec["sum_logprob"] / spec["total_len"] ** spec["length_penalty"]

    @mistake("The length penalty is an exponent on the length, not a factor: divide by "
             "new_tokens ** length_penalty.")
    def penalty_as_factor(self, spec):
        if spec["length_penalty"] == 0:
            return None
        return spec["sum_logprob"] / ((spec["total_len"] - spec["prompt_len"]) * spec["length_penalty"])

    @mistake("`length_penalty` was left out: the length is raised to its power (1.0 only by default).")
    def penalty_ignored(self, spec):
        return spec["sum_logprob"] / (spec["total_len"] - spec["prompt_len"])

    @mistake("The score was multiplied by the length term; generate() divides by it (a longer beam's "
             "sum is more negative, the division makes up for that).")
    def multiplied(self, spec):
        return spec["sum_logprob"] * (spec["total_len"] - spec["prompt_len"]) ** spec["length_penalty"]

    @mistake("The exponent went on the score; it belongs on the length: sum_logprob / new_tokens ** "
             "length_penalty.")
    def exponent_on_score(self, spec):
        if spec["length_penalty"] != int(spec["length_penalty"]):
            return None                    # a negative number to a fractional power: not a real number
        return spec["sum_logprob"] ** spec["length_penalty"] / (spec["total_len"] - spec["prompt_len"])

    def describe_probe(self, spec):
        return ", ".join(f"{k}={v!r}" for k, v in spec.items())
