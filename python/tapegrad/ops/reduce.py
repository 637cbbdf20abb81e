"""Reductions (kernels: csrc/cpu/reduce.cpp): sum, prod, max/min (values and indices), amax,
amin, argmax, argmin, all, any; mean, var, std and logsumexp are composites of these."""
from __future__ import annotations

from collections import namedtuple

from .. import dtypes as _dt
from .._checks import dims_arg, number_arg, tensor_arg
from ..autograd.node import Node
from .. import arrays
from ..tensor import Tensor
from . import elementwise

max_result = namedtuple("max", ["values", "indices"])
min_result = namedtuple("min", ["values", "indices"])


def normalize_dims(x: Tensor, dim, op: str, empty_means_all: bool = True) -> tuple:
    """`dim` (None, int, or a sequence of ints) as a sorted tuple of distinct non-negative axes.
    An empty sequence means every axis, as in PyTorch's sum/mean/var (all/any reduce none)."""
    if dim is not None and type(dim) is not int:  # the common case skips the check
        dim = dims_arg(dim, op)
    if dim is None:
        return tuple(range(x.ndim))
    dims = dim if isinstance(dim, tuple) else (dim,)
    if not dims and empty_means_all:
        return tuple(range(x.ndim))
    if x.ndim == 0:
        for d in dims:
            x._dim(d, op=op)
        return ()
    axes = tuple(sorted({x._dim(d, op=op) for d in dims}))
    if len(axes) != len(dims):
        raise RuntimeError(f"{op}(): dim {dims} appears multiple times in the list of dims")
    return axes


def _keep_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _reduced_shape(shape, axes, keepdim):
    if keepdim:
        return _keep_shape(shape, axes)
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _numel_over(shape, axes) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _expand_back(g, shape, axes):
    """A gradient of a reduced result, broadcast (stride 0, no copy) over the input's shape."""
    return arrays.broadcast_to(arrays.reshape(g, _keep_shape(shape, axes)), shape)


def _save_reduced(node, x, kept, axes, keepdim):
    """The result of a reduction computed with kept dims (`kept`), as the op returns it; x and
    the result are saved (the result itself, so that create_graph sees it as the op's
    output)."""
    out = kept if keepdim else arrays.reshape(kept, _reduced_shape(x.shape, axes, False))
    node.save_for_backward(x, out)
    node.axes = axes
    return out


def _saved_kept(node):
    """x and the result, with the reduced dims kept (see _save_reduced)."""
    x, out = node.saved_arrays
    return x, arrays.reshape(out, _keep_shape(x.shape, node.axes))


class Sum(Node):
    def forward(self, x, axes, keepdim):
        self.shape, self.axes = x.shape, axes
        return arrays.reduce("sum", x, axes, keepdim)

    def backward(self, g):
        return _expand_back(g, self.shape, self.axes)


def sum(x, dim=None, keepdim=False, *, dtype=None):  # noqa: A001 - PyTorch's name
    tensor_arg(x, "sum")
    if dtype is not None:
        x = elementwise.cast(x, _dt.to_dtype(dtype, "sum"))
    elif not x.dtype.is_floating_point and x.dtype is not _dt.int64:
        x = elementwise.cast(x, _dt.int64)
    return Sum.apply(x, normalize_dims(x, dim, "sum"), bool(keepdim))


def mean(x, dim=None, keepdim=False, *, dtype=None):
    tensor_arg(x, "mean")
    if dtype is not None:
        x = elementwise.cast(x, _dt.to_dtype(dtype, "mean"))
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {x.dtype.name}"
        )
    axes = normalize_dims(x, dim, "mean")
    n = _numel_over(x.shape, axes)
    return elementwise.div(Sum.apply(x, axes, bool(keepdim)), float(n) if n else float("nan"))


class Prod(Node):
    def forward(self, x, axes, keepdim):
        return _save_reduced(self, x, arrays.reduce("prod", x, axes, keepdim=True), axes, keepdim)

    def backward(self, g):
        # d prod / d x_i = product of the others: prod / x_i where x_i != 0; at a zero it is the
        # product of the non-zeros if it is the group's only zero, else 0.
        x, out = _saved_kept(self)
        g = arrays.reshape(g, out.shape)
        is_zero = arrays.eq(x, 0)
        nonzero_prod = arrays.reduce("prod", arrays.where(is_zero, 1, x), self.axes, keepdim=True)
        zeros_in_group = arrays.sum(arrays.astype(is_zero, x.dtype), self.axes, keepdim=True)
        only_zero = arrays.logical_and(is_zero, arrays.eq(zeros_in_group, 1))
        safe_x = arrays.where(is_zero, 1, x)
        others = arrays.where(only_zero, arrays.broadcast_to(nonzero_prod, x.shape),
                              arrays.where(is_zero, 0, arrays.div(out, safe_x)))
        return arrays.mul(others, g)


