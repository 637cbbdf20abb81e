"""CUDA arrays: CudaArray (device memory plus view metadata); its memory, views and transfers.

The same interface as ``arrays/cpu.py``, with CudaArrays in place of numpy arrays; the math on
them is in ``arrays/ops.py``, which calls the kernels in ``_C.cuda`` (``kernels`` below).

A CudaArray is a ``buffer`` (``_C.cuda.Buffer``, device memory from the caching allocator) and
``meta``, a numpy array that describes the view and is never read: its data pointer is the
device address of the first element, and its dtype, shape and strides are the view's. So views
(reshape, transpose, broadcast, basic indexing) are numpy's own metadata operations on ``meta``,
with numpy's rules, and the kernels read the device view straight off ``meta``. CudaArray answers
the metadata attributes Tensor reads of any array (shape, dtype, strides in bytes,
flags, ...); reading its values on the host takes an explicit copy (``to_numpy``).
"""
from __future__ import annotations

import numpy as np

from .. import _C
from . import cpu as _cpu

# The kernels: None in a build without CUDA (the tests may put a host stand-in here).
kernels = getattr(_C, "cuda", None)

name = "cuda"


class _DeviceAddress:
    """Exposes a device address to numpy as array memory, so that numpy builds `meta` on it.
    It references the Buffer, so that a `meta` (the base of its views) keeps the memory alive."""
    __slots__ = ("__array_interface__", "buffer")

    def __init__(self, buffer, shape: tuple, dtype: np.dtype):
        self.buffer = buffer
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str,
                                    "data": (buffer.ptr, False), "version": 3}


class CudaArray:
    __slots__ = ("buffer", "meta", "owns", "__weakref__")

    def __init__(self, buffer, meta: np.ndarray, owns: bool = False):
        self.buffer = buffer
        self.meta = meta
        self.owns = owns  # made by empty(): no other array sees this memory

    # The metadata Tensor reads of an array, as numpy names it.
    shape = property(lambda self: self.meta.shape)
    dtype = property(lambda self: self.meta.dtype)
    ndim = property(lambda self: self.meta.ndim)
    size = property(lambda self: self.meta.size)
    itemsize = property(lambda self: self.meta.itemsize)
    nbytes = property(lambda self: self.meta.nbytes)
    strides = property(lambda self: self.meta.strides)
    flags = property(lambda self: self.meta.flags)

    @property
    def device(self) -> int:
        return self.buffer.device

    def __len__(self):
        return len(self.meta)

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"can't convert cuda:{self.device} device type tensor to numpy. Use Tensor.cpu() to "
            "copy the tensor to host memory first."
        )

    def __repr__(self):
        return f"CudaArray(shape={self.shape}, dtype={self.dtype}, device=cuda:{self.device})"


def _kernels():
    if kernels is None:
        raise RuntimeError("this tapegrad build has no CUDA backend (tapegrad.cuda.is_available() is False)")
    return kernels


def _view(x: CudaArray, meta: np.ndarray) -> CudaArray:
    return CudaArray(x.buffer, meta)


# --- memory ----------------------------------------------------------------------------------

def empty(shape, dtype, device: int | None = None) -> CudaArray:
    """An uninitialised array on GPU `device` (the current GPU when None: only creation
    functions pass None; ops make their results on their operands' GPU, through `new`)."""
    k = _kernels()
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    if device is None:
        device = k.current_device()
    n = 1
    for s in shape:
        n *= s
    buffer = k.alloc(n * dtype.itemsize, device)
    meta = np.asarray(_DeviceAddress(buffer, shape, dtype))
    return CudaArray(buffer, meta, owns=True)


def memory(x: CudaArray):
    """(owner, address, bytes) of the allocation x views: its Buffer, for graph mode's memory
    planning."""
    return x.buffer, x.buffer.ptr, x.buffer.nbytes


