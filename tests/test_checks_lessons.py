"""Lessons 1 and 2 checks: references pass, named mistakes are named, stubs are Not attempted,
lying answers fail, and grading mode agrees with the trusted judge_answer."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, judge_answer, ____
from course_utils.lessons import lesson1, lesson2


class EqualsEverything(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class LyingList(list):
    def __iter__(self):
        return iter(["Tensor", "Flow"])

    def __eq__(self, other):
        return True


@pytest.fixture(autouse=True)
def bundled(monkeypatch, pt_model):
    monkeypatch.setenv("COURSE_MODEL", "course")
    monkeypatch.delenv("COURSE_GRADING", raising=False)


def status(problem, **namespace):
    return problem.verdict(namespace, grading=True)


# -- lesson 1 --------------------------------------------------------------------------------------
def test_lesson1_references_and_mistakes(tokenizer):
    assert status(lesson1.q1, vocab_size=len(tokenizer)).status == CORRECT
    assert "largest token id" in status(lesson1.q1, vocab_size=len(tokenizer) - 1).message
    assert status(lesson1.q1, vocab_size=____).status == NOT_ATTEMPTED
    tokens = tokenizer.tokenize(lesson1.SUBWORD_TEXT)
    assert status(lesson1.q2, subword_tokens=tokens).status == CORRECT
    assert "words, not tokens" in status(lesson1.q2, subword_tokens=lesson1.SUBWORD_TEXT.split()).message
    assert status(lesson1.q2, subword_tokens=LyingList(["x"])).status == INCORRECT

    def round_trip(text):
        ids = tokenizer.encode(text)
        return ids, tokenizer.decode(ids)

    assert status(lesson1.q3, round_trip=round_trip).status == CORRECT
    assert status(lesson1.q3, round_trip=lambda text: None).status == NOT_ATTEMPTED


# -- lesson 2 --------------------------------------------------------------------------------------
def _logits(pt_model, tokenizer, text):
    import torch

    with torch.no_grad():
        return pt_model(torch.tensor([tokenizer.encode(text)])).logits[0]


def test_lesson2_argmax_per_prefix(pt_model, tokenizer):
    logits = _logits(pt_model, tokenizer, lesson2.PREFIX_PROMPT)
    assert status(lesson2.q1, predicted_ids=logits.argmax(-1)).status == CORRECT
    own = status(lesson2.q1, predicted_ids=tokenizer.encode(lesson2.PREFIX_PROMPT))
    assert own.status == INCORRECT and "prompt's own token ids" in own.message
    wrong_axis = status(lesson2.q1, predicted_ids=logits.argmax(0))
    assert wrong_axis.status == INCORRECT and "shape" in wrong_axis.message
    assert status(lesson2.q1, predicted_ids=____).status == NOT_ATTEMPTED


def test_lesson2_probability_ratio(pt_model, tokenizer):
    import tensorflow as tf
    import torch

    probs = torch.softmax(_logits(pt_model, tokenizer, lesson2.RATIO_PREFIX)[-1], -1)
    be, do = (tokenizer.encode(t)[0] for t in lesson2.RATIO_TOKENS)
    ratio = probs[be] / probs[do]
    assert status(lesson2.q2, ratio=ratio).status == CORRECT                 # a torch scalar
    assert status(lesson2.q2, ratio=tf.constant(float(ratio))).status == CORRECT  # a tf scalar
    assert "upside down" in status(lesson2.q2, ratio=float(1 / ratio)).message
    assert "difference" in status(lesson2.q2, ratio=float(probs[be] - probs[do])).message
    assert status(lesson2.q2, ratio=EqualsEverything(-1.0)).status == INCORRECT


def test_lesson2_next_token_distribution_function(pt_model):
    import torch

    def solution(model, input_ids):
        with torch.no_grad():
            return torch.softmax(model(input_ids).logits[0, -1], dim=-1)

    def logits_only(model, input_ids):
        with torch.no_grad():
            return model(input_ids).logits[0, -1]

    def wrong_axis(model, input_ids):
        with torch.no_grad():
            return torch.softmax(model(input_ids).logits[0], dim=0)[-1]

    assert status(lesson2.q3, next_token_distribution=solution).status == CORRECT
    assert "not probabilities" in status(lesson2.q3, next_token_distribution=logits_only).message
    assert "sequence axis" in status(lesson2.q3, next_token_distribution=wrong_axis).message
    assert status(lesson2.q3, next_token_distribution=lambda m, i: None).status == NOT_ATTEMPTED


def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, pt_model, tokenizer):
    monkeypatch.setenv("COURSE_GRADING", "1")
    logits = _logits(pt_model, tokenizer, lesson2.PREFIX_PROMPT)
    lesson2.q1.grade({"predicted_ids": logits.argmax(-1)})
    with pytest.raises(AssertionError, match="Incorrect"):
        lesson2.q1.grade({"predicted_ids": tokenizer.encode(lesson2.PREFIX_PROMPT)})
    payload = lesson2.q1.collect({"predicted_ids": logits.argmax(-1)}, grading=True)
    assert judge_answer("lesson2.q1", payload).status == CORRECT
    forged = {"value": np.zeros(3, dtype=int).tolist()}
    assert judge_answer("lesson2.q1", forged).status == INCORRECT


# -- lesson 3 --------------------------------------------------------------------------------------
from course_utils.lessons import lesson3  # noqa: E402


def _greedy(model_call, argmax, ids, max_new_tokens, period, append=True, stop=True, extra=0):
    ids = list(ids)
    fed = list(ids)
    for _ in range(max_new_tokens + extra):
        next_id = argmax(model_call(fed))
        ids.append(next_id)
        if append:
            fed.append(next_id)
        if stop and next_id == period:
            break
    return ids


def test_lesson3_tensorflow_greedy(tf_model, tokenizer):
    import tensorflow as tf

    period = tokenizer.encode(".")[0]
    call = lambda ids: tf_model(tf.constant([ids])).logits  # noqa: E731
    argmax = lambda logits: int(tf.argmax(logits[0, -1]))  # noqa: E731

    def solution(model, input_ids, max_new_tokens):
        return _greedy(call, argmax, input_ids, max_new_tokens, period)

    def never_appends(model, input_ids, max_new_tokens):
        return _greedy(call, argmax, input_ids, max_new_tokens, period, append=False)

    def one_too_many(model, input_ids, max_new_tokens):
        return _greedy(call, argmax, input_ids, max_new_tokens, period, extra=1)

    assert status(lesson3.q1, greedy_tf=solution).status == CORRECT
    assert "never appends" in status(lesson3.q1, greedy_tf=never_appends).message
    assert "too many" in status(lesson3.q1, greedy_tf=one_too_many).message
    assert status(lesson3.q1, greedy_tf=lambda m, i, n: None).status == NOT_ATTEMPTED


def test_lesson3_pytorch_generator(pt_model, tokenizer):
    import torch

    period = tokenizer.encode(".")[0]

    def solution(model, input_ids, max_new_tokens):
        ids = list(input_ids)
        for _ in range(max_new_tokens):
            with torch.no_grad():
                next_id = int(torch.argmax(model(torch.tensor([ids])).logits[0, -1]))
            ids.append(next_id)
            yield next_id
            if next_id == period:
                return

    def crashes(model, input_ids, max_new_tokens):
        yield 1 // 0

    assert status(lesson3.q2, greedy_ids_generator=solution).status == CORRECT
    crashed = status(lesson3.q2, greedy_ids_generator=crashes)
    assert crashed.status == INCORRECT and "ZeroDivisionError" in crashed.message


def test_lesson3_prediction_counts_real_model_calls():
    assert lesson3.CachedModelCalls().verdict({"predicted_calls": lesson3.CachedModelCalls.new_tokens}).status == CORRECT
    assert lesson3.CachedModelCalls().verdict({"predicted_calls": 1}).status == INCORRECT


# -- lesson 4 --------------------------------------------------------------------------------------
from course_utils.checking import stats  # noqa: E402
from course_utils.lessons import lesson4  # noqa: E402


def test_goodness_of_fit_accepts_the_distribution_and_rejects_others():
    rng = np.random.default_rng(0)
    probs = np.array([0.1, 0.2, 0.5, 0.2, 0.0])
    assert stats.fits(rng.choice(5, size=5000, p=probs), probs)
    assert not stats.fits(rng.choice(5, size=5000, p=[0.25, 0.25, 0.25, 0.25, 0]), probs)
    assert not stats.fits([4, 1, 2], probs)  # outside the support


def test_lesson4_tensorflow_categorical(tf_model):
    import tensorflow as tf

    def solution(logits, num_samples, seed):
        return tf.random.stateless_categorical(logits[None, :], num_samples, seed=[seed, 0])[0]

    def greedy(logits, num_samples, seed):
        return tf.fill([num_samples], tf.argmax(logits))

    def from_probs(logits, num_samples, seed):  # probabilities passed where logits belong
        return tf.random.stateless_categorical(tf.nn.softmax(logits)[None, :], num_samples, seed=[seed, 0])[0]

    def unseeded(logits, num_samples, seed):
        return tf.random.categorical(logits[None, :], num_samples)[0]

    assert status(lesson4.q1, sample_tf=solution).status == CORRECT
    assert "greedy" in status(lesson4.q1, sample_tf=greedy).message
    assert status(lesson4.q1, sample_tf=from_probs).status == INCORRECT
    assert "same seed" in status(lesson4.q1, sample_tf=unseeded).message
    assert status(lesson4.q1, sample_tf=lambda l, n, s: None).status == NOT_ATTEMPTED


def test_lesson4_temperature_and_top_p(pt_model):
    import torch

    assert status(lesson4.q2, apply_temperature=lambda logits, t: logits / t).status == CORRECT
    assert "multiplied" in status(lesson4.q2, apply_temperature=lambda logits, t: logits * t).message
    after = status(lesson4.q2, apply_temperature=lambda logits, t: torch.softmax(logits, -1) / t)
    assert "after softmax" in after.message

    def top_p(logits, p, keep_crosser=True):
        probs, order = torch.sort(torch.softmax(logits, -1), descending=True)
        cumulative = torch.cumsum(probs, -1)
        drop = order[(cumulative - probs >= p) if keep_crosser else (cumulative > p)]
        filtered = logits.clone()
        filtered[drop] = float("-inf")
        return filtered

    assert status(lesson4.q3, top_p_filter=top_p).status == CORRECT
    dropped = status(lesson4.q3, top_p_filter=lambda l, p: top_p(l, p, keep_crosser=False))
    assert dropped.status == INCORRECT and "crosses p" in dropped.message


# -- lesson 5 --------------------------------------------------------------------------------------
from course_utils.lessons import lesson5  # noqa: E402


def test_lesson5_sequence_logprob(pt_model):
    import torch

    def solution(model, ids, input_len, product=False, whole=False):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        log_probs = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
        total = log_probs[0 if whole else input_len - 1:].sum()
        return float(total.exp() if product else total)

    assert status(lesson5.q1, sequence_logprob_pt=solution).status == CORRECT
    product = status(lesson5.q1, sequence_logprob_pt=lambda m, i, n: solution(m, i, n, product=True))
    assert "product of probabilities" in product.message
    whole = status(lesson5.q1, sequence_logprob_pt=lambda m, i, n: solution(m, i, n, whole=True))
    assert "includes the prompt" in whole.message


def test_lesson5_tensorflow_log_probs(tf_model):
    import tensorflow as tf

    def solution(logits, labels):
        return tf.gather(tf.nn.log_softmax(logits, axis=-1), labels, batch_dims=1)

    def probabilities(logits, labels):
        return tf.gather(tf.nn.softmax(logits, axis=-1), labels, batch_dims=1)

    assert status(lesson5.q2, log_probs_from_logits_tf=solution).status == CORRECT
    assert "probabilities" in status(lesson5.q2, log_probs_from_logits_tf=probabilities).message


def test_lesson5_beam_ids(pt_model, tokenizer):
    import torch

    ids = torch.tensor([tokenizer.encode(lesson5.BEAM_PROMPT)])
    beam = pt_model.generate(ids, do_sample=False, **lesson5.BEAM_SETTINGS)[0].tolist()
    greedy = pt_model.generate(ids, do_sample=False, max_new_tokens=12)[0].tolist()
    assert status(lesson5.q3, beam_ids=beam).status == CORRECT
    verdict = status(lesson5.q3, beam_ids=greedy)
    assert verdict.status == INCORRECT
    assert status(lesson5.q3, beam_ids=____).status == NOT_ATTEMPTED
