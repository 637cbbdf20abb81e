"""CUDA array backend: CudaArray (device memory plus view metadata), math in ``_C.cuda``.

The same function table as ``backend/cpu.py``, with CudaArrays in place of numpy arrays.

A CudaArray is a ``buffer`` (``_C.cuda.Buffer``, device memory from the caching allocator) and
``meta``, a numpy array that describes the view and is never read: its data pointer is the
device address of the first element, and its dtype, shape and strides are the view's. So views
(reshape, transpose, broadcast, basic indexing) are numpy's own metadata operations on ``meta``,
with numpy's rules, and the kernels read the device view straight off ``meta``. CudaArray answers
the metadata attributes Tensor reads of any backend array (shape, dtype, strides in bytes,
flags, ...); reading its values on the host takes an explicit copy (``to_numpy``).
"""
from __future__ import annotations

import numpy as np

from .. import _C
from . import cpu as _cpu

# The kernels: None in a build without CUDA (the tests may put a host stand-in here).
K = getattr(_C, "cuda", None)

name = "cuda"


class _DeviceAddress:
    """Exposes a device address to numpy as array memory, so that numpy builds `meta` on it."""
    __slots__ = ("__array_interface__",)

    def __init__(self, ptr: int, shape: tuple, dtype: np.dtype):
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str, "data": (ptr, False),
                                    "version": 3}


class CudaArray:
    __slots__ = ("buffer", "meta", "owns", "__weakref__")

    def __init__(self, buffer, meta: np.ndarray, owns: bool = False):
        self.buffer = buffer
        self.meta = meta
        self.owns = owns  # made by empty(): no other array sees this memory

    # The metadata Tensor reads of a backend array, as numpy names it.
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
    if K is None:
        raise RuntimeError("this tapegrad build has no CUDA backend (tapegrad.cuda.is_available() is False)")
    return K


def _view(x: CudaArray, meta: np.ndarray) -> CudaArray:
    return CudaArray(x.buffer, meta)


# --- memory ----------------------------------------------------------------------------------

def empty(shape, dtype, device: int | None = None) -> CudaArray:
    k = _kernels()
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    if device is None:
        device = k.current_device()
    n = 1
    for s in shape:
        n *= s
    buffer = k.alloc(n * dtype.itemsize, device)
    meta = np.asarray(_DeviceAddress(buffer.ptr, shape, dtype))
    return CudaArray(buffer, meta, owns=True)


def _like(x: CudaArray, shape=None, dtype=None) -> CudaArray:
    """A new array on x's device (x's shape and dtype unless given)."""
    return empty(x.shape if shape is None else shape, x.dtype if dtype is None else dtype,
                 x.device)


def zeros(shape, dtype, device: int | None = None) -> CudaArray:
    return full(shape, 0, dtype, device)


def full(shape, value, dtype, device: int | None = None) -> CudaArray:
    out = empty(shape, dtype, device)
    K.fill(out, value)
    return out


def full_like(x: CudaArray, value) -> CudaArray:
    """An array of x's shape, dtype and device filled with `value`."""
    return full(x.shape, value, x.dtype, x.device)


def asarray(x, dtype=None, device: int | None = None) -> CudaArray:
    """Host data (numpy array, nested lists, scalars) copied to the device, or a CudaArray."""
    if isinstance(x, CudaArray):
        if device is not None and x.device != device:
            x = asarray(to_numpy(x), device=device)
        return x if dtype is None or x.dtype == np.dtype(dtype) else astype(x, dtype)
    host = np.asarray(x, dtype=dtype, order="C")  # (np.ascontiguousarray makes 0-d arrays 1-d)
    out = empty(host.shape, host.dtype, device)
    if host.size:
        K.copy_from_host(host, out)
    return out


def to_numpy(x: CudaArray) -> np.ndarray:
    """A host copy of x's values (waits for the kernels that compute them)."""
    x = contiguous(x)
    out = np.empty(x.shape, dtype=x.dtype)
    if out.size:
        K.copy_to_host(x, out)
    return out


def scalar(value, dtype, device: int | None = None) -> CudaArray:
    """A 0-d array holding a Python number, filled by a kernel (no host copy, no wait)."""
    return full((), value, dtype, device)


def arange(start, stop, step, dtype, device: int | None = None) -> CudaArray:
    return asarray(np.arange(start, stop, step, dtype=dtype), device=device)


# --- views (metadata only) -------------------------------------------------------------------

def reshape(x: CudaArray, shape) -> CudaArray:
    """A view when the strides allow one, else a contiguous copy."""
    v = x.meta.view()
    try:
        v.shape = shape
        return _view(x, v)
    except AttributeError:  # the strides allow no view: a contiguous copy made by the copy kernel
        c = astype(x, x.dtype)
        return _view(c, c.meta.reshape(shape))


