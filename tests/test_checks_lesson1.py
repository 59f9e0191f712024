"""Lesson 1 (tokenization): the checks and the notebook.

References pass, named mistakes are named, starters are Not attempted, answers that lie about
themselves fail, grading mode raises on wrong answers (hidden probes included), and the trusted
``judge_answer`` agrees with the kernel. The source notebook runs with every reference answer
Correct; its student version runs unanswered and says Not attempted.
"""
from __future__ import annotations


import pytest

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, judge_answer, ____
from course_utils.lessons import lesson1


from lesson_check_helpers import EqualsEverythingInt as EqualsEverything, assert_named, bundled, check, grade  # noqa: F401 (bundled: autouse fixture)


def round_trip(tokenizer):
    def round_trip(text):
        ids = tokenizer.encode(text)
        return ids, tokenizer.decode(ids)

    return round_trip


# -- q1: vocabulary size ---------------------------------------------------------------------------
def test_q1_vocab_size(tokenizer):
    assert check(lesson1.q1, vocab_size=len(tokenizer)).status == CORRECT
    off_by_one = check(lesson1.q1, vocab_size=len(tokenizer) - 1)
    assert off_by_one.status == INCORRECT and "largest token id" in off_by_one.message
    assert check(lesson1.q1, vocab_size=____).status == NOT_ATTEMPTED
    assert check(lesson1.q1).status == NOT_ATTEMPTED                      # never assigned
    assert check(lesson1.q1, vocab_size=EqualsEverything(3)).status == INCORRECT


# -- q2: the pieces of each word -------------------------------------------------------------------
def subword_tokens(tokenizer):
    def subword_tokens(sentence):
        words = []
        for token in tokenizer.tokenize(sentence):
            if not words or token.startswith("\u0120"):
                words.append([])
            words[-1].append(token)
        return words

    return subword_tokens


def test_q2_subword_tokens(tokenizer):
    import re

    def by_chunks(sentence):   # equivalent: the pre-tokenisation chunks, each tokenized
        return [tokenizer.tokenize(chunk) for chunk in re.findall(r" ?[^\W\d_]+", sentence)]

    for answer in (subword_tokens(tokenizer), by_chunks):
        assert check(lesson1.q2, subword_tokens=answer).status == CORRECT
        assert grade(lesson1.q2, subword_tokens=answer).status == CORRECT
    flat = check(lesson1.q2, subword_tokens=tokenizer.tokenize)
    assert flat.status == INCORRECT and "one list of token strings per word" in flat.message
    ids = check(lesson1.q2, subword_tokens=lambda s: [tokenizer.encode(" " + w) for w in s.split()])
    assert ids.status == INCORRECT and "not ids" in ids.message
    assert check(lesson1.q2, subword_tokens=____).status == NOT_ATTEMPTED
    assert check(lesson1.q2, subword_tokens=subword_tokens(tokenizer)("TensorFlow tokenization")).status == INCORRECT


def test_q2_hidden_probes(tokenizer):
    right = subword_tokens(tokenizer)

    def public_only(sentence):
        return right(sentence) if sentence in lesson1.q2.public_probes else [[sentence]]

    assert check(lesson1.q2, subword_tokens=public_only).status == CORRECT
    assert grade(lesson1.q2, subword_tokens=public_only).status == INCORRECT


# -- q3: round trip --------------------------------------------------------------------------------
def test_q3_round_trip(tokenizer):
    assert check(lesson1.q3, round_trip=round_trip(tokenizer)).status == CORRECT
    assert grade(lesson1.q3, round_trip=round_trip(tokenizer)).status == CORRECT

    def with_specials(text):
        ids = [tokenizer.eos_token_id] + tokenizer.encode(text) + [tokenizer.eos_token_id]
        return ids, text

    specials = check(lesson1.q3, round_trip=with_specials)
    assert specials.status == INCORRECT and "extra special tokens" in specials.message
    not_a_pair = check(lesson1.q3, round_trip=lambda text: tokenizer.encode(text))
    assert not_a_pair.status == INCORRECT and "pair" in not_a_pair.message
    lossy = check(lesson1.q3, round_trip=lambda text: (tokenizer.encode(text), text.lower()))
    assert lossy.status == INCORRECT and "decoding gave" in lossy.message
    crashed = check(lesson1.q3, round_trip=lambda text: 1 / 0)
    assert crashed.status == INCORRECT and "ZeroDivisionError" in crashed.message

    def stub(text):
        pass

    assert check(lesson1.q3, round_trip=stub).status == NOT_ATTEMPTED


