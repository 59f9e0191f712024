"""Lesson 1 (tokenization): answers written from the student notebook only."""
from __future__ import annotations

import itertools

from course_utils import load_tokenizer

tokenizer = load_tokenizer()

EXERCISES = {"q2": "subword_tokens", "q3": "round_trip", "q4": "split_documents",
             "q5": "token_cost", "q6": "token_string"}


# -- q2: the pieces of each word -------------------------------------------------------------------
def subword_by_leading_space(sentence):
    """Tokenize the whole sentence; a token that starts with Ġ starts a new word."""
    words = []
    for token in tokenizer.tokenize(sentence):
        if token.startswith("Ġ") or not words:
            words.append([token])
        else:
            words[-1].append(token)
    return words


def subword_word_by_word(sentence):
    """Each word tokenized with the space that precedes it in the sentence (none for the first)."""
    return [tokenizer.tokenize(word if i == 0 else " " + word)
            for i, word in enumerate(sentence.split(" "))]


def subword_prefix_difference(sentence):
    """The tokens each word adds to the tokens of the sentence up to the word before it."""
    words = sentence.split(" ")
    pieces, before = [], []
    for n in range(1, len(words) + 1):
        upto = tokenizer.tokenize(" ".join(words[:n]))
        pieces.append(upto[len(before):])
        before = upto
    return pieces


def subword_alone(sentence):
    """WRONG: each word tokenized on its own, without the space it has in the sentence."""
    return [tokenizer.tokenize(word) for word in sentence.split()]


def subword_without_marker(sentence):
    """WRONG: the right grouping, but the Ġ stripped from the token strings."""
    return [[token.lstrip("Ġ") for token in word] for word in subword_by_leading_space(sentence)]


def subword_space_everywhere(sentence):
    """WRONG: a space put before every word, the first one too."""
    return [tokenizer.tokenize(" " + word) for word in sentence.split()]


# -- q3: round trip --------------------------------------------------------------------------------
def round_trip_plain(text):
    """encode, then decode the whole list."""
    ids = tokenizer.encode(text)
    return ids, tokenizer.decode(ids)


def round_trip_via_call(text):
    """The ids from calling the tokenizer (a dict), then decode."""
    ids = list(tokenizer(text)["input_ids"])
    decoded = tokenizer.decode(ids)
    return ids, decoded


def round_trip_via_tokens(text):
    """Tokens, then their ids one for one, then decode (returns a tuple built at the end)."""
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))
    return (ids, tokenizer.decode(ids))


def round_trip_skip_special(text):
    """WRONG: decode with skip_special_tokens=True, which drops <|endoftext|>."""
    ids = tokenizer.encode(text)
    return ids, tokenizer.decode(ids, skip_special_tokens=True)


def round_trip_id_by_id(text):
    """WRONG: every id decoded alone and the pieces joined (an emoji's bytes split into �)."""
    ids = tokenizer.encode(text)
    return ids, "".join(tokenizer.decode([i]) for i in ids)


def round_trip_clean_spaces(text):
    """WRONG: decode with clean_up_tokenization_spaces=True, which removes spaces before punctuation."""
    ids = tokenizer.encode(text)
    return ids, tokenizer.decode(ids, clean_up_tokenization_spaces=True)


def round_trip_tokens_not_ids(text):
    """WRONG: the token strings where the ids belong."""
    tokens = tokenizer.tokenize(text)
    return tokens, tokenizer.convert_tokens_to_string(tokens)


# -- q4: cut a stream into documents ---------------------------------------------------------------
def split_documents_loop(ids):
    """One pass; a separator closes the current document when it holds something."""
    separator = tokenizer.eos_token_id
    documents, current = [], []
    for token in ids:
        if token == separator:
            if current:
                documents.append(current)
            current = []
        else:
            current.append(token)
    if current:
        documents.append(current)
    return documents


def split_documents_groupby(ids):
    """itertools.groupby on 'is the separator', keeping the groups that are not."""
    separator = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    return [list(group) for is_separator, group in itertools.groupby(ids, lambda t: t == separator)
            if not is_separator]


def split_documents_by_index(ids):
    """Slices between the positions of the separator, the empty ones dropped."""
    (separator,) = tokenizer.encode("<|endoftext|>")
    ids = list(ids)
    cuts = [-1] + [i for i, token in enumerate(ids) if token == separator] + [len(ids)]
    return [ids[a + 1:b] for a, b in zip(cuts, cuts[1:]) if b - a > 1]


