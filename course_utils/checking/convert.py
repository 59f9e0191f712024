"""Turn a student's answer into plain, trusted data: the checker never calls the answer's methods.

An answer may be a ``torch.Tensor``, a ``tf.Tensor``, a numpy array, a (nested) list or tuple, or
a Python/numpy scalar. Whatever it is, we read its contents through the *base* types' own
functions (``list.__getitem__``, ``int.__int__``, ``np.ndarray.view``), so a subclass that
overrides ``__eq__``, ``__iter__``, ``__array__`` or ``__bool__`` cannot change what we see. The
result is made of ``int``, ``float``, ``bool``, ``str``, ``list`` and ``dict`` only, ready for JSON.
"""
from __future__ import annotations

import numpy as np

MAX_ELEMENTS = 1_000_000  # an answer bigger than this is not a reasonable answer: refuse it


class AnswerTypeError(TypeError):
    """The answer is not of a type the checker can read; the message speaks to the student."""


def to_plain(answer, *, _budget: list | None = None):
    """Strictly convert ``answer`` to nested lists of int / float / bool / str."""
    budget = _budget if _budget is not None else [MAX_ELEMENTS]
    kind = type(answer)
    if kind is bool or kind is np.bool_:
        return bool(answer)
    if isinstance(answer, bool):
        raise AnswerTypeError(f"a {kind.__name__} is not a plain bool")
    if isinstance(answer, int):
        return int.__int__(answer)
    if isinstance(answer, float):
        return float.__float__(answer)
    if isinstance(answer, str):
        return str.__str__(answer)
    if isinstance(answer, np.generic) and kind.__module__ == "numpy":
        return answer.item()
    if isinstance(answer, np.ndarray):
        return _array_to_plain(np.ndarray.view(answer, np.ndarray), budget)
    if isinstance(answer, (list, tuple)):
        base = list if isinstance(answer, list) else tuple
        n = base.__len__(answer)
        _spend(budget, n)
        return [to_plain(base.__getitem__(answer, i), _budget=budget) for i in range(n)]
    if isinstance(answer, dict):  # only the checker's own run_probe builds dicts (string keys)
        items = list(dict.items(answer))
        _spend(budget, len(items))
        return {str.__str__(k): to_plain(v, _budget=budget) for k, v in items if isinstance(k, str)}
    array = _framework_tensor_to_numpy(answer)
    if array is not None:
        return _array_to_plain(array, budget)
    raise AnswerTypeError(
        f"expected a number, a list, a numpy array or a tensor, but got a {_type_name(answer)}")


def _spend(budget: list, n: int):
    budget[0] -= n
    if budget[0] < 0:
        raise AnswerTypeError(f"the answer has more than {MAX_ELEMENTS:,} elements")


def _array_to_plain(array: np.ndarray, budget: list):
    _spend(budget, array.size)
    if array.dtype.kind not in "biuf":
        raise AnswerTypeError(f"an array of dtype {array.dtype} is not numeric")
    return array.tolist()


def _framework_tensor_to_numpy(answer) -> np.ndarray | None:
    """numpy copy of an exact torch / TensorFlow tensor, or None if it is neither.

    Only the frameworks' own classes are accepted (a student's subclass could fake ``.numpy()``),
    and neither framework is imported here: if the answer is a tensor, its module is loaded.
    """
    module = type(answer).__module__ or ""
    if module.startswith("torch"):
        import torch

        if type(answer) not in (torch.Tensor, torch.nn.Parameter):
            return None
        return torch.Tensor.numpy(torch.Tensor.cpu(torch.Tensor.detach(answer)))
    if module.startswith("tensorflow"):
        import tensorflow as tf

        if not isinstance(answer, (tf.Tensor, tf.Variable)) or "tensorflow" not in type(answer).__module__:
            return None
        return np.array(answer.numpy())
    return None


def _type_name(answer) -> str:
    kind = type(answer)
    module = kind.__module__
    return kind.__name__ if module in ("builtins", "__main__") else f"{module}.{kind.__name__}"