def new(shape, dtype, like: CudaArray) -> CudaArray:
    """An uninitialised array on like's GPU."""
    return empty(shape, dtype, like.buffer.device)


def scalar(value, dtype, like: CudaArray) -> CudaArray:
    """A 0-d array holding a Python number on like's GPU, filled by a kernel (no host copy, no
    wait)."""
    out = empty((), dtype, like.buffer.device)
    kernels.fill(out, value)
    return out


def _copy(x: CudaArray) -> CudaArray:
    """A contiguous copy of x, made by the copy kernel."""
    out = new(x.shape, x.dtype, like=x)
    kernels.copy(x, out)
    return out


def asarray(x, dtype=None, device: int | None = None) -> CudaArray:
    """Host data (numpy array, nested lists, scalars) copied to the device, or a CudaArray."""
    if isinstance(x, CudaArray):
        if device is not None and x.device != device:
            x = asarray(to_numpy(x), device=device)
        if dtype is None or x.dtype == np.dtype(dtype):
            return x
        out = new(x.shape, dtype, like=x)
        kernels.copy(x, out)
        return out
    host = np.asarray(x, dtype=dtype, order="C")  # (np.ascontiguousarray makes 0-d arrays 1-d)
    out = empty(host.shape, host.dtype, device)
    if host.size:
        kernels.copy_from_host(host, out)
    return out


def from_host(x, like: CudaArray) -> CudaArray:
    """x on like's GPU: host (numpy) arrays, such as the index arrays that basic and advanced
    indexing compute on the host, are copied there; CudaArrays are returned as they are."""
    return asarray(x, device=like.device) if isinstance(x, np.ndarray) else x


def to_numpy(x: CudaArray) -> np.ndarray:
    """A host copy of x's values (waits for the kernels that compute them)."""
    if not x.meta.flags.c_contiguous:
        x = _copy(x)
    out = np.empty(x.shape, dtype=x.dtype)
    if out.size:
        kernels.copy_to_host(x, out)
    return out


def arange(start, stop, step, dtype, device: int | None = None) -> CudaArray:
    return asarray(np.arange(start, stop, step, dtype=dtype), device=device)


def owns_memory(x: CudaArray) -> bool:
    return x.owns


def put_(dst: CudaArray, positions, src: CudaArray) -> CudaArray:
    """dst[positions] = src (dst 1-D, src broadcast to positions' shape); of duplicate
    positions the last wins. Done on the host (one round trip): a GPU scatter with plain stores
    would let an arbitrary duplicate win, and assigning through an index tensor is rare in
    training."""
    from ..compile import recorder

    recorder.unsupported("an indexed assignment (done on the host, not by a kernel)")
    host = to_numpy(dst)
    index = positions if isinstance(positions, np.ndarray) else to_numpy(positions)
    host[index] = np.broadcast_to(to_numpy(src), positions.shape)
    kernels.copy(asarray(host, device=dst.device), dst)
    return dst


# --- views (metadata only) -------------------------------------------------------------------

def reshape(x: CudaArray, shape) -> CudaArray:
    """A view when the strides allow one, else a contiguous copy."""
    v = x.meta.view()
    try:
        v.shape = shape
        return _view(x, v)
    except AttributeError:
        c = _copy(x)
        return _view(c, c.meta.reshape(shape))


def can_view(x: CudaArray, shape) -> bool:
    return _cpu.can_view(x.meta, shape)


def broadcast_to(x: CudaArray, shape) -> CudaArray:
    shape = tuple(shape)
    return x if x.shape == shape else _view(x, _cpu.broadcast_to(x.meta, shape))


def permute(x: CudaArray, dims) -> CudaArray:
    return _view(x, x.meta.transpose(dims))


def moveaxis(x: CudaArray, src, dst) -> CudaArray:
    return _view(x, np.moveaxis(x.meta, src, dst))


def view_index(x: CudaArray, key) -> CudaArray:
    return _view(x, _cpu.view_index(x.meta, key))
