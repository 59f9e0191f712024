"""One loader, two frameworks: the course model in PyTorch or TensorFlow, online or offline.

Which model ``load_model(name=None)`` picks, in order:

1. the environment variable ``COURSE_MODEL`` if set (``course``, ``gpt2``, a hub id or a folder);
2. the real ``gpt2`` if it is already in the Hugging Face cache, or the hub answers within a second
   or two (never when ``HF_HUB_OFFLINE=1``);
3. otherwise the small GPT-2 bundled with the course (``name="course"``), which always works.

It prints one line saying which model is in use and why. Models are cached per (framework, model),
so every lesson and every check in a kernel shares one copy.
"""
from __future__ import annotations

import functools
import os
import socket
import threading

BUNDLED = "course"
BUNDLED_DIR = os.path.join(os.path.dirname(__file__), "models", "course-gpt2")
FRAMEWORKS = ("pt", "tf")
HUB_HOST = "huggingface.co"


def _hub_reachable(timeout: float = 2.0) -> bool:
    """True if a TCP connection to the hub opens within ``timeout`` seconds (DNS included)."""
    result = []

    def probe():
        try:
            with socket.create_connection((HUB_HOST, 443), timeout=timeout):
                result.append(True)
        except OSError:
            pass

    # getaddrinfo has no timeout of its own: a dead resolver could block for minutes.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _in_hf_cache(repo_id: str, framework: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    # The TensorFlow model is built from the same safetensors file as the PyTorch one.
    weights = ["model.safetensors", "pytorch_model.bin"] if framework == "pt" else ["model.safetensors"]
    return any(isinstance(try_to_load_from_cache(repo_id, f), str) for f in weights) and isinstance(
        try_to_load_from_cache(repo_id, "config.json"), str)


def resolve_model_name(name: str | None = None, framework: str = "pt") -> tuple[str, str]:
    """Return ``(name, reason)``: the model ``load_model`` would load, and why."""
    if name is not None:
        return name, "asked for by name"
    if os.environ.get("COURSE_MODEL"):
        return os.environ["COURSE_MODEL"], "set by the COURSE_MODEL environment variable"
    if _in_hf_cache("gpt2", framework):
        return "gpt2", "found in the Hugging Face cache"
    if _offline():
        return BUNDLED, "HF_HUB_OFFLINE=1, and gpt2 is not in the Hugging Face cache"
    if _hub_reachable():
        return "gpt2", "downloaded from the Hugging Face hub"
    return BUNDLED, "the Hugging Face hub is unreachable and gpt2 is not in the cache"


def load_model(framework: str = "pt", name: str | None = None):
    """A GPT-2 language model ready for inference.

    Args:
        framework: ``"pt"`` for ``transformers.GPT2LMHeadModel`` (in eval mode) or ``"tf"`` for
            the course's own TensorFlow GPT-2, ``course_utils.tf_gpt2.GPT2`` (transformers 5 has
            no TensorFlow models; this one is called the same way and reads the same weights).
        name: ``None`` to choose automatically (see the module docstring), ``"course"`` for the
            bundled model, ``"gpt2"`` or any hub id or local folder for that model.

    The same object is returned on every call with the same arguments; do not train it.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, not {framework!r}")
    resolved, reason = resolve_model_name(name, framework)
    model = _load(framework, resolved)
    label = "course-gpt2 (bundled with the course)" if resolved == BUNDLED else resolved
    if (framework, resolved) not in _ANNOUNCED:  # once per model and process, not again per check
        _ANNOUNCED.add((framework, resolved))
        print(f"Using model {label} in {'PyTorch' if framework == 'pt' else 'TensorFlow'}: {reason}.")
    return model


_ANNOUNCED: set = set()


def _lm_head_by_columns(model):
    """``model`` with its LM head's weight (tied to ``wte``, (V, E)) stored column by column: the
    same values, but ``h @ weight.T`` is then a product with a contiguous (E, V) matrix, which
    MKL computes 3x faster for one new token on the machines measured (2.0 -> 0.7 ms: most of a
    course-model decoding step), and no slower for more. Embedding lookups do not mind."""
    import torch

    head = model.get_output_embeddings()
    if head is not None and head.weight is model.get_input_embeddings().weight:
        with torch.no_grad():
            head.weight.data = head.weight.data.t().contiguous().t()
    return model


def read_tf_weights_ahead(name: str | None = None) -> None:
    """Read the TensorFlow model's weights (the one ``load_model("tf", name)`` would load) into
    this process's cache, running no TensorFlow operation. A process about to fork calls it (the
    grader's kernel template, its judges' fork server): each child then builds the model on the
    same memory, with no copy (``course_utils.tf_gpt2_weights``)."""
    from course_utils.tf_gpt2_weights import read_ahead

    resolved, _ = resolve_model_name(name, "tf")
    read_ahead(BUNDLED_DIR if resolved == BUNDLED else resolved)


@functools.lru_cache(maxsize=None)
def _load(framework: str, name: str):
    path = BUNDLED_DIR if name == BUNDLED else name
    if framework == "pt":
        import torch
        import transformers
        from packaging.version import Version
        from transformers import GPT2LMHeadModel
        from transformers.utils import logging as transformers_logging

        # transformers 5 draws a "Loading weights" progress bar: noise in a notebook, so hide it.
        was_enabled = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()
        try:
            # The bundled weights are stored in float16 to stay small; compute in float32. The
            # argument is `dtype` since transformers 4.56, `torch_dtype` before (the oldest we accept).
            dtype = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
            return _lm_head_by_columns(GPT2LMHeadModel.from_pretrained(path, **{dtype: torch.float32}).eval())
        finally:
            if was_enabled:
                transformers_logging.enable_progress_bar()
    from course_utils.tf_gpt2 import GPT2

    # The course's own TensorFlow GPT-2 (no torch, no transformers): config.json + model.safetensors,
    # from the bundled folder, a local folder or the hub. It is for inference (trainable=False).
    return GPT2.from_pretrained(path)