@pytest.mark.parametrize("kind, phrase", [
    ("swapped", "wrong way round"), ("pieces", "decoded each id on its own"),
    ("skip special", "skip_special_tokens=True"), ("stripped", "stripped"),
    ("token strings", "token strings"),
])
def test_q3_named_mistakes_under_check_and_grader(tokenizer, kind, phrase):
    def variant(text):
        ids = tokenizer.encode(text)
        if kind == "swapped":
            return tokenizer.decode(ids), ids
        if kind == "pieces":
            return ids, "".join(tokenizer.decode([i]) for i in ids)
        if kind == "skip special":
            return ids, tokenizer.decode(ids, skip_special_tokens=True)
        if kind == "stripped":
            return ids, tokenizer.decode(ids).strip()
        tokens = tokenizer.tokenize(text)
        return tokens, tokenizer.convert_tokens_to_string(tokens)

    if kind != "stripped":                       # only a hidden text has spaces at an end
        assert_named(check(lesson1.q3, round_trip=variant), phrase)
    assert_named(grade(lesson1.q3, round_trip=variant), phrase)
    payload = lesson1.q3.collect({"round_trip": variant}, grading=True)
    assert_named(judge_answer("lesson1.q3", payload), phrase)


def test_q3_hidden_probes_catch_what_public_ones_miss(tokenizer):
    def strips(text):  # right on the public probes, wrong on "  two leading spaces"
        ids = tokenizer.encode(text.strip())
        return ids, tokenizer.decode(ids)

    assert check(lesson1.q3, round_trip=strips).status == CORRECT
    hidden = grade(lesson1.q3, round_trip=strips)
    assert hidden.status == INCORRECT and "hidden test" in hidden.message
    assert "two leading spaces" not in hidden.message     # hidden inputs stay secret
    assert 0 < hidden.score < hidden.max_score            # partial credit


# -- q4: documents split at <|endoftext|> -----------------------------------------------------------
def split_documents(tokenizer):
    def split_documents(ids):
        documents, current = [], []
        for token_id in ids:
            if token_id == tokenizer.eos_token_id:
                documents.append(current)
                current = []
            else:
                current.append(token_id)
        return [d for d in documents + [current] if d]

    return split_documents


def test_q4_split_documents(tokenizer):
    def by_text(ids):   # equivalent: decode, split on the token's string, encode each part again
        parts = tokenizer.decode(ids).split(tokenizer.eos_token)
        return [tokenizer.encode(part) for part in parts if part]

    for answer in (split_documents(tokenizer), by_text):
        assert check(lesson1.q4, split_documents=answer).status == CORRECT
        assert grade(lesson1.q4, split_documents=answer).status == CORRECT
    assert check(lesson1.q4, split_documents=____).status == NOT_ATTEMPTED
    flat = check(lesson1.q4, split_documents=lambda ids: ids)
    assert flat.status == INCORRECT and "list of documents" in flat.message
    assert check(lesson1.q4, split_documents=lambda ids: [[0]]).status == INCORRECT


def test_q4_hidden_probes(tokenizer):
    right = split_documents(tokenizer)

    def only_ends(ids):   # never sees a separator at the start: keeps the empty first piece
        return [[]] + right(ids) if ids and ids[0] == tokenizer.eos_token_id else right(ids)

    assert check(lesson1.q4, split_documents=only_ends).status == CORRECT
    assert grade(lesson1.q4, split_documents=only_ends).status == INCORRECT


def test_q1_typed_number_gets_a_remark(tokenizer):
    typed = check(lesson1.q1, vocab_size=len(tokenizer), _ih=["", f"vocab_size = {len(tokenizer)}"])
    assert typed.status == CORRECT and "typed it in" in typed.message
    computed = check(lesson1.q1, vocab_size=len(tokenizer), _ih=["", "vocab_size = len(tokenizer)"])
    assert computed.status == CORRECT and "typed" not in computed.message


