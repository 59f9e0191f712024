"""Reference values that cost forward passes, computed once per process for each model.

A check recomputes its expected answer and its known mistakes from the model's outputs on fixed
probes; the same outputs serve every check of every student (and, in the grader, every
submission). ``once_per_model`` remembers a function of ``(model, *args)`` for as long as the
process runs: judging stays a pure function of the payload and the references, only faster.
The three functions below are what the lessons ask for.
"""
from __future__ import annotations

import functools

import numpy as np

MAX_ENTRIES = 1024  # per function; more distinct probes than this is not a course: start over


def once_per_model(compute):
    """Decorate ``compute(model, *args, **kwargs)`` (arguments hashable: tuples of ids, not lists)
    so that it runs once per model object and arguments. The results are shared: numpy arrays
    come back read-only and lists as tuples."""
    remembered: dict = {}  # key -> (model, value): the model is kept, so its id stays its own

    @functools.wraps(compute)
    def cached(model, *args, **kwargs):
        key = (id(model), args, tuple(sorted(kwargs.items())))
        hit = remembered.get(key)
        if hit is None:
            if len(remembered) >= MAX_ENTRIES:
                remembered.clear()
            hit = remembered[key] = (model, frozen(compute(model, *args, **kwargs)))
        return hit[1]

    cached.cache_clear = remembered.clear
    return cached


def frozen(value):
    """``value`` safe to share: numpy arrays read-only, lists as tuples (recursively)."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
        return value
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    return value


def reference_module(framework: str):
    from course_utils.reference import for_framework

    return for_framework(framework)


@once_per_model
def next_token_logits(model, framework: str, ids: tuple) -> np.ndarray:
    """The reference's next-token logits after ``ids``: shape (vocab_size,), as numpy."""
    return np.asarray(reference_module(framework).next_token_logits(model, list(ids)))


@once_per_model
def forward_logits(model, framework: str, ids: tuple) -> np.ndarray:
    """The model's logits at every position of ``ids`` in one pass: shape (seq_len, vocab_size)."""
    if framework == "tf":
        import tensorflow as tf

        return np.asarray(model(tf.constant([list(ids)])).logits[0])
    import torch

    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits[0].numpy()


@once_per_model
def reference_result(model, framework: str, function: str, ids: tuple, *args, **kwargs):
    """``reference.<framework>.<function>(model, list(ids), *args, **kwargs)``: a search, a score."""
    return getattr(reference_module(framework), function)(model, list(ids), *args, **kwargs)
