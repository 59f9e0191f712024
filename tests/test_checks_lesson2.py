"""Lesson 2 (inside GPT-2): the checks.

The solutions are Correct under ``check()`` and under the grader (hidden probes, the trusted
``judge_answer``); every named mistake a student makes with embeddings, one attention head, the
whole attention layer, the causal mask and the tied LM head is Incorrect with its own message.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, judge_answer, ____
from course_utils.lessons import lesson2

from lesson_check_helpers import LyingList, assert_grading_agrees, assert_named, bundled, check, grade  # noqa: F401


def named_everywhere(problem, phrase, **namespace):
    """The mistake is named under ``check()`` and by the grader's trusted judge on what grading
    mode records (hidden probes included)."""
    assert_named(check(problem, **namespace), phrase)
    assert_named(judge_answer(problem.id, problem.collect(namespace, grading=True)), phrase)


def correct_everywhere(problem, **namespace):
    assert check(problem, **namespace).status == CORRECT
    assert judge_answer(problem.id, problem.collect(namespace, grading=True)).status == CORRECT


# -- q1: the first hidden state ---------------------------------------------------------------------
def embeddings(pt_model, tokenizer, shift=0):
    import torch

    ids = torch.tensor(tokenizer.encode(lesson2.EMBED_TEXT))
    t = pt_model.transformer
    with torch.no_grad():
        return t.wte(ids), t.wpe(torch.arange(len(ids)) + shift)


def test_q1_first_hidden_state(pt_model, tokenizer):
    import torch

    tokens, positions = embeddings(pt_model, tokenizer)
    right = tokens + positions
    correct_everywhere(lesson2.q1, hidden_0=right)
    correct_everywhere(lesson2.q1, hidden_0=right[None])                              # [1, seq, E]
    named_everywhere(lesson2.q1, "token embeddings alone", hidden_0=tokens)
    named_everywhere(lesson2.q1, "position embeddings alone", hidden_0=positions)
    shifted = sum(embeddings(pt_model, tokenizer, shift=1)[1:], tokens)
    named_everywhere(lesson2.q1, "start at 1", hidden_0=shifted)
    with torch.no_grad():
        normed = pt_model.transformer.h[0].ln_1(right)
    named_everywhere(lesson2.q1, "layer-normalised", hidden_0=normed)
    assert check(lesson2.q1, hidden_0=right * 2).status == INCORRECT
    lying = LyingList([0.0], claimed=right.tolist())
    assert check(lesson2.q1, hidden_0=lying).status == INCORRECT
    assert check(lesson2.q1, hidden_0=____).status == NOT_ATTEMPTED


# -- q2: one attention head (PyTorch) ---------------------------------------------------------------
def head_solution(model, x, head, *, scale=True, mask="before", dim=-1, swap=False, cols=None,
                  weights=False, bias=True, order="qkv"):
    """A student's attention_head, right by default; each keyword plants one mistake."""
    import torch

    attn = model.transformer.h[0].attn
    d_head, n_embd = attn.head_dim, attn.embed_dim
    with torch.no_grad():
        qkv = attn.c_attn(x) if bias else x @ attn.c_attn.weight
        if cols == "per_head":                         # [seq, n_head, 3 * d_head], then split
            q, k, v = qkv.view(len(x), attn.num_heads, 3 * d_head).split(d_head, dim=-1)
            q, k, v = (t.reshape(len(x), n_embd) for t in (q, k, v))
        else:
            q, k, v = qkv.split(n_embd, dim=-1)
        if order == "qvk":
            k, v = v, k
        if cols == "query_third":
            k, v = q, q
        if cols == "strided":
            q, k, v = (t[:, head::attn.num_heads] for t in (q, k, v))
        elif cols != "all":
            part = slice(head * d_head, (head + 1) * d_head)
            q, k, v = q[:, part], k[:, part], v[:, part]
        scores = k @ q.T if swap else q @ k.T
        if scale == "times":
            scores = scores * math.sqrt(d_head)
        elif scale == "d_head":
            scores = scores / d_head
        elif scale:
            scores = scores / math.sqrt(d_head if scale is True else scale)
        future = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)
        if mask == "before":
            scores = scores.masked_fill(future, float("-inf"))
        elif mask == "past":                           # the wrong way round: tril hides the past
            scores = scores.masked_fill(torch.tril(torch.ones_like(future), diagonal=-1), float("-inf"))
        elif mask == "diagonal":                       # triu(diagonal=0): row 0 is all -inf
            scores = scores.masked_fill(torch.triu(torch.ones_like(future)), float("-inf"))
        elif mask == "zero":
            scores = scores.masked_fill(future, 0.0)
        probs = torch.softmax(scores, dim=dim)
        if mask == "after":
            probs = probs.masked_fill(future, 0.0)
        return probs if weights else probs @ v


