"""The array ops, written once for every device.

Each function finds its operand's device module (``arrays/cpu.py``, ``arrays/cuda.py``) in
DEVICES (or, for a subclass, with `for_array`) and uses only that module's small interface:
``new(shape, dtype, like=a)`` and ``scalar`` (arrays on an operand's device), ``from_host``/``to_numpy`` (transfers), the views (``reshape``,
``broadcast_to``, ``permute``, ``moveaxis``, ``view_index``, ``can_view``), ``put_``,
``owns_memory``, and ``kernels``, the compiled module (``_C.cpu`` or ``_C.cuda``),
whose functions of the same name do the math. Every array an op makes is made on its operand's
device, never on the current one.

The named ops (`add`, `mul`, `where`, `eq`, `exp`, ...) carry PyTorch's names for the Tensor
functions and accept a Python number for either operand (a 0-d array of the other operand's
dtype, on its device): the backward formulas in ``tapegrad/ops`` are written with them alone,
so that they read as math and could run on Tensors as well. The unary ones are defined by the
unary op table (``ops/unary.py``, through `arrays.define_unary`). Operands of binary kernels
must share a dtype: type promotion is the Tensor layer's job.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from . import DEVICES, TENSORS, for_array
from ..compile import recorder as _graph

_NUMBER = (int, float, np.generic)


# --- memory and transfers --------------------------------------------------------------------

def empty(shape, dtype, like):
    """An uninitialised array of `shape` and `dtype` on like's device."""
    return (DEVICES.get(type(like)) or for_array(like)).new(shape, dtype, like=like)


def full(shape, value, dtype, like):
    dev = DEVICES.get(type(like)) or for_array(like)
    if dev is TENSORS:
        return dev.full(shape, value, dtype, like)
    out = dev.new(shape, dtype, like=like)
    dev.kernels.fill(out, value)
    return out


def zeros(shape, dtype, like):
    return full(shape, 0, dtype, like)


def full_like(x, value):
    """An array of x's shape, dtype and device filled with `value`."""
    return full(x.shape, value, x.dtype, x)


def zeros_like(x):
    return full(x.shape, 0, x.dtype, x)


def scalar(value, like, dtype=None):
    """A 0-d array holding a Python number (like's dtype unless given), on like's device."""
    dev = DEVICES.get(type(like)) or for_array(like)
    return dev.scalar(value, like.dtype if dtype is None else dtype, like)


def arange(start, stop, step, dtype, like):
    return from_host(np.arange(start, stop, step, dtype=dtype), like)


def to_numpy(x) -> np.ndarray:
    """x's values on the host (x itself for a CPU array; a copy, after a wait, for a GPU one)."""
    if _graph.active is not None:  # (unsupported() checks that this thread records)
        _graph.unsupported("reading a tensor's values on the host (.item(), .tolist(), .numpy(), "
                           "printing, or Python control flow on a tensor)")
    return (DEVICES.get(type(x)) or for_array(x)).to_numpy(x)


def from_host(x, like):
    """A host (numpy) array on like's device."""
    return (DEVICES.get(type(like)) or for_array(like)).from_host(x, like)


def owns_memory(x) -> bool:
    """True when x is not a view of another array (its memory is reachable only through x)."""
    return (DEVICES.get(type(x)) or for_array(x)).owns_memory(x)


def copy_(src, dst):
    """dst[...] = src, with dtype conversion and src broadcast to dst's shape; src may be a host
    (numpy) array."""
    dev = DEVICES.get(type(dst)) or for_array(dst)
    if dev is TENSORS:
        return dev.copy_(src, dst)
    src = dev.from_host(src, dst)
    if src.shape != dst.shape:
        src = dev.broadcast_to(src, dst.shape)
    dev.kernels.copy(src, dst)
    return dst


def astype(x, dtype):
    dev = DEVICES.get(type(x)) or for_array(x)
    if dev is TENSORS:
        return dev.astype(x, dtype)
    out = dev.new(x.shape, dtype, like=x)
    dev.kernels.copy(x, out)
    return out


