"""Lesson 7 (choosing and judging a decoding strategy): the checks and the notebook.

References pass; every named mistake is named (entropy in bits, logits not normalised, perplexity
over the prompt too, min-p relative to 1, a repetition penalty that divides negative logits, ...);
stubs are Not attempted; answers that lie about themselves fail; grading mode raises on wrong
answers (hidden probes included) and the trusted ``judge_answer`` agrees. The numpy references
equal transformers' own logits processors. The lesson's exercises and test cells agree.
"""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, Problem, solutions, ____
from course_utils.lessons import lesson7

from lesson_check_helpers import (EqualsEverythingFloat as EqualsEverything, LyingList, assert_grading_agrees,  # noqa: F401
                                  assert_named, bundled, check, grade)


# -- q1: entropy (TensorFlow) -------------------------------------------------------------------------
def entropy_tf(logits, mistake=None):
    import tensorflow as tf

    log_probs = tf.nn.log_softmax(logits, axis=-1)
    if mistake == "logits":
        log_probs = logits
    terms = -tf.exp(tf.nn.log_softmax(logits)) * log_probs
    if mistake == "unweighted":
        terms = -log_probs
    entropy = float(tf.reduce_mean(terms) if mistake == "mean" else tf.reduce_sum(terms))
    return {"bits": entropy / np.log(2), "negated": -entropy}.get(mistake, entropy)


def test_q1_entropy(tf_model):
    import tensorflow as tf

    assert check(lesson7.q1, entropy_tf=entropy_tf).status == CORRECT
    assert grade(lesson7.q1, entropy_tf=entropy_tf).status == CORRECT
    assert check(lesson7.q1, entropy_tf=lambda l: tf.constant(entropy_tf(l))).status == CORRECT   # a scalar tensor
    for mistake, phrase in [("bits", "in bits"), ("negated", "sign is wrong"), ("logits", "raw logits"),
                            ("unweighted", "unweighted"), ("mean", "mean over the vocabulary")]:
        assert_named(check(lesson7.q1, entropy_tf=lambda l, m=mistake: entropy_tf(l, m)), phrase)
    assert check(lesson7.q1, entropy_tf=lambda l: EqualsEverything(0.0)).status == INCORRECT
    assert check(lesson7.q1, entropy_tf=lambda l: [1.0, 2.0]).status == INCORRECT
    assert check(lesson7.q1, entropy_tf=lambda l: None).status == NOT_ATTEMPTED
    assert check(lesson7.q1, entropy_tf=____).status == NOT_ATTEMPTED


# -- q2: perplexity (PyTorch) -------------------------------------------------------------------------
def perplexity_pt(model, ids, input_len, mistake=None):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    token_log_probs = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
    scored = token_log_probs if mistake == "prompt" else token_log_probs[input_len - 1:]
    if mistake == "no_exp":
        return float(-scored.mean())
    if mistake == "sign":
        return float(torch.exp(scored.mean()))
    if mistake == "count":
        return float(torch.exp(-scored.sum() / len(ids)))
    if mistake == "sum":
        return float(torch.exp(-scored.sum().double()))
    return float(torch.exp(-scored.mean()))


def test_q2_perplexity(pt_model):
    assert check(lesson7.q2, perplexity_pt=perplexity_pt).status == CORRECT
    assert grade(lesson7.q2, perplexity_pt=perplexity_pt).status == CORRECT
    for mistake, phrase in [("prompt", "includes the prompt"), ("no_exp", "perplexity is its exp"),
                            ("sign", "sign is wrong"), ("count", "whole text"), ("sum", "exp of the *sum*")]:
        assert_named(check(lesson7.q2, perplexity_pt=lambda m, i, n, k=mistake: perplexity_pt(m, i, n, k)), phrase)
    assert check(lesson7.q2, perplexity_pt=lambda m, i, n: EqualsEverything(1.0)).status == INCORRECT
    assert check(lesson7.q2, perplexity_pt=lambda m, i, n: None).status == NOT_ATTEMPTED

    def public_only(model, ids, input_len):       # right for the public probe's input_len only
        return perplexity_pt(model, ids, input_len, None if input_len == 3 else "prompt")
    assert check(lesson7.q2, perplexity_pt=public_only).status == CORRECT
    assert_named(grade(lesson7.q2, perplexity_pt=public_only), "hidden test")


