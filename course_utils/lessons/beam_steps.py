"""Lesson 6's beam search one step at a time: the reference step (the references expose only the
whole search), the history of the beams kept, the tree the notebook draws from it, and a toy tree of
word probabilities to search by hand."""
from __future__ import annotations

import math

import numpy as np

from course_utils.checking.numeric import log_softmax
from course_utils.checking.reference_cache import next_token_logits


def reference_beam_step(model, beams, scores, num_beams):
    """One step of beam search: every extension of every beam by one token, scored by
    ``score + log P(token | beam)``; the ``num_beams`` best, best first.

    beams: list of id lists (equal lengths); scores: list of floats (summed log-probs so far).
    Returns ``(new_beams, new_scores)`` as plain lists. Uses the PyTorch reference.
    """
    return candidate_step(model, beams, scores, num_beams)


def candidate_step(model, beams, scores, num_beams, combine=None):
    """A beam step whose table of candidates is ``combine(scores, log_probs)`` (shapes
    ``[len(beams)]`` and ``[len(beams), vocab_size]``; default: their sum, the right rule). The
    checks pass other rules to compute the answers of known slips."""
    rows = np.stack([next_token_logits(model, "pt", tuple(int(t) for t in beam)) for beam in beams]).astype(np.float64)
    combine = combine or (lambda s, log_probs: s[:, None] + log_probs)
    totals = combine(np.asarray(scores, np.float64), log_softmax(rows))    # [len(beams), vocab]
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


# A toy "model": the probability of each next word after each partial sentence (after "The").
TOY_TREE = {
    (): {"cat": 0.5, "dog": 0.4, "owl": 0.1},
    ("cat",): {"sat": 0.35, "ran": 0.34, "is": 0.31},
    ("dog",): {"barked": 0.55, "was": 0.45},
    ("owl",): {"flew": 0.6, "hooted": 0.4},
    ("cat", "sat"): {"down": 0.6, "still": 0.4},
    ("cat", "ran"): {"away": 0.98, "home": 0.02},
    ("cat", "is"): {"asleep": 0.55, "hungry": 0.45},
    ("dog", "barked"): {"loudly": 0.55, "twice": 0.45},
    ("dog", "was"): {"happy": 0.9, "lost": 0.1},
    ("owl", "flew"): {"off": 0.7, "in": 0.3},
    ("owl", "hooted"): {"twice": 0.6, "softly": 0.4},
}
TOY_STEPS = 3


def toy_probability(path, tree=TOY_TREE):
    """P(path) = the product of each word's probability given the words before it."""
    return math.prod(tree[tuple(path[:i])][word] for i, word in enumerate(path))


def toy_beam_search(num_beams, tree=TOY_TREE, steps=TOY_STEPS, score=None):
    """The best path of a beam search over ``tree`` (``num_beams=1``: greedy). ``score(beam_score,
    p)`` gives a candidate's score (default: summed log-probabilities); a slip can be passed."""
    score = score or (lambda beam_score, p: beam_score + math.log(p))
    beams = [((), 0.0)]
    for _ in range(steps):
        candidates = [(score(s, p), path + (word,)) for path, s in beams for word, p in tree[path].items()]
        candidates.sort(key=lambda c: -c[0])
        beams = [(path, s) for s, path in candidates[:num_beams]]
    return list(beams[0][0])


def toy_greedy_starts(num_beams, tree=TOY_TREE, steps=TOY_STEPS):
    """The slip "beam search = one greedy run from each of the num_beams best first words"."""
    firsts = sorted(tree[()], key=lambda w: -tree[()][w])[:num_beams]
    runs = []
    for first in firsts:
        path = (first,)
        while len(path) < steps:
            path += (max(tree[path], key=tree[path].get),)
        runs.append(path)
    return list(max(runs, key=toy_probability))


def toy_exact(tree=TOY_TREE, steps=TOY_STEPS):
    """The most likely of all complete paths: exact search, by enumeration."""
    paths = [()]
    for _ in range(steps):
        paths = [path + (word,) for path in paths for word in tree[path]]
    return list(max(paths, key=toy_probability))