def contiguous(x):
    if DEVICES.get(type(x)) is TENSORS:
        return TENSORS.contiguous(x)
    return x if x.flags.c_contiguous else astype(x, x.dtype)


def fill_(x, value):
    (DEVICES.get(type(x)) or for_array(x)).kernels.fill(x, value)
    return x


# --- views (metadata only) -------------------------------------------------------------------

def reshape(x, shape):
    """A view when the strides allow one, else a contiguous copy."""
    return (DEVICES.get(type(x)) or for_array(x)).reshape(x, shape)


def can_view(x, shape) -> bool:
    return (DEVICES.get(type(x)) or for_array(x)).can_view(x, shape)


def broadcast_to(x, shape):
    """A read-only view of x broadcast to `shape` (stride 0 along the broadcast dims)."""
    return (DEVICES.get(type(x)) or for_array(x)).broadcast_to(x, shape)


def permute(x, dims):
    return (DEVICES.get(type(x)) or for_array(x)).permute(x, dims)


def moveaxis(x, src, dst):
    return (DEVICES.get(type(x)) or for_array(x)).moveaxis(x, src, dst)


def view_index(x, key):
    """x[key] for a basic key (ints, slices, None, Ellipsis): always a view."""
    return (DEVICES.get(type(x)) or for_array(x)).view_index(x, key)


# --- elementwise kernels ---------------------------------------------------------------------

def broadcast_shapes(op: str, a_shape, b_shape):
    try:
        return np.broadcast_shapes(a_shape, b_shape)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {tuple(a_shape)} and {tuple(b_shape)} cannot be broadcast together"
        ) from None


def unary(op: str, x, out=None):
    dev = DEVICES.get(type(x)) or for_array(x)
    if dev is TENSORS:
        return dev.unary(op, x)
    if out is None:
        out = dev.new(x.shape, x.dtype, like=x)
    dev.kernels.unary(op, x, out)
    return out


def binary(op: str, a, b, out=None):
    """The binary kernel `op` of a and b, broadcast; either may be a Python number (a 0-d array
    of the other's dtype, on its device)."""
    if type(a) is not type(b):  # a number and an array (arrays of one device share a type)
        a, b = _operands(a, b)
    dev = DEVICES.get(type(a)) or DEVICES.get(type(b)) or for_array(a)
    if dev is TENSORS:
        return dev.binary(op, a, b)
    shape = a.shape if a.shape == b.shape else broadcast_shapes(op, a.shape, b.shape)
    if out is None:
        out = dev.new(shape, a.dtype, like=a)
    elif out.shape != shape:
        raise ValueError(
            f"{op}: result of shape {tuple(shape)} does not fit the in-place target of shape {out.shape}"
        )
    if a.shape != shape:
        a = dev.broadcast_to(a, shape)
    if b.shape != shape:
        b = dev.broadcast_to(b, shape)
    dev.kernels.binary(op, a, b, out)
    return out


def compare(op: str, a, b):
    """The comparison `op` of a and b (a bool array); either may be a Python number."""
    if type(a) is not type(b):  # a number and an array (arrays of one device share a type)
        a, b = _operands(a, b)
    dev = DEVICES.get(type(a)) or DEVICES.get(type(b)) or for_array(a)
    if dev is TENSORS:
        return dev.compare(op, a, b)
    shape = a.shape if a.shape == b.shape else broadcast_shapes(op, a.shape, b.shape)
    out = dev.new(shape, np.bool_, like=a)
    dev.kernels.compare(op, dev.broadcast_to(a, shape), dev.broadcast_to(b, shape), out)
    return out


def where(cond, a, b):
    """a where cond, else b; a or b may be a Python number (of the other's dtype, on its
    device)."""
    if type(a) is not type(b):  # a number and an array (arrays of one device share a type)
        a, b = _operands(a, b)
    dev = DEVICES.get(type(a)) or DEVICES.get(type(b)) or for_array(a)
    if dev is TENSORS or type(cond) is not type(a):
        return TENSORS.where(cond, a, b)
    shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape, a.shape), b.shape)
    out = dev.new(shape, a.dtype, like=a)
    dev.kernels.where(dev.broadcast_to(cond, shape), dev.broadcast_to(a, shape),
                      dev.broadcast_to(b, shape), out)
    return out