def can_view(x: CudaArray, shape) -> bool:
    return _cpu.can_view(x.meta, shape)


def broadcast_to(x: CudaArray, shape) -> CudaArray:
    shape = tuple(shape)
    return x if x.shape == shape else _view(x, _cpu.broadcast_to(x.meta, shape))


def permute(x: CudaArray, dims) -> CudaArray:
    return _view(x, x.meta.transpose(dims))


def view_index(x: CudaArray, key) -> CudaArray:
    return _view(x, _cpu.view_index(x.meta, key))


def moveaxis(x: CudaArray, src, dst) -> CudaArray:
    return _view(x, np.moveaxis(x.meta, src, dst))


# --- copies ----------------------------------------------------------------------------------

def copy_(src, dst: CudaArray) -> CudaArray:
    """dst[...] = src, with dtype conversion and src broadcast to dst's shape; src may be a
    host (numpy) array."""
    if isinstance(src, np.ndarray):
        src = asarray(src, device=dst.device)
    if src.shape != dst.shape:
        src = broadcast_to(src, dst.shape)
    K.copy(src, dst)
    return dst


def astype(x: CudaArray, dtype) -> CudaArray:
    out = _like(x, dtype=dtype)
    K.copy(x, out)
    return out


def owns_memory(x: CudaArray) -> bool:
    return x.owns


def contiguous(x: CudaArray) -> CudaArray:
    return x if x.meta.flags.c_contiguous else astype(x, x.dtype)


def fill_(x: CudaArray, value) -> CudaArray:
    K.fill(x, value)
    return x


# --- elementwise -----------------------------------------------------------------------------

broadcast_shapes = _cpu.broadcast_shapes


def unary(op: str, x: CudaArray, out: CudaArray | None = None) -> CudaArray:
    if out is None:
        out = _like(x)
    K.unary(op, x, out)
    return out


def binary(op: str, a: CudaArray, b: CudaArray, out: CudaArray | None = None) -> CudaArray:
    shape = a.shape if a.shape == b.shape else broadcast_shapes(op, a.shape, b.shape)
    if out is None:
        out = _like(a, shape)
    elif out.shape != shape:
        raise ValueError(
            f"{op}: result of shape {tuple(shape)} does not fit the in-place target of shape {out.shape}"
        )
    K.binary(op, broadcast_to(a, shape), broadcast_to(b, shape), out)
    return out


def compare(op: str, a: CudaArray, b: CudaArray) -> CudaArray:
    shape = a.shape if a.shape == b.shape else broadcast_shapes(op, a.shape, b.shape)
    out = _like(a, shape, np.bool_)
    K.compare(op, broadcast_to(a, shape), broadcast_to(b, shape), out)
    return out


def where(cond: CudaArray, a: CudaArray, b: CudaArray) -> CudaArray:
    shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape, a.shape), b.shape)
    out = _like(a, shape)
    K.where(broadcast_to(cond, shape), broadcast_to(a, shape), broadcast_to(b, shape), out)
    return out


def clamp(x: CudaArray, lo, hi, out: CudaArray | None = None) -> CudaArray:
    if out is None:
        out = _like(x)
    K.clamp(x, lo, hi, out)
    return out


def activation(kind: str, x: CudaArray, p0: float = 0.0, p1: float = 0.0) -> CudaArray:
    out = _like(x)
    K.activation(kind, x, out, p0, p1)
    return out


def activation_backward(kind: str, grad: CudaArray, saved: CudaArray, p0: float = 0.0,
                        p1: float = 0.0) -> CudaArray:
    out = _like(saved)
    K.activation_backward(kind, broadcast_to(grad, saved.shape), saved, out, p0, p1)
    return out


# --- reductions ------------------------------------------------------------------------------

def reduce(op: str, x: CudaArray, axes: tuple, keepdim: bool = False, out_dtype=None) -> CudaArray:
    """Reduce over `axes` (normalised, non-negative, distinct)."""
    kept = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    if out_dtype is None:
        out_dtype = np.int64 if op in ("argmax", "argmin") else x.dtype
    out = _like(x, kept, out_dtype)
    K.reduce(op, x, list(axes), out)
    if keepdim:
        out = reshape(out, tuple(1 if i in axes else s for i, s in enumerate(x.shape)))
    return out


def sum_to_shape(g: CudaArray, shape: tuple) -> CudaArray:
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    out = reduce("sum", g, axes) if axes else g
    return reshape(out, shape)


# --- linear algebra --------------------------------------------------------------------------