# -- q3: min-p (PyTorch) ------------------------------------------------------------------------------
def min_p_filter(logits, min_p, mistake=None):
    import torch

    probs = torch.softmax(logits, -1)
    keep = probs >= min_p * probs.max()
    if mistake == "absolute":
        keep = probs >= min_p
    if mistake == "inverted":
        keep = ~keep
    if mistake == "zeros":
        return torch.where(keep, logits, torch.zeros_like(logits))
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def test_q3_min_p(pt_model):
    assert check(lesson7.q3, min_p_filter=min_p_filter).status == CORRECT
    assert grade(lesson7.q3, min_p_filter=min_p_filter).status == CORRECT
    for mistake, phrase in [("absolute", "times the top probability"), ("inverted", "kept the unlikely"),
                            ("zeros", "not 0")]:
        assert_named(check(lesson7.q3, min_p_filter=lambda l, p, k=mistake: min_p_filter(l, p, k)), phrase)
    lying = check(lesson7.q3, min_p_filter=lambda l, p: LyingList([0.0] * len(l), min_p_filter(l, p).tolist()))
    assert lying.status == INCORRECT
    assert check(lesson7.q3, min_p_filter=lambda l, p: None).status == NOT_ATTEMPTED


def test_min_p_reference_equals_transformers(pt_model, tokenizer):
    import torch
    from transformers import MinPLogitsWarper

    logits = torch.tensor(lesson7.q3.numpy_logits(lesson7.q3.public_probes[0]))
    for min_p in (0.02, 0.1, 0.5):
        theirs = torch.isfinite(MinPLogitsWarper(min_p=min_p)(None, logits[None].clone()))[0].numpy()
        assert np.array_equal(lesson7.min_p_keep(logits.numpy(), min_p), theirs)


# -- q4: repetition penalty (TensorFlow) ----------------------------------------------------------------
def repetition_penalty_tf(logits, input_ids, penalty, mistake=None):
    import tensorflow as tf

    vocab = tf.range(tf.shape(logits)[-1], dtype=input_ids.dtype)
    matches = tf.cast(vocab[:, None] == input_ids[None, :], logits.dtype)
    seen = tf.reduce_sum(matches, axis=1) > 0
    factor = tf.constant(penalty, logits.dtype)
    if mistake == "per_occurrence":
        factor = factor ** tf.reduce_sum(matches, axis=1)
    penalised = tf.where(logits > 0, logits / factor, logits * factor)
    if mistake == "divide":
        penalised = logits / factor
    if mistake == "multiply":
        penalised = logits * factor
    if mistake == "everything":
        seen = tf.ones_like(seen)
    return tf.where(seen, penalised, logits)


def test_q4_repetition_penalty(tf_model):
    assert check(lesson7.q4, repetition_penalty_tf=repetition_penalty_tf).status == CORRECT
    assert grade(lesson7.q4, repetition_penalty_tf=repetition_penalty_tf).status == CORRECT
    for mistake, phrase in [("divide", "*negative* logit"), ("multiply", "*positive* logit"),
                            ("everything", "every token of the vocabulary"), ("per_occurrence", "once")]:
        verdict = check(lesson7.q4, repetition_penalty_tf=lambda l, i, p, k=mistake: repetition_penalty_tf(l, i, p, k))
        assert_named(verdict, phrase)
    assert check(lesson7.q4, repetition_penalty_tf=lambda l, i, p: l).status == INCORRECT
    assert check(lesson7.q4, repetition_penalty_tf=lambda l, i, p: None).status == NOT_ATTEMPTED


def test_repetition_penalty_reference_equals_transformers():
    import torch
    from transformers import RepetitionPenaltyLogitsProcessor

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 40)).astype(np.float32) * 5
    ids = rng.integers(0, 40, size=(1, 15))
    for penalty in (0.7, 1.0, 1.3, 2.0):
        theirs = RepetitionPenaltyLogitsProcessor(penalty)(torch.tensor(ids), torch.tensor(logits)).numpy()[0]
        np.testing.assert_allclose(lesson7.repetition_penalty_numpy(logits[0], ids[0], penalty), theirs, rtol=1e-6)


