"""The reference modules against transformers' generate(), and against each other.

Nothing here hard-codes expected ids: every expected value is computed from the loaded model.
"""
from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

from course_utils.reference import FRAMEWORKS, for_framework

PROMPTS = ["The cat sat on the", "Once upon a time", "def main():\n", "To be, or not to be"]
PAD = 50256  # GPT-2 has no pad token; generate() pads with this


def generate(fw, input_ids, **kwargs) -> tuple[list[int], float | None]:
    """PyTorch ``generate()`` on one prompt: (sequence as a list, sequences_scores[0] or None).

    Both frameworks' references are held to it: transformers 5 has no TensorFlow generate(), and
    the course's TensorFlow GPT-2 holds the same weights as the PyTorch one."""
    import torch

    from course_utils import load_model

    model = fw.model if fw.name == "pt" else load_model("pt", name="course")
    kwargs = dict(pad_token_id=PAD, return_dict_in_generate=True, output_scores=True, **kwargs)
    x = torch.tensor([input_ids])
    out = model.generate(x, attention_mask=torch.ones_like(x), **kwargs)
    score = getattr(out, "sequences_scores", None)
    return np.asarray(out.sequences[0]).tolist(), None if score is None else float(np.asarray(score)[0])


def model_next_logits(fw, input_ids) -> np.ndarray:
    """The model's own logits for the token after ``input_ids``, as float64, without the reference."""
    if fw.name == "pt":
        import torch

        with torch.no_grad():
            return fw.model(torch.tensor([input_ids])).logits[0, -1].double().numpy()
    return np.asarray(fw.model(np.array([input_ids], dtype=np.int32)).logits[0, -1], dtype=np.float64)


def cut_at_eos(sequence, prompt_len, eos):
    """generate() pads a beam that ended early; the reference returns it up to its eos."""
    generated = sequence[prompt_len:]
    if eos is None or eos not in generated:
        return sequence
    end = prompt_len + generated.index(eos) + 1
    assert all(t == PAD for t in sequence[end:]), "generate() should only pad after eos"
    return sequence[:end]


# --- The API: mirrored, lazy ---------------------------------------------------------------------

def test_pt_and_tf_share_all_and_signatures():
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    pt, tf = for_framework("pt"), for_framework("tf")
    assert pt.__all__ == tf.__all__
    for name in pt.__all__:
        assert inspect.signature(getattr(pt, name)) == inspect.signature(getattr(tf, name)), name


