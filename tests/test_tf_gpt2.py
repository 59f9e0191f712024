"""The course's own TensorFlow GPT-2 (course_utils.tf_gpt2) against transformers' PyTorch GPT-2.

Same weights, so: the same logits (to float32 round-off), and the same greedy and beam ids as the
PyTorch references and PyTorch's generate(). Prompts are GPT-2 ids (their text in comments), so
nothing here depends on the tokenizer.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from course_utils.loading import BUNDLED_DIR

PAD = 50256
PROMPTS = [
    [15496, 995],                                                    # Hello world
    [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13],      # The quick brown fox ... dog.
    [818, 262, 2003],                                                # In the future
    [3666, 15876, 11, 262, 5822],                                    # My lord, the king
    [464, 2163, 5860],                                               # The function returns
    [7454, 2402, 257, 640],                                          # Once upon a time
    [4299, 1388, 33529, 198],                                        # def main():\n
    [2514, 307, 11, 393, 407, 284, 307],                             # To be, or not to be
    [464, 3797, 3332, 319, 262],                                     # The cat sat on the
    [1026, 373, 257, 3223, 290, 6388, 88, 1755],                     # It was a dark and stormy night
    [11748, 299, 32152, 355, 45941],                                 # import numpy as np
    [464, 1893, 286, 262, 1578, 1829, 531],                          # The president of the United States said
    [PAD],                                                           # <|endoftext|>
]


def pt_logits(pt_model, input_ids, **kwargs) -> np.ndarray:
    import torch

    with torch.no_grad():
        return pt_model(torch.tensor(input_ids), **{k: torch.tensor(v) for k, v in kwargs.items()}).logits.numpy()


def pt_generate(pt_model, ids, **kwargs) -> list[int]:
    import torch

    x = torch.tensor([ids])
    return pt_model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, pad_token_id=PAD,
                             eos_token_id=None, **kwargs)[0].tolist()


# --- Logits ---------------------------------------------------------------------------------------

def test_logits_match_pytorch(pt_model, tf_model):
    import tensorflow as tf

    for ids in PROMPTS:
        logits = tf_model(tf.constant([ids])).logits
        assert logits.dtype == tf.float32 and logits.shape == (1, len(ids), 50257)
        assert np.abs(logits.numpy() - pt_logits(pt_model, [ids])).max() < 1e-4, ids
    batch = [p[:5] for p in PROMPTS if len(p) >= 5]                 # batch > 1, equal lengths
    assert np.abs(tf_model(batch).logits.numpy() - pt_logits(pt_model, batch)).max() < 1e-4


def test_a_wrong_weight_is_caught(pt_model):
    """The 1e-4 above is tight enough to notice a small change in one weight."""
    from course_utils.tf_gpt2 import GPT2, GPT2Config, load_weights

    weights = load_weights(os.path.join(BUNDLED_DIR, "model.safetensors"))
    weights["h.3.mlp.c_fc.bias"] += 0.01
    config = GPT2Config.from_dict(json.load(open(os.path.join(BUNDLED_DIR, "config.json"))))
    wrong = GPT2(config, weights)
    assert np.abs(wrong(PROMPTS[:1]).logits.numpy() - pt_logits(pt_model, PROMPTS[:1])).max() > 1e-3


def test_weights_are_wrapped_not_copied_and_read_once(tf_model):
    """The model's tensors are its arrays' own memory (a grading kernel builds its model on its
    template's pages); arrays TensorFlow cannot use as they are (unaligned) are copied instead of
    crashing the process; ``from_pretrained`` reads a file once per process; reading ahead runs no
    TensorFlow operation (the kernel template forks after it)."""
    from course_utils.tf_gpt2 import GPT2, GPT2Config, load_weights
    from course_utils.tf_gpt2_weights import model_arrays

    config = GPT2Config.from_dict(json.load(open(os.path.join(BUNDLED_DIR, "config.json"))))
    weights = load_weights(os.path.join(BUNDLED_DIR, "model.safetensors"))
    model = GPT2(config, weights)
    before = model(PROMPTS[:1]).logits.numpy()
    weights["h.3.mlp.c_fc.bias"] += 0.01                                  # the same memory
    assert np.abs(model(PROMPTS[:1]).logits.numpy() - before).max() > 1e-3
    unaligned = {name: np.concatenate([[0.0], array.ravel()]).astype(np.float32)[1:].reshape(array.shape)
                 for name, array in load_weights(os.path.join(BUNDLED_DIR, "model.safetensors")).items()}
    assert unaligned["wte.weight"].ctypes.data % 64 != 0
    copied = GPT2(config, unaligned)
    unaligned["h.3.mlp.c_fc.bias"] += 0.01                                # a copy: no effect
    assert np.array_equal(copied(PROMPTS[:1]).logits.numpy(), tf_model(PROMPTS[:1]).logits.numpy())
    hits = model_arrays.cache_info().hits
    GPT2.from_pretrained(BUNDLED_DIR)
    assert model_arrays.cache_info().hits == hits + 1
    code = ("from tensorflow.python.eager import context; from course_utils.loading import read_tf_weights_ahead; "
            "read_tf_weights_ahead('course'); print(context.context()._context_handle is None)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1] == "True", result.stderr[-2000:]


def test_left_padding_is_masked_like_pytorch(pt_model, tf_model):
    """Left-padded rows give the logits of the unpadded prompt, like PyTorch given the mask and
    generate()'s position ids (number of real tokens before each one)."""
    rows = [PROMPTS[1][:8], [PAD, PAD, PAD] + PROMPTS[3], [PAD] + PROMPTS[7]]
    mask = [[1] * 8, [0, 0, 0, 1, 1, 1, 1, 1], [0] + [1] * 7]
    logits = tf_model(input_ids=np.array(rows, dtype=np.int64), attention_mask=mask).logits.numpy()
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
    expected = pt_logits(pt_model, rows, attention_mask=mask, position_ids=positions)
    real = np.array(mask, dtype=bool)
    assert np.abs(logits[real] - expected[real]).max() < 1e-4
    assert np.abs(logits[1, 3:] - pt_logits(pt_model, [PROMPTS[3]])[0]).max() < 1e-4
    assert np.isfinite(logits).all()                                # padded rows too


# --- The key/value cache --------------------------------------------------------------------------

def test_cached_steps_equal_the_full_sequence(tf_model):
    import tensorflow as tf

    c = tf_model.config
    batch = np.array([PROMPTS[1][:9], PROMPTS[9][:8] + [13]])       # (2, 9)
    full = tf_model(batch, use_cache=False)
    assert full.past_key_values is None
    output = tf_model(batch[:, :4])                                 # the prompt, then one at a time
    steps = [output.logits.numpy()]
    for t in range(4, batch.shape[1]):
        past = output.past_key_values
        assert isinstance(past, tuple) and len(past) == c.n_layer
        assert all(p.shape == (2, 2, c.n_head, t, c.n_embd // c.n_head) for p in past)
        # A list of tensors (what reference/tf.py passes back after reordering beams) works too.
        output = tf_model(batch[:, t:t + 1], past_key_values=[tf.identity(p) for p in past],
                          attention_mask=np.ones((2, t + 1)))
        steps.append(output.logits.numpy())
    assert np.abs(np.concatenate(steps, axis=1) - full.logits.numpy()).max() < 1e-4


def test_cached_steps_with_left_padding(tf_model):
    rows, mask = np.array([[PAD, PAD] + PROMPTS[3], PROMPTS[9][:7]]), np.array([[0, 0] + [1] * 5, [1] * 7])
    full = tf_model(rows, attention_mask=mask).logits.numpy()
    output = tf_model(rows[:, :4], attention_mask=mask[:, :4])
    steps = [output.logits.numpy()]
    for t in range(4, 7):
        output = tf_model(rows[:, t:t + 1], attention_mask=mask[:, :t + 1], past_key_values=output.past_key_values)
        steps.append(output.logits.numpy())
    assert np.abs(np.concatenate(steps, axis=1) - full)[mask.astype(bool)].max() < 1e-4


def test_growing_lengths_do_not_retrace(tf_model):
    output = tf_model([PROMPTS[1]])                                 # traced on the first call, if not before
    for token in PROMPTS[2]:
        output = tf_model([[token]], past_key_values=output.past_key_values)
    tf_model([p[:3] for p in PROMPTS[1:4]])
    tf_model(np.zeros((5, 1), np.int32), use_cache=False)
    assert tf_model._step.experimental_get_tracing_count() == 1


def test_a_seed_costs_no_graph_optimization_and_changes_no_setting(tf_model):
    """The model's calls skip Grappler (after ``tf.random.set_seed`` clears TensorFlow's caches it
    would optimize the whole graph again), in this thread and during the call only."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    from course_utils import tf_gpt2

    before = context.context().function_call_options.config_proto_serialized
    seen = []
    step = tf_model._step

    def recording_step(*args):  # the options in force while the model's graph runs
        seen.append(config_pb2.ConfigProto.FromString(context.context().function_call_options.config_proto_serialized))
        return step(*args)

    tf_model._step = recording_step
    try:
        tf.random.set_seed(1)
        tf_model([PROMPTS[1]])
    finally:
        tf_model._step = step
    assert seen and all(c.graph_options.rewrite_options.disable_meta_optimizer for c in seen)
    tf.random.set_seed(1)
    first = tf_model([PROMPTS[1]]).logits.numpy()
    tf.random.set_seed(2)
    assert np.array_equal(tf_model([PROMPTS[1]]).logits.numpy(), first)
    assert context.context().function_call_options.config_proto_serialized == before
    assert not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)


# --- Decoding: the same ids as PyTorch ------------------------------------------------------------

def test_greedy_ids_equal_pytorch_generate(pt_model, tf_model):
    from course_utils.reference import pt, tf

    for ids in PROMPTS:
        expected = pt_generate(pt_model, ids, max_new_tokens=20)
        assert tf.greedy_search(tf_model, ids, 20) == pt.greedy_search(pt_model, ids, 20) == expected, ids


@pytest.mark.parametrize("num_beams", [2, 3, 5])
@pytest.mark.parametrize("no_repeat_ngram_size", [0, 2])
def test_beam_ids_equal_pytorch_generate(pt_model, tf_model, num_beams, no_repeat_ngram_size):
    from course_utils.reference import pt, tf

    for ids in PROMPTS[:10]:
        tf_ids, tf_score = tf.beam_search(tf_model, ids, num_beams, 8, no_repeat_ngram_size=no_repeat_ngram_size)
        pt_ids, pt_score = pt.beam_search(pt_model, ids, num_beams, 8, no_repeat_ngram_size=no_repeat_ngram_size)
        expected = pt_generate(pt_model, ids, num_beams=num_beams, max_new_tokens=8,
                               no_repeat_ngram_size=no_repeat_ngram_size, length_penalty=1.0)
        assert tf_ids == pt_ids == expected, ids
        assert tf_score == pytest.approx(pt_score, abs=1e-4)


# --- Loading --------------------------------------------------------------------------------------

def _write_variant(folder, rename, extra=None, dtype=None):
    """The bundled model re-saved with its tensor names changed by ``rename`` (None drops one)."""
    from safetensors.numpy import load_file, save_file

    tensors = {}
    for name, array in load_file(os.path.join(BUNDLED_DIR, "model.safetensors")).items():
        if rename(name) is not None:
            tensors[rename(name)] = array if dtype is None else array.astype(dtype)
    tensors.update(extra(tensors) if extra else {})
    os.makedirs(folder)
    save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(BUNDLED_DIR, "config.json")) as f, open(os.path.join(folder, "config.json"), "w") as g:
        g.write(f.read())
    return str(folder)


def test_loads_with_or_without_prefix_lm_head_and_buffers(tf_model, tmp_path):
    from course_utils.tf_gpt2 import GPT2

    bare = _write_variant(tmp_path / "bare", lambda n: n.removeprefix("transformer."))   # as the hub's gpt2
    with_head = _write_variant(
        tmp_path / "head", lambda n: n if n.startswith("transformer.") else "transformer." + n,
        extra=lambda t: {"lm_head.weight": t["transformer.wte.weight"],
                         "transformer.h.0.attn.bias": np.tril(np.ones((1, 1, 512, 512), np.float16)),
                         "transformer.h.0.attn.masked_bias": np.array(-1e4, np.float16)})
    for folder in (bare, with_head):
        model = GPT2.from_pretrained(folder)
        assert model.name_or_path == folder and sorted(model.weights) == sorted(tf_model.weights)
        assert np.array_equal(model(PROMPTS[:1]).logits.numpy(), tf_model(PROMPTS[:1]).logits.numpy())
    untied = _write_variant(tmp_path / "untied", lambda n: n,
                            extra=lambda t: {"lm_head.weight": t["transformer.wte.weight"] * 2})
    with pytest.raises(ValueError, match="lm_head"):
        GPT2.from_pretrained(untied)


def test_float16_weights_are_computed_in_float32(tf_model, tmp_path):
    from safetensors.numpy import load_file

    from course_utils.tf_gpt2 import GPT2

    stored = load_file(os.path.join(BUNDLED_DIR, "model.safetensors"))
    assert {a.dtype for a in stored.values()} == {np.dtype(np.float16)}   # what this test is about
    assert all(w.dtype == "float32" for w in tf_model.weights.values()) and tf_model.lm_head.dtype == "float32"
    # float16 -> float32 is exact, so a float32 copy of the file gives bit-identical logits.
    model32 = GPT2.from_pretrained(_write_variant(tmp_path / "fp32", lambda n: n, dtype=np.float32))
    assert np.array_equal(model32(PROMPTS[:1]).logits.numpy(), tf_model(PROMPTS[:1]).logits.numpy())


def test_module_imports_neither_torch_nor_transformers():
    code = ("import sys; from course_utils import load_model; m = load_model('tf', name='course'); "
            "m([[1, 2, 3]]); print(sorted({k.split('.')[0] for k in sys.modules} & {'torch', 'transformers'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


# --- The interface lessons and references rely on ------------------------------------------------

def test_interface(tf_model):
    import tensorflow as tf

    c = tf_model.config
    assert (c.n_layer, c.n_head, c.n_embd, c.vocab_size, c.n_positions) == (4, 4, 128, 50257, 512)
    assert c.eos_token_id == c.bos_token_id == PAD and c.to_dict()["n_layer"] == 4
    assert tf_model.trainable is False and not tf_model.trainable_variables
    assert tf_model.name_or_path == BUNDLED_DIR
    output = tf_model(input_ids=tf.constant([[1, 2]], dtype=tf.int64), attention_mask=[[1, 1]])
    assert output["logits"] is output.logits is output[0] and output[1] is output.past_key_values
    with pytest.raises(ValueError, match="n_positions"):
        tf_model([[1] * (c.n_positions + 1)])
    with pytest.raises(ValueError, match="attention_mask"):
        tf_model([[3]], attention_mask=[[1]], past_key_values=output.past_key_values)
    with pytest.raises(NotImplementedError, match="position_ids"):
        tf_model([[1, 2]], position_ids=[[0, 1]])
    tf_model([[1, 2]], return_dict=True, training=False)             # harmless transformers arguments