# The slips both attention exercises name (lesson2_slips), as the students' options plant them.
HEAD_AND_LAYER_SLIPS = {
    "d_head itself": dict(scale="d_head"), "multiplied the scores": dict(scale="times"),
    "wrong way round": dict(mask="past"), "hides the diagonal too": dict(mask="diagonal"),
    "not -inf": dict(mask="zero"), "c_attn's bias is missing": dict(bias=False),
    "keys and values are swapped": dict(order="qvk"), "one [q | k | v] block per head": dict(cols="per_head")}


def test_q2_attention_head(pt_model):
    import torch
    import torch.nn.functional as F

    def with_sdpa(model, x, head):                       # an equivalent answer: accepted
        attn = model.transformer.h[0].attn
        q, k, v = attn.c_attn(x).split(attn.embed_dim, dim=-1)
        part = slice(head * attn.head_dim, (head + 1) * attn.head_dim)
        with torch.no_grad():
            return F.scaled_dot_product_attention(q[None, :, part], k[None, :, part], v[None, :, part],
                                                  is_causal=True)[0]

    correct_everywhere(lesson2.q2, attention_head=head_solution)
    assert grade(lesson2.q2, attention_head=head_solution).status == CORRECT
    correct_everywhere(lesson2.q2, attention_head=with_sdpa)
    n_embd = pt_model.config.n_embd
    planted = {"not scaled": dict(scale=False), "sqrt(n_embd)": dict(scale=n_embd),
               "No causal mask": dict(mask="none"), "after the softmax": dict(mask="after"),
               "over the queries": dict(dim=0), "swapped": dict(swap=True),
               "queries' third": dict(cols="query_third"), "every n_head-th": dict(cols="strided"),
               "attention weights": dict(weights=True), "n_embd wide": dict(cols="all"),
               **HEAD_AND_LAYER_SLIPS}
    for phrase, options in planted.items():
        def wrong(model, x, head, options=options):
            return head_solution(model, x, head, **options)
        named_everywhere(lesson2.q2, phrase, attention_head=wrong)
    named_everywhere(lesson2.q2, "this test asks for head 1",
                     attention_head=lambda model, x, head: head_solution(model, x, (head + 1) % 4))

    def stub(model, x, head):
        pass

    assert check(lesson2.q2, attention_head=stub).status == NOT_ATTEMPTED
    assert check(lesson2.q2, attention_head=____).status == NOT_ATTEMPTED


def test_q2_hidden_probes(pt_model):
    def right_on_public_heads_only(model, x, head):
        return head_solution(model, x, head, scale=head in (1, 3))

    assert check(lesson2.q2, attention_head=right_on_public_heads_only).status == CORRECT
    hidden = grade(lesson2.q2, attention_head=right_on_public_heads_only)
    assert hidden.status == INCORRECT and "hidden test" in hidden.message


