"""Tensor factories with PyTorch's signatures: tensor, as_tensor, from_numpy, zeros/ones/full/
empty, arange/linspace/eye, the *_like family, and rand/randn/randint/randperm drawn from the
generator that tapegrad.manual_seed seeds."""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import dtypes as _dt
from .backend import cpu as _cpu
from .random import rng
from .tensor import Tensor


def _infer_dtype(data) -> _dt.dtype:
    """PyTorch's inference for Python data: bools -> bool, ints -> int64, floats -> float32."""
    if isinstance(data, np.ndarray):
        return _dt.from_numpy_dtype(data.dtype)
    if isinstance(data, Tensor):
        return data.dtype
    if isinstance(data, np.generic):
        return _dt.from_numpy_dtype(data.dtype)
    try:
        arr = np.asarray(data)
    except ValueError:
        raise ValueError(f"could not build a tensor from ragged nested sequences: {data!r:.80}") from None
    if arr.dtype == object:
        raise TypeError(f"could not build a tensor from {type(data).__name__}: non-numeric data")
    if arr.dtype.kind == "b":
        return _dt.bool_
    if arr.dtype.kind in "iu":
        return _dt.int64
    if arr.dtype.kind == "f":
        return _dt.get_default_dtype()
    raise TypeError(f"could not build a tensor from data of numpy dtype {arr.dtype}")


def _array_from(data, dtype=None) -> np.ndarray:
    """A fresh array (always a copy) holding `data` as `dtype` (inferred when None)."""
    d = _dt.to_dtype(dtype) if dtype is not None else _infer_dtype(data)
    if isinstance(data, Tensor):
        src = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat_first(data)):
        src = np.array([np.asarray(x) for x in data])
    else:
        src = np.asarray(data)
    if src.dtype == object:
        raise TypeError("could not build a tensor: ragged nested sequences or non-numeric items")
    if src.dtype.kind not in "biuf":
        raise TypeError(f"could not build a tensor from data of numpy dtype {src.dtype}")
    if src.dtype not in (np.float32, np.float64, np.int64, np.bool_):
        src = src.astype(d.np)
    return _cpu.astype(src, d.np)


def _flat_first(seq):
    while isinstance(seq, (list, tuple)) and seq:
        yield seq[0]
        seq = seq[0]


def _finish(arr, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    return _finish(_array_from(data, dtype), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """No copy when `data` is already a tensor or numpy array of the requested dtype."""
    _dt.to_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and data.dtype in (np.float32, np.float64, np.int64, np.bool_):
        if dtype is None or _dt.to_dtype(dtype).np == data.dtype:
            return Tensor._wrap(data)
    return tensor(data, dtype)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing `a`'s memory (writes through either are seen by both)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray, got {type(a).__name__}")
    if a.dtype not in (np.float32, np.float64, np.int64, np.bool_):
        raise TypeError(
            f"from_numpy: can't share memory with a numpy array of dtype {a.dtype}; tapegrad tensors are "
            "float32, float64, int64 or bool (use tapegrad.tensor(a) to convert with a copy)"
        )
    if not a.dtype.isnative:
        raise ValueError("from_numpy: the array has a non-native byte order; use a.astype(a.dtype.newbyteorder('='))")
    return Tensor._wrap(a)


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a sequence of ints, got {type(s).__name__} in {tuple(size)}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
    return tuple(out)


def _dtype_or_default(dtype) -> _dt.dtype:
    return _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    return _finish(_cpu.empty(_size(size), _dtype_or_default(dtype).np), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    return _finish(_cpu.zeros(_size(size), _dtype_or_default(dtype).np), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(_size(size), 1, dtype=_dtype_or_default(dtype), device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    if dtype is None:
        dtype = _infer_dtype(fill_value.item() if isinstance(fill_value, Tensor) else fill_value)
    d = _dt.to_dtype(dtype)
    value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    return _finish(_cpu.full(_size((size,)), value, d.np), requires_grad)


def _like(x: Tensor, dtype):
    return x.dtype if dtype is None else dtype


def empty_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    return empty(tuple(x.shape), dtype=_like(x, dtype), device=device, requires_grad=requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(tuple(x.shape), dtype=_like(x, dtype), device=device, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    return ones(tuple(x.shape), dtype=_like(x, dtype), device=device, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(tuple(x.shape), fill_value, dtype=_like(x, dtype), device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        integral = all(isinstance(v, numbers.Integral) for v in vals)
        dtype = _dt.int64 if integral else _dt.get_default_dtype()
    d = _dt.to_dtype(dtype)
    n = max(0, math.ceil((vals[1] - vals[0]) / vals[2]))
    # Computed in float64 / int64 and then cast, as PyTorch computes start + i * step.
    work = np.int64 if all(isinstance(v, numbers.Integral) for v in vals) else np.float64
    arr = vals[0] + np.arange(n, dtype=work) * vals[2]
    return _finish(_cpu.astype(arr, d.np), requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    arr = np.linspace(float(start), float(end), int(steps), dtype=np.float64)
    return _finish(_cpu.astype(arr, _dtype_or_default(dtype).np), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    m = n if m is None else m
    if n < 0 or m < 0:
        raise RuntimeError(f"eye: n and m must be non-negative, got {n} and {m}")
    out = _cpu.zeros((n, m), _dtype_or_default(dtype).np)
    k = min(n, m)
    if k:
        _cpu.fill_(np.lib.stride_tricks.as_strided(out, (k,), ((m + 1) * out.itemsize,)), 1)
    return _finish(out, requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    d = _dtype_or_default(dtype)
    if not d.is_floating_point:
        raise TypeError(f"rand: expected a floating point dtype, got {d.name}")
    return _finish(rng(generator).random(_size(size), dtype=d.np), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    _dt.to_device(device)
    d = _dtype_or_default(dtype)
    if not d.is_floating_point:
        raise TypeError(f"randn: expected a floating point dtype, got {d.name}")
    return _finish(rng(generator).standard_normal(_size(size), dtype=d.np), requires_grad)


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """randint(high, size) or randint(low, high, size)."""
    _dt.to_device(device)
    if size is not None:
        args = args + (size,)
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError("randint() expects (high, size) or (low, high, size)")
    if high <= low:
        raise RuntimeError(f"randint: expected low < high, got low={low}, high={high}")
    d = _dt.int64 if dtype is None else _dt.to_dtype(dtype)
    vals = rng(generator).integers(low, high, _size(tuple(size)), dtype=np.int64)
    return _finish(_cpu.astype(vals, d.np), requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None) -> Tensor:
    _dt.to_device(device)
    d = _dt.int64 if dtype is None else _dt.to_dtype(dtype)
    return Tensor._wrap(_cpu.astype(rng(generator).permutation(int(n)), d.np))


def rand_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    return rand(tuple(x.shape), dtype=_like(x, dtype), device=device, requires_grad=requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    return randn(tuple(x.shape), dtype=_like(x, dtype), device=device, requires_grad=requires_grad)
