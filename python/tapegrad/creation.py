"""Tensor factories with PyTorch's signatures: tensor, as_tensor, from_numpy, zeros/ones/full/
empty, arange/linspace/eye, the *_like family, and rand/randn/randint/randperm drawn from the
generator that tapegrad.manual_seed seeds."""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import dtypes as _dt
from ._checks import int_arg, number_arg, tensor_arg
from . import _C
from . import arrays
from .arrays import for_device, to_device
from .ops.random import host_fill
from .tensor import Tensor


def _infer_dtype(data, op: str = "tensor") -> _dt.dtype:
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
        raise ValueError(f"{op}: could not build a tensor from ragged nested sequences: {data!r:.80}") from None
    if arr.dtype == object:
        raise TypeError(f"{op}: could not build a tensor from {type(data).__name__}: non-numeric data")
    if arr.dtype.kind == "b":
        return _dt.bool_
    if arr.dtype.kind in "iu":
        return _dt.int64
    if arr.dtype.kind == "f":
        return _dt.get_default_dtype()
    raise TypeError(f"{op}: could not build a tensor from data of numpy dtype {arr.dtype}")


def _array_from(data, dtype=None, op: str = "tensor") -> np.ndarray:
    """A fresh array (always a copy) holding `data` as `dtype` (inferred when None)."""
    d = _dt.to_dtype(dtype, op) if dtype is not None else _infer_dtype(data, op)
    if isinstance(data, Tensor):
        src = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat_first(data)):
        src = np.array([np.asarray(x) for x in data])
    else:
        src = np.asarray(data)
    if src.dtype == object:
        raise TypeError(f"{op}: could not build a tensor: ragged nested sequences or non-numeric items")
    if src.dtype.kind not in "biuf":
        raise TypeError(f"{op}: could not build a tensor from data of numpy dtype {src.dtype}")
    if src.dtype not in (np.float32, np.float64, np.int64, np.bool_):
        src = src.astype(d.np)
    return arrays.astype(src, d.np)


def _flat_first(seq):
    while isinstance(seq, (list, tuple)) and seq:
        yield seq[0]
        seq = seq[0]


def _finish(arr, requires_grad: bool, device=_dt.cpu) -> Tensor:
    """A tensor of a new array (host data is copied to `device`, a resolved tapegrad.device)."""
    t = Tensor._wrap(arr if device.type == "cpu" else to_device(arr, device))
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    dev = _dt.to_device(device, "tensor")
    if isinstance(data, Tensor) and data.is_cuda:
        data = data.detach().cpu()
    return _finish(_array_from(data, dtype), requires_grad, dev)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """No copy when `data` is already a tensor or numpy array of the requested dtype."""
    dev = None if device is None else _dt.to_device(device, "as_tensor")
    if dtype is not None:
        dtype = _dt.to_dtype(dtype, "as_tensor")
    if isinstance(data, Tensor):
        return data.to(device=dev, dtype=dtype)
    if dev is None or dev.type == "cpu":
        if isinstance(data, np.ndarray) and data.dtype in (np.float32, np.float64, np.int64, np.bool_):
            if dtype is None or dtype.np == data.dtype:
                return Tensor._wrap(data)
    return _finish(_array_from(data, dtype, "as_tensor"), False, dev or _dt.cpu)


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


_MAX_NUMEL = 2**62  # beyond this no allocation can succeed and numpy's own checks overflow