def prod(x, dim=None, keepdim=False, *, dtype=None):
    tensor_arg(x, "prod")
    if dtype is not None:
        x = elementwise.cast(x, _dt.to_dtype(dtype, "prod"))
    elif not x.dtype.is_floating_point and x.dtype is not _dt.int64:
        x = elementwise.cast(x, _dt.int64)
    return Prod.apply(x, normalize_dims(x, dim, "prod"), bool(keepdim))


def _check_nonempty(x: Tensor, axes, op: str):
    if _numel_over(x.shape, axes) == 0:
        raise RuntimeError(
            f"{op}(): cannot reduce over an empty set of elements (input shape {tuple(x.shape)}, "
            f"dims {axes}); specify a non-empty dim"
        )


class Amax(Node):
    """amax/amin: the gradient is shared evenly among the elements equal to the extreme."""
    op = "max"

    def forward(self, x, axes, keepdim):
        return _save_reduced(self, x, arrays.reduce(self.op, x, axes, keepdim=True), axes, keepdim)

    def backward(self, g):
        x, out = _saved_kept(self)
        mask = arrays.eq(x, out)
        count = arrays.sum(arrays.astype(mask, x.dtype), self.axes, keepdim=True)
        share = arrays.div(arrays.reshape(g, out.shape), count)
        return arrays.where(mask, share, 0)


class Amin(Amax):
    op = "min"


def _amax_like(cls, x, dim, keepdim, op):
    if tensor_arg(x, op).dtype is _dt.bool_:
        x = elementwise.cast(x, _dt.int64)
    axes = normalize_dims(x, dim, op)
    _check_nonempty(x, axes, op)
    return cls.apply(x, axes, bool(keepdim))


def amax(x, dim=(), keepdim=False):
    return _amax_like(Amax, x, dim, keepdim, "amax")


def amin(x, dim=(), keepdim=False):
    return _amax_like(Amin, x, dim, keepdim, "amin")


class MaxDim(Node):
    """max/min along one dim: the gradient goes to the element at the returned index."""

    def forward(self, x, idx, dim, keepdim, op):
        self.shape, self.dim, self.idx = x.shape, dim, idx
        values = arrays.reduce(op, x, (dim,), keepdim=True)
        return values if keepdim else arrays.reshape(values, _reduced_shape(x.shape, (dim,), False))

    def backward(self, g):
        n = self.shape[self.dim]
        pos = arrays.reshape(arrays.arange(0, n, 1, self.idx.dtype, self.idx),
                             tuple(n if i == self.dim else 1 for i in range(len(self.shape))))
        hit = arrays.eq(pos, self.idx)
        g = arrays.reshape(g, self.idx.shape)
        return None if not self.needs_input_grad[0] else arrays.where(hit, g, 0)


def _max_min(x, dim, keepdim, op, result_cls, other):
    tensor_arg(x, op)
    if other is not None:
        return (elementwise.maximum if op == "max" else elementwise.minimum)(x, other)
    if isinstance(dim, Tensor):
        return (elementwise.maximum if op == "max" else elementwise.minimum)(x, dim)
    if dim is None:
        return _amax_like(Amax if op == "max" else Amin, x, None, False, op)
    if x.dtype is _dt.bool_:
        x = elementwise.cast(x, _dt.int64)
    d = x._dim(dim, op=op)
    axes = (d,) if x.ndim else ()
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size; input shape {tuple(x.shape)}")
    idx = arrays.reduce("arg" + op, x._data, axes, keepdim=True)
    values = MaxDim.apply(x, idx, d if x.ndim else 0, bool(keepdim), op) if x.ndim else x.clone()
    indices = idx if keepdim else arrays.reshape(idx, _reduced_shape(x.shape, axes, False))
    return result_cls(values, Tensor._wrap(indices))


def max(x, dim=None, keepdim=False, *, other=None):  # noqa: A001 - PyTorch's name
    return _max_min(x, dim, keepdim, "max", max_result, other)


def min(x, dim=None, keepdim=False, *, other=None):  # noqa: A001 - PyTorch's name
    return _max_min(x, dim, keepdim, "min", min_result, other)


def _arg(x, dim, keepdim, op):
    if tensor_arg(x, op).dtype is _dt.bool_:
        x = elementwise.cast(x, _dt.int64)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        flat = arrays.reshape(x._data, (-1,))
        out = arrays.reduce(op, flat, (0,))
        if keepdim:
            out = arrays.reshape(out, (1,) * x.ndim)
        return Tensor._wrap(out)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}(): argument 'dim' must be int or None, not {type(dim).__name__}")
    axes = normalize_dims(x, dim, op)
    if axes and x.shape[axes[0]] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size; input shape {tuple(x.shape)}")
    return Tensor._wrap(arrays.reduce(op, x._data, axes, keepdim))


def argmax(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, "argmax")


def argmin(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, "argmin")


def _logic(x, dim, keepdim, op):
    x = elementwise.cast(tensor_arg(x, op), _dt.bool_)
    axes = normalize_dims(x, dim, op, empty_means_all=False)
    return Tensor._wrap(arrays.reduce(op, x._data, axes, keepdim))


