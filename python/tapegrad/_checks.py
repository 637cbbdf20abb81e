"""Argument checks shared by the public functions. Each error names the op and the argument, as
PyTorch's "sum(): argument 'dim' must be int, not str", so that a wrong call never surfaces as
an AttributeError or a bare Python message from deep inside."""
from __future__ import annotations

import numbers
import operator

import numpy as np

from .tensor import Tensor  # defined before tensor.py's own imports reach the ops that use this


def tensor_arg(x, op: str, arg: str = "input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{arg}' must be Tensor, not {type(x).__name__}")
    return x


def int_arg(v, op: str, arg: str) -> int:
    """v as a Python int: ints, numpy integers and one-element integer tensors; not bools or floats."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{op}(): argument '{arg}' must be int, not bool")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{op}(): argument '{arg}' must be int, not {type(v).__name__}") from None


def number_arg(v, op: str, arg: str) -> float:
    """v as a Python float: real numbers, numpy scalars and one-element tensors."""
    if isinstance(v, Tensor) and v.numel() == 1:
        v = v.item()
    if not isinstance(v, numbers.Real):
        raise TypeError(f"{op}(): argument '{arg}' must be a number, not {type(v).__name__}")
    try:
        return float(v)
    except OverflowError:
        raise RuntimeError(f"{op}(): argument '{arg}' ({v}) cannot be converted to a float without overflow") from None


def dims_arg(dim, op: str):
    """A `dim` argument: None, an int, or a tuple of ints (from any sequence of ints)."""
    if dim is None or isinstance(dim, (list, tuple)):
        return None if dim is None else tuple(int_arg(d, op, "dim") for d in dim)
    return int_arg(dim, op, "dim")