def test_package_import_loads_no_framework():
    code = ("import sys, course_utils.reference as r; "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules; print(r.FRAMEWORKS)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_for_framework():
    pytest.importorskip("torch")
    import course_utils.reference as reference

    assert FRAMEWORKS == ("pt", "tf")
    assert for_framework("pt") is reference.pt
    with pytest.raises(ValueError, match="name"):
        for_framework("jax")


# --- One step ------------------------------------------------------------------------------------

def test_input_forms_give_the_same_logits(fw, tokenizer):
    ids = tokenizer.encode(PROMPTS[0])
    logits = np.asarray(fw.ref.next_token_logits(fw.model, ids))
    assert logits.shape == (fw.model.config.vocab_size,)
    if fw.name == "pt":
        import torch as framework

        tensors = [framework.tensor(ids), framework.tensor([ids])]
    else:
        import tensorflow as framework

        tensors = [framework.constant(ids), framework.constant([ids])]
    for form in [np.array(ids), *tensors]:
        np.testing.assert_array_equal(np.asarray(fw.ref.next_token_logits(fw.model, form)), logits)
    np.testing.assert_allclose(logits, model_next_logits(fw, ids), rtol=1e-5, atol=1e-5)

    probs = np.asarray(fw.ref.next_token_probs(fw.model, ids), dtype=np.float64)
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    choices = fw.ref.top_choices(fw.model, tokenizer, ids, k=5)
    assert [c[0] for c in choices] == list(np.argsort(-probs, kind="stable")[:5])
    assert [c[1] for c in choices] == [tokenizer.decode([c[0]]) for c in choices]
    assert all(type(c[0]) is int and type(c[2]) is float for c in choices)
    assert [c[2] for c in choices] == sorted((c[2] for c in choices), reverse=True)
    assert choices[0][2] == pytest.approx(probs.max(), rel=1e-5)


def test_bad_inputs_raise_value_error(fw):
    with pytest.raises(ValueError, match="input_ids"):
        fw.ref.next_token_logits(fw.model, [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="input_ids"):
        fw.ref.greedy_search(fw.model, [], 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        fw.ref.greedy_search(fw.model, [1, 2], -1)
    with pytest.raises(ValueError, match="num_beams"):
        fw.ref.beam_search(fw.model, [1, 2], 0, 3)
    with pytest.raises(ValueError, match="input_len"):
        fw.ref.sequence_logprob(fw.model, [1, 2], 3)


def test_pt_and_tf_logits_agree(pt_model, tf_model, tokenizer):
    for prompt in PROMPTS[:2]:
        ids = tokenizer.encode(prompt)
        np.testing.assert_allclose(np.asarray(for_framework("pt").next_token_logits(pt_model, ids)),
                                   np.asarray(for_framework("tf").next_token_logits(tf_model, ids)),
                                   atol=2e-4)


# --- Greedy --------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_new_tokens", [1, 6, 16])
def test_greedy_matches_generate(fw, tokenizer, max_new_tokens):
    for prompt in PROMPTS[:3]:
        ids = tokenizer.encode(prompt)
        expected, _ = generate(fw, ids, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=PAD)
        got = fw.ref.greedy_search(fw.model, ids, max_new_tokens, stop_token_ids=[PAD])
        assert got == expected, prompt
        assert all(type(t) is int for t in got)


def test_greedy_with_a_stop_token_matches_generate(fw, tokenizer):
    ids = tokenizer.encode(PROMPTS[3])
    free = fw.ref.greedy_search(fw.model, ids, 12)
    stop = free[len(ids) + 3]                   # a token greedy really emits, at step 4 or earlier
    end = free.index(stop, len(ids)) + 1
    got = fw.ref.greedy_search(fw.model, ids, 12, stop_token_ids=[stop])
    assert got == free[:end]
    assert got == generate(fw, ids, do_sample=False, max_new_tokens=12, eos_token_id=stop)[0]
    assert fw.ref.greedy_search(fw.model, ids, 0) == ids


def test_greedy_without_cache_equals_greedy(fw, tokenizer):
    ids = tokenizer.encode(PROMPTS[1])
    assert fw.ref.greedy_search_no_cache(fw.model, ids, 10) == fw.ref.greedy_search(fw.model, ids, 10)


def test_pt_and_tf_greedy_agree(pt_model, tf_model, tokenizer):
    pt, tf = for_framework("pt"), for_framework("tf")
    for prompt in PROMPTS[1:]:
        ids = tokenizer.encode(prompt)
        assert pt.greedy_search(pt_model, ids, 12) == tf.greedy_search(tf_model, ids, 12), prompt


# --- Beam search ---------------------------------------------------------------------------------

@pytest.mark.parametrize("num_beams", [2, 5])
@pytest.mark.parametrize("no_repeat_ngram_size", [0, 2])
def test_beam_matches_generate(fw, tokenizer, num_beams, no_repeat_ngram_size):
    for prompt in PROMPTS[:2]:
        ids = tokenizer.encode(prompt)
        expected, expected_score = generate(fw, ids, do_sample=False, num_beams=num_beams, max_new_tokens=8,
                                            no_repeat_ngram_size=no_repeat_ngram_size, length_penalty=1.0,
                                            eos_token_id=None)
        got, score = fw.ref.beam_search(fw.model, ids, num_beams, 8,
                                        no_repeat_ngram_size=no_repeat_ngram_size)
        assert got == expected, prompt
        assert type(score) is float and score == pytest.approx(expected_score, abs=1e-4)


@pytest.mark.parametrize("num_beams", [2, 5])
def test_beam_with_eos_matches_generate(fw, tokenizer, num_beams):
    """An eos that beams really emit, so some finish early: exercises each framework's end rule."""
    for prompt in PROMPTS[2:]:
        ids = tokenizer.encode(prompt)
        eos = fw.ref.greedy_search(fw.model, ids, 2)[-1]
        expected, expected_score = generate(fw, ids, do_sample=False, num_beams=num_beams, max_new_tokens=8,
                                            no_repeat_ngram_size=2, eos_token_id=eos)
        got, score = fw.ref.beam_search(fw.model, ids, num_beams, 8, no_repeat_ngram_size=2, eos_token_id=eos)
        assert got == cut_at_eos(expected, len(ids), eos), prompt
        assert score == pytest.approx(expected_score, abs=1e-4)


def test_pt_and_tf_beams_agree_without_eos(pt_model, tf_model, tokenizer):
    ids = tokenizer.encode(PROMPTS[2])
    pt_ids, pt_score = for_framework("pt").beam_search(pt_model, ids, 3, 8)
    tf_ids, tf_score = for_framework("tf").beam_search(tf_model, ids, 3, 8)
    assert pt_ids == tf_ids and pt_score == pytest.approx(tf_score, abs=1e-4)


def test_beam_end_rules_pt_and_tf_agree(pt_model, tf_model, tokenizer):
    """When the budget runs out, live beams compete with eos-finished ones in both frameworks (as in
    PyTorch's generate()). With eos = greedy's first token a beam finishes at step 1, yet a live
    beam that ran to the budget may still win: both references must pick the same one."""
    pt, tf = for_framework("pt"), for_framework("tf")
    live_won = 0
    for prompt in PROMPTS:
        ids = tokenizer.encode(prompt)
        eos = pt.greedy_search(pt_model, ids, 1)[-1]
        pt_ids, pt_score = pt.beam_search(pt_model, ids, 3, 6, eos_token_id=eos)
        tf_ids, tf_score = tf.beam_search(tf_model, ids, 3, 6, eos_token_id=eos)
        assert pt_ids == tf_ids and pt_score == pytest.approx(tf_score, abs=1e-4), prompt
        live_won += pt_ids[-1] != eos
    assert live_won, "no prompt exercised the rule (a live beam beating an eos-finished one)"


def test_beam_score_is_the_length_normalised_logprob(fw, tokenizer):
    ids = tokenizer.encode(PROMPTS[0])
    best, score = fw.ref.beam_search(fw.model, ids, 3, 6)
    generated = len(best) - len(ids)
    assert score == pytest.approx(fw.ref.sequence_logprob(fw.model, best, len(ids)) / generated, abs=1e-4)


def test_beam_beats_greedy_where_they_differ(fw, tokenizer):
    for prompt in PROMPTS:
        ids = tokenizer.encode(prompt)
        greedy = fw.ref.greedy_search(fw.model, ids, 6)
        beam, _ = fw.ref.beam_search(fw.model, ids, 5, 6)
        if beam != greedy:
            assert (fw.ref.sequence_logprob(fw.model, greedy, len(ids))
                    <= fw.ref.sequence_logprob(fw.model, beam, len(ids)) + 1e-5)
            return
    pytest.fail("beam search returned the greedy sequence for every prompt: pick other prompts")


# --- Scoring -------------------------------------------------------------------------------------

def test_sequence_logprob_matches_a_loop_over_positions(fw, tokenizer):
    ids = tokenizer.encode(PROMPTS[3] + ", that is the question")
    per_token = [0.0]                                      # token 0 has no context: never scored
    for t in range(1, len(ids)):                           # log P(ids[t] | ids[:t]), in float64
        logits = model_next_logits(fw, ids[:t])
        per_token.append(logits[ids[t]] - (logits.max() + np.log(np.exp(logits - logits.max()).sum())))
    for input_len in [0, 1, 6, len(ids)]:
        got = fw.ref.sequence_logprob(fw.model, ids, input_len)
        assert type(got) is float and got == pytest.approx(sum(per_token[input_len:]), abs=1e-3, rel=1e-5)


def test_log_probs_from_logits_gathers_at_labels(fw):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 11)).astype(np.float32)
    labels = rng.integers(0, 11, size=(2, 3))
    shifted = logits - logits.max(-1, keepdims=True)
    expected = np.take_along_axis(shifted - np.log(np.exp(shifted).sum(-1, keepdims=True)),
                                  labels[..., None], -1)[..., 0]
    got = np.asarray(fw.ref.log_probs_from_logits(logits, labels))
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fw.ref.log_probs_from_logits(logits[0], labels[0])), expected[0],
                               rtol=1e-5, atol=1e-6)
