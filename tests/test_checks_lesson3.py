"""Lesson 3 (next-token probabilities): the checks and the notebook.

References pass in either framework, named mistakes are named (wrong softmax axis, a row off by
one, logits for probabilities, an inverted ratio, a logit difference; in the TensorFlow chain rule
of q4: each token read from its own row, a probability for a log-probability, raw logits, the first
token only, a mean, the prefix scored too), under check() and on the grader's recorded path; starters are Not attempted, answers that lie
about themselves fail, a wrong distribution comes with a figure, grading mode raises on wrong
answers (hidden probes included), and the trusted ``judge_answer`` agrees with the kernel. The
source notebook runs with every reference answer Correct; its student version runs unanswered.
"""
from __future__ import annotations


import numpy as np
import pytest

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, judge_answer, ____
from course_utils.lessons import lesson3


from lesson_check_helpers import EqualsEverythingFloat as EqualsEverything, LyingList, assert_named, bundled, check, grade  # noqa: F401 (bundled: autouse fixture)


def logits_of(model, tokenizer, text):
    """[1, seq_len, vocab_size] logits of ``text`` from the PyTorch model."""
    import torch

    with torch.no_grad():
        return model(torch.tensor([tokenizer.encode(text)])).logits


# -- q1: argmax after every prefix -----------------------------------------------------------------
def test_q1_argmax_per_prefix(pt_model, tokenizer):
    logits = logits_of(pt_model, tokenizer, lesson3.PREFIX_PROMPT)
    right = logits[0].argmax(dim=-1)
    assert check(lesson3.q1, predicted_ids=right).status == CORRECT
    assert check(lesson3.q1, predicted_ids=right.numpy()).status == CORRECT
    assert check(lesson3.q1, predicted_ids=logits.argmax(dim=-1)).status == CORRECT   # [1, seq]

    own = check(lesson3.q1, predicted_ids=tokenizer.encode(lesson3.PREFIX_PROMPT))
    assert own.status == INCORRECT and "prompt's own token ids" in own.message
    actual = check(lesson3.q1, predicted_ids=tokenizer.encode(lesson3.PREFIX_PROMPT)[1:])
    assert actual.status == INCORRECT and "really follow" in actual.message
    assert "last row" in check(lesson3.q1, predicted_ids=logits[0, :-1].argmax(dim=-1)).message
    assert "first row" in check(lesson3.q1, predicted_ids=logits[0, 1:].argmax(dim=-1)).message
    wrong_axis = check(lesson3.q1, predicted_ids=logits[0].argmax(dim=0))
    assert wrong_axis.status == INCORRECT and "sequence axis" in wrong_axis.message
    lying = LyingList([0] * len(right), claimed=right.tolist())
    assert check(lesson3.q1, predicted_ids=lying).status == INCORRECT
    assert check(lesson3.q1, predicted_ids=____).status == NOT_ATTEMPTED


def test_q1_tensorflow_answer(tf_model, tokenizer):
    import tensorflow as tf

    logits = tf_model(tf.constant([tokenizer.encode(lesson3.PREFIX_PROMPT)])).logits
    assert check(lesson3.q1, predicted_ids=tf.argmax(logits[0], axis=-1)).status == CORRECT


# -- q2: the probability ratio ---------------------------------------------------------------------
def test_q2_probability_ratio(pt_model, tokenizer):
    import tensorflow as tf
    import torch

    row = logits_of(pt_model, tokenizer, lesson3.RATIO_PREFIX)[0, -1]
    probs = torch.softmax(row, dim=-1)
    be, do = (tokenizer.encode(t)[0] for t in lesson3.RATIO_TOKENS)
    ratio = probs[be] / probs[do]
    assert check(lesson3.q2, ratio=ratio).status == CORRECT                      # a torch scalar
    assert check(lesson3.q2, ratio=ratio.item()).status == CORRECT
    assert check(lesson3.q2, ratio=tf.constant(float(ratio))).status == CORRECT  # a tf scalar
    assert check(lesson3.q2, ratio=float(torch.exp(row[be] - row[do]))).status == CORRECT

    messages = {"upside down": float(probs[do] / probs[be]),
                "ratio of logits": float(row[be] / row[do]),
                "difference": float(probs[be] - probs[do])}
    be_bare, do_bare = (tokenizer.encode(t.strip())[0] for t in lesson3.RATIO_TOKENS)
    messages["leading space"] = float(probs[be_bare] / probs[do_bare])
    for phrase, wrong in messages.items():
        verdict = check(lesson3.q2, ratio=wrong)
        assert verdict.status == INCORRECT and phrase in verdict.message, (phrase, verdict)
    assert check(lesson3.q2, ratio=EqualsEverything(-1.0)).status == INCORRECT
    assert check(lesson3.q2, ratio=[float(ratio)]).status == INCORRECT
    assert check(lesson3.q2, ratio=____).status == NOT_ATTEMPTED