# -- q3: the whole attention layer (TensorFlow) -----------------------------------------------------
def layer_solution(tf_model, x, *, scale=True, mask="before", axis=-1, swap=False, transpose=True,
                   project=True, bias=True, qkv_bias=True, order="qkv", cols=None, merge=(1, 0, 2)):
    """A student's attention_tf, right by default; each keyword plants one mistake."""
    import tensorflow as tf

    w, n_head = tf_model.weights, tf_model.config.n_head
    seq, n_embd = x.shape
    d_head = n_embd // n_head
    qkv = x @ w["h.0.attn.c_attn.weight"] + (w["h.0.attn.c_attn.bias"] if qkv_bias else 0.0)
    if cols == "per_head":                                             # [seq, n_head, 3 * d_head]
        q, k, v = tf.split(tf.reshape(qkv, [seq, n_head, 3 * d_head]), 3, axis=-1)
        q, k, v = (tf.transpose(t, [1, 0, 2]) for t in (q, k, v))
    elif cols == "strided":                                            # [seq, d_head, n_head]
        q, k, v = (tf.transpose(tf.reshape(t, [seq, d_head, n_head]), [2, 0, 1]) for t in tf.split(qkv, 3, axis=-1))
    else:
        q, k, v = (tf.transpose(tf.reshape(t, [seq, n_head, d_head]), [1, 0, 2]) for t in tf.split(qkv, 3, axis=-1))
    if order == "qvk":
        k, v = v, k
    scores = tf.matmul(k, q, transpose_b=True) if swap else tf.matmul(q, k, transpose_b=True)
    if scale == "times":
        scores *= math.sqrt(d_head)
    elif scale == "d_head":
        scores /= d_head
    elif scale:
        scores /= math.sqrt(d_head if scale is True else scale)
    future = tf.range(seq)[None, :] > tf.range(seq)[:, None]
    if mask == "before":
        scores = tf.where(future, -np.inf, scores)
    elif mask == "past":
        scores = tf.where(tf.range(seq)[None, :] < tf.range(seq)[:, None], -np.inf, scores)
    elif mask == "diagonal":
        scores = tf.where(tf.range(seq)[None, :] >= tf.range(seq)[:, None], -np.inf, scores)
    elif mask == "zero":
        scores = tf.where(future, 0.0, scores)
    probs = tf.nn.softmax(scores, axis=axis)
    if mask == "after":
        probs = tf.where(future, 0.0, probs)
    heads = probs @ v                                                  # [n_head, seq, d_head]
    merged = tf.reshape(tf.transpose(heads, merge) if transpose else heads, [seq, n_embd])
    if not project:
        return merged
    return merged @ w["h.0.attn.c_proj.weight"] + (w["h.0.attn.c_proj.bias"] if bias else 0.0)


def test_q3_attention_layer_in_tensorflow(tf_model):
    correct_everywhere(lesson2.q3, attention_tf=layer_solution)
    assert grade(lesson2.q3, attention_tf=layer_solution).status == CORRECT
    n_embd = tf_model.config.n_embd
    planted = {"output projection is missing": dict(project=False), "bias is missing": dict(bias=False),
               "without the transpose": dict(transpose=False), "not scaled": dict(scale=False),
               "sqrt(n_embd)": dict(scale=n_embd), "No causal mask": dict(mask="none"),
               "after the softmax": dict(mask="after"), "over the queries": dict(axis=-2),
               "swapped": dict(swap=True), "merged in the wrong order": dict(merge=(1, 2, 0)),
               "over the heads": dict(axis=0), "Wrong head split": dict(cols="strided"),
               **{phrase: {("qkv_bias" if key == "bias" else key): value for key, value in options.items()}
                  for phrase, options in HEAD_AND_LAYER_SLIPS.items()}}
    for phrase, options in planted.items():
        def wrong(tf_model, x, options=options):
            return layer_solution(tf_model, x, **options)
        named_everywhere(lesson2.q3, phrase, attention_tf=wrong)
    assert check(lesson2.q3, attention_tf=lambda tf_model, x: None).status == NOT_ATTEMPTED


# -- q4: what the mask hides (a prediction) ---------------------------------------------------------
def test_q4_changed_positions(tokenizer):
    n = len(tokenizer.encode(lesson2.CHANGE_TEXT))
    p = lesson2.CHANGED_POSITION
    lesson2.q4.first_collected = None
    correct_everywhere(lesson2.q4, changed_positions=list(range(p, n)))
    correct_everywhere(lesson2.q4, changed_positions=list(range(n - 1, p - 1, -1)))  # any order
    for answer, phrase in [(list(range(n)), "Every position"), ([p], "Only the changed position"),
                           (list(range(p + 1)), "backwards"), (list(range(p + 1, n)), "its own token")]:
        lesson2.q4.first_collected = None
        named_everywhere(lesson2.q4, phrase, changed_positions=answer)
    lesson2.q4.first_collected = None


