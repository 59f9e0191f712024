"""The structural diagnoses (``checking.diagnosis``), each on a real exercise: a wrong answer that no
declared mistake names gets told what *kind* of wrong it is, and the last resort says where the
first difference is (row, position, token); right answers in other forms stay Correct."""
from __future__ import annotations

import math

import numpy as np

from course_utils.checking import CORRECT, INCORRECT, compare, diagnosis, judge_answer
from course_utils.lessons import lesson2, lesson3, lesson6

from lesson_check_helpers import assert_named, bundled, check  # noqa: F401


def hidden_0(pt_model, tokenizer) -> np.ndarray:
    import torch

    ids = torch.tensor(tokenizer.encode(lesson2.EMBED_TEXT))
    t = pt_model.transformer
    with torch.no_grad():
        return (t.wte(ids) + t.wpe(torch.arange(len(ids)))).numpy()


def named_under_both(problem, phrase, **namespace):
    """Named under ``check()`` and by the grader's judge of what grading mode records."""
    assert_named(check(problem, **namespace), phrase)
    assert_named(judge_answer(problem.id, problem.collect(namespace, grading=True)), phrase)


def test_nan_and_where_a_whole_row_is_nan(pt_model, tokenizer):
    right = hidden_0(pt_model, tokenizer)
    one = right.copy()
    one[2, 5] = np.nan
    named_under_both(lesson2.q1, "holds NaN at 1 of", hidden_0=one)
    assert_named(check(lesson2.q1, hidden_0=one), "position 2, feature 5")
    row = right.copy()
    row[0] = np.nan
    assert_named(check(lesson2.q1, hidden_0=row), "whole row(s) are NaN, the first row 0")
    infinite = right.copy()
    infinite[1, 0] = -np.inf
    assert_named(check(lesson2.q1, hidden_0=infinite), "holds an infinity")


def test_swapped_axes(pt_model, tokenizer):
    right = hidden_0(pt_model, tokenizer)
    named_under_both(lesson2.q1, "axes in another order", hidden_0=right.T)
    assert check(lesson2.q1, hidden_0=right[None]).status == CORRECT      # a batch of one: no note
    assert not check(lesson2.q1, hidden_0=right).message


def test_factor_sign_and_log_base(pt_model, tokenizer):
    right = hidden_0(pt_model, tokenizer)
    named_under_both(lesson2.q1, "is 2 times the expected values", hidden_0=right * 2)
    assert_named(check(lesson2.q1, hidden_0=right * 8), "sqrt(64)")
    assert_named(check(lesson2.q1, hidden_0=-right), "opposite sign")
    from test_checks_lesson6 import sequence_logprob

    in_bits = lambda m, i, n: sequence_logprob(m, i, n) / math.log(2)     # noqa: E731 - log2
    named_under_both(lesson6.q2, "a log in base 2", sequence_logprob_pt=in_bits)
    assert_named(check(lesson6.q2, sequence_logprob_pt=lambda m, i, n: -sequence_logprob(m, i, n)),
                 "opposite sign")


def test_offset_and_the_first_difference_names_the_token(pt_model, tokenizer):
    import torch

    t = pt_model.transformer
    seen = {}
    hook = t.ln_f.register_forward_hook(lambda m, i, o: seen.update(h=i[0][0]))
    with torch.no_grad():
        pt_model(torch.tensor([tokenizer.encode(lesson2.TIED_TEXT)]))
        hook.remove()
        right = (t.ln_f(seen["h"])[-1] @ t.wte.weight.T).numpy()
    named_under_both(lesson2.q5, "plus the constant 3", tied_logits=right + 3.0)
    noisy = right + np.random.default_rng(0).normal(size=right.shape)
    message = check(lesson2.q5, tied_logits=noisy).message
    assert "differs from the expected values at" in message
    assert f"the first at token 0 ({tokenizer.decode([0])!r})" in message


def test_softmax_over_the_wrong_axis_on_a_batch(pt_model):
    import torch

    def over_the_batch(model, input_ids, attention_mask):
        with torch.no_grad():
            logits = model(input_ids, attention_mask=attention_mask).logits
        last = attention_mask.sum(dim=-1) - 1
        return torch.softmax(logits[torch.arange(len(last)), last], dim=0)

    named_under_both(lesson3.q3, "softmax ran over the wrong axis", next_token_distribution=over_the_batch)


def test_off_by_one_shift_and_order(pt_model, tokenizer):
    right = hidden_0(pt_model, tokenizer)
    late = np.vstack([np.zeros_like(right[:1]), right[:-1]])
    named_under_both(lesson2.q1, "shifted one position late", hidden_0=late)
    ids = lesson3.q1.expected()
    assert_named(check(lesson3.q1, predicted_ids=ids[::-1]), "reverse order")


def test_the_kinds_without_a_tensor_exercise_of_their_own():
    """Weights above the diagonal and a transposed square answer: no exercise answers a [seq, seq]
    tensor today, so they are judged on attention weights built here, as ``compare.mismatch`` (the
    one path every exercise's last resort takes) sees them."""
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(5, 5))
    causal = np.tril(np.exp(scores))
    causal /= causal.sum(-1, keepdims=True)
    full = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    assert "sees the" in compare.mismatch(full, causal)
    assert "is transposed" in compare.mismatch(causal.T, causal)
    assert "rows that do not sum to 1" in compare.mismatch(np.where(np.tril(np.ones((5, 5))) > 0, full, 0.0), causal)
    logits = rng.normal(size=(3, 7))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert "one constant per row" in compare.mismatch(logits, log_probs)
    assert diagnosis.structural(log_probs, log_probs) is None
    assert compare.mismatch(log_probs, log_probs) is None