# -- q4: a continuation's log-probability in TensorFlow ------------------------------------------
def continuation_variant(kind="right"):
    """``continuation_logprob_tf`` as a student might write it; ``kind`` plants one mistake."""
    import tensorflow as tf

    def continuation_logprob_tf(model, prefix_ids, continuation_ids):
        ids = list(prefix_ids) + list(continuation_ids)
        logits = model(tf.constant([ids])).logits[0]
        start = len(prefix_ids) - (0 if kind == "own row" else 1)
        rows = logits[start:start + len(continuation_ids)]
        if kind == "prefix too":
            rows, continuation_ids = logits[:-1], ids[1:]
        scores = rows if kind == "raw logits" else tf.nn.log_softmax(rows)
        picked = tf.gather(scores, continuation_ids, axis=1, batch_dims=1)
        if kind == "per token":
            return picked
        if kind == "first only":
            return float(picked[0])
        total = float(tf.reduce_mean(picked) if kind == "mean" else tf.reduce_sum(picked))
        return float(tf.exp(total)) if kind == "probability" else total

    return continuation_logprob_tf


def test_q4_continuation_logprob_in_tensorflow():
    right = continuation_variant()
    assert check(lesson3.q4, continuation_logprob_tf=right).status == CORRECT
    assert grade(lesson3.q4, continuation_logprob_tf=right).status == CORRECT

    def stub(model, prefix_ids, continuation_ids):
        pass

    assert check(lesson3.q4, continuation_logprob_tf=stub).status == NOT_ATTEMPTED
    assert check(lesson3.q4, continuation_logprob_tf=____).status == NOT_ATTEMPTED


@pytest.mark.parametrize("kind, phrase", [
    ("own row", "row *before* it"), ("probability", "probability itself"), ("raw logits", "raw logits"),
    ("first only", "only the first token"), ("mean", "average log-probability"),
    ("prefix too", "prefix's tokens too"), ("per token", "one number"),
])
def test_q4_named_mistakes_under_check_and_grader(kind, phrase):
    function = continuation_variant(kind)
    assert_named(check(lesson3.q4, continuation_logprob_tf=function), phrase)
    payload = lesson3.q4.collect({"continuation_logprob_tf": function}, grading=True)
    assert_named(judge_answer("lesson3.q4", payload), phrase)


# -- q3: the student's next_token_distribution, for a right-padded batch ------------------------------
def solution(model, input_ids, attention_mask):
    import torch

    with torch.no_grad():
        logits = model(input_ids, attention_mask=attention_mask).logits
    last = attention_mask.sum(dim=-1) - 1
    return torch.softmax(logits[torch.arange(len(last)), last], dim=-1)


def picking(pick, masked=True):
    """A next_token_distribution that runs the model on the batch and returns ``pick(logits, lengths)``."""
    import torch

    def next_token_distribution(model, input_ids, attention_mask):
        with torch.no_grad():
            logits = model(input_ids, attention_mask=attention_mask if masked else None).logits
        return pick(logits, attention_mask.sum(dim=-1))
    return next_token_distribution


def rows_at(logits, positions):
    import torch

    return logits[torch.arange(len(positions)), positions]


def test_q3_next_token_distribution(pt_model):
    import torch

    without_mask = picking(lambda l, n: torch.softmax(rows_at(l, n - 1), dim=-1), masked=False)
    for answer in (solution, without_mask):        # causal attention: the padding after a text changes nothing
        assert check(lesson3.q3, next_token_distribution=answer).status == CORRECT
        assert grade(lesson3.q3, next_token_distribution=answer).status == CORRECT

    def stub(model, input_ids, attention_mask):
        pass

    assert check(lesson3.q3, next_token_distribution=stub).status == NOT_ATTEMPTED
    assert check(lesson3.q3, next_token_distribution=____).status == NOT_ATTEMPTED
    not_callable = check(lesson3.q3, next_token_distribution=[0.5, 0.5])
    assert not_callable.status == INCORRECT and "function" in not_callable.message
    first_only = check(lesson3.q3, next_token_distribution=picking(lambda l, n: torch.softmax(l[0, n[0] - 1], dim=-1)))
    assert first_only.status == INCORRECT and "one row of probabilities per text" in first_only.message
    two_args = check(lesson3.q3, next_token_distribution=lambda model, input_ids: None)
    assert two_args.status == INCORRECT


def test_q3_wrong_distribution_comes_with_a_figure(pt_model):
    logits_only = picking(lambda l, n: rows_at(l, n - 1))
    wrong = check(lesson3.q3, next_token_distribution=logits_only)
    assert wrong.figure_png is not None and wrong.figure_png.startswith(b"\x89PNG")
    assert "<img" in wrong._repr_html_()
    assert check(lesson3.q3, next_token_distribution=solution).figure_png is None