def all(x, dim=None, keepdim=False):  # noqa: A001 - PyTorch's name
    return _logic(x, dim, keepdim, "all")


def any(x, dim=None, keepdim=False):  # noqa: A001 - PyTorch's name
    return _logic(x, dim, keepdim, "any")


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _var(x, dim, unbiased, keepdim, correction, "var")


def _var(x, dim, unbiased, keepdim, correction, op):
    if isinstance(dim, bool):  # var(x, unbiased)
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    elif unbiased is not None:
        raise ValueError(f"{op}: pass either 'unbiased' or 'correction', not both")
    correction = number_arg(correction, op, "correction")
    x = elementwise._float_input(x, op)
    axes = normalize_dims(x, dim, op)
    n = _numel_over(x.shape, axes)
    centered = elementwise.sub(x, mean(x, axes, keepdim=True))
    total = sum(elementwise.mul(centered, centered), axes, keepdim)
    denom = n - correction
    return elementwise.div(total, float(denom) if denom > 0 else 0.0)


class _RootOfSquares(Node):
    """sqrt for std: where the result is 0 (no spread) the gradient is 0, as PyTorch's, not
    the 0 * inf = nan that the chain through sqrt would give."""

    def forward(self, v):
        y = arrays.sqrt(v)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved_arrays
        at_zero = arrays.eq(y, 0)
        half = arrays.div(g, arrays.mul(arrays.where(at_zero, 1, y), 2))
        return arrays.where(at_zero, 0, half)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _RootOfSquares.apply(_var(x, dim, unbiased, keepdim, correction, "std"))


def logsumexp(x, dim, keepdim=False):
    x = elementwise._float_input(x, "logsumexp")
    axes = normalize_dims(x, dim, "logsumexp")
    # Shift by the (constant) maximum; infinite maxima are left unshifted so that all -inf
    # gives -inf and +inf gives +inf instead of nan.
    m = amax(x.detach(), axes, keepdim=True) if x.numel() else elementwise.as_operand(0.0, x.dtype, "logsumexp")
    m = elementwise.where(elementwise.isinf(m), elementwise.as_operand(0.0, x.dtype, "logsumexp"), m)
    out = elementwise.add(elementwise.log(sum(elementwise.exp(elementwise.sub(x, m)), axes, keepdim=True)), m)
    if not keepdim:
        from .shape import reshape

        out = reshape(out, _reduced_shape(x.shape, axes, False))
    return out


class PNorm(Node):
    """(sum |x|^p)^(1/p) over `axes` for a finite p > 0. The gradient sign(x) (|x| / norm)^(p-1)
    is 0 where the norm is 0 and, for p < 1, where x is 0 (PyTorch's conventions), instead of the
    inf * 0 = nan a composite of pow and sum would give."""

    def forward(self, x, axes, keepdim, p):
        a = arrays.abs(x)
        if p == 2:  # squares and a square root round better than two pows
            out = arrays.sqrt(arrays.sum(arrays.mul(a, a), axes, keepdim=True))
        else:
            out = arrays.pow(arrays.sum(arrays.pow(a, p), axes, keepdim=True), 1.0 / p)
        self.p = p
        return _save_reduced(self, x, out, axes, keepdim)

    def backward(self, g):
        x, out = _saved_kept(self)
        g = arrays.reshape(g, out.shape)
        a = arrays.abs(x)
        norm_zero = arrays.eq(out, 0)
        dead = arrays.logical_or(norm_zero, arrays.eq(a, 0))
        ratio = arrays.div(a, arrays.where(norm_zero, 1, out))
        scale = ratio if self.p == 2 else arrays.pow(ratio, self.p - 1)
        grad = arrays.mul(arrays.mul(g, arrays.sign(x)), scale)
        return arrays.where(dead, 0, grad)


def norm(x, p="fro", dim=None, keepdim=False):
    """Vector p-norm over `dim` (all elements by default): p = 2 / 'fro', 1, inf, -inf, or any
    other positive number."""
    x = elementwise._float_input(x, "norm")
    axes = normalize_dims(x, dim, "norm")
    if p in ("fro", 2, 2.0):
        return PNorm.apply(x, axes, bool(keepdim), 2)
    if p in (float("inf"), float("-inf")):
        if _numel_over(x.shape, axes) == 0:
            raise RuntimeError(
                f"norm(): the {p} norm of an empty set of elements is undefined (input shape "
                f"{tuple(x.shape)}, dims {axes}); specify a non-empty dim"
            )
        return (amax if p > 0 else amin)(elementwise.abs(x), axes, keepdim)
    if p in (1, 1.0):
        return sum(elementwise.abs(x), axes, keepdim)
    if isinstance(p, (int, float)) and not isinstance(p, bool) and p > 0:
        return PNorm.apply(x, axes, bool(keepdim), float(p))
    raise ValueError(f"norm: unsupported p={p!r}; use 'fro', a positive number, inf or -inf")
