"""Structural diagnoses: what *kind* of wrong a numeric answer is, computed from the answer against
the expected value, before the generic "differs at N of M positions".

``structural(answer, expected)`` takes two float64 arrays (``compare`` converts them) and returns
a phrase that completes "`x` ..." / "your result ...", or None when no kind fits. The kinds, in
the order they are tried (the first that fits is named):

* NaN or inf where the expected value is finite (and where: a whole row of NaN is what a softmax
  over a row of -inf gives, a mask that hides every position of a row);
* axes swapped (a shape that is a permutation of the expected one, and the values agree once
  transposed), or a square answer transposed;
* the opposite sign; a constant factor (a missing or extra scale, log base 2 or 10 instead of e);
* a constant offset, for the whole answer or one per row (logits against log-probabilities);
* weight above the diagonal where the expected weights have none (a position that sees the future);
* rows that do not sum to one where the expected rows do (the softmax over the wrong axis, weights
  zeroed after it);
* the right values one position early or late (an off-by-one shift), or in another order.

``first_difference`` says where the first wrong value is (row, position, token), for the last
resort. Axes are named by the exercise (``axes``, e.g. ``("position", "token")``); an axis named
"token" is described with ``token_text`` (id -> its text), as are the values of an answer of ids.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

# Factors with a known cause: (factor, what gives it).
_KNOWN_FACTORS = ((1 / math.log(2), "a log in base 2 where the natural log (base e) is expected"),
                  (math.log(2), "a natural log where a log in base 2 is expected"),
                  (1 / math.log(10), "a log in base 10 where the natural log (base e) is expected"),
                  (math.log(10), "a natural log where a log in base 10 is expected"))


_DEFAULT_AXES = {1: ("position",), 2: ("row", "column")}


def _close(a, b, rtol, atol) -> bool:
    with np.errstate(invalid="ignore"):
        return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def where(index, axes=None, token_text=None) -> str:
    """``index`` (a tuple) in words: "position 3", "row 1, token 262 (' the')", "[0, 2, 5]"."""
    index = tuple(int(i) for i in index)
    if axes is None or len(axes) != len(index):
        axes = _DEFAULT_AXES.get(len(index))
        if axes is None:
            return "[" + ", ".join(map(str, index)) + "]"
    parts = []
    for name, i in zip(axes, index):
        text = f"{name} {i}"
        if name == "token" and token_text is not None:
            text += f" ({_token(token_text, i)})"
        parts.append(text)
    return ", ".join(parts)


def _token(token_text, token_id) -> str:
    try:
        return repr(token_text(int(token_id)))
    except Exception:  # noqa: BLE001 - an id outside the vocabulary: say the id only
        return "not a token id"


def first_difference(wrong: np.ndarray, answer, expected, axes=None, token_text=None,
                     values_are_tokens=False) -> str:
    """"the first at row 1, position 4 (yours 0.12, expected 0.5)" for a boolean mask ``wrong``."""
    index = np.unravel_index(int(np.flatnonzero(wrong.ravel())[0]), wrong.shape) if wrong.ndim else ()
    mine, theirs = np.asarray(answer)[index], np.asarray(expected)[index]
    if values_are_tokens and token_text is not None:
        values = f"yours {int(mine)} {_token(token_text, mine)}, expected {int(theirs)} {_token(token_text, theirs)}"
    else:
        values = f"yours {_number(mine)}, expected {_number(theirs)}"
    return f"the first at {where(index, axes, token_text)} ({values})"


def _number(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"


def structural(answer, expected, rtol=1e-4, atol=1e-6, axes=None, token_text=None) -> str | None:
    """What kind of wrong ``answer`` is against ``expected`` (float64 arrays), or None."""
    answer = np.asarray(answer, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if answer.shape != expected.shape:
        return _swapped_axes(answer, expected, rtol, atol)
    for kind in (_non_finite, _transposed, _factor, _offset, _sees_future, _rows_not_normalised,
                 _shifted, _reordered):
        found = kind(answer, expected, rtol, atol, axes, token_text)
        if found:
            return found
    return None


def _swapped_axes(answer, expected, rtol, atol):
    if answer.ndim != expected.ndim or answer.ndim < 2 or sorted(answer.shape) != sorted(expected.shape):
        return None
    for order in itertools.permutations(range(answer.ndim)):
        moved = answer.transpose(order)
        if moved.shape == expected.shape and _close(moved, expected, rtol, atol):
            return (f"has its axes in another order: shape {answer.shape} where {expected.shape} is "
                    f"expected, and the values agree once transposed (`.permute{order}` / "
                    f"`tf.transpose(x, {list(order)})`)")
    return None


def _non_finite(answer, expected, rtol, atol, axes, token_text):
    nan = np.isnan(answer) & ~np.isnan(expected)
    if nan.any():
        rows = ""
        if answer.ndim >= 2:
            whole = np.flatnonzero(nan.reshape(-1, answer.shape[-1]).all(axis=-1))
            if len(whole):
                rows = (f"; {len(whole)} whole row(s) are NaN, the first row {whole[0]}: a softmax over "
                        "a row whose scores are all -inf gives NaN (a mask that hides every position "
                        "of that row, its own included)")
        return (f"holds NaN at {int(nan.sum())} of {answer.size} positions ("
                + first_difference(nan, answer, expected, axes, token_text) + ")" + rows)
    infinite = np.isinf(answer) & np.isfinite(expected)
    if infinite.any():
        return (f"holds an infinity at {int(infinite.sum())} of {answer.size} positions where the "
                f"expected values are finite (" + first_difference(infinite, answer, expected, axes, token_text)
                + "): a -inf that a mask or filter put where it should not, or an overflow")
    finite = np.isfinite(answer) & np.isinf(expected)
    if finite.any():
        return (f"holds finite values at {int(finite.sum())} positions where -inf is expected "
                f"(filtered or masked out): " + first_difference(finite, answer, expected, axes, token_text))
    return None


def _finite_parts(answer, expected):
    keep = np.isfinite(expected) & np.isfinite(answer)
    if not np.array_equal(np.isinf(answer), np.isinf(expected)) or not keep.any():
        return None
    return answer[keep], expected[keep]


def _transposed(answer, expected, rtol, atol, axes, token_text):
    if answer.ndim < 2 or answer.shape[-1] != answer.shape[-2] or answer.shape[-1] < 2:
        return None
    if _close(np.swapaxes(answer, -1, -2), expected, rtol, atol):
        return "is transposed: your rows are the expected columns (row i should hold query/position i)"
    return None


def _factor(answer, expected, rtol, atol, axes, token_text):
    parts = _finite_parts(answer, expected)
    if parts is None:
        return None
    mine, theirs = parts
    scale = float(np.dot(theirs, theirs))
    if scale == 0.0:
        return None
    factor = float(np.dot(mine, theirs)) / scale
    if abs(factor - 1) < 1e-3 or not _close(mine, factor * theirs, rtol * 10, atol * 10):
        return None
    if abs(factor + 1) < 1e-3:
        return "has the opposite sign everywhere: each value is minus the expected one"
    for known, cause in _KNOWN_FACTORS:
        if abs(factor / known - 1) < 1e-3:
            return f"is {factor:.4g} times the expected values everywhere: {cause}"
    root = factor * factor if factor > 1 else 1 / (factor * factor)
    hint = (f" (that is sqrt({round(root)}): a scale by a square root missing, extra or of the wrong size)"
            if root > 1.5 and abs(root - round(root)) < 1e-2 * root else
            " (a scale factor missing, extra or of the wrong size)")
    return f"is {factor:.4g} times the expected values everywhere{hint}"


def _offset(answer, expected, rtol, atol, axes, token_text):
    parts = _finite_parts(answer, expected)
    if parts is None:
        return None
    shift = float(np.mean(parts[0] - parts[1]))
    if abs(shift) > atol * 10 and _close(parts[0], parts[1] + shift, rtol * 10, atol * 10):
        return (f"is the expected values plus the constant {shift:.4g} everywhere: shifted values (a "
                "softmax does not see a constant shift, so compare before it: logits against "
                "log-probabilities, a missing or extra normalisation)")
    if answer.ndim < 1 or answer.shape[-1] < 2:
        return None
    with np.errstate(invalid="ignore"):
        difference = np.where(np.isfinite(expected), answer - expected, np.nan)
        per_row = np.nanmean(difference, axis=-1, keepdims=True)
    if not np.all(np.isfinite(per_row)) or np.allclose(per_row, per_row.ravel()[0]):
        return None
    if _close(np.where(np.isfinite(expected), answer - per_row, expected), expected, rtol * 10, atol * 10):
        return ("differs from the expected values by one constant per row (from "
                f"{float(per_row.min()):.4g} to {float(per_row.max()):.4g}): that is what separates logits "
                "from log-probabilities (a log-softmax missing or extra), or scores shifted row by row")
    return None


def _sees_future(answer, expected, rtol, atol, axes, token_text):
    if answer.ndim < 2 or answer.shape[-1] != answer.shape[-2] or answer.shape[-1] < 2:
        return None
    above = np.triu(np.ones(answer.shape[-2:], dtype=bool), k=1)
    if not np.all(np.abs(expected[..., above]) <= atol) or np.all(np.abs(expected) <= atol):
        return None
    leak = np.abs(answer[..., above]) > atol
    if not leak.any():
        return None
    return ("puts weight above the diagonal: a position attends to positions after it (it sees the "
            "future). The scores above the diagonal must be -inf before the softmax")


def _rows_not_normalised(answer, expected, rtol, atol, axes, token_text):
    if answer.ndim < 1 or answer.shape[-1] < 2 or np.any(expected < -atol):
        return None
    tolerance = max(1e-4, 10 * rtol)
    if not np.allclose(expected.sum(axis=-1), 1.0, atol=tolerance):
        return None
    sums = answer.sum(axis=-1)
    if np.allclose(sums, 1.0, atol=tolerance):
        return None
    if answer.ndim >= 2 and np.allclose(answer.sum(axis=-2), 1.0, atol=tolerance):
        return ("has columns that sum to 1 but rows that do not: the softmax ran over the wrong axis "
                "(each row must be one distribution over the last axis)")
    return (f"has rows that do not sum to 1 (they sum to {float(np.min(sums)):.3g} to "
            f"{float(np.max(sums)):.3g}): a softmax over the wrong axis, or weights zeroed or changed "
            "after the softmax")


def _shifted(answer, expected, rtol, atol, axes, token_text):
    for axis in range(answer.ndim):
        n = answer.shape[axis]
        if n < 3:
            continue
        take = lambda array, part: np.take(array, np.arange(n)[part], axis=axis)  # noqa: E731
        name = (axes[axis] if axes and len(axes) == answer.ndim else
                _DEFAULT_AXES.get(answer.ndim, ("",) * answer.ndim)[axis] or f"step along axis {axis}")
        if _close(take(answer, slice(1, None)), take(expected, slice(None, -1)), rtol, atol):
            return f"is shifted one {name} late: your {name} i + 1 holds what {name} i should"
        if _close(take(answer, slice(None, -1)), take(expected, slice(1, None)), rtol, atol):
            return f"is shifted one {name} early: your {name} i holds what {name} i + 1 should"
    return None


def _reordered(answer, expected, rtol, atol, axes, token_text):
    if answer.ndim != 1 or answer.size < 2:
        return None
    if _close(np.sort(answer), np.sort(expected), rtol, atol):
        if _close(answer[::-1], expected, rtol, atol):
            return "holds the right values in reverse order"
        return "holds the right values in another order"
    return None