def test_q3_hidden_probes(pt_model):
    import torch

    def public_only(model, input_ids, attention_mask):  # right on the public batches only
        if input_ids.shape[0] == 2:
            return solution(model, input_ids, attention_mask)
        return torch.full((input_ids.shape[0], model.config.vocab_size), 1 / model.config.vocab_size)

    assert check(lesson3.q3, next_token_distribution=public_only).status == CORRECT
    hidden = grade(lesson3.q3, next_token_distribution=public_only)
    assert hidden.status == INCORRECT and "hidden test" in hidden.message


# -- grading mode and the trusted judge ------------------------------------------------------------
def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, pt_model, tokenizer):
    import torch

    monkeypatch.setenv("COURSE_GRADING", "1")
    logits = logits_of(pt_model, tokenizer, lesson3.PREFIX_PROMPT)
    row = logits_of(pt_model, tokenizer, lesson3.RATIO_PREFIX)[0, -1]
    probs = torch.softmax(row, dim=-1)
    be, do = (tokenizer.encode(t)[0] for t in lesson3.RATIO_TOKENS)

    logits_only = picking(lambda l, n: rows_at(l, n - 1))
    cases = {"q1": ({"predicted_ids": logits[0].argmax(-1)},
                    {"predicted_ids": tokenizer.encode(lesson3.PREFIX_PROMPT)}),
             "q2": ({"ratio": probs[be] / probs[do]}, {"ratio": probs[do] / probs[be]}),
             "q3": ({"next_token_distribution": solution}, {"next_token_distribution": logits_only})}
    for name, (right, wrong) in cases.items():
        problem = getattr(lesson3, name)
        problem.grade(right)                               # no exception: Correct
        with pytest.raises(AssertionError, match="Incorrect"):
            problem.grade(wrong)
        for namespace, expected in [(right, CORRECT), (wrong, INCORRECT)]:
            payload = problem.collect(namespace, grading=True)
            assert judge_answer(problem.id, payload).status == expected
    forged = {"value": np.zeros(3, dtype=int).tolist()}
    assert judge_answer("lesson3.q1", forged).status == INCORRECT


# -- the notebook ----------------------------------------------------------------------------------


# -- every named mistake, under check() and on the grader's recorded path ---------------------------
def test_every_named_mistake_under_check_and_the_recorded_path(pt_model, tokenizer):
    import torch

    row = logits_of(pt_model, tokenizer, lesson3.RATIO_PREFIX)[0, -1]
    probs = torch.softmax(row, dim=-1)
    be, do = (tokenizer.encode(t)[0] for t in lesson3.RATIO_TOKENS)
    be_bare, do_bare = (tokenizer.encode(t.strip())[0] for t in lesson3.RATIO_TOKENS)
    prompt_rows = logits_of(pt_model, tokenizer, lesson3.PREFIX_PROMPT)[0]
    predicted = prompt_rows.argmax(-1).tolist()
    prompt_ids = tokenizer.encode(lesson3.PREFIX_PROMPT)

    cases = [
        ("q1", {"predicted_ids": prompt_ids}, "prompt's own token ids"),
        ("q1", {"predicted_ids": prompt_ids[1:]}, "really follow each prefix"),
        ("q1", {"predicted_ids": predicted[:-1]}, "the last row"),
        ("q1", {"predicted_ids": predicted[1:]}, "the first row"),
        ("q2", {"ratio": float(probs[do] / probs[be])}, "upside down"),
        ("q2", {"ratio": float(row[be] / row[do])}, "ratio of logits"),
        ("q2", {"ratio": float(row[be] - row[do])}, "*logarithm* of the ratio"),
        ("q2", {"ratio": float(probs[be] - probs[do])}, "difference of probabilities"),
        ("q2", {"ratio": float(probs[be_bare] / probs[do_bare])}, "leading space"),
        ("q3", {"next_token_distribution": picking(lambda l, n: rows_at(l, n - 1))}, "not probabilities"),
        ("q3", {"next_token_distribution": picking(lambda l, n: torch.softmax(l[:, -1], dim=-1))}, "last column"),
        ("q3", {"next_token_distribution": picking(lambda l, n: torch.softmax(l[:, -1], dim=-1), masked=False)},
         "last column"),
        ("q3", {"next_token_distribution": picking(lambda l, n: rows_at(torch.softmax(l, dim=1), n - 1))},
         "sequence axis"),
        ("q3", {"next_token_distribution": picking(lambda l, n: torch.softmax(rows_at(l, n - 2), dim=-1))},
         "one position too early"),
        ("q3", {"next_token_distribution": picking(lambda l, n: torch.softmax(l, dim=-1))}, "every position"),
    ]
    for name, namespace, phrase in cases:
        problem = getattr(lesson3, name)
        assert_named(check(problem, **namespace), phrase)
        assert_named(judge_answer(problem.id, problem.collect(namespace, grading=True)), phrase)
