"""Lesson 6's beam search one step at a time: the reference step (the references expose only the
whole search), the history of the beams kept, and the tree the notebook draws from it."""
from __future__ import annotations

import numpy as np

from course_utils.checking.numeric import log_softmax
from course_utils.checking.reference_cache import next_token_logits


def reference_beam_step(model, beams, scores, num_beams):
    """One step of beam search: every extension of every beam by one token, scored by
    ``score + log P(token | beam)``; the ``num_beams`` best, best first.

    beams: list of id lists (equal lengths); scores: list of floats (summed log-probs so far).
    Returns ``(new_beams, new_scores)`` as plain lists. Uses the PyTorch reference.
    """
    rows = np.stack([next_token_logits(model, "pt", tuple(int(t) for t in beam)) for beam in beams]).astype(np.float64)
    totals = np.asarray(scores, np.float64)[:, None] + log_softmax(rows)    # [len(beams), vocab]
    best = np.argsort(-totals, axis=None, kind="stable")[:num_beams]
    parents, tokens = np.unravel_index(best, totals.shape)
    return ([list(beams[b]) + [int(t)] for b, t in zip(parents, tokens)],
            [float(totals[b, t]) for b, t in zip(parents, tokens)])


def beam_history(model, input_ids, num_beams, steps, step=None):
    """The beams kept after each step: ``[(beams, scores), ...]``, starting from the prompt alone.

    ``step`` is a beam-step function like ``reference_beam_step`` (the default).
    """
    step = step or reference_beam_step
    beams, scores = [list(input_ids)], [0.0]
    history = [(beams, scores)]
    for _ in range(steps):
        beams, scores = step(model, [list(b) for b in beams], list(scores), num_beams)
        beams, scores = [list(map(int, b)) for b in beams], [float(s) for s in scores]
        history.append((beams, scores))
    return history


def draw_beam_tree(history, tokenizer, title="Beam search, step by step"):
    """Draw the beams kept at every step as a tree: one column per step, one node per beam (its new
    token and summed log-prob), an edge from each beam to the beam it extends. The final best beam's
    path is drawn in bold. ``history`` comes from ``beam_history``. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    prompt_len = len(history[0][0][0])
    steps = len(history) - 1
    width = max(len(beams) for beams, _ in history)
    figure, axes = plt.subplots(figsize=(2.0 + 1.9 * steps, 0.9 + 0.75 * width))
    position = {}
    for t, (beams, scores) in enumerate(history):
        for rank, (beam, score) in enumerate(zip(beams, scores)):
            key = tuple(beam)
            y = -(rank - (len(beams) - 1) / 2)
            position.setdefault(key, (t, y))
            label = (tokenizer.decode(beam[:prompt_len]) if t == 0
                     else f"{tokenizer.decode([beam[-1]])!r}\n{score:.2f}")
            axes.text(t, y, label, ha="center", va="center", fontsize=8,
                      bbox=dict(boxstyle="round", fc="#e3f2fd" if t else "#fff3e0", ec="#90a4ae"))
    best = tuple(history[-1][0][0])
    best_path = {best[:n] for n in range(prompt_len, len(best) + 1)}
    for key, (t, y) in position.items():
        parent = key[:-1]
        if t > 0 and parent in position:
            px, py = position[parent]
            bold = key in best_path
            axes.plot([px + 0.25, t - 0.25], [py, y], color="#c62828" if bold else "#90a4ae",
                      linewidth=2.2 if bold else 0.9, zorder=0)
    axes.set_xlim(-0.6, steps + 0.6)
    axes.set_ylim(-(width / 2) - 0.2, width / 2 + 0.2)
    axes.set_xticks(range(steps + 1), ["prompt"] + [f"step {t}" for t in range(1, steps + 1)])
    axes.set_yticks([])
    for side in ("left", "right", "top"):
        axes.spines[side].set_visible(False)
    axes.set_title(title + " (red: the best final beam's path; numbers: summed log-probs)", fontsize=10)
    figure.tight_layout()
    return figure
