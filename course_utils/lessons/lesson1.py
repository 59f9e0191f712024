"""Lesson 1 — tokenization and encoding: the exercises and their checks.

Expected answers come from the course tokenizer at check time, never from constants here.
"""
from course_utils.checking import FunctionProblem, ValueProblem, bind_exercises, call_student, mistake, ____  # noqa: F401
from course_utils.checking import compare
from course_utils.lessons.lesson1_documents import SplitDocuments
from course_utils.lessons.lesson1_vocabulary import VocabularySize

SUBWORD_TEXT = "TensorFlow tokenization"


class SubwordTokens(FunctionProblem):
    """``subword_tokens(sentence)``: for each word of ``sentence``, the token strings it is made of
    *in that sentence* (a list of lists of strings, one list per word)."""

    id = "lesson1.q2"
    var = "subword_tokens"
    public_probes = [SUBWORD_TEXT, "I flew to Lisbon"]
    hidden_probes = ["Tokenization is antidisestablishmentarianism", "Kaggle notebooks run TensorFlow"]
    hints = ("A word in the middle of a sentence is not the same text as the word alone: the space in "
             "front of it belongs to its first token.",
             "Either tokenize each word the way it appears in the sentence (its space included, except "
             "for the first word), or tokenize the whole sentence once and cut the list of tokens "
             "wherever a new word starts: what marks the first token of a word that follows a space?",
             "```\ndef subword_tokens(sentence):\n    words = []\n    for token in "
             "tokenizer.tokenize(sentence):\n        if not words or ...:   # does this token start a "
             "new word?\n            words.append([])\n        words[-1].append(token)\n    return "
             "words\n```")

    def expected(self, spec):
        words = []
        for token in self.ctx.tokenizer.tokenize(spec):
            if not words or token.startswith("\u0120"):   # Ġ: this token begins with a space
                words.append([])
            words[-1].append(token)
        return tuple(words)   # a record: compared word by word, each list of strings exactly

    def wrong_form(self, answer, spec):
        if not isinstance(answer, list) or not all(isinstance(word, list) for word in answer):
            return "`subword_tokens` should return a list with one list of token strings per word"
        if not all(isinstance(token, str) for word in answer for token in word):
            return "each word's list should hold token strings (what `tokenize` gives), not ids"
        return None

    @mistake("You tokenized each word alone, without the space that comes before it in the sentence: "
             "`' tokenization'` and `'tokenization'` are different texts, and BPE splits them differently.")
    def words_alone(self, spec):
        return tuple(self.ctx.tokenizer.tokenize(word) for word in spec.split())

    @mistake("The first word has no space in front of it: only the words after it start with `Ġ`.")
    def space_before_every_word(self, spec):
        return tuple(self.ctx.tokenizer.tokenize(" " + word) for word in spec.split())

    @mistake("Those are the decoded pieces (with real spaces); keep the tokenizer's own token strings, "
             "where a leading space is written `Ġ`.")
    def decoded_pieces(self, spec):
        tokenizer = self.ctx.tokenizer
        return tuple([tokenizer.decode([i]) for i in tokenizer.convert_tokens_to_ids(word)]
                     for word in self.expected(spec))

    @mistake("Those are the words themselves, one piece each: GPT-2 splits rare words into several "
             "subword tokens.")
    def words(self, spec):
        return tuple([word] for word in spec.split())

    def diagnose(self, answer, expected, spec):
        if len(answer) != len(expected):
            return f"the sentence has {len(expected)} words and you returned {len(answer)} lists"
        return None

    def describe_probe(self, spec):
        return repr(spec)


class EncodeDecode(FunctionProblem):
    """The student writes ``round_trip(text)`` returning ``(ids, decoded_text)``."""

    id = "lesson1.q3"
    var = "round_trip"
    public_probes = ["Hello world", "The quick brown fox jumps over the lazy dog.",
                     "A smile\U0001f642 and <|endoftext|>, then  two spaces"]
    hidden_probes = ["  two leading spaces", "Ünïcödé and emoji 🙂 survive byte-level BPE",
                     "<|endoftext|> is special"]
    hints = ('Encoding turns text into ids and decoding turns ids back into text: the function '
             'does one after the other, and the test texts are chosen to catch every shortcut that '
             'loses a byte.',
             "First compute the list of ids with the tokenizer's encoding method and keep it in a "
             'variable; then decode *that* list; return both, ids first.',
             '```\ndef round_trip(text):\n    ids = tokenizer.encode(...)\n    decoded = '
             'tokenizer.decode(...)\n    return ..., ...\n```')

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

    @mistake("The pair is the wrong way round: the ids first, then the decoded text.")
    def swapped(self, spec):
        ids = self.ctx.tokenizer.encode(spec)
        return self.ctx.tokenizer.decode(ids), ids

    @mistake("You decoded each id on its own and joined the pieces: a token can hold only part of a "
             "character's bytes (an emoji), and a part decodes alone to `\ufffd`. Decode the whole list at once.")
    def pieces_joined(self, spec):
        ids = self.ctx.tokenizer.encode(spec)
        return ids, "".join(self.ctx.tokenizer.decode([i]) for i in ids)

    @mistake("`skip_special_tokens=True` drops `<|endoftext|>`, so the round trip is no longer exact: "
             "decode with the defaults.")
    def special_skipped(self, spec):
        ids = self.ctx.tokenizer.encode(spec)
        return ids, self.ctx.tokenizer.decode(ids, skip_special_tokens=True)

    @mistake("The decoded text was stripped of its leading and trailing spaces; the round trip gives "
             "the text back exactly, spaces included.")
    def stripped(self, spec):
        ids = self.ctx.tokenizer.encode(spec)
        return ids, self.ctx.tokenizer.decode(ids).strip()

    def diagnose(self, answer, expected, spec):
        (ids, text), (expected_ids, expected_text) = answer, expected
        if isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids):
            return ("those 'ids' are token strings (what `tokenize` gives); the ids are the integers that "
                    "`encode` gives")
        if isinstance(ids, list) and len(ids) == len(expected_ids) + 2 and ids[1:-1] == expected_ids:
            return "your ids include extra special tokens; GPT-2 adds none when encoding"
        wrong = compare.mismatch(ids, expected_ids)
        if wrong is not None:
            return f"the ids {wrong}"
        return f"decoding gave {text!r} instead of {expected_text!r}"

    def describe_probe(self, spec):
        return repr(spec)


