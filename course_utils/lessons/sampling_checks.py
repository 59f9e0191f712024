"""Lesson 5's judging of random answers: a bag of sampled ids is judged by its form, its support,
its seeds and (in ``lesson5``) a goodness-of-fit test, never by exact ids."""
from __future__ import annotations

import numpy as np

from course_utils.checking.figures import bars_figure


def judge_samples(answer, num_samples, probs, name):
    """Shape, dtype and support of a bag of sampled ids; None if they are fine, else what is wrong.

    ``answer``: ``{"samples": ids, ...}`` as recorded; ``probs``: shape (vocab_size,).
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("samples"), list):
        return f"{name} should return the sampled ids (a tensor, array or list)"
    samples = np.asarray(answer["samples"])
    if samples.shape == (1, num_samples):
        return f"{name} returned shape (1, {num_samples}): take row 0 so that it is 1-D"
    if samples.shape != (num_samples,):
        return f"{name} should return {num_samples} ids in a 1-D result, not shape {samples.shape}"
    if samples.dtype.kind not in "iu":
        return "sampled ids should be integers (token ids), not floats"
    if samples.min() < 0 or samples.max() >= probs.size:
        return f"some ids are outside the vocabulary (0 to {probs.size - 1})"
    if np.any(probs[samples] <= 0):
        return "some draws are tokens of probability 0"
    if np.unique(samples).size == 1 and samples[0] == probs.argmax() and probs.max() < 0.99:
        return "every draw is the most likely token: that is greedy decoding, not sampling"
    return None


def judge_seeds(answer, name):
    """Same seed, same draws; another seed, other draws."""
    if not isinstance(answer.get("again"), list) or answer["again"] != answer["samples"]:
        return (f"calling {name} twice with the same seed gave different draws: seed TensorFlow's random "
                "sequence with `tf.random.set_seed(seed)` before drawing (an operation's own `seed=` "
                "argument alone does not make two calls draw the same)")
    if answer.get("other") == answer["samples"]:
        return f"{name} gave the same draws for two different seeds: the seed must decide the draws"
    return None


def is_id_list(answer) -> bool:
    return isinstance(answer, list) and len(answer) > 0 and all(type(x) is int for x in answer)


def counts_figure(tokenizer, samples, probs, prompt, k=12):
    """Observed draws of the likeliest tokens next to the counts softmax(logits) predicts."""
    samples = np.asarray(samples, dtype=np.int64)
    counts = np.bincount(samples[(samples >= 0) & (samples < probs.size)], minlength=probs.size)
    return bars_figure(tokenizer, np.arange(probs.size), probs, counts / max(len(samples), 1),
                       f"After {prompt!r}: share of your draws vs softmax(logits)", k)
