"""Load PyTorch and TensorFlow side by side without crashing the kernel or flooding the notebook.

Two problems of today's student platforms, both solved when ``course_utils`` is imported:

* **Import order.** A CUDA build of torch ships ``triton``, which carries its own copy of LLVM, and
  so does TensorFlow. If TensorFlow is imported first, loading triton afterwards (``from
  transformers import GPT2LMHeadModel`` does) aborts the whole process with "LLVM ERROR:
  inconsistency in registered CommandLine options". Triton first, TensorFlow after works. An
  import hook therefore loads triton (where installed) just before TensorFlow, whoever imports it.
* **Noise.** TensorFlow 2.21 writes its C++ start-up lines (oneDNN, CUDA drivers) to stderr before
  ``TF_CPP_MIN_LOG_LEVEL`` takes effect, and transformers logs deprecation and device notices.
  Students need none of it; each default below can be overridden by setting the variable first.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings

QUIET_DEFAULTS = {
    "TF_CPP_MIN_LOG_LEVEL": "3",             # TensorFlow's C++ logs: errors only
    "TRANSFORMERS_VERBOSITY": "error",       # e.g. "Device set to use cpu" from pipeline()
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def installed(module: str) -> bool:
    """True if ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def clashing_triton() -> bool:
    """True if a triton 3 or later is installed (torch >= 2.4): its LLVM clashes with TensorFlow's.
    triton 2.x (torch 2.2, 2.3) loads beside TensorFlow in either order, and importing it early
    would import torch too, so it is left alone."""
    if not installed("triton"):
        return False
    try:
        from importlib.metadata import version
        return int(version("triton").split(".")[0]) >= 3
    except Exception:   # unknown version: assume the clash, the safe side
        return True


def quiet_environment() -> None:
    """Set the quiet defaults (never overriding the student's own settings) and warning filters."""
    for name, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(name, value)
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(transformers|tf_keras|keras)(\.|$)")
    # tqdm.auto (imported by transformers) asks for ipywidgets where they are missing: not the
    # student's business; progress bars then simply print as text.
    warnings.filterwarnings("ignore", message="IProgress not found")


class _TensorFlowAfterTriton(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``tensorflow`` is about to be imported, it loads triton first,
    then hands TensorFlow a loader that imports it with its C++ start-up lines silenced."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once is enough, and the imports below must not come back here
        if clashing_triton() and "triton" not in sys.modules:
            import triton  # noqa: F401  (its LLVM must be registered before TensorFlow's)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None and _tf_logs_unwanted():
            spec.loader = _StderrSilencedLoader(spec.loader)
        return spec


class _StderrSilencedLoader(importlib.abc.Loader):
    """Runs another loader with the process's stderr (file descriptor 2) sent to /dev/null.

    TensorFlow's C++ runtime writes its start-up lines straight to descriptor 2, below Python's
    ``sys.stderr``: only redirecting the descriptor hides them. Python exceptions still propagate.
    """

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = self.loader  # the module keeps its real loader afterwards
        module.__loader__ = self.loader
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            self.loader.exec_module(module)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _tf_logs_unwanted() -> bool:
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") not in ("", "0", "1")


def guard_tensorflow_import() -> None:
    """Make every later ``import tensorflow`` load triton first (see the module docstring).

    If TensorFlow is already imported while an installed triton is not, the order can no longer be
    fixed: warn, naming the cure, instead of letting a later import abort the kernel.
    """
    if "tensorflow" in sys.modules:
        if "triton" not in sys.modules and clashing_triton():
            warnings.warn(
                "TensorFlow was imported before course_utils, and this torch build ships triton: "
                "loading triton now would abort the kernel. Restart the kernel and import "
                "course_utils (or torch) before tensorflow.", RuntimeWarning, stacklevel=3)
        return
    if not any(isinstance(finder, _TensorFlowAfterTriton) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowAfterTriton())


class LazyModule:
    """A module imported on first use: a checks module that needs torch for its PyTorch exercises
    can be imported by a TensorFlow-only student (or grader) without importing torch."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str):
        return getattr(importlib.import_module(self._name), attribute)


def lazy_no_grad(function):
    """``@torch.no_grad()`` that imports torch only when ``function`` runs."""
    import functools

    @functools.wraps(function)
    def without_gradients(*args, **kwargs):
        import torch

        with torch.no_grad():
            return function(*args, **kwargs)
    return without_gradients