def _size(size, op: str) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out, numel = [], 1
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{op}(): size must be a sequence of ints, got {type(s).__name__} in {tuple(size)}")
        if s < 0:
            raise RuntimeError(f"{op}(): Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
        numel *= max(int(s), 1)  # a zero size does not make a huge one allocatable by numpy
    if numel > _MAX_NUMEL:
        raise RuntimeError(f"{op}(): size {out} is too large to allocate")
    return tuple(out)


class _allocating:
    """with _allocating(op): numpy's MemoryError becomes PyTorch's RuntimeError, naming the op
    (and, through numpy's message, the size it wanted). A class: cheaper than a generator."""
    __slots__ = ("op",)

    def __init__(self, op: str):
        self.op = op

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None and issubclass(kind, MemoryError):
            raise RuntimeError(f"{self.op}(): not enough memory: {exc}") from None
        return False


def _dtype_or_default(dtype, op: str) -> _dt.dtype:
    return _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype, op)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    dev = _dt.to_device(device, "empty")
    shape, d = _size(size, "empty"), _dtype_or_default(dtype, "empty")
    with _allocating("empty"):
        return _finish(for_device(dev).empty(shape, d.np, dev.index), requires_grad, dev)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    dev = _dt.to_device(device, "zeros")
    shape, d = _size(size, "zeros"), _dtype_or_default(dtype, "zeros")
    with _allocating("zeros"):
        out = arrays.fill_(for_device(dev).empty(shape, d.np, dev.index), 0)
        return _finish(out, requires_grad, dev)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _full(_size(size, "ones"), 1, dtype=_dtype_or_default(dtype, "ones"), device=device,
                 requires_grad=requires_grad, op="ones")


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _full(size, fill_value, dtype, device, requires_grad, "full")


def _full(size, fill_value, dtype, device, requires_grad, op) -> Tensor:
    dev = _dt.to_device(device, op)
    value = fill_value.item() if isinstance(fill_value, Tensor) and fill_value.numel() == 1 else fill_value
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{op}(): argument 'fill_value' must be a number, not {type(value).__name__}")
    d = _infer_dtype(value, op) if dtype is None else _dt.to_dtype(dtype, op)
    shape = _size((size,), op)
    with _allocating(op):
        try:
            out = arrays.fill_(for_device(dev).empty(shape, d.np, dev.index), value)
            return _finish(out, requires_grad, dev)
        except ValueError as e:  # the kernel's "value does not fit the dtype"
            raise ValueError(f"{op}(): {e}") from None


def _like(x: Tensor, dtype, device, op: str):
    """x's shape, and dtype and device unless they are given."""
    tensor_arg(x, op)
    return (tuple(x.shape), (x.dtype if dtype is None else _dt.to_dtype(dtype, op)),
            x.device if device is None else device)


