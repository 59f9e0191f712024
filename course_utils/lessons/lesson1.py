"""Lesson 1 — tokenization and encoding: the exercises and their checks.

Expected answers come from the course tokenizer at check time, never from constants here.
"""
from course_utils.checking import FunctionProblem, ValueProblem, bind_exercises, call_student, mistake, ____  # noqa: F401
from course_utils.checking import compare

SUBWORD_TEXT = "TensorFlow tokenization"


class VocabularySize(ValueProblem):
    id = "lesson1.q1"
    var = "vocab_size"
    hints = ("The tokenizer knows how many entries its vocabulary has: try `len(tokenizer)`.",
             "`len(tokenizer)` counts the base vocabulary plus added special tokens; "
             "`tokenizer.vocab_size` counts the base vocabulary only. For GPT-2 they agree.")

    def expected(self):
        return len(self.ctx.tokenizer)

    @mistake("That is the largest token id, not the number of tokens: ids start at 0.")
    def largest_id(self):
        return len(self.ctx.tokenizer) - 1


class SubwordTokens(ValueProblem):
    id = "lesson1.q2"
    var = "subword_tokens"
    hints = (f"`tokenizer.tokenize({SUBWORD_TEXT!r})` returns the pieces as strings.",
             "Keep the pieces exactly as the tokenizer returns them, `Ġ` (the leading-space marker) "
             "included.")

    def expected(self):
        return self.ctx.tokenizer.tokenize(SUBWORD_TEXT)

    def wrong_form(self, answer):
        if not isinstance(answer, list) or not all(isinstance(t, str) for t in answer):
            return "`subword_tokens` should be a list of strings (the token pieces)."
        return None

    @mistake("Those are the decoded pieces (with real spaces); keep the tokenizer's own token strings, "
             "where a leading space is written `Ġ`.")
    def decoded_pieces(self):
        tokenizer = self.ctx.tokenizer
        return [tokenizer.decode([i]) for i in tokenizer.convert_tokens_to_ids(self.expected())]

    @mistake("Those are words, not tokens: GPT-2 splits rare words into several subword pieces.")
    def words(self):
        return SUBWORD_TEXT.split()

    def diagnose(self, answer, expected):
        return f"`subword_tokens` has {len(answer)} pieces but the tokenizer makes {len(expected)}." + \
            self.hint_pointer()


class EncodeDecode(FunctionProblem):
    """The student writes ``round_trip(text)`` returning ``(ids, decoded_text)``."""

    id = "lesson1.q3"
    var = "round_trip"
    public_probes = ["Hello world", "The quick brown fox jumps over the lazy dog."]
    hidden_probes = ["  two leading spaces", "Ünïcödé and emoji 🙂 survive byte-level BPE",
                     "<|endoftext|> is special"]
    hints = ("`tokenizer.encode(text)` gives the ids and `tokenizer.decode(ids)` turns them back.",
             "Return a tuple: `return ids, tokenizer.decode(ids)`.")

    def run_probe(self, function, spec):
        result = call_student(function, spec)
        if result is None:  # the starter stub
            return None
        if not isinstance(result, tuple) or len(result) != 2:
            return {"not_a_pair": True}
        return list(result)

    def expected(self, spec):
        ids = self.ctx.tokenizer.encode(spec)
        return ids, self.ctx.tokenizer.decode(ids)      # a record: compared part by part

    def wrong_form(self, answer, spec):
        if not isinstance(answer, list) or len(answer) != 2:
            return "`round_trip` should return a pair `(ids, decoded_text)`"
        return None

    def diagnose(self, answer, expected, spec):
        (ids, text), (expected_ids, expected_text) = answer, expected
        if isinstance(ids, list) and len(ids) == len(expected_ids) + 2 and ids[1:-1] == expected_ids:
            return "your ids include extra special tokens; GPT-2 adds none when encoding"
        wrong = compare.mismatch(ids, expected_ids)
        if wrong is not None:
            return f"the ids {wrong}"
        return f"decoding gave {text!r} instead of {expected_text!r}"

    def describe_probe(self, spec):
        return repr(spec)


class EndOfTextId(ValueProblem):
    """The id of GPT-2's one special token, ``<|endoftext|>``."""

    id = "lesson1.q4"
    var = "eos_id"
    hints = ("The tokenizer names its special tokens: `tokenizer.eos_token` is the string, and it "
             "has an id attribute too.",
             "`tokenizer.eos_token_id`, or `tokenizer.convert_tokens_to_ids('<|endoftext|>')`.")

    def expected(self):
        return self.ctx.tokenizer.convert_tokens_to_ids(self.ctx.tokenizer.eos_token)

    @mistake("That is the size of the vocabulary; ids run from 0 to that number minus one.")
    def vocabulary_size(self):
        return len(self.ctx.tokenizer)

    def diagnose(self, answer, expected):
        if answer == [expected]:
            return "That is a list holding the id; give the id itself, a single number."
        if isinstance(answer, list):
            return ("`eos_id` should be one number: the special token is a single id, not a list of "
                    "pieces." + self.hint_pointer())
        return None


qvars = bind_exercises(globals(), [VocabularySize, SubwordTokens, EncodeDecode, EndOfTextId])
__all__ = qvars + ["____"]