def test_q4_one_answer_one_verdict_across_a_restart(monkeypatch, tokenizer):
    """A changed prediction is recorded, not judged: check() in the kernel that saw the first guess,
    check() after a restart, Validate (nbgrader), grading mode and the grader's judge of what the
    kernel recorded give the same status and score for the same final answer."""
    from course_utils.checking.verdict import Verdict

    n = len(tokenizer.encode(lesson2.CHANGE_TEXT))
    right = {"changed_positions": list(range(lesson2.CHANGED_POSITION, n))}
    lesson2.q4.first_collected = None
    assert check(lesson2.q4, changed_positions=list(range(n))).status == INCORRECT
    same_kernel = check(lesson2.q4, **right)
    assert "first prediction in this kernel was" in same_kernel.message
    recorded = judge_answer(lesson2.q4.id, lesson2.q4.collect(right, grading=True))
    lesson2.q4.first_collected = None                        # the kernel restarts
    restarted = check(lesson2.q4, **right)
    assert "first prediction" not in restarted.message
    for verdict in (same_kernel, recorded, restarted):
        assert isinstance(verdict, Verdict) and verdict.status == CORRECT and verdict.score == verdict.max_score
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    lesson2.q4.grade(right)                                  # Validate: no failure
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    lesson2.q4.grade(right)                                  # nbgrader's autograde: full marks
    lesson2.q4.first_collected = None


# -- q5: the tied LM head ---------------------------------------------------------------------------
def final_hidden_of(pt_model, tokenizer):
    import torch

    seen = {}
    hook = pt_model.transformer.ln_f.register_forward_hook(lambda m, i, o: seen.update(h=i[0][0]))
    with torch.no_grad():
        pt_model(torch.tensor([tokenizer.encode(lesson2.TIED_TEXT)]))
    hook.remove()
    return seen["h"]


def test_q5_tied_logits(pt_model, tokenizer):
    import torch

    final_hidden = final_hidden_of(pt_model, tokenizer)
    t = pt_model.transformer
    with torch.no_grad():
        right = t.ln_f(final_hidden)[-1] @ t.wte.weight.T
        correct_everywhere(lesson2.q5, tied_logits=right)
        correct_everywhere(lesson2.q5, tied_logits=pt_model.lm_head(t.ln_f(final_hidden))[-1])
        named_everywhere(lesson2.q5, "final layer norm", tied_logits=final_hidden[-1] @ t.wte.weight.T)
        named_everywhere(lesson2.q5, "probabilities", tied_logits=torch.softmax(right, -1))
        named_everywhere(lesson2.q5, "first position", tied_logits=t.ln_f(final_hidden)[0] @ t.wte.weight.T)
    assert check(lesson2.q5, tied_logits=____).status == NOT_ATTEMPTED


# -- grading mode and the trusted judge -------------------------------------------------------------
def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, pt_model, tf_model, tokenizer):
    monkeypatch.setenv("COURSE_GRADING", "1")
    tokens, positions = embeddings(pt_model, tokenizer)
    for namespace, expected in [({"hidden_0": tokens + positions}, CORRECT), ({"hidden_0": tokens}, INCORRECT)]:
        if expected == CORRECT:
            lesson2.q1.grade(namespace)                      # no exception: Correct
        else:
            with pytest.raises(AssertionError, match="Incorrect"):
                lesson2.q1.grade(namespace)
        assert judge_answer("lesson2.q1", lesson2.q1.collect(namespace, grading=True)).status == expected
    assert_grading_agrees(lesson2.q2, {"attention_head": head_solution},
                          {"attention_head": lambda model, x, head: head_solution(model, x, head, mask="after")})
    assert_grading_agrees(lesson2.q3, {"attention_tf": layer_solution},
                          {"attention_tf": lambda tf_model, x: layer_solution(tf_model, x, project=False)})


# -- the TensorFlow model's accessor agrees with PyTorch's layer 0 --------------------------------
def test_tf_attention_output_matches_pytorch_layer_0(pt_model, tf_model, tokenizer):
    import torch

    ids = tokenizer.encode("The quick brown fox jumps over the lazy dog")
    seen = {}
    hooks = [pt_model.transformer.h[0].ln_1.register_forward_hook(lambda m, i, o: seen.update(x=o)),
             pt_model.transformer.h[0].attn.c_proj.register_forward_hook(lambda m, i, o: seen.update(out=o))]
    with torch.no_grad():
        pt_model(torch.tensor([ids]))
    for hook in hooks:
        hook.remove()
    tf_out = tf_model.attention_output(0, seen["x"].numpy())
    assert np.allclose(tf_out.numpy(), seen["out"].numpy(), atol=1e-4)
