"""Framework-free helpers shared by ``pt.py`` and ``tf.py``: input checks, n-gram bans, seeds.

Only numpy and the standard library here, so both reference modules stay about decoding.
"""
from __future__ import annotations

import numbers
import random

import numpy as np


def to_id_list(input_ids) -> list[int]:
    """Token ids as a plain list of ints.

    Accepts a list of ints, a 1-D numpy array, or a PyTorch / TensorFlow tensor of shape
    ``(seq_len,)`` or ``(1, seq_len)`` (both convert with ``np.asarray`` on the CPU).
    """
    array = np.asarray(input_ids)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1:
        raise ValueError(f"input_ids must have shape (seq_len,) or (1, seq_len), not {array.shape}")
    if array.size == 0:
        raise ValueError("input_ids must contain at least one token id")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"input_ids must be integer token ids, not {array.dtype}")
    return [int(i) for i in array]


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` if it is an int >= ``minimum``, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, not {temperature!r}")
    return float(temperature)


def check_top_p(p) -> float:
    # Same range as transformers' TopPLogitsWarper: p = 0 keeps only the most likely token.
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a number between 0 and 1, not {p!r}")
    return float(p)


def stop_set(stop_token_ids) -> frozenset[int]:
    """``None``, one id or an iterable of ids, as a set of ints."""
    if stop_token_ids is None:
        return frozenset()
    if isinstance(stop_token_ids, numbers.Integral):
        return frozenset([int(stop_token_ids)])
    return frozenset(int(i) for i in stop_token_ids)


def banned_ngram_tokens(ids: list[int], ngram_size: int) -> list[int]:
    """Tokens that would repeat an n-gram of ``ids`` (prompt included) if appended next.

    The last ``ngram_size - 1`` tokens are the prefix of the n-gram being formed; every token that
    followed that prefix earlier in ``ids`` is banned. Same rule as transformers'
    ``NoRepeatNGramLogitsProcessor`` (fairseq's).
    """
    if ngram_size <= 0 or len(ids) + 1 < ngram_size:
        return []
    prefix = tuple(ids[len(ids) - (ngram_size - 1):])
    return [ids[i + ngram_size - 1] for i in range(len(ids) - ngram_size + 1)
            if tuple(ids[i:i + ngram_size - 1]) == prefix]


def check_beam_arguments(input_ids, num_beams, max_new_tokens, no_repeat_ngram_size,
                         eos_token_id) -> tuple[list[int], int, int, int, int | None]:
    """``beam_search``'s arguments checked: ``(prompt ids, num_beams, max_new_tokens,
    no_repeat_ngram_size, eos_token_id)``."""
    return (to_id_list(input_ids), check_positive_int("num_beams", num_beams),
            check_positive_int("max_new_tokens", max_new_tokens),
            check_positive_int("no_repeat_ngram_size", no_repeat_ngram_size, 0),
            None if eos_token_id is None else check_positive_int("eos_token_id", eos_token_id, 0))


def split_candidates(indices: list[int], normalized: list[float], beams: list[list[int]], vocab_size: int,
                     eos_token_id: int | None, budget_spent: bool, finished: list) -> list[int]:
    """One beam-search step's ``2 * num_beams`` best candidates (flat ``beam * vocab_size + token``
    indices, best first, with their length-normalised scores) sorted out: a candidate that ends
    (eos, or the budget spent) joins ``finished`` (``(score, ids)``, kept best first, at most
    ``num_beams``) if it ranks in the top ``num_beams``, as generate() does; returns the ranks of
    the first ``num_beams`` candidates that stay live."""
    num_beams, live = len(beams), []
    for rank, index in enumerate(indices):
        beam, token = divmod(index, vocab_size)
        if token == eos_token_id or budget_spent:
            if rank < num_beams:               # generate() drops lower-ranked endings
                finished.append((normalized[rank], beams[beam] + [token]))
        elif len(live) < num_beams:
            live.append(rank)
    finished[:] = sorted(finished, key=lambda f: f[0], reverse=True)[:num_beams]
    return live


def step_seeds(seed: int | None):
    """An endless stream of 31-bit seeds, one per sampling step, determined by ``seed``.

    A private ``random.Random``, so sampling with a seed never touches any global RNG, and
    ``seed=None`` gives fresh randomness on every call.
    """
    rng = random.Random(seed)
    while True:
        yield rng.getrandbits(31)