def clamp(x, lo, hi, out=None):
    dev = DEVICES.get(type(x)) or for_array(x)
    if dev is TENSORS:
        return dev.clamp(x, lo, hi)
    if out is None:
        out = dev.new(x.shape, x.dtype, like=x)
    dev.kernels.clamp(x, lo, hi, out)
    return out


def activation(kind: str, x, alpha: float = 0.0, beta: float = 0.0):
    """The activation `kind` of x; alpha and beta are its parameters where it has any
    (leaky_relu: negative_slope; elu: alpha; softplus: beta, threshold)."""
    dev = DEVICES.get(type(x)) or for_array(x)
    if dev is TENSORS:
        return dev.activation(kind, x, alpha, beta)
    out = dev.new(x.shape, x.dtype, like=x)
    dev.kernels.activation(kind, x, out, alpha, beta)
    return out


def activation_backward(kind: str, grad, saved, alpha: float = 0.0, beta: float = 0.0):
    dev = DEVICES.get(type(saved)) or for_array(saved)
    if dev is TENSORS or type(grad) is not type(saved):
        return TENSORS.activation_backward(kind, grad, saved, alpha, beta)
    out = dev.new(saved.shape, saved.dtype, like=saved)
    if grad.shape != saved.shape:
        grad = dev.broadcast_to(grad, saved.shape)
    dev.kernels.activation_backward(kind, grad, saved, out, alpha, beta)
    return out


# --- reductions ------------------------------------------------------------------------------

def reduce(op: str, x, axes: tuple, keepdim: bool = False, out_dtype=None):
    """Reduce over `axes` (normalised, non-negative, distinct)."""
    dev = DEVICES.get(type(x)) or for_array(x)
    if dev is TENSORS:
        return dev.reduce(op, x, axes, keepdim, out_dtype)
    kept = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    if out_dtype is None:
        out_dtype = np.int64 if op in ("argmax", "argmin") else x.dtype
    out = dev.new(kept, out_dtype, like=x)
    dev.kernels.reduce(op, x, list(axes), out)
    if keepdim:
        out = dev.reshape(out, tuple(1 if i in axes else s for i, s in enumerate(x.shape)))
    return out


