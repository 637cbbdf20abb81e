"""dtype and device objects with PyTorch's names (tapegrad.float32, tapegrad.device("cpu"))."""
from __future__ import annotations

import builtins

import numpy as np


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "itemsize", "_rank")

    def __init__(self, name: str, np_dtype, is_floating_point: bool, rank: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = is_floating_point
        self.itemsize = self.np.itemsize
        self._rank = rank  # type-promotion order: bool < int64 < float32 < float64

    def __repr__(self):
        return f"tapegrad.{self.name}"

    def __reduce__(self):
        return (_dtype_from_name, (self.name,))


float32 = dtype("float32", np.float32, True, 2)
float64 = dtype("float64", np.float64, True, 3)
int64 = dtype("int64", np.int64, False, 1)
bool_ = dtype("bool", np.bool_, False, 0)
# PyTorch's aliases
float = float32  # noqa: A001
double = float64
long = int64

_ALL = (float32, float64, int64, bool_)
_BY_NP = {d.np: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}


def _dtype_from_name(name: str) -> dtype:
    return _BY_NAME[name]


_default_dtype = [float32]  # the process-wide default, as PyTorch's (a list: set in place)


def get_default_dtype() -> dtype:
    """The dtype of floating-point tensors made without one (float32 unless set otherwise)."""
    return _default_dtype[0]


def set_default_dtype(d) -> None:
    """Sets the default floating-point dtype: what Python floats, factories without a dtype and
    new layers' parameters get (PyTorch's torch.set_default_dtype)."""
    d = to_dtype(d, "set_default_dtype")
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got {d}")
    _default_dtype[0] = d


def to_dtype(d, op: str = "dtype") -> dtype:
    """A tapegrad dtype from a tapegrad dtype, numpy dtype/type, or name; a TypeError naming
    `op` otherwise."""
    if isinstance(d, dtype):
        return d
    if d is None:
        return get_default_dtype()
    if d is bool:
        return bool_
    if d is int:
        return int64
    if d is builtins.float:  # Python's float is a double, as in PyTorch
        return float64
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    unsupported = TypeError(f"{op}: unsupported dtype {d!r:.60}; expected one of float32, float64, int64, bool")
    if isinstance(d, (builtins.int, builtins.float, complex, list, tuple, dict, bytes)):  # np.dtype reads these as specs
        raise unsupported
    try:
        return from_numpy_dtype(np.dtype(d))
    except (TypeError, ValueError):
        raise unsupported from None


def of_array(a) -> dtype:
    """The tapegrad dtype of a backend array (the hot path of Tensor.dtype)."""
    found = _BY_NP.get(a.dtype)
    return found if found is not None else from_numpy_dtype(a.dtype)


def from_numpy_dtype(npd) -> dtype:
    """The tapegrad dtype holding values of numpy dtype `npd` (smaller ints widen to int64)."""
    npd = np.dtype(npd)
    found = _BY_NP.get(npd)
    if found is not None:
        return found
    if npd.kind in "iu":
        return int64
    if npd.kind == "f":
        return float32 if npd.itemsize <= 4 else float64
    raise TypeError(f"unsupported dtype {npd}; expected one of float32, float64, int64, bool")


def promote(a: dtype, b: dtype) -> dtype:
    return a if a._rank >= b._rank else b


class device:
    """A device: 'cpu', 'cuda' or 'cuda:i' (PyTorch's torch.device)."""
    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(f"device: expected one of cpu, cuda device type at start of device string: {spec}")
        if idx and not idx.isdigit():
            raise RuntimeError(f"device: invalid device string: {spec!r}")
        self.type = kind
        self.index = int(idx) if idx else index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"


cpu = device("cpu")
_CUDA_DEVICES: dict = {}


def cuda_device(index: int) -> device:
    """The device object of GPU `index` (one object per index, so the hot path makes none)."""
    found = _CUDA_DEVICES.get(index)
    if found is None:
        found = _CUDA_DEVICES[index] = device("cuda", index)
    return found


def to_device(d, op: str = "device") -> device:
    """Resolve a device argument ('cpu', 'cuda', 'cuda:1', a device; None is the CPU). A device
    this process does not have raises a RuntimeError naming `op`. 'cuda' without an index is the
    current GPU, as in PyTorch."""
    if d is None:
        return cpu
    if isinstance(d, builtins.int) and not isinstance(d, bool):
        d = device("cuda", d)  # PyTorch reads a bare int as a GPU index
    try:
        dev = d if isinstance(d, device) else device(d)
    except (TypeError, RuntimeError) as e:
        raise type(e)(f"{op}: {e}") from None
    if dev.type == "cpu":
        return cpu
    from .arrays import cuda as _cuda_arrays

    k = _cuda_arrays.kernels
    if k is None or not k.is_available():
        why = ("this tapegrad build has no CUDA backend" if k is None
               else "no CUDA GPU was found")
        raise RuntimeError(
            f"{op}: device '{dev}' is not available: {why} (tapegrad.cuda.is_available() is False)"
        )
    index = k.current_device() if dev.index is None else dev.index
    count = k.device_count()
    if index >= count:
        raise RuntimeError(f"{op}: device '{dev}' is not available: this machine has {count} CUDA device(s)")
    return cuda_device(index)