def test_q1_typed_in_reads_the_code_that_ran_not_the_template(tokenizer):
    """The template's blank kept above the answer is not a typed number; what ran last decides,
    under check() and in what the grader records (the payload)."""
    from course_utils.checking import judge_answer

    n = len(tokenizer)
    kept_blank = "vocab_size = ____\nvocab_size = len(tokenizer)"
    for cell, typed in [(kept_blank, False), ("vocab_size = len(tokenizer)  # 50_257", False),
                        (f"vocab_size = {n:_}  # counted", True), (f"vocab_size = 50_000 + {n - 50_000}", True),
                        (f"vocab_size = len(tokenizer)\nvocab_size = {n}", True),
                        (f"vocab_size = {n}\nvocab_size = len(tokenizer)", False),
                        (f"n = len(tokenizer)\nvocab_size = n", False)]:
        namespace = dict(vocab_size=n, _ih=["", cell, "q1.check()"])
        for verdict in (check(lesson1.q1, **namespace),
                        judge_answer(lesson1.q1.id, lesson1.q1.collect(namespace, grading=True))):
            assert verdict.status == CORRECT, cell
            assert ("typed it in" in verdict.message) == typed, cell


def test_messages_name_the_exercise(tokenizer):
    wrong = check(lesson1.q1, vocab_size=len(tokenizer) - 1)
    assert "`q1.hint()`" in wrong.message
    assert "<code>q1.hint()</code>" in wrong._repr_html_()       # code rendered as code
    assert "`" not in wrong._repr_html_()
    one = check(lesson1.q5, token_cost=lambda word: len(tokenizer.encode(" " + word)))
    assert "all 2 test cases pass" in one.message
    two_wrong = check(lesson1.q6, token_string=lambda piece: "x")
    assert "(2 more test cases fail too.)" in two_wrong.message
    assert "(1 more test case fails too.)" in check(lesson1.q5, token_cost=lambda word: 0).message


# -- q5: what a word costs -------------------------------------------------------------------------
def test_q5_token_cost(tokenizer):
    assert check(lesson1.q5, token_cost=lambda word: len(tokenizer.encode(" " + word))).status == CORRECT
    assert grade(lesson1.q5, token_cost=lambda word: len(tokenizer.encode(" " + word))).status == CORRECT
    no_space = check(lesson1.q5, token_cost=lambda word: len(tokenizer.encode(word)))
    assert no_space.status == INCORRECT and "without the space" in no_space.message
    characters = check(lesson1.q5, token_cost=len)
    assert characters.status == INCORRECT and "characters" in characters.message

    def stub(word):
        pass

    assert check(lesson1.q5, token_cost=stub).status == NOT_ATTEMPTED


# -- q6: the Ġ rule --------------------------------------------------------------------------------
def test_q6_token_string():
    assert check(lesson1.q6, token_string=lambda piece: piece.replace(" ", "\u0120")).status == CORRECT
    assert grade(lesson1.q6, token_string=lambda piece: piece.replace(" ", "\u0120")).status == CORRECT
    stripped = check(lesson1.q6, token_string=str.strip)
    assert stripped.status == INCORRECT and "dropped the space" in stripped.message
    after = check(lesson1.q6, token_string=lambda piece: piece.strip() + ("\u0120" if piece[0] == " " else ""))
    assert after.status == INCORRECT and "in front" in after.message
    assert "as it is" in check(lesson1.q6, token_string=lambda piece: piece).message


# -- q7: a byte-level surprise ---------------------------------------------------------------------
def test_q7_lone_pieces(tokenizer):
    pieces = [tokenizer.decode([i]) for i in tokenizer.encode(lesson1.EMOJI)]
    assert check(lesson1.q7, lone_pieces=pieces).status == CORRECT
    together = check(lesson1.q7, lone_pieces=[lesson1.EMOJI])
    assert together.status == INCORRECT and "together" in together.message
    strings = check(lesson1.q7, lone_pieces=tokenizer.tokenize(lesson1.EMOJI))
    assert strings.status == INCORRECT and "token strings" in strings.message
    assert check(lesson1.q7, lone_pieces=____).status == NOT_ATTEMPTED
    assert "should be a list" in check(lesson1.q7, lone_pieces="\ufffd").message