def empty_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dtype, device = _like(x, dtype, device, "empty_like")
    return empty(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dtype, device = _like(x, dtype, device, "zeros_like")
    return zeros(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dtype, device = _like(x, dtype, device, "ones_like")
    return ones(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dtype, device = _like(x, dtype, device, "full_like")
    return _full(shape, fill_value, dtype, device, requires_grad, "full_like")


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dev = _dt.to_device(device, "arange")
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) and v.numel() == 1 else v for v in (start, end, step)]
    for name, v in zip(("start", "end", "step"), vals):
        number_arg(v, "arange", name)
        if not math.isfinite(v):
            raise RuntimeError(f"arange(): unsupported range: {vals[0]} -> {vals[1]} (step {vals[2]})")
    if vals[2] == 0:
        raise RuntimeError("arange: step must be nonzero")
    integral = all(isinstance(v, numbers.Integral) for v in vals)
    if integral and any(not -(2**63) <= v < 2**63 for v in vals):
        raise RuntimeError(f"arange(): start, end and step ({vals}) must fit int64")
    d = (_dt.int64 if integral else _dt.get_default_dtype()) if dtype is None else _dt.to_dtype(dtype, "arange")
    n = max(0, math.ceil((vals[1] - vals[0]) / vals[2]))
    if n > _MAX_NUMEL // 8:  # the values are computed as 8-byte numbers first
        raise RuntimeError(f"arange(): {n} elements are too many to allocate")
    # Computed in float64 / int64 and then cast, as PyTorch computes start + i * step.
    with _allocating("arange"):
        arr = vals[0] + np.arange(n, dtype=np.int64 if integral else np.float64) * vals[2]
        return _finish(arrays.astype(arr, d.np), requires_grad, dev)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dev = _dt.to_device(device, "linspace")
    lo, hi = number_arg(start, "linspace", "start"), number_arg(end, "linspace", "end")
    steps = int_arg(steps, "linspace", "steps")
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    shape, d = _size((steps,), "linspace"), _dtype_or_default(dtype, "linspace")
    with _allocating("linspace"):
        with np.errstate(invalid="ignore", over="ignore"):  # an infinite end gives inf / nan, as torch
            arr = np.linspace(lo, hi, shape[0], dtype=np.float64)
        return _finish(arrays.astype(arr, d.np), requires_grad, dev)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dev = _dt.to_device(device, "eye")
    n = int_arg(n, "eye", "n")
    m = n if m is None else int_arg(m, "eye", "m")
    if n < 0 or m < 0:
        raise RuntimeError(f"eye: n and m must be non-negative, got {n} and {m}")
    shape, d = _size((n, m), "eye"), _dtype_or_default(dtype, "eye")
    with _allocating("eye"):
        out = arrays.fill_(np.empty(shape, d.np), 0)
    k = min(n, m)
    if k:
        arrays.fill_(np.lib.stride_tricks.as_strided(out, (k,), ((m + 1) * out.itemsize,)), 1)
    return _finish(out, requires_grad, dev)


def _random(kind, op, size, generator, dtype, device, requires_grad):
    """rand ('uniform') and randn ('normal'): on the CPU from `generator` (default: the one
    tapegrad.manual_seed seeds), with PyTorch's values; on a GPU from that GPU's stream
    (tapegrad.cuda.manual_seed)."""
    dev = _dt.to_device(device, op)
    d = _dtype_or_default(dtype, op)
    if not d.is_floating_point:
        raise TypeError(f"{op}: expected a floating point dtype, got {d.name}")
    shape = _size(size, op)
    with _allocating(op):
        if dev.type == "cuda":
            from .cuda import _draw

            out = for_device(dev).empty(shape, d.np, dev.index)
            _draw(kind, out)
            return _finish(out, requires_grad, dev)
        kernel = _C.cpu.random_uniform if kind == "uniform" else _C.cpu.random_normal
        return _finish(host_fill(shape, d.np, kernel, generator=generator), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _random("uniform", "rand", size, generator, dtype, device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _random("normal", "randn", size, generator, dtype, device, requires_grad)


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """randint(high, size) or randint(low, high, size)."""
    dev = _dt.to_device(device, "randint")
    if size is not None:
        args = args + (size,)
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError("randint() expects (high, size) or (low, high, size)")
    low, high = int_arg(low, "randint", "low"), int_arg(high, "randint", "high")
    if high <= low:
        raise RuntimeError(f"randint: expected low < high, got low={low}, high={high}")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): argument 'size' must be a tuple of ints, not {type(size).__name__}")
    shape = _size(tuple(size), "randint")
    d = _dt.int64 if dtype is None else _dt.to_dtype(dtype, "randint")
    if not -(2**63) <= low < high <= 2**63 - 1:
        raise RuntimeError(f"randint(): low={low} and high={high} do not fit int64")
    with _allocating("randint"):
        vals = host_fill(shape, d.np, _C.cpu.random_integers, low, high, generator=generator)
        return _finish(vals, requires_grad, dev)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    dev = _dt.to_device(device, "randperm")
    n = int_arg(n, "randperm", "n")
    if n < 0:
        raise RuntimeError(f"randperm(): n must be non-negative, got {n}")
    _size((n,), "randperm")
    d = _dt.int64 if dtype is None else _dt.to_dtype(dtype, "randperm")
    with _allocating("randperm"):
        perm = host_fill((n,), np.int64, _C.cpu.random_permutation, generator=generator)
        return _finish(arrays.astype(perm, d.np), requires_grad, dev)


def rand_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dtype, device = _like(x, dtype, device, "rand_like")
    return rand(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dtype, device = _like(x, dtype, device, "randn_like")
    return randn(shape, dtype=dtype, device=device, requires_grad=requires_grad)
