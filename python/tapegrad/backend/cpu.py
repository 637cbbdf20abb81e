"""CPU array backend: arrays ARE numpy.ndarray, math goes to the C++ kernels in ``_C.cpu``.

Every function here takes and returns numpy arrays. View operations (reshape, transpose,
broadcast, slicing) stay numpy metadata changes; everything that computes goes to a kernel, which
reads its operands through their strides (stride 0 for broadcast operands, so nothing is
expanded). Operands of binary kernels must already share a dtype: type promotion is the Tensor
layer's job.
"""
from __future__ import annotations

import numpy as np

from .._C import cpu as K

name = "cpu"


def empty(shape, dtype) -> np.ndarray:
    return np.empty(shape, dtype=dtype)


def zeros(shape, dtype) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def full(shape, value, dtype) -> np.ndarray:
    out = np.empty(shape, dtype=dtype)
    K.fill(out, value)
    return out


def full_like(x: np.ndarray, value) -> np.ndarray:
    """An array of x's shape and dtype filled with `value`."""
    return full(x.shape, value, x.dtype)


def asarray(x, dtype=None) -> np.ndarray:
    """Host data (numpy array, nested lists, scalars) as an array of this backend."""
    return np.asarray(x, dtype=dtype)


def to_numpy(x: np.ndarray) -> np.ndarray:
    return x


def scalar(value, dtype) -> np.ndarray:
    """A 0-d array holding a Python number, to broadcast (stride 0) against a tensor."""
    return np.array(value, dtype=dtype)


def arange(start, stop, step, dtype) -> np.ndarray:
    return np.arange(start, stop, step, dtype=dtype)


# --- views (metadata only) -----------------------------------------------------------------

def reshape(x: np.ndarray, shape) -> np.ndarray:
    """A view when the strides allow one, else a contiguous copy made by the copy kernel."""
    v = x.view()
    try:
        v.shape = shape
        return v
    except AttributeError:
        return contiguous(x).reshape(shape)


def can_view(x: np.ndarray, shape) -> bool:
    try:
        x.view().shape = shape
        return True
    except AttributeError:
        return False


def broadcast_to(x: np.ndarray, shape) -> np.ndarray:
    """A read-only view of x broadcast to `shape` (stride 0 along the broadcast dims)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    if not x.flags.c_contiguous or x.ndim > len(shape):
        return np.broadcast_to(x, shape)  # numpy's own checks and messages for the rare cases
    lead = len(shape) - x.ndim
    strides = [0] * lead
    for n, s, st in zip(shape[lead:], x.shape, x.strides):
        if s == n:
            strides.append(st)
        elif s == 1:
            strides.append(0)
        else:
            return np.broadcast_to(x, shape)
    # np.broadcast_to builds the same view but costs ~10x more per call; on the hot path of
    # small ops that is most of the op.
    out = np.ndarray(shape, x.dtype, x, 0, strides)
    out.flags.writeable = False
    return out


def permute(x: np.ndarray, dims) -> np.ndarray:
    return x.transpose(dims)


def view_index(x: np.ndarray, key) -> np.ndarray:
    """x[key] for a basic key (ints, slices, None, Ellipsis): always a view (an Ellipsis
    keeps numpy from returning a scalar copy when every dim is indexed by an int)."""
    if not any(k is Ellipsis for k in key):
        key = key + (Ellipsis,)
    return x[key]


# --- copies --------------------------------------------------------------------------------

def copy_(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """dst[...] = src, with dtype conversion and src broadcast to dst's shape."""
    if src.shape != dst.shape:
        src = broadcast_to(src, dst.shape)
    K.copy(src, dst)
    return dst


def astype(x: np.ndarray, dtype) -> np.ndarray:
    out = np.empty(x.shape, dtype=dtype)
    K.copy(x, out)
    return out


def owns_memory(x: np.ndarray) -> bool:
    """True when x is not a view of another array (its memory is reachable only through x)."""
    return x.base is None


