"""Compare plain answers (from ``convert.to_plain``) with expected values, dtype-aware.

Our own comparisons on trusted data: never the answer's ``__eq__``. Integers (token ids) must
match exactly; floats within ``rtol``/``atol`` (an infinity only equals itself, so a filter's
-inf must sit at the same places); shapes must agree. ``same`` is the checker's one equality
test; ``mismatch`` returns a phrase that completes "`x` …" for the student, or ``None`` when the
answer matches.
"""
from __future__ import annotations

import numpy as np


def _describe_value(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def same(answer, expected, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Whether ``answer`` equals ``expected`` for the checker.

    A tuple ``expected`` is a record (``(beams, scores)``, ``(ids, text)``): the answer must be a
    list of as many parts, each the same as its part. A list of strings (token pieces) must be
    equal exactly. Anything else: numbers and arrays of numbers, as ``mismatch`` compares them.
    """
    if isinstance(expected, tuple):
        return (isinstance(answer, (list, tuple)) and len(answer) == len(expected)
                and all(same(a, e, rtol, atol) for a, e in zip(answer, expected)))
    if isinstance(expected, list) and any(isinstance(e, str) for e in expected):
        return answer == expected  # both plain data here: list.__eq__ of str, int, float
    return mismatch(answer, expected, rtol, atol) is None


def mismatch(answer, expected, rtol: float = 1e-4, atol: float = 1e-6) -> str | None:
    if isinstance(expected, str) or isinstance(answer, str):
        if not isinstance(answer, str):
            return f"should be a string, not {_describe_value(answer)}"
        if not isinstance(expected, str):
            return f"should be a number or list, not the string {answer!r}"
        return None if answer == expected else f"is {answer!r}, which is not the expected text"
    expected_array = np.asarray(expected)
    try:
        answer_array = np.asarray(answer)
    except ValueError:
        return "is a ragged list (its rows have different lengths)"
    if answer_array.dtype.kind not in "biuf":
        return f"should be numeric, but holds {answer_array.dtype} values"
    if answer_array.shape != expected_array.shape:
        return (f"has shape {answer_array.shape} but should have shape {expected_array.shape}"
                if expected_array.ndim else f"should be a single number, not shape {answer_array.shape}")
    if expected_array.dtype.kind in "iub":
        if answer_array.dtype.kind == "f":
            if not np.all(np.isfinite(answer_array)) or np.any(answer_array != np.round(answer_array)):
                return "should hold whole numbers (token ids are integers)"
        if np.array_equal(answer_array.astype(np.int64), expected_array.astype(np.int64)):
            return None
        if expected_array.ndim == 0:
            return f"is {_describe_value(answer)}, which is not right"
        wrong = np.flatnonzero(answer_array.astype(np.int64).ravel() != expected_array.astype(np.int64).ravel())
        return f"differs from the expected values at {len(wrong)} of {expected_array.size} positions (first at flat index {wrong[0]})"
    answer_f = answer_array.astype(np.float64)
    expected_f = expected_array.astype(np.float64)
    same_inf = np.isinf(expected_f) & (answer_f == expected_f)
    with np.errstate(invalid="ignore"):  # inf - inf is nan: same_inf already covers it
        # An infinity equals only itself (rtol * inf would let any number be "close" to it).
        close = same_inf | (np.isfinite(expected_f)
                            & (np.abs(answer_f - expected_f) <= atol + rtol * np.abs(expected_f)))
    if np.all(close):
        return None
    if expected_f.ndim == 0:
        return f"is {_describe_value(answer)}, which is not right"
    bad = np.flatnonzero(~close.ravel())
    with np.errstate(invalid="ignore"):
        largest = np.nanmax(np.abs(answer_f - expected_f)[~same_inf])
    return (f"differs from the expected values at {len(bad)} of {expected_f.size} positions "
            f"(largest difference {largest:.3g})")
