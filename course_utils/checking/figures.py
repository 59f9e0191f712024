"""Small matplotlib figures that an Incorrect verdict can carry (built only when needed)."""
from __future__ import annotations

import numpy as np

from course_utils.checking.verdict import INCORRECT, incorrect


def with_figure(verdict, make_figure):
    """``verdict`` with the figure ``make_figure()`` attached when it is Incorrect and one can be made."""
    if verdict.status != INCORRECT:
        return verdict
    try:
        figure = make_figure()
    except Exception:  # noqa: BLE001 - a figure is a bonus; the verdict stands without it
        figure = None
    # Everything the verdict says stays: its points, and for the class report its mistake and failed tests.
    return verdict if figure is None else incorrect(verdict.message, verdict.score, verdict.max_score, figure,
                                                    verdict.mistake, verdict.failed_tests)


def token_label(tokenizer, token_id) -> str:
    """A token as a tick label: ``repr`` of its text, escaped where a font may lack the characters
    (a lone byte of a character decodes to U+FFFD, which many fonts draw as a black box)."""
    text = tokenizer.decode([int(token_id)])
    return repr(text) if all(ord(c) < 0x250 for c in text) else ascii(text)


def bars_figure(tokenizer, token_ids, expected, yours, title, k=12, ylabel="probability"):
    """Bars of the reference's ``k`` likeliest tokens next to the student's values for them.

    ``expected`` and ``yours`` are 1-D and aligned; entry ``i`` is the token ``token_ids[i]``.
    Drawn by ``paired_bars``.
    """
    expected, yours = np.asarray(expected, np.float64), np.asarray(yours, np.float64)
    top = np.argsort(-expected, kind="stable")[:k]
    labels = [token_label(tokenizer, token_ids[i]) for i in top]
    return paired_bars(labels, expected[top], yours[top], title, ylabel)


def paired_bars(labels, expected, yours, title, ylabel="probability", xlabel=None):
    """The reference's bar next to the student's for each label (aligned 1-D values).

    Where the student's bars would be too small to see next to the reference's (a near-flat
    distribution) the axis is logarithmic; where the values cannot share an axis (a sign differs,
    e.g. logits next to probabilities), the two are drawn side by side, each on its own axis.
    """
    from matplotlib.figure import Figure

    ref_top = np.asarray(expected, np.float64)
    your_top = np.asarray(yours, np.float64)
    your_top = np.where(np.isfinite(your_top), your_top, 0.0)
    x = np.arange(len(labels))
    positive = np.all(ref_top >= 0) and np.all(your_top >= 0)
    scale = max(np.abs(ref_top).max(initial=0.0), np.abs(your_top).max(initial=0.0))
    if not positive:
        figure = Figure(figsize=(9.6, 3.2))
        left, right = figure.subplots(1, 2)
        left.bar(x, ref_top, color="C0")
        left.set_title("reference", fontsize=10)
        right.bar(x, your_top, color="C1")
        right.set_title("yours", fontsize=10)
        for axes in (left, right):
            label_axes(axes, x, labels, ylabel, xlabel)
        figure.suptitle(title, fontsize=10)
        figure.tight_layout()
        return figure
    figure = Figure(figsize=(6.4, 3.2))
    axes = figure.subplots()
    axes.bar(x - 0.2, ref_top, width=0.4, label="reference")
    axes.bar(x + 0.2, your_top, width=0.4, label="yours")
    small = min(ref_top.max(initial=0.0), your_top.max(initial=0.0))
    if scale > 0 and small < 0.05 * scale:
        # One side is near-flat or near-zero: on a linear axis its bars would not show.
        floor = max(min(v for v in np.concatenate([ref_top, your_top]) if v > 0) / 2, 1e-12) \
            if np.any(np.concatenate([ref_top, your_top]) > 0) else 1e-12
        axes.set_yscale("log")
        axes.set_ylim(bottom=floor)
        title += " (log scale)"
    label_axes(axes, x, labels, ylabel, xlabel)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the bars, never over them
    figure.tight_layout()
    return figure


def label_axes(axes, x, labels, ylabel: str, xlabel: str | None = None):
    """Token labels under the bars (slanted, so long ones stay readable) and the axis titles."""
    axes.set_xticks(x, labels, rotation=45, ha="right")
    axes.set_ylabel(ylabel)
    if xlabel:
        axes.set_xlabel(xlabel)
