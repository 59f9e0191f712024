"""Course utilities: GPT-2 tokenizer and models (PyTorch and TensorFlow), references and checks.

Importing this package is cheap: torch, tensorflow and transformers load only when a function
that needs them is called, so a student working in one framework never pays for the other.
"""
import os

# TensorFlow prints several lines of C++ start-up logs at import; students need none of them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from course_utils.loading import load_model, resolve_model_name
from course_utils.tokenizer import load_tokenizer

__all__ = ["load_model", "load_tokenizer", "resolve_model_name"]
