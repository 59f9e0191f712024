"""apply_temperature, top_k_filter, top_p_filter against transformers' own warpers (no model needed).

Both references must equal ``TopKLogitsWarper`` / ``TopPLogitsWarper`` / ``TemperatureLogitsWarper``
on random logits and on edge cases. transformers 5 has no TensorFlow warpers (its ``TF`` twins are
gone), so TensorFlow's filters are held to the same PyTorch warpers, on the same numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.reference import FRAMEWORKS, for_framework

WARPERS = {"temperature": "TemperatureLogitsWarper", "k": "TopKLogitsWarper", "p": "TopPLogitsWarper"}


@pytest.fixture(params=FRAMEWORKS)
def name(request):
    pytest.importorskip("torch")  # the warpers are PyTorch's
    if request.param == "tf":
        pytest.importorskip("tensorflow")
    return request.param


def reference(name, argument, logits, value) -> np.ndarray:
    function = {"temperature": "apply_temperature", "k": "top_k_filter", "p": "top_p_filter"}[argument]
    if name == "pt":
        import torch

        logits = torch.tensor(logits)
    else:
        import tensorflow as tf

        logits = tf.constant(logits)
    return np.asarray(getattr(for_framework(name), function)(logits, value))


def warper(name, argument, logits, value) -> np.ndarray:
    """transformers' warper for ``argument`` on (batch_size, vocab_size) logits: for TensorFlow its
    ``TF`` twin where transformers still has one (4.x), else the PyTorch warper (see assert_same)."""
    import transformers

    if name == "tf" and hasattr(transformers, "TF" + WARPERS[argument]):
        import tensorflow as tf

        return getattr(transformers, "TF" + WARPERS[argument])(value)(None, tf.constant(logits), 0).numpy()
    import torch

    return getattr(transformers, WARPERS[argument])(value)(None, torch.tensor(logits)).numpy()


def _across_frameworks(name) -> bool:
    import transformers

    return name == "tf" and not hasattr(transformers, "TFTopKLogitsWarper")


def random_logits(rng, batch_size, vocab_size, ties=False) -> np.ndarray:
    if ties:  # few distinct values: many exact ties, also at the top-k / nucleus boundary
        return rng.integers(-3, 4, size=(batch_size, vocab_size)).astype(np.float32)
    scale = rng.uniform(0.5, 4, size=(batch_size, 1))
    return (rng.normal(size=(batch_size, vocab_size)) * scale).astype(np.float32)


def assert_same(got, expected, across_frameworks=False, top_p=False):
    """Identical arrays (-inf where the other has -inf). ``across_frameworks``: TensorFlow against
    PyTorch's warper, where equal logits may be kept or cut in either order (``tf.math.top_k`` and
    ``torch.topk`` break ties differently): then each row must keep the same multiset of values."""
    if across_frameworks:
        kept_got, kept_expected = np.isfinite(got).sum(-1), np.isfinite(expected).sum(-1)
        # Top-p sums ~50k probabilities in a different order: the token at the nucleus boundary may
        # fall on either side by rounding. Allow that one token, nothing else.
        assert (np.abs(kept_got - kept_expected) <= (1 if top_p else 0)).all(), (kept_got, kept_expected)
        kept = np.minimum(kept_got, kept_expected)[..., None]
        rank = np.arange(got.shape[-1])
        top = lambda a: np.where(rank < kept, -np.sort(-a, axis=-1), 0)  # the values both keep
        np.testing.assert_array_equal(top(got), top(expected))
        return
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("vocab_size", [7, 300])
def test_filters_equal_the_warpers(name, ties, vocab_size):
    rng = np.random.default_rng(vocab_size + ties)
    for _ in range(12):
        logits = random_logits(rng, 8, vocab_size, ties)
        k = int(rng.integers(1, vocab_size + 3))
        p = float(rng.choice([rng.uniform(0.01, 0.99), 0.5, 0.9]))
        temperature = float(rng.uniform(0.1, 3.0))
        for argument, value in [("k", k), ("p", p), ("temperature", temperature)]:
            got = reference(name, argument, logits, value)
            assert_same(got, warper(name, argument, logits, value), _across_frameworks(name), argument == "p")
            assert_same(reference(name, argument, logits[0], value), got[0])   # 1-D works row-wise


def test_filters_on_gpt2_sized_logits(name):
    rng = np.random.default_rng(1)
    logits = random_logits(rng, 2, 50257)
    for argument, value in [("k", 50), ("k", 1), ("p", 0.9), ("p", 0.3)]:
        assert_same(reference(name, argument, logits, value), warper(name, argument, logits, value),
                    _across_frameworks(name), argument == "p")


def test_edge_cases(name):
    rng = np.random.default_rng(2)
    logits = random_logits(rng, 4, 50)
    # k >= vocab keeps everything; p = 1 keeps everything (as generate(), which skips top-p at 1.0)
    for argument, value in [("k", 50), ("k", 1000), ("p", 1.0)]:
        assert_same(reference(name, argument, logits, value), logits)
    # k = 1, p = 0 and a tiny p keep only the best token
    best = logits == logits.max(-1, keepdims=True)
    for argument, value in [("k", 1), ("p", 0.0), ("p", 1e-9)]:
        got = reference(name, argument, logits, value)
        np.testing.assert_array_equal(np.isfinite(got), best)
        assert_same(got, warper(name, argument, logits, value), _across_frameworks(name), argument == "p")
    # all logits tied: top-k keeps all of them, top-p keeps ceil(p * vocab) of them
    flat = np.zeros((1, 8), np.float32)
    assert np.isfinite(reference(name, "k", flat, 3)).all()
    assert np.isfinite(reference(name, "p", flat, 0.3)).sum() == 3
    assert_same(reference(name, "p", flat, 0.3), warper(name, "p", flat, 0.3), _across_frameworks(name), True)
    # -inf already present (top-k before top-p): still at least one token, never un-filters
    masked = reference(name, "k", logits, 5)
    got = reference(name, "p", masked, 0.6)
    assert np.isfinite(got).sum(-1).min() >= 1 and not (np.isfinite(got) & np.isneginf(masked)).any()
    assert_same(got, warper(name, "p", masked, 0.6), _across_frameworks(name), True)


def test_filters_do_not_modify_their_input(name):
    logits = random_logits(np.random.default_rng(3), 2, 20)
    if name == "pt":
        import torch

        tensor = torch.tensor(logits)
    else:
        import tensorflow as tf

        tensor = tf.Variable(logits)
    ref = for_framework(name)
    for out in [ref.top_k_filter(tensor, 3), ref.top_p_filter(tensor, 0.5), ref.top_p_filter(tensor, 1.0),
                ref.apply_temperature(tensor, 2.0)]:
        assert out is not tensor
    np.testing.assert_array_equal(np.asarray(tensor), logits)


def test_arguments_are_validated(name):
    ref = for_framework(name)
    logits = np.zeros(5, np.float32)
    for k in [0, -1, 2.5, True, "3"]:
        with pytest.raises(ValueError, match="k must"):
            ref.top_k_filter(logits, k)
    for p in [-0.1, 1.01, True, "0.5", float("nan")]:
        with pytest.raises(ValueError, match="p must"):
            ref.top_p_filter(logits, p)
    for temperature in [0, -1.0, True, float("nan")]:
        with pytest.raises(ValueError, match="temperature must"):
            ref.apply_temperature(logits, temperature)


def test_pt_and_tf_filters_agree():
    """Different sorts inside (see the docstrings), same result away from exact ties."""
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(4)
    logits = random_logits(rng, 16, 1000)
    for argument, value in [("k", 40), ("p", 0.95), ("p", 0.5), ("temperature", 0.7)]:
        assert_same(reference("pt", argument, logits, value), reference("tf", argument, logits, value))
