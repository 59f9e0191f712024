"""What the lessons say about the libraries, checked against the installed libraries.

Each test fails when transformers changes a behaviour a lesson states, so the text cannot go stale
silently. They run on both CI stacks (locked: transformers 4.57; student platform: 5.x); where the
two differ, each version's behaviour is asserted, together with the lesson text that describes it.

* ``generate()`` with no budget writes 20 **new** tokens: transformers' default ``max_length=20``
  (``GenerationConfig``'s in 4.x; in 5.x the field is unset and ``generate()`` fills in 20) is taken
  as a number of new tokens (the prompt's length is added to it); the 20 is not in GPT-2's own
  config (lesson 4, sections 3 and 6).
* ``transformers.set_seed`` seeds Python's ``random``, NumPy and PyTorch; TensorFlow only on
  transformers 4.x (lesson 5, section 4).
* In ``generate()`` the temperature divides the logits *before* top-p and min-p choose what to keep,
  so the kept set grows with the temperature (lessons 5 and 7).
"""
from __future__ import annotations

import json
import pathlib
import random
import re
import warnings

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROMPT = "Machine learning with TensorFlow can do amazing things"


def transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


def source_text(n: int) -> str:
    """The text of every cell of lesson ``n``'s source notebook, joined."""
    notebook = json.loads((ROOT / f"grader/course/source/lesson{n}/lesson{n}.ipynb").read_text())
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"])


# -- generate()'s default budget -------------------------------------------------------------------
def test_the_default_budget_comes_from_transformers_not_gpt2(pt_model):
    from transformers import GenerationConfig

    if transformers_major() < 5:
        assert GenerationConfig().max_length == 20
    else:   # 5.x leaves the field unset; generate() fills in its model-agnostic default (20)
        assert GenerationConfig().max_length is None
    assert "max_length" not in pt_model.config.to_diff_dict()   # GPT-2's config sets no length


@pytest.mark.parametrize("prompt", ["Hello", PROMPT])
def test_generate_without_a_budget_writes_20_new_tokens(pt_model, tokenizer, prompt):
    torch = pytest.importorskip("torch")
    inputs = tokenizer(prompt, return_tensors="pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                      # the "no budget" warning
        output = pt_model.generate(**inputs, do_sample=False, eos_token_id=None,
                                   pad_token_id=tokenizer.eos_token_id)
    prompt_len = inputs["input_ids"].shape[1]
    assert output.shape[1] - prompt_len == 20, "generate() no longer writes 20 new tokens by default"
    assert torch.equal(output[0, :prompt_len], inputs["input_ids"][0])


def test_lesson4_says_20_new_tokens_and_where_the_20_comes_from():
    text = source_text(4)
    assert "20 new tokens" in text
    assert "GenerationConfig" in text
    assert "prompt included" not in text.split("## 6.")[0], "section 3 still says the prompt counts"


def test_max_length_counts_the_prompt(pt_model, tokenizer):
    """What lesson 4's `max_length_for` exercise relies on: an explicit `max_length` is the whole output."""
    inputs = tokenizer(PROMPT, return_tensors="pt")
    prompt_len = inputs["input_ids"].shape[1]
    output = pt_model.generate(**inputs, do_sample=False, eos_token_id=None, max_length=prompt_len + 5,
                               pad_token_id=tokenizer.eos_token_id)
    assert output.shape[1] == prompt_len + 5


# -- set_seed's reach ------------------------------------------------------------------------------
def draws_after_set_seed(seed: int = 7) -> dict:
    import torch
    import transformers

    transformers.set_seed(seed)
    return {"random": random.random(), "numpy": float(np.random.rand()), "torch": float(torch.rand(1))}


def test_set_seed_seeds_python_numpy_and_torch():
    pytest.importorskip("torch")
    assert draws_after_set_seed() == draws_after_set_seed()


def test_set_seed_seeds_tensorflow_on_4x_only():
    tf = pytest.importorskip("tensorflow")
    import transformers

    transformers.set_seed(7)
    first = tf.random.uniform([4]).numpy().tolist()
    transformers.set_seed(7)
    again = tf.random.uniform([4]).numpy().tolist()
    if transformers_major() >= 5:
        assert first != again, "transformers 5 now seeds TensorFlow: update lesson 5, section 4"
    else:
        assert first == again, "transformers 4 no longer seeds TensorFlow: update lesson 5, section 4"


def test_lesson5_names_the_versions_when_it_says_set_seed_seeds_tensorflow():
    """A cell that says `set_seed` seeds TensorFlow must say on which transformers (4.x, not 5)."""
    for cell in source_text(5).split("\n## "):
        claims = re.search(r"set_seed\([^)]*\)`?[^.\n]*\bseeds\b", cell) and "TensorFlow" in cell
        if claims:
            assert re.search(r"transformers 5|5\.x|4\.x", cell), cell[:300]


# -- the order of the logits processors ------------------------------------------------------------
def kept_after_sampling_step(model, tokenizer, **settings) -> int:
    """How many tokens keep a finite score in the one sampling step ``generate()`` makes."""
    import torch

    inputs = tokenizer("In the future", return_tensors="pt")
    torch.manual_seed(0)
    out = model.generate(**inputs, do_sample=True, max_new_tokens=1, top_k=0, output_scores=True,
                         return_dict_in_generate=True, pad_token_id=tokenizer.eos_token_id, **settings)
    return int(torch.isfinite(out.scores[0]).sum())


@pytest.mark.parametrize("cut", [dict(top_p=0.9), dict(min_p=0.05)], ids=["top_p", "min_p"])
def test_temperature_comes_before_top_p_and_min_p(pt_model, tokenizer, cut):
    """Were the temperature applied after the cut, the kept set would not depend on it."""
    pytest.importorskip("torch")
    cold = kept_after_sampling_step(pt_model, tokenizer, temperature=0.5, **cut)
    hot = kept_after_sampling_step(pt_model, tokenizer, temperature=2.0, **cut)
    assert hot > cold, f"{cut}: {cold} kept at T=0.5, {hot} at T=2: the temperature no longer comes first"


def test_the_scores_are_the_logits_divided_by_the_temperature_then_cut_by_top_k(pt_model, tokenizer):
    torch = pytest.importorskip("torch")
    inputs = tokenizer("In the future", return_tensors="pt")
    with torch.no_grad():
        logits = pt_model(**inputs).logits[0, -1]
    out = pt_model.generate(**inputs, do_sample=True, max_new_tokens=1, temperature=0.7, top_k=10,
                            output_scores=True, return_dict_in_generate=True,
                            pad_token_id=tokenizer.eos_token_id)
    scores = out.scores[0][0]
    kept = torch.isfinite(scores)
    assert int(kept.sum()) == 10
    assert set(torch.nonzero(kept)[:, 0].tolist()) == set(torch.topk(logits, 10).indices.tolist())
    assert torch.allclose(scores[kept], logits[kept] / 0.7, atol=1e-4)