def sum_to_shape(g, shape: tuple):
    """Sum a broadcast result back to `shape` (the gradient of broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    out = reduce("sum", g, axes) if axes else g
    return reshape(out, shape)


# --- linear algebra --------------------------------------------------------------------------

def matmul(a, b, bias=None, act: str = "none", out=None, accumulate: bool = False):
    """a @ b for 2-D or equally batched 3-D operands (any strides), + bias, then act."""
    dev = DEVICES.get(type(a)) or for_array(a)
    if dev is TENSORS or type(b) is not type(a):
        return TENSORS.matmul(a, b, bias, act)
    if out is None:
        out = dev.new(a.shape[:-1] + b.shape[-1:], a.dtype, like=a)
    dev.kernels.matmul(a, b, out, bias, act, accumulate)
    return out


def linear_backward(g, x, w, y, act: str, need_x: bool, need_w: bool, need_b: bool):
    """(gx, gw, gb) of act(x @ w.T + b) from the upstream g and the output y, in one kernel
    call; each is None unless asked for."""
    dev = DEVICES.get(type(g)) or for_array(g)
    if dev is TENSORS:
        return dev.linear_backward(g, x, w, y, act, need_x, need_w, need_b)
    gx = dev.new((g.shape[0], w.shape[1]), g.dtype, like=g) if need_x else None
    gw = dev.new((g.shape[1], x.shape[1]), g.dtype, like=g) if need_w else None
    gb = dev.new(g.shape[1:], g.dtype, like=g) if need_b else None
    dev.kernels.linear_backward(g, x, w, y, act, gx, gw, gb)
    return gx, gw, gb


# --- softmax and cross-entropy ---------------------------------------------------------------

def _rows(x, dim: int):
    """x with `dim` moved last, as a 2-D (rows, n) array (a view when the strides allow)."""
    dev = DEVICES.get(type(x)) or for_array(x)
    if dim != x.ndim - 1:
        x = dev.moveaxis(x, dim, -1)
    n = x.shape[-1] if x.ndim else 1
    rows = x.size // n if n else int(np.prod(x.shape[:-1]))
    return dev.reshape(x, (rows, n))


def _unrows(rows, shape: tuple, dim: int):
    dev = DEVICES.get(type(rows)) or for_array(rows)
    moved = shape[:dim] + shape[dim + 1:] + shape[dim:dim + 1] if shape else ()
    out = dev.reshape(rows, moved)
    if shape and dim != len(shape) - 1:
        out = dev.moveaxis(out, -1, dim)
    return out


def softmax(x, dim: int, log: bool = False):
    if DEVICES.get(type(x)) is TENSORS:
        return TENSORS.softmax(x, dim, log)
    rows = _rows(x, dim)
    dev = DEVICES.get(type(x)) or for_array(x)
    out = dev.new(rows.shape, rows.dtype, like=rows)
    dev.kernels.softmax(rows, out, log)
    return _unrows(out, x.shape, dim)


def softmax_backward(y, grad, dim: int, log: bool = False):
    if DEVICES.get(type(y)) is TENSORS or type(grad) is not type(y):
        return TENSORS.softmax_backward(y, grad, dim, log)
    yr = _rows(y, dim)
    dev = DEVICES.get(type(y)) or for_array(y)
    out = dev.new(yr.shape, yr.dtype, like=yr)
    dev.kernels.softmax_backward(yr, _rows(dev.broadcast_to(grad, y.shape), dim), out, log)
    return _unrows(out, y.shape, dim)


def cross_entropy_forward(logits, target, ignore_index: int, label_smoothing: float):
    """(per-row loss, per-row log-sum-exp, the number of rows whose target is not ignore_index
    as a 0-d array of the logits' dtype): a mean divides by an array the kernel writes, so a
    replayed step divides by its own batch's count."""
    dev = DEVICES.get(type(logits)) or for_array(logits)
    n = logits.shape[0]
    loss = dev.new((n,), logits.dtype, like=logits)
    lse = dev.new((n,), logits.dtype, like=logits)
    count = dev.new((), logits.dtype, like=logits)
    dev.kernels.cross_entropy_forward(logits, dev.from_host(target, logits), loss, lse,
                                      ignore_index, label_smoothing, count)
    return loss, lse, count


def cross_entropy_backward(logits, target, lse, grad_loss, ignore_index: int,
                           label_smoothing: float):
    dev = DEVICES.get(type(logits)) or for_array(logits)
    if dev is TENSORS or type(grad_loss) is not type(logits):
        return TENSORS.cross_entropy_backward(logits, target, lse, grad_loss, ignore_index,
                                              label_smoothing)
    out = dev.new(logits.shape, logits.dtype, like=logits)
    dev.kernels.cross_entropy_backward(logits, dev.from_host(target, logits), lse, grad_loss, out,
                                       ignore_index, label_smoothing)
    return out


# --- gather / scatter ------------------------------------------------------------------------
# Index arrays may come from the host (basic and advanced indexing compute them there):
# from_host moves them to the data's device.

def take(x, positions):
    """x's elements at C-order flat `positions` (int64, non-negative), shaped like positions."""
    dev = DEVICES.get(type(x)) or for_array(x)
    if dev is TENSORS:
        return dev.take(x, positions)
    positions = dev.from_host(positions, x)
    out = dev.new(positions.shape, x.dtype, like=x)
    dev.kernels.take(x, positions, out)
    return out


def put_add_(dst, positions, src):
    """dst.flat[positions] += src, duplicates accumulating (dst C-contiguous)."""
    dev = DEVICES.get(type(dst)) or for_array(dst)
    positions = dev.from_host(positions, dst)
    dev.kernels.put_add(dst, positions, dev.broadcast_to(src, positions.shape))
    return dst


def put_(dst, positions, src):
    """dst[positions] = src (dst 1-D, src broadcast to positions' shape); of duplicate
    positions the last wins."""
    return (DEVICES.get(type(dst)) or for_array(dst)).put_(dst, positions, src)


def index_select(x, axis: int, index):
    dev = DEVICES.get(type(x)) or for_array(x)
    if dev is TENSORS:
        return dev.index_select(x, axis, index)
    index = dev.from_host(index, x)
    shape = x.shape[:axis] + index.shape + x.shape[axis + 1:]
    out = dev.new(x.shape[:axis] + (index.size,) + x.shape[axis + 1:], x.dtype, like=x)
    dev.kernels.index_select(x, axis, dev.reshape(index, (-1,)), out)
    return dev.reshape(out, shape)


def index_add_(dst, axis: int, index, src):
    dev = DEVICES.get(type(dst)) or for_array(dst)
    dev.kernels.index_add(dst, axis, dev.from_host(index, dst), src)
    return dst


# The gradients of the gathers: zeros with the gradient written or added where the gather read.

def scatter_view(g, shape, key):
    """Zeros of `shape` with g written at [key] (a basic key): the gradient of x[key]."""
    dev = DEVICES.get(type(g)) or for_array(g)
    if dev is TENSORS:
        return dev.scatter_view(g, shape, key)
    out = full(shape, 0, g.dtype, g)
    copy_(g, view_index(out, key))
    return out


def scatter_add(g, shape, positions):
    """Zeros of `shape` with g (broadcast to positions' shape) added at the C-order flat
    `positions`, duplicates accumulating: the gradient of take."""
    dev = DEVICES.get(type(g)) or for_array(g)
    if dev is TENSORS:
        return dev.scatter_add(g, shape, positions)
    n = 1
    for s in shape:
        n *= s
    out = full((n,), 0, g.dtype, g)
    put_add_(out, positions, g)
    return reshape(out, shape)


def index_scatter_add(g, shape, axis: int, index):
    """Zeros of `shape` with the slices of g added at `index` (1-D) along `axis`: the gradient
    of index_select."""
    dev = DEVICES.get(type(g)) or for_array(g)
    if dev is TENSORS:
        return dev.index_scatter_add(g, shape, axis, index)
    return index_add_(full(shape, 0, g.dtype, g), axis, index, g)


# --- named ops: the vocabulary of the backward formulas --------------------------------------
# Each is its kernel function with the op's name bound (a partial: no Python call of its own);
# the unary ones are added by the unary op table (arrays.define_unary).

def _operands(a, b):
    """a and b as arrays: a Python number becomes a 0-d array of the other operand's dtype, on
    the other operand's device. With a Tensor among them they stay as they are, for the Tensor
    op (which takes numbers and arrays beside a Tensor)."""
    if isinstance(a, _NUMBER):
        dev = DEVICES.get(type(b)) or for_array(b)
        if dev is not TENSORS:
            a = dev.scalar(a, b.dtype, b)
    elif isinstance(b, _NUMBER):
        dev = DEVICES.get(type(a)) or for_array(a)
        if dev is not TENSORS:
            b = dev.scalar(b, a.dtype, a)
    return a, b


add = partial(binary, "add")
sub = partial(binary, "sub")
mul = partial(binary, "mul")
div = partial(binary, "div")
pow = partial(binary, "pow")  # noqa: A001 - PyTorch's name
maximum = partial(binary, "maximum")
minimum = partial(binary, "minimum")
floor_divide = partial(binary, "floor_divide")
remainder = partial(binary, "remainder")
logical_and = partial(binary, "logical_and")
logical_or = partial(binary, "logical_or")
logical_xor = partial(binary, "logical_xor")

eq = partial(compare, "eq")
ne = partial(compare, "ne")
lt = partial(compare, "lt")
le = partial(compare, "le")
gt = partial(compare, "gt")
ge = partial(compare, "ge")


def sum(x, axes, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    return reduce("sum", x, tuple(axes), keepdim)


__all__ = [n for n in list(globals()) if not n.startswith("_")
           and n not in ("annotations", "np", "partial", "DEVICES", "for_array")]
