"""Lesson 6, the n-gram ban: the exercise q7, bound by ``lesson6``.

The expected ban comes from the reference ``banned_ngram_tokens`` (the rule of transformers'
``NoRepeatNGramLogitsProcessor``); the named mistakes are that rule with one classic slip.
"""
from course_utils.checking import FunctionProblem, call_student, mistake
from course_utils.reference import banned_ngram_tokens


# -- q7: the n-gram ban -------------------------------------------------------------------------------
class BannedTokens(FunctionProblem):
    """``banned_tokens(ids, n)``: the tokens that, appended to ``ids``, would repeat an n-gram."""

    id = "lesson6.q7"
    var = "banned_tokens"
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