def contiguous(x: np.ndarray) -> np.ndarray:
    if x.flags.c_contiguous:
        return x
    return astype(x, x.dtype)


def fill_(x: np.ndarray, value) -> np.ndarray:
    K.fill(x, value)
    return x


# --- elementwise ---------------------------------------------------------------------------

def broadcast_shapes(op: str, a_shape, b_shape):
    try:
        return np.broadcast_shapes(a_shape, b_shape)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {tuple(a_shape)} and {tuple(b_shape)} cannot be broadcast together"
        ) from None


def unary(op: str, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    K.unary(op, x, out)
    return out


def binary(op: str, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    shape = a.shape if a.shape == b.shape else broadcast_shapes(op, a.shape, b.shape)
    if out is None:
        out = np.empty(shape, dtype=a.dtype)
    elif out.shape != shape:
        raise ValueError(
            f"{op}: result of shape {tuple(shape)} does not fit the in-place target of shape {out.shape}"
        )
    if a.shape != shape:
        a = broadcast_to(a, shape)
    if b.shape != shape:
        b = broadcast_to(b, shape)
    K.binary(op, a, b, out)
    return out


def compare(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    shape = a.shape if a.shape == b.shape else broadcast_shapes(op, a.shape, b.shape)
    out = np.empty(shape, dtype=np.bool_)
    K.compare(op, broadcast_to(a, shape), broadcast_to(b, shape), out)
    return out


def where(cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape, a.shape), b.shape)
    out = np.empty(shape, dtype=a.dtype)
    K.where(broadcast_to(cond, shape), broadcast_to(a, shape), broadcast_to(b, shape), out)
    return out


def clamp(x: np.ndarray, lo, hi, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    K.clamp(x, lo, hi, out)
    return out


def activation(kind: str, x: np.ndarray, p0: float = 0.0, p1: float = 0.0) -> np.ndarray:
    out = np.empty(x.shape, dtype=x.dtype)
    K.activation(kind, x, out, p0, p1)
    return out


def activation_backward(kind: str, grad: np.ndarray, saved: np.ndarray, p0: float = 0.0,
                        p1: float = 0.0) -> np.ndarray:
    out = np.empty(saved.shape, dtype=saved.dtype)
    if grad.shape != saved.shape:
        grad = broadcast_to(grad, saved.shape)
    K.activation_backward(kind, grad, saved, out, p0, p1)
    return out


# --- reductions ----------------------------------------------------------------------------

def reduce(op: str, x: np.ndarray, axes: tuple, keepdim: bool = False, out_dtype=None) -> np.ndarray:
    """Reduce over `axes` (normalised, non-negative, distinct)."""
    kept = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    if out_dtype is None:
        out_dtype = np.int64 if op in ("argmax", "argmin") else x.dtype
    out = np.empty(kept, dtype=out_dtype)
    K.reduce(op, x, list(axes), out)
    if keepdim:
        out = out.reshape(tuple(1 if i in axes else s for i, s in enumerate(x.shape)))
    return out


def sum_to_shape(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast result back to `shape` (the gradient of broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    out = reduce("sum", g, axes) if axes else g
    return out.reshape(shape)


# --- linear algebra ------------------------------------------------------------------------

def matmul(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None = None, act: str = "none",
           out: np.ndarray | None = None, accumulate: bool = False) -> np.ndarray:
    """a @ b for 2-D or equally batched 3-D operands (any strides), + bias, then act."""
    if out is None:
        shape = a.shape[:-1] + b.shape[-1:]
        out = np.empty(shape, dtype=a.dtype)
    K.matmul(a, b, out, bias, act, accumulate)
    return out


def linear_backward(g: np.ndarray, x, w, y, act: str, need_x: bool, need_w: bool,
                    need_b: bool):
    """(gx, gw, gb) of act(x @ w.T + b) from the upstream g and the output y, in one kernel
    call; each is None unless asked for."""
    gx = np.empty((g.shape[0], w.shape[1]), g.dtype) if need_x else None
    gw = np.empty((g.shape[1], x.shape[1]), g.dtype) if need_w else None
    gb = np.empty(g.shape[1:], g.dtype) if need_b else None
    K.linear_backward(g, x, w, y, act, gx, gw, gb)
    return gx, gw, gb


# --- softmax and cross-entropy -------------------------------------------------------------

def _rows(x: np.ndarray, dim: int) -> np.ndarray:
    """x with `dim` moved last, as a 2-D (rows, n) array (a view when the strides allow)."""
    if dim != x.ndim - 1:
        x = np.moveaxis(x, dim, -1)
    n = x.shape[-1] if x.ndim else 1
    rows = x.size // n if n else int(np.prod(x.shape[:-1]))
    return reshape(x, (rows, n))


def _unrows(rows: np.ndarray, shape: tuple, dim: int) -> np.ndarray:
    moved = shape[:dim] + shape[dim + 1:] + shape[dim:dim + 1] if shape else ()
    out = rows.reshape(moved)
    if shape and dim != len(shape) - 1:
        out = np.moveaxis(out, -1, dim)
    return out


def softmax(x: np.ndarray, dim: int, log: bool = False) -> np.ndarray:
    rows = _rows(x, dim)
    out = np.empty(rows.shape, dtype=x.dtype)
    K.softmax(rows, out, log)
    return _unrows(out, x.shape, dim)


def softmax_backward(y: np.ndarray, grad: np.ndarray, dim: int, log: bool = False) -> np.ndarray:
    yr = _rows(y, dim)
    out = np.empty(yr.shape, dtype=y.dtype)
    K.softmax_backward(yr, _rows(broadcast_to(grad, y.shape), dim), out, log)
    return _unrows(out, y.shape, dim)


def cross_entropy_forward(logits: np.ndarray, target: np.ndarray, ignore_index: int,
                          label_smoothing: float):
    """(per-row loss, per-row log-sum-exp, number of rows whose target is not ignore_index)."""
    n = logits.shape[0]
    loss = np.empty(n, dtype=logits.dtype)
    lse = np.empty(n, dtype=logits.dtype)
    counted = K.cross_entropy_forward(logits, target, loss, lse, ignore_index, label_smoothing)
    return loss, lse, counted


def cross_entropy_backward(logits: np.ndarray, target: np.ndarray, lse: np.ndarray,
                           grad_loss: np.ndarray, ignore_index: int,
                           label_smoothing: float) -> np.ndarray:
    out = np.empty(logits.shape, dtype=logits.dtype)
    K.cross_entropy_backward(logits, target, lse, grad_loss, out, ignore_index, label_smoothing)
    return out


# --- gather / scatter ----------------------------------------------------------------------

def take(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """x's elements at C-order flat `positions` (int64, non-negative), shaped like positions."""
    out = np.empty(positions.shape, dtype=x.dtype)
    K.take(x, positions, out)
    return out


def put_add_(dst: np.ndarray, positions: np.ndarray, src: np.ndarray) -> np.ndarray:
    """dst.flat[positions] += src, duplicates accumulating (dst C-contiguous)."""
    K.put_add(dst, positions, broadcast_to(src, positions.shape))
    return dst


def put_(dst: np.ndarray, positions: np.ndarray, src: np.ndarray) -> np.ndarray:
    """dst[positions] = src (dst 1-D, src broadcast to positions' shape); of duplicate
    positions the last wins, as numpy assigns."""
    dst[positions] = broadcast_to(src, positions.shape)
    return dst


def index_select(x: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
    shape = x.shape[:axis] + index.shape + x.shape[axis + 1:]
    out = np.empty(x.shape[:axis] + (index.size,) + x.shape[axis + 1:], dtype=x.dtype)
    K.index_select(x, axis, index.reshape(-1), out)
    return out.reshape(shape)


def index_add_(dst: np.ndarray, axis: int, index: np.ndarray, src: np.ndarray) -> np.ndarray:
    K.index_add(dst, axis, index, src)
    return dst
