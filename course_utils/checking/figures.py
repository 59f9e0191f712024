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
    return verdict if figure is None else incorrect(verdict.message, verdict.score, figure=figure)


def bars_figure(tokenizer, token_ids, expected, yours, title, k=12, ylabel="probability"):
    """Bars of the reference's ``k`` likeliest tokens next to the student's values for them.

    ``expected`` and ``yours`` are 1-D and aligned; entry ``i`` is the token ``token_ids[i]``.
    """
    from matplotlib.figure import Figure

    top = np.argsort(-np.asarray(expected), kind="stable")[:k]
    labels = [repr(tokenizer.decode([int(token_ids[i])])) for i in top]
    figure = Figure(figsize=(6.4, 3.2))
    axes = figure.subplots()
    x = np.arange(len(top))
    axes.bar(x - 0.2, np.asarray(expected)[top], width=0.4, label="reference")
    axes.bar(x + 0.2, np.asarray(yours)[top], width=0.4, label="yours")
    axes.set_xticks(x, labels, rotation=45, ha="right")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.legend()
    figure.tight_layout()
    return figure
