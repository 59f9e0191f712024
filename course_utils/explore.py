"""Sliders to play with: how temperature, top-k and top-p reshape the next-token distribution, and
how beam search's answer changes with the number of beams and steps.

    from course_utils.explore import explore_sampling, explore_beams
    explore_sampling(model, tokenizer, "The weather today is")
    explore_beams(model, tokenizer, "The weather today is")

Both redraw live with ipywidgets (JupyterLab, Jupyter Notebook, Colab, Kaggle). Where widgets cannot
be shown (ipywidgets missing, nbval, the grader, a script) they draw one static figure or table for
the default settings instead, so a notebook that calls them always runs. The numbers come from the
PyTorch references (``course_utils.reference.pt``), the same code the checks use.
"""
from __future__ import annotations

import math

SHOWN = 20  # bars drawn: the most likely tokens before filtering


def sampling_view(model, tokenizer, input_ids, temperature=1.0, top_k=0, top_p=1.0, shown=SHOWN):
    """The data of one picture: the ``shown`` most likely tokens at temperature 1, each with its
    probability before (``before``) and after (``after``, 0 if filtered out) the filters, and how
    many tokens of the whole vocabulary survive (``kept``).

    Filters in ``generate()``'s order: temperature, then top-k (0 = off), then top-p (1 = off).
    """
    import torch

    from course_utils.reference import pt as ref

    logits = ref.next_token_logits(model, input_ids)                        # (vocab_size,)
    before = torch.softmax(logits, dim=-1)
    filtered = ref.apply_temperature(logits, temperature)
    if top_k:
        filtered = ref.top_k_filter(filtered, int(top_k))
    if top_p < 1.0:
        filtered = ref.top_p_filter(filtered, float(top_p))
    after = torch.softmax(filtered, dim=-1)
    order = torch.argsort(before, descending=True)[:shown]
    return {
        "tokens": [repr(tokenizer.decode([int(i)])) for i in order],
        "before": before[order].tolist(),
        "after": after[order].tolist(),
        "kept": int(torch.isfinite(filtered).sum()),
        "vocab_size": int(logits.shape[-1]),
    }


def sampling_figure(view: dict, title: str = ""):
    """Two bars per token: the model's probability (grey) and after the filters (blue; a token
    filtered out has none). Log scale, so that the tail the filters cut stays visible."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6))
    axes = figure.subplots()
    x = range(len(view["tokens"]))
    axes.bar([i - 0.2 for i in x], view["before"], width=0.4, color="#9e9e9e", label="model (T = 1)")
    after = [p if p > 0 else float("nan") for p in view["after"]]
    axes.bar([i + 0.2 for i in x], after, width=0.4, color="#1f77b4", label="after the filters")
    axes.set_yscale("log")
    axes.set_ylim(max(1e-6, min(p for p in view["before"] + view["after"] if p > 0) / 2), 1.0)
    axes.set_xticks(list(x), view["tokens"], rotation=60, ha="right", fontsize=8)
    axes.set_ylabel("probability (log scale)")
    axes.set_title(title or f"{view['kept']:,} of {view['vocab_size']:,} tokens can be drawn", fontsize=10)
    axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    return figure


def explore_sampling(model, tokenizer, prompt: str, temperature=1.0, top_k=0, top_p=1.0):
    """Sliders for temperature, top-k and top-p over the next-token distribution after ``prompt``."""
    input_ids = tokenizer.encode(prompt)

    def draw(temperature=temperature, top_k=top_k, top_p=top_p):
        view = sampling_view(model, tokenizer, input_ids, temperature, top_k, top_p)
        _display(sampling_figure(view))

    widgets = _widgets()
    if widgets is None:
        draw()
        return
    wide = {"description_width": "initial"}  # the whole label, not "temperat..."
    widgets.interact(
        draw,
        temperature=widgets.FloatSlider(value=temperature, min=0.1, max=3.0, step=0.05, description="temperature",
                                        style=wide),
        top_k=widgets.IntSlider(value=top_k, min=0, max=100, step=1, description="top-k (0 = off)", style=wide),
        top_p=widgets.FloatSlider(value=top_p, min=0.05, max=1.0, step=0.01, description="top-p (1 = off)",
                                  style=wide))


def beam_rows(model, tokenizer, input_ids, num_beams: int, max_new_tokens: int) -> list[dict]:
    """Greedy and beam search side by side: one row each, with the text and its mean log-prob."""
    from course_utils.reference import pt as ref

    rows = []
    for beams in sorted({1, num_beams}):
        if beams == 1:
            ids = ref.greedy_search(model, input_ids, max_new_tokens)
            score = ref.sequence_logprob(model, ids, len(input_ids)) / max(1, len(ids) - len(input_ids))
        else:
            ids, score = ref.beam_search(model, input_ids, beams, max_new_tokens)
        rows.append({"beams": beams, "continuation": tokenizer.decode(ids[len(input_ids):]),
                     "mean log-prob": round(score, 3), "perplexity": round(math.exp(-score), 1)})
    return rows


def explore_beams(model, tokenizer, prompt: str, num_beams=3, max_new_tokens=12):
    """Sliders for the number of beams and of new tokens: greedy and beam search side by side."""
    import pandas as pd

    input_ids = tokenizer.encode(prompt)

    def show(num_beams=num_beams, max_new_tokens=max_new_tokens):
        _display(pd.DataFrame(beam_rows(model, tokenizer, input_ids, num_beams, max_new_tokens)))

    widgets = _widgets()
    if widgets is None:
        show()
        return
    widgets.interact(  # returns nothing: the notebook shows the widgets, not "<function show>"
        show,
        num_beams=widgets.IntSlider(value=num_beams, min=1, max=8, description="beams"),
        max_new_tokens=widgets.IntSlider(value=max_new_tokens, min=1, max=30, description="new tokens",
                                         style={"description_width": "initial"}))


def _widgets():
    """ipywidgets where a live front end can show them, else None (the static fallback)."""
    import os

    if os.environ.get("COURSE_GRADING") or os.environ.get("COURSE_STATIC_WIDGETS"):
        return None
    try:
        import ipywidgets
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return ipywidgets if shell is not None and hasattr(shell, "kernel") else None


def _display(obj):
    """Show ``obj`` in the notebook (a matplotlib Figure as a PNG, whatever the backend), or print it."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(obj)
        return
    if hasattr(obj, "savefig"):
        import io

        buffer = io.BytesIO()
        obj.savefig(buffer, format="png", dpi=100)
        obj = Image(data=buffer.getvalue(), format="png")
    display(obj)
