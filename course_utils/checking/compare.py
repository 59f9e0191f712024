"""Compare plain answers (from ``convert.to_plain``) with expected values, dtype-aware.

Our own comparisons on trusted data: never the answer's ``__eq__``. Integers (token ids) must
match exactly; floats within ``rtol``/``atol`` (an infinity only equals itself, so a filter's
-inf must sit at the same places); shapes must agree. ``same`` is the checker's one equality
test; ``mismatch`` returns a phrase that completes "`x` …" for the student, or ``None`` when the
answer matches: first what kind of wrong it is (``diagnosis.structural``: NaN, swapped axes, a
factor, an offset, the future seen, rows not summing to one, a shift), else how many values
differ and where the first one is (row, position, token: ``axes`` names the axes, ``token_text``
turns a token id into its text).
"""
from __future__ import annotations

import numpy as np

from course_utils.checking import diagnosis


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
    return mismatch(answer, expected, rtol, atol, explain=False) is None


def mismatch(answer, expected, rtol: float = 1e-4, atol: float = 1e-6, *, axes=None, token_text=None,
             values_are_tokens: bool = False, explain: bool = True) -> str | None:
    """``explain=False`` (``same``): any phrase will do, the diagnoses are skipped."""
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
        swapped = diagnosis.structural(answer_array, expected_array, rtol, atol) if explain else None
        if swapped:
            return swapped
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
        if not explain:
            return "differs"
        found = diagnosis.structural(answer_array, expected_array, 0.0, 0.0, axes, token_text)
        if found:
            return found
        wrong = answer_array.astype(np.int64) != expected_array.astype(np.int64)
        return (f"differs from the expected values at {int(wrong.sum())} of {expected_array.size} positions, "
                + diagnosis.first_difference(wrong, answer_array, expected_array, axes, token_text,
                                             values_are_tokens))
    answer_f = answer_array.astype(np.float64)
    expected_f = expected_array.astype(np.float64)
    # An infinity equals only itself (rtol * inf would let any number be "close" to it), and a NaN
    # only a NaN (no reference holds one; a known mistake's answer can: a softmax of a row of -inf).
    same_inf = (np.isinf(expected_f) & (answer_f == expected_f)) | (np.isnan(expected_f) & np.isnan(answer_f))
    with np.errstate(invalid="ignore"):  # inf - inf is nan: same_inf already covers it
        close = same_inf | (np.isfinite(expected_f)
                            & (np.abs(answer_f - expected_f) <= atol + rtol * np.abs(expected_f)))
    if np.all(close):
        return None
    if not explain:
        return "differs"
    if expected_f.ndim == 0:
        return f"is {_describe_value(answer)}, which is not right" + _scalar_kind(answer_f, expected_f)
    found = diagnosis.structural(answer_f, expected_f, rtol, atol, axes, token_text)
    if found:
        return found
    with np.errstate(invalid="ignore"):
        gaps = np.abs(answer_f - expected_f)[~same_inf]
    largest = np.nanmax(gaps) if np.any(np.isfinite(gaps)) else np.inf
    return (f"differs from the expected values at {int((~close).sum())} of {expected_f.size} positions "
            f"(largest difference {largest:.3g}); "
            + diagnosis.first_difference(~close, answer_f, expected_f, axes, token_text))


def _scalar_kind(answer: np.ndarray, expected: np.ndarray) -> str:
    """A number's known kinds of wrong (the sign, a log base), as ": ..." or nothing: any other
    ratio of two numbers is a coincidence, not a diagnosis."""
    if not (np.isfinite(answer) and np.isfinite(expected)) or expected == 0:
        return "" if np.isfinite(answer) else " (it is not a finite number)"
    found = diagnosis.structural(answer.reshape(1), expected.reshape(1)) or ""
    if "opposite sign" in found:
        return ": it has the opposite sign"
    return ": it " + found.replace("values everywhere", "value") if " log " in found else ""
