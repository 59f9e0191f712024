"""The weights of the course's TensorFlow GPT-2 (``course_utils.tf_gpt2``): read from safetensors,
kept once per process, and handed to TensorFlow without a copy.

Why not ``tf.Variable(array)``: each variable copies its array (and the transposed LM head is a
second copy of ``wte``), 0.3 s and ~55 MB for the course model, 0.7 GB for gpt2, in every process
that builds the model. Here the file is read once into float32 arrays on 64-byte boundaries
(``model_arrays``, cached), and ``as_tensor`` wraps each array's own memory as a ``tf.Tensor``
through DLPack. A grading kernel template reads them before it forks (``read_ahead``), so every
forked kernel builds its TensorFlow model from the template's pages, shared and never copied.
Reading needs numpy and safetensors only: no TensorFlow operation runs.
"""
from __future__ import annotations

import functools
import json
import os

import numpy as np

ALIGNMENT = 64  # bytes: TensorFlow's CPU kernels refuse (abort on) a buffer they did not align


def pretrained_files(path_or_repo_id: str) -> tuple[str, str]:
    """``(config.json, model.safetensors)`` of a folder, or of a hub id (downloaded once into the
    Hugging Face cache; ``HF_HUB_OFFLINE=1`` uses the cache only)."""
    if os.path.isdir(path_or_repo_id):
        return tuple(os.path.join(path_or_repo_id, f) for f in ("config.json", "model.safetensors"))
    from huggingface_hub import hf_hub_download

    return tuple(hf_hub_download(path_or_repo_id, f) for f in ("config.json", "model.safetensors"))


def read_config(config_file: str) -> dict:
    with open(config_file, encoding="utf-8") as f:
        return json.load(f)


def load_weights(file: str) -> dict:
    """``{name: float32 array}`` from a PyTorch-layout safetensors file, named as in transformers'
    GPT2Model (``"h.0.ln_1.weight"``, ``"wte.weight"``): without the ``transformer.`` prefix that
    GPT2LMHeadModel files carry, the attention-mask buffers, or the LM head (tied to ``wte``).
    float16 files are computed in float32. Fresh arrays on each call, each on a 64-byte boundary."""
    from safetensors.numpy import load_file

    weights = {}
    for name, array in load_file(file).items():
        name = name.removeprefix("transformer.")
        if name.endswith((".attn.bias", ".attn.masked_bias")):               # buffers, not weights
            continue
        weights[name] = aligned_float32(array)
    lm_head = weights.pop("lm_head.weight", None)
    if lm_head is not None and not np.array_equal(lm_head, weights["wte.weight"]):
        raise ValueError(f"{file}: lm_head.weight differs from wte.weight; GPT-2 ties them")
    return weights


@functools.lru_cache(maxsize=2)
def model_arrays(weights_file: str) -> tuple[dict, np.ndarray]:
    """``(load_weights(weights_file), lm_head)``, read once per process and shared by every model
    built from the file (do not write into them: the models' tensors are these arrays). ``lm_head``
    is ``wte`` transposed, (E, V): on CPU, h @ (E, V) is 2-5x faster than h @ wte^T."""
    weights = load_weights(weights_file)
    return weights, aligned_float32(weights["wte.weight"].T)


def read_ahead(path_or_repo_id: str) -> None:
    """Fill ``model_arrays``' cache for this model (a process that forks calls it first)."""
    model_arrays(pretrained_files(path_or_repo_id)[1])


def aligned_float32(array) -> np.ndarray:
    """A C-contiguous float32 copy of ``array`` whose buffer starts on a 64-byte boundary."""
    array = np.asarray(array)
    nbytes = array.size * 4
    buffer = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    out = buffer[start:start + nbytes].view(np.float32).reshape(array.shape)
    out[...] = array
    return out


def as_tensor(array):
    """A ``tf.Tensor`` over ``array``'s own memory where TensorFlow can use it as is (float32,
    C-contiguous, aligned: see ``aligned_float32``), else over a copy."""
    import tensorflow as tf

    array = np.asarray(array)
    if (array.dtype == np.float32 and array.flags.c_contiguous and array.flags.writeable
            and array.ctypes.data % ALIGNMENT == 0 and hasattr(array, "__dlpack__")):
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.constant(array, tf.float32)