def matmul(a: CudaArray, b: CudaArray, bias: CudaArray | None = None, act: str = "none",
           out: CudaArray | None = None, accumulate: bool = False) -> CudaArray:
    if out is None:
        out = _like(a, a.shape[:-1] + b.shape[-1:])
    K.matmul(a, b, out, bias, act, accumulate)
    return out


def linear_backward(g: CudaArray, x, w, y, act: str, need_x: bool, need_w: bool, need_b: bool):
    gx = _like(g, (g.shape[0], w.shape[1])) if need_x else None
    gw = _like(g, (g.shape[1], x.shape[1])) if need_w else None
    gb = _like(g, g.shape[1:]) if need_b else None
    K.linear_backward(g, x, w, y, act, gx, gw, gb)
    return gx, gw, gb


# --- softmax and cross-entropy ---------------------------------------------------------------

def _rows(x: CudaArray, dim: int) -> CudaArray:
    """x with `dim` moved last, as a 2-D (rows, n) array (a view when the strides allow)."""
    if dim != x.ndim - 1:
        x = moveaxis(x, dim, -1)
    n = x.shape[-1] if x.ndim else 1
    rows = x.size // n if n else int(np.prod(x.shape[:-1]))
    return reshape(x, (rows, n))


def _unrows(rows: CudaArray, shape: tuple, dim: int) -> CudaArray:
    moved = shape[:dim] + shape[dim + 1:] + shape[dim:dim + 1] if shape else ()
    out = reshape(rows, moved)
    if shape and dim != len(shape) - 1:
        out = moveaxis(out, -1, dim)
    return out


def softmax(x: CudaArray, dim: int, log: bool = False) -> CudaArray:
    rows = _rows(x, dim)
    out = _like(rows)
    K.softmax(rows, out, log)
    return _unrows(out, x.shape, dim)


def softmax_backward(y: CudaArray, grad: CudaArray, dim: int, log: bool = False) -> CudaArray:
    yr = _rows(y, dim)
    out = _like(yr)
    K.softmax_backward(yr, _rows(broadcast_to(grad, y.shape), dim), out, log)
    return _unrows(out, y.shape, dim)


def cross_entropy_forward(logits: CudaArray, target, ignore_index: int, label_smoothing: float):
    """(per-row loss, per-row log-sum-exp, number of rows whose target is not ignore_index)."""
    n = logits.shape[0]
    loss = _like(logits, (n,))
    lse = _like(logits, (n,))
    counted = K.cross_entropy_forward(logits, _on_device(target, logits), loss, lse,
                                      ignore_index, label_smoothing)
    return loss, lse, counted


def cross_entropy_backward(logits: CudaArray, target, lse: CudaArray, grad_loss: CudaArray,
                           ignore_index: int, label_smoothing: float) -> CudaArray:
    out = _like(logits)
    K.cross_entropy_backward(logits, _on_device(target, logits), lse, grad_loss, out,
                             ignore_index, label_smoothing)
    return out


# --- gather / scatter ------------------------------------------------------------------------

def _on_device(index, like: CudaArray) -> CudaArray:
    """Index arrays computed on the host (basic/advanced indexing) moved to like's device."""
    return asarray(index, device=like.device) if isinstance(index, np.ndarray) else index


def take(x: CudaArray, positions) -> CudaArray:
    positions = _on_device(positions, x)
    out = _like(x, positions.shape)
    K.take(x, positions, out)
    return out


def put_add_(dst: CudaArray, positions, src: CudaArray) -> CudaArray:
    positions = _on_device(positions, dst)
    K.put_add(dst, positions, broadcast_to(src, positions.shape))
    return dst


def put_(dst: CudaArray, positions, src: CudaArray) -> CudaArray:
    """dst[positions] = src (dst 1-D, src broadcast to positions' shape); of duplicate
    positions the last wins. Done on the host (one round trip): a GPU scatter with plain stores
    would let an arbitrary duplicate win, and assigning through an index tensor is rare in
    training."""
    host = to_numpy(dst)
    host[_cpu_index(positions)] = np.broadcast_to(to_numpy(src), positions.shape)
    copy_(host, dst)
    return dst


def _cpu_index(index):
    return index if isinstance(index, np.ndarray) else to_numpy(index)


def index_select(x: CudaArray, axis: int, index) -> CudaArray:
    index = _on_device(index, x)
    shape = x.shape[:axis] + index.shape + x.shape[axis + 1:]
    out = _like(x, x.shape[:axis] + (index.size,) + x.shape[axis + 1:])
    K.index_select(x, axis, reshape(index, (-1,)), out)
    return reshape(out, shape)


def index_add_(dst: CudaArray, axis: int, index, src: CudaArray) -> CudaArray:
    K.index_add(dst, axis, _on_device(index, dst), src)
    return dst