# -- grading mode and the trusted judge ------------------------------------------------------------
def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, tokenizer):
    monkeypatch.setenv("COURSE_GRADING", "1")
    right = {"q1": {"vocab_size": len(tokenizer)},
             "q2": {"subword_tokens": subword_tokens(tokenizer)},
             "q3": {"round_trip": round_trip(tokenizer)},
             "q4": {"split_documents": split_documents(tokenizer)}}
    wrong = {"q1": {"vocab_size": len(tokenizer) - 1},
             "q2": {"subword_tokens": lambda sentence: [[w] for w in sentence.split()]},
             "q3": {"round_trip": lambda text: (tokenizer.encode(text.strip()), text.strip())},
             "q4": {"split_documents": lambda ids: [ids]}}
    for name in right:
        problem = getattr(lesson1, name)
        problem.grade(right[name])                       # no exception: Correct
        with pytest.raises(AssertionError, match="Incorrect"):
            problem.grade(wrong[name])
        for namespace, expected in [(right[name], CORRECT), (wrong[name], INCORRECT)]:
            payload = problem.collect(namespace, grading=True)
            assert judge_answer(problem.id, payload).status == expected
    with pytest.raises(AssertionError, match="Not attempted"):
        lesson1.q1.grade({"vocab_size": ____})


# -- the notebook ----------------------------------------------------------------------------------


# -- every named mistake, under check() and on the grader's recorded path ---------------------------
def kept_separator(tokenizer, at_end):
    """split_documents that keeps <|endoftext|> at the end (or the start) of a document."""
    def split(ids):
        documents = [[]]
        for token_id in ids:
            if token_id == tokenizer.eos_token_id and at_end:
                documents[-1].append(token_id)
                documents.append([])
            elif token_id == tokenizer.eos_token_id:
                documents.append([token_id])
            else:
                documents[-1].append(token_id)
        return [d for d in documents if d]

    return split


def split_on(separator):
    """split_documents comparing each id with ``separator`` (a list or a string: never equal)."""
    def split(ids):
        documents = [[]]
        for token_id in ids:
            if token_id == separator:
                documents.append([])
            else:
                documents[-1].append(token_id)
        return [d for d in documents if d]

    return split


def keep_empty(tokenizer):
    """split_documents that keeps the empty pieces (like str.split)."""
    def split(ids):
        documents = [[]]
        for token_id in ids:
            if token_id == tokenizer.eos_token_id:
                documents.append([])
            else:
                documents[-1].append(token_id)
        return documents

    return split


def named_mistakes(tokenizer):
    """(exercise, the student's namespace, a phrase of the message that names the mistake)."""
    emoji_ids = tokenizer.encode(lesson1.EMOJI)
    return [
        ("q1", {"vocab_size": len(tokenizer) - 1}, "largest token id"),
        ("q2", {"subword_tokens": lambda s: [tokenizer.tokenize(w) for w in s.split()]}, "each word alone"),
        ("q2", {"subword_tokens": lambda s: [tokenizer.tokenize(" " + w) for w in s.split()]}, "first word"),
        ("q2", {"subword_tokens": lambda s: [[tokenizer.decode([i]) for i in tokenizer.convert_tokens_to_ids(w)]
                                             for w in subword_tokens(tokenizer)(s)]}, "decoded pieces"),
        ("q2", {"subword_tokens": lambda s: [[w] for w in s.split()]}, "subword tokens"),
        ("q4", {"split_documents": kept_separator(tokenizer, at_end=True)}, "does not belong to the document before"),
        ("q4", {"split_documents": kept_separator(tokenizer, at_end=False)}, "did not begin each one"),
        ("q4", {"split_documents": split_on(tokenizer.encode(tokenizer.eos_token))}, "Nothing was split"),
        ("q4", {"split_documents": split_on(tokenizer.eos_token)}, "Nothing was split"),
        ("q4", {"split_documents": keep_empty(tokenizer)}, "empty document"),
        ("q5", {"token_cost": lambda word: len(tokenizer.encode(word))}, "without the space"),
        ("q5", {"token_cost": len}, "characters"),
        ("q5", {"token_cost": lambda word: len(tokenizer(" " + word))}, "keys of the dictionary"),
        ("q6", {"token_string": str.strip}, "dropped the space"),
        ("q6", {"token_string": lambda piece: piece}, "as it is"),
        ("q6", {"token_string": lambda piece: piece.strip() + ("\u0120" if piece[0] == " " else "")}, "in front"),
        ("q7", {"lone_pieces": [lesson1.EMOJI]}, "together"),
        ("q7", {"lone_pieces": tokenizer.convert_ids_to_tokens(emoji_ids)}, "token strings"),
    ]


def test_every_named_mistake_under_check_and_the_recorded_path(tokenizer):
    for name, namespace, phrase in named_mistakes(tokenizer):
        problem = getattr(lesson1, name)
        assert_named(check(problem, **namespace), phrase)
        assert_named(judge_answer(problem.id, problem.collect(namespace, grading=True)), phrase)
