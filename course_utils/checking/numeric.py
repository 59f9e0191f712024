"""Softmax and log-softmax in float64 numpy, for judges that recompute expected values and
known mistakes. Non-finite logits (the -inf of a filter) get probability zero."""
from __future__ import annotations

import numpy as np


def log_softmax(logits, axis: int = -1) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    logits = np.where(np.isfinite(logits), logits, -np.inf)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits, axis: int = -1) -> np.ndarray:
    return np.exp(log_softmax(logits, axis))
