"""Lesson 1 — tokenization and encoding: the exercises and their checks.

Expected answers come from the course tokenizer at check time, never from constants here.
"""
from course_utils.checking import FunctionProblem, ValueProblem, bind_exercises, call_student, ____  # noqa: F401

LESSON = "lesson1"
SUBWORD_TEXT = "TensorFlow tokenization"


class VocabularySize(ValueProblem):
    var = "vocab_size"
    hints = ("The tokenizer knows how many entries its vocabulary has: try `len(tokenizer)`.",
             "`len(tokenizer)` counts the base vocabulary plus added special tokens; "
             "`tokenizer.vocab_size` counts the base vocabulary only. For GPT-2 they agree.")
    solution_code = "vocab_size = len(tokenizer)"

    def expected(self):
        return len(self.ctx.tokenizer)

    def wrong_variants(self):
        n = len(self.ctx.tokenizer)
        return {"That is the largest token id, not the number of tokens: ids start at 0.": n - 1}


class SubwordTokens(ValueProblem):
    var = "subword_tokens"
    hints = (f"`tokenizer.tokenize({SUBWORD_TEXT!r})` returns the pieces as strings.",
             "Keep the pieces exactly as the tokenizer returns them, `Ġ` (the leading-space marker) "
             "included.")
    solution_code = f"subword_tokens = tokenizer.tokenize({SUBWORD_TEXT!r})"

    def expected(self):
        return self.ctx.tokenizer.tokenize(SUBWORD_TEXT)

    def compare_with_expected(self, answer, expected, variants):
        from course_utils.checking.verdict import correct, incorrect

        if answer == expected:
            return correct()
        if not isinstance(answer, list) or not all(isinstance(t, str) for t in answer):
            return incorrect("`subword_tokens` should be a list of strings (the token pieces).")
        ids = self.ctx.tokenizer.convert_tokens_to_ids(expected)
        if answer == [self.ctx.tokenizer.decode([i]) for i in ids]:
            return incorrect("Those are the decoded pieces (with real spaces); keep the tokenizer's own "
                             "token strings, where a leading space is written `Ġ`.")
        if answer == SUBWORD_TEXT.split():
            return incorrect("Those are words, not tokens: GPT-2 splits rare words into several subword pieces.")
        return incorrect(f"`subword_tokens` has {len(answer)} pieces but the tokenizer makes "
                         f"{len(expected)}." + self._hint_pointer())


class EncodeDecode(FunctionProblem):
    """The student writes ``round_trip(text)`` returning ``(ids, decoded_text)``."""

    var = "round_trip"
    public_probes = ["Hello world", "The quick brown fox jumps over the lazy dog."]
    hidden_probes = ["  two leading spaces", "Ünïcödé and emoji 🙂 survive byte-level BPE",
                     "<|endoftext|> is special"]
    hints = ("`tokenizer.encode(text)` gives the ids and `tokenizer.decode(ids)` turns them back.",
             "Return a tuple: `return ids, tokenizer.decode(ids)`.")
    solution_code = ("def round_trip(text):\n"
                     "    ids = tokenizer.encode(text)\n"
                     "    return ids, tokenizer.decode(ids)")

    def run_probe(self, function, spec):
        result = call_student(function, spec)
        if result is None:  # the starter stub
            return None
        if not isinstance(result, tuple) or len(result) != 2:
            return {"not_a_pair": True}
        return list(result)

    def expected(self, spec):
        ids = self.ctx.tokenizer.encode(spec)
        return [ids, self.ctx.tokenizer.decode(ids)]

    def judge_probe(self, spec, answer):
        from course_utils.checking import compare

        if not isinstance(answer, list) or len(answer) != 2:
            return "`round_trip` should return a pair `(ids, decoded_text)`"
        ids, text = answer
        expected_ids, expected_text = self.expected(spec)
        if isinstance(ids, list) and len(ids) == len(expected_ids) + 2 and ids[1:-1] == expected_ids:
            return "your ids include extra special tokens; GPT-2 adds none when encoding"
        wrong = compare.mismatch(ids, expected_ids)
        if wrong is not None:
            return f"the ids {wrong}"
        if text != expected_text:
            return f"decoding gave {text!r} instead of {expected_text!r}"
        return None

    def describe_probe(self, spec):
        return repr(spec)


class EndOfTextId(ValueProblem):
    """The id of GPT-2's one special token, ``<|endoftext|>``."""

    var = "eos_id"
    hints = ("The tokenizer names its special tokens: `tokenizer.eos_token` is the string, and it "
             "has an id attribute too.",
             "`tokenizer.eos_token_id`, or `tokenizer.convert_tokens_to_ids('<|endoftext|>')`.")
    solution_code = "eos_id = tokenizer.eos_token_id"

    def expected(self):
        return self.ctx.tokenizer.convert_tokens_to_ids(self.ctx.tokenizer.eos_token)

    def compare_with_expected(self, answer, expected, variants):
        from course_utils.checking.verdict import incorrect

        if isinstance(answer, list):
            if answer == [expected]:
                return incorrect("That is a list holding the id; give the id itself, a single number.")
            return incorrect("`eos_id` should be one number: the special token is a single id, not "
                             "a list of pieces." + self._hint_pointer())
        return super().compare_with_expected(answer, expected, variants)

    def wrong_variants(self):
        n = len(self.ctx.tokenizer)
        return {"That is the size of the vocabulary; ids run from 0 to that number minus one.": n}


qvars = bind_exercises(globals(), LESSON, [VocabularySize, SubwordTokens, EncodeDecode, EndOfTextId])
__all__ = qvars + ["____"]
