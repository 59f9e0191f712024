"""Reference decoding, one module per framework: ``pt`` (PyTorch) and ``tf`` (TensorFlow).

The two modules share ``__all__`` and signatures and are meant to be read side by side. Importing
this package imports neither framework; ``for_framework("pt")`` (or ``reference.pt``) does.
"""
from __future__ import annotations

import importlib

from course_utils.reference.framework_free import banned_ngram_tokens  # framework-free: shared by both

FRAMEWORKS = ("pt", "tf")

__all__ = ["FRAMEWORKS", "banned_ngram_tokens", "for_framework"]


def for_framework(name: str):
    """The reference module for ``name`` (``"pt"`` or ``"tf"``), imported on first use."""
    if name not in FRAMEWORKS:
        raise ValueError(f"name must be one of {FRAMEWORKS}, not {name!r}")
    return importlib.import_module(f"course_utils.reference.{name}")


def __getattr__(name: str):
    # ``course_utils.reference.pt`` works without an explicit import, still lazily.
    if name in FRAMEWORKS:
        return for_framework(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
