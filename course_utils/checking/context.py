"""What a judge needs to compute the expected answer: tokenizer, models and references, lazily.

A check uses the framework the student already has loaded, so a TensorFlow-only student never
imports torch (and vice versa); a problem about one framework asks for that one explicitly.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys


def available_frameworks() -> list[str]:
    """Frameworks that can be imported, those already imported first."""
    modules = {"pt": "torch", "tf": "tensorflow"}
    loaded = [fw for fw, mod in modules.items() if mod in sys.modules]
    importable = [fw for fw, mod in modules.items()
                  if fw not in loaded and importlib.util.find_spec(mod) is not None]
    return loaded + importable


def default_framework() -> str:
    frameworks = available_frameworks()
    if not frameworks:
        raise RuntimeError("Neither PyTorch nor TensorFlow is installed: pip install torch or tensorflow")
    return frameworks[0]


class Context:
    """Lazy access to the course's tokenizer, models and reference modules.

    ``model_name`` is passed to ``load_model``; ``None`` means whatever the notebook uses
    (``COURSE_MODEL``, else gpt2 when it can be had, else the bundled model).
    """

    def __init__(self, model_name: str | None = None):
        self.model_name = model_name
        self.models: dict = {}  # framework -> model: resolved once (the resolver may ask the hub)

    @functools.cached_property
    def tokenizer(self):
        from course_utils.tokenizer import load_tokenizer

        return load_tokenizer()

    def model(self, framework: str | None = None):
        framework = framework or default_framework()
        if framework not in self.models:
            from course_utils.loading import load_model

            self.models[framework] = load_model(framework, self.model_name)
        return self.models[framework]

    def ref(self, framework: str | None = None):
        """The reference module ``course_utils.reference.pt`` or ``.tf``."""
        return importlib.import_module(f"course_utils.reference.{framework or default_framework()}")


@functools.lru_cache(maxsize=None)
def shared_context() -> Context:
    """The one context of this process (the kernel's, or the grader's trusted worker)."""
    return Context(os.environ.get("COURSE_MODEL") or None)
