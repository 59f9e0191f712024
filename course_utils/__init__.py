"""Course utilities: GPT-2 tokenizer and models (PyTorch and TensorFlow), references and checks.

Importing this package is cheap: torch, tensorflow and transformers load only when a function
that needs them is called, so a student working in one framework never pays for the other.
Import it before ``tensorflow``: it makes TensorFlow load after triton (a CUDA torch's compiler),
the one order that does not abort the kernel, and keeps library start-up noise out of notebooks
(see ``course_utils.frameworks``).
"""
from course_utils.frameworks import guard_tensorflow_import, quiet_environment

quiet_environment()
guard_tensorflow_import()

from course_utils.loading import load_model, resolve_model_name  # noqa: E402
from course_utils.tokenizer import load_tokenizer  # noqa: E402

__all__ = ["load_model", "load_tokenizer", "resolve_model_name"]