class TokenCost(FunctionProblem):
    """``token_cost(word)``: how many tokens ``word`` costs in the middle of a sentence."""

    id = "lesson1.q5"
    var = "token_cost"
    public_probes = ["Lisbon", "tokenization"]
    hidden_probes = ["antidisestablishmentarianism", "Kaggle", "the"]
    hints = ("In the middle of a sentence a word comes after a space, and the space belongs to the "
             "word's first token.",
             "Encode the word *as it appears in a sentence*, its leading space included, and count the ids.",
             "`return len(tokenizer.encode(<the word with its leading space>))`")

    def expected(self, spec):
        return len(self.ctx.tokenizer.encode(" " + spec))

    @mistake("You counted the word without the space before it, as at the very start of a text; in a "
             "sentence the space is part of the word's first token, and that can change the count.")
    def without_space(self, spec):
        return len(self.ctx.tokenizer.encode(spec))

    @mistake("You counted characters; a token is usually several characters.")
    def characters(self, spec):
        return len(spec)

    @mistake("`len(tokenizer(...))` counts the keys of the dictionary the tokenizer returns "
             "(`input_ids`, `attention_mask`), not tokens: count the ids.")
    def dictionary_keys(self, spec):
        return len(self.ctx.tokenizer(" " + spec))

    def describe_probe(self, spec):
        return repr(spec)


class TokenString(FunctionProblem):
    """``token_string(piece)``: the vocabulary's string for a piece of text that is one token."""

    id = "lesson1.q6"
    var = "token_string"
    public_probes = [" be", "be", " learning"]
    hidden_probes = [" Be", " the", "the"]
    hints = ("Look at the tables above: how is the token `' be'` written in the vocabulary, and `'be'`?",
             "The vocabulary writes every byte as a printable character; only the space byte changes in "
             "these pieces, and it keeps its place, in front.",
             "`return piece.<string method>(\" \", <the character the vocabulary shows for a space>)`")

    def expected(self, spec):
        tokenizer = self.ctx.tokenizer
        return tokenizer.convert_ids_to_tokens(tokenizer.encode(spec))[0]

    @mistake("That is the piece as it is; the vocabulary does not write a space as a space.")
    def unchanged(self, spec):
        return spec

    @mistake("You dropped the space; the vocabulary keeps it, written `Ġ`, so `' be'` and `'be'` are "
             "two different tokens.")
    def stripped(self, spec):
        return spec.strip()

    @mistake("The `Ġ` goes where the space is: in front of the word.")
    def marker_after(self, spec):
        return spec.strip() + "\u0120" if spec.startswith(" ") else None

    def describe_probe(self, spec):
        return repr(spec)


EMOJI = "\U0001f642"   # the slightly smiling face, four bytes in UTF-8


class LonePieces(ValueProblem):
    """What each token of an emoji decodes to on its own: a byte-level surprise."""

    id = "lesson1.q7"
    var = "lone_pieces"
    hints = ("Decode each id of the emoji *by itself*, not all of them together.",
             "`tokenizer.encode(EMOJI)` gives the ids; decode a list holding just one of them, for each "
             "id in turn, and keep the strings in a list, in order.",
             "`lone_pieces = [tokenizer.decode(...) for ... in tokenizer.encode(EMOJI)]`")

    def expected(self):
        tokenizer = self.ctx.tokenizer
        return [tokenizer.decode([i]) for i in tokenizer.encode(EMOJI)]

    def wrong_form(self, answer):
        if not isinstance(answer, list) or not all(isinstance(t, str) for t in answer):
            return "`lone_pieces` should be a list of strings, one per token of the emoji."
        return None

    @mistake("You decoded all the ids together, which gives the emoji back; decode each id on its own.")
    def together(self):
        return [EMOJI]

    @mistake("Those are the token strings (`tokenize`); decode each id instead, to see what text a "
             "single token stands for.")
    def token_strings(self):
        return self.ctx.tokenizer.tokenize(EMOJI)

    def diagnose(self, answer, expected):
        return (f"`lone_pieces` has {len(answer)} strings; the emoji is {len(expected)} tokens, and each "
                f"should be decoded alone." + self.hint_pointer())


qvars = bind_exercises(globals(), [VocabularySize, SubwordTokens, EncodeDecode, SplitDocuments, TokenCost,
                                   TokenString, LonePieces])
__all__ = qvars + ["EMOJI", "____"]