# -- grading mode and the trusted judge ---------------------------------------------------------------
def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, pt_model, tf_model):
    monkeypatch.setenv("COURSE_GRADING", "1")
    cases = {"q1": ({"entropy_tf": entropy_tf}, {"entropy_tf": lambda l: entropy_tf(l, "bits")}),
             "q2": ({"perplexity_pt": perplexity_pt},
                    {"perplexity_pt": lambda m, i, n: perplexity_pt(m, i, n, "prompt")}),
             "q3": ({"min_p_filter": min_p_filter}, {"min_p_filter": lambda l, p: min_p_filter(l, p, "absolute")}),
             "q4": ({"repetition_penalty_tf": repetition_penalty_tf},
                    {"repetition_penalty_tf": lambda l, i, p: repetition_penalty_tf(l, i, p, "divide")})}
    for name, (right, wrong) in cases.items():
        assert_grading_agrees(getattr(lesson7, name), right, wrong)


def test_a_filters_record_keeps_its_infinities_on_the_way_to_the_grader(pt_model):
    # A right min-p answer holds -inf. Out of the kernel, the record goes through Jupyter's message
    # packer, then the grader's reader (a str record is JSON text); the trusted judge must see -inf.
    import json

    from jupyter_client.session import json_packer

    from course_utils.checking import judge_answer
    from course_utils.checking.records import displayable

    record = {"problem": "lesson7.q3", "payload": lesson7.q3.collect({"min_p_filter": min_p_filter}, grading=True)}
    received = json.loads(json_packer(displayable(record)))
    read = json.loads(received) if isinstance(received, str) else received
    assert judge_answer("lesson7.q3", read["payload"]).status == CORRECT
    assert displayable({"problem": "lesson7.q1", "payload": {"value": 1.5}}) == {"problem": "lesson7.q1",
                                                                                 "payload": {"value": 1.5}}


# -- the lesson's declarations and its notebook ---------------------------------------------------------
def test_exercises_match_the_source_notebook_and_hold_no_solution():
    """What tests/test_exercises_single_source.py checks for the lessons it lists, for lesson 7."""
    import inspect
    import json

    cells = json.loads(solutions.source_notebook("lesson7").read_text(encoding="utf-8"))["cells"]
    tests = {c["metadata"]["nbgrader"]["grade_id"]: c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")}
    problems = [getattr(lesson7, name) for name in lesson7.qvars]
    assert sorted(tests) == sorted(p.id.replace(".", "_") for p in problems)
    assert {getattr(p, "framework", None) for p in problems} >= {"pt", "tf"}
    for problem in problems:
        test = tests[problem.id.replace(".", "_")]
        assert "".join(test["source"]).strip() == f"{problem.id.split('.')[1]}.grade()"
        assert test["metadata"]["nbgrader"]["points"] == problem.points
        assert problem.solution_code and solutions.BEGIN not in problem.solution_code
        assert len(problem.hints) >= 3 and all(h.strip() not in problem.solution_code for h in problem.hints)
    for _, kind in inspect.getmembers(lesson7, inspect.isclass):
        if issubclass(kind, Problem):
            assert "solution_code" not in vars(kind), kind.__name__


def test_no_cell_before_an_exercise_holds_its_solution():
    import json

    cells = json.loads(solutions.source_notebook("lesson7").read_text(encoding="utf-8"))["cells"]
    before = ""
    for cell in cells:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
        if grade_id.endswith("_answer"):
            problem = getattr(lesson7, grade_id.split("_")[1])
            body = [line.strip() for line in problem.solution_code.splitlines()[1:]
                    if line.strip() and not line.strip().startswith(("#", "return", "def", "with "))]
            assert not any(line.split("#")[0].strip() in before for line in body), grade_id
        if cell["cell_type"] == "code":
            before += "".join(cell["source"])