def split_documents_keeps_empty(ids):
    """WRONG: splits at every separator but keeps the empty documents."""
    separator = tokenizer.eos_token_id
    documents, current = [], []
    for token in ids:
        if token == separator:
            documents.append(current)
            current = []
        else:
            current.append(token)
    documents.append(current)
    return documents


def split_documents_keeps_separator(ids):
    """WRONG: every document keeps the separator that ends it."""
    separator = tokenizer.eos_token_id
    documents, current = [], []
    for token in ids:
        current.append(token)
        if token == separator:
            if len(current) > 1:
                documents.append(current)
            current = []
    if current:
        documents.append(current)
    return documents


def split_documents_drops_last(ids):
    """WRONG: a document is emitted only when a separator follows it (a stream's tail is lost)."""
    separator = tokenizer.eos_token_id
    documents, current = [], []
    for token in ids:
        if token == separator:
            if current:
                documents.append(current)
            current = []
        else:
            current.append(token)
    return documents


# -- q5: what a word costs -------------------------------------------------------------------------
def token_cost_with_space(word):
    """The number of ids of the word with its leading space."""
    return len(tokenizer.encode(" " + word))


def token_cost_in_sentence(word):
    """The ids a sentence gains when the word is appended to it."""
    context = "I flew to"
    return len(tokenizer.encode(context + " " + word)) - len(tokenizer.encode(context))


def token_cost_tokens(word):
    """Counts the token strings of ' word', after checking the argument."""
    if not isinstance(word, str) or not word:
        raise ValueError("word must be a non-empty string")
    return len(tokenizer.tokenize(f" {word}"))


def token_cost_alone(word):
    """WRONG: the word alone, without the space it has in a sentence."""
    return len(tokenizer.encode(word))


def token_cost_space_counted(word):
    """WRONG: believes the space is a token of its own and leaves it out (one less)."""
    return len(tokenizer.encode(" " + word)) - 1


def token_cost_characters(word):
    """WRONG: counts characters, as if every letter were a token."""
    return len(word)


# -- q6: the Ġ rule --------------------------------------------------------------------------------
def token_string_replace(piece):
    """Every space written as Ġ."""
    return piece.replace(" ", "Ġ")


def token_string_by_character(piece):
    """Character by character, a space becomes Ġ (input checked)."""
    if not isinstance(piece, str):
        raise TypeError("piece must be a string")
    return "".join("\u0120" if character == " " else character for character in piece)


def _byte_alphabet():
    """GPT-2's byte -> printable character table: printable bytes stay, the others move to 256+."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    table, shift = {}, 0
    for byte in range(256):
        if byte in keep:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + shift)
            shift += 1
    return table


def token_string_bytes(piece):
    """The byte-level rule in full: UTF-8 bytes, each written by the printable-byte table."""
    table = _byte_alphabet()
    return "".join(table[b] for b in piece.encode("utf-8"))


def token_string_always_marker(piece):
    """WRONG: puts Ġ in front of every piece, whether it starts with a space or not."""
    return "Ġ" + piece.lstrip(" ")


def token_string_strip(piece):
    """WRONG: drops the space (Ġ forgotten)."""
    return piece.strip()


def token_string_sentencepiece(piece):
    """WRONG: SentencePiece's ▁ marker instead of GPT-2's Ġ."""
    return piece.replace(" ", "▁")


def token_string_marker_after(piece):
    """WRONG: the marker written after the word (space taken to belong to the word before)."""
    return piece.strip() + "Ġ" if piece.startswith(" ") else piece


RIGHT = {
    "q2": [subword_by_leading_space, subword_word_by_word, subword_prefix_difference],
    "q3": [round_trip_plain, round_trip_via_call, round_trip_via_tokens],
    "q4": [split_documents_loop, split_documents_groupby, split_documents_by_index],
    "q5": [token_cost_with_space, token_cost_in_sentence, token_cost_tokens],
    "q6": [token_string_replace, token_string_by_character, token_string_bytes],
}
WRONG = {
    "q2": [subword_alone, subword_without_marker, subword_space_everywhere],
    "q3": [round_trip_skip_special, round_trip_id_by_id, round_trip_clean_spaces, round_trip_tokens_not_ids],
    "q4": [split_documents_keeps_empty, split_documents_keeps_separator, split_documents_drops_last],
    "q5": [token_cost_alone, token_cost_space_counted, token_cost_characters],
    "q6": [token_string_always_marker, token_string_strip, token_string_sentencepiece, token_string_marker_after],
}
EXTRA: dict = {}
