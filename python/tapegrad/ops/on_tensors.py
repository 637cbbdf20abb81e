"""The array ops on Tensors (arrays.TENSORS): what lets every op's backward run on Tensors.

Each op's backward is written with the named array ops of tapegrad.arrays. Under
create_graph=True the engine hands it Tensors, the array ops send them here, and each runs as
the differentiable Tensor op of the same meaning: the backward records a graph of its own,
which a second backward differentiates. The fused backward kernels run as the formulas their
op modules write beside them (activations.DERIVATIVES, matmul.linear_backward_formula,
softmax.*_formula).

Arrays and numbers beside a Tensor are constants (indices, masks, saved statistics).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import arrays
from .. import dtypes as _dt
from ..tensor import Tensor
from . import activations, elementwise, index, matmul, reduce, shape, softmax
from .device import move

T = arrays.TENSORS


def _const(x, like: Tensor | None = None):
    """x as a Tensor: a backend array as a constant (on like's device when given); Tensors
    and numbers (and None) as they are."""
    if x is None or isinstance(x, (Tensor, numbers.Number)):
        return x
    t = Tensor._wrap(x)
    if like is not None and t.device != like.device:
        t = move(t, like.device)
    return t


def _dtype(d):
    return _dt.to_dtype(d) if isinstance(d, _dt.dtype) else _dt.from_numpy_dtype(d)


# --- the views of the device interface ---------------------------------------------------------
T.reshape = lambda x, shp: shape.reshape(x, tuple(shp))
T.can_view = lambda x, shp: arrays.can_view(x._data, shp)
T.broadcast_to = lambda x, shp: shape.broadcast_to(x, tuple(shp))
T.permute = lambda x, dims: shape.permute(x, tuple(dims))
T.moveaxis = lambda x, src, dst: shape.movedim(x, src, dst)
T.view_index = index.getitem
T.scalar = lambda value, dtype, like: Tensor._wrap(arrays.scalar(value, like._data, np.dtype(_dtype(dtype).np)))
T.from_host = lambda x, like: _const(arrays.from_host(x, like._data) if not isinstance(x, Tensor) else x, like)
T.to_numpy = lambda x: arrays.to_numpy(x._data)
T.owns_memory = lambda x: False
T.new = lambda shp, dtype, like: Tensor._wrap(arrays.empty(shp, _dtype(dtype).np, like._data))


# --- values ------------------------------------------------------------------------------------
def _full(shp, value, dtype, like):
    return Tensor._wrap(arrays.full(tuple(shp), value, _dtype(dtype).np, like._data))


def _astype(x, dtype):
    """A copy in `dtype` (always a new tensor, as the array op)."""
    d = _dtype(dtype)
    return shape.clone(x) if d is x.dtype else elementwise.cast(x, d)


def _copy_(src, dst):
    raise NotImplementedError("create_graph: an in-place copy into a tensor inside a backward "
                              "formula is not differentiable")


T.full = _full
T.astype = _astype
T.contiguous = shape.contiguous
T.copy_ = _copy_


# --- elementwise -------------------------------------------------------------------------------
_UNARY = {}
for _row in elementwise.UNARY:
    _UNARY[_row.kernel or _row.name] = elementwise.FUNCTIONS[_row.name]
_BINARY = {(_row.kernel or _row.name): elementwise.FUNCTIONS[_row.name] for _row in elementwise.BINARY}
_BINARY.update(add=elementwise.add, sub=elementwise.sub, mul=elementwise.mul, div=elementwise.div,
               pow=elementwise.pow, logical_and=elementwise.logical_and,
               logical_or=elementwise.logical_or, logical_xor=elementwise.logical_xor)
_COMPARE = {op: getattr(elementwise, op) for op in ("eq", "ne", "lt", "le", "gt", "ge")}


def _pair(a, b):
    like = a if isinstance(a, Tensor) else b
    return _const(a, like), _const(b, like)


T.unary = lambda op, x: _UNARY[op](x)
T.binary = lambda op, a, b: _BINARY[op](*_pair(a, b))
T.compare = lambda op, a, b: _COMPARE[op](*_pair(a, b))


def _where(cond, a, b):
    like = a if isinstance(a, Tensor) else b
    return elementwise.where(_const(cond, like), *_pair(a, b))


T.where = _where
T.clamp = lambda x, lo, hi: elementwise.clamp(x, lo, hi)


# --- activations ---------------------------------------------------------------------------------
_ACTIVATIONS = {cls.kind: cls for cls in (
    activations.Relu, activations.Sigmoid, activations.Tanh, activations.LeakyRelu, activations.Elu,
    activations.Gelu, activations.GeluTanh, activations.Softplus, activations.Silu)}


def _activation(kind, x, alpha, beta):
    return x if kind == "none" else _ACTIVATIONS[kind].apply(x, alpha, beta)


def _activation_backward(kind, grad, saved, alpha, beta):
    saved = _const(saved, grad if isinstance(grad, Tensor) else None)
    return activations.DERIVATIVES[kind](_const(grad, saved), saved, alpha, beta)


T.activation = _activation
T.activation_backward = _activation_backward


# --- reductions, products, softmax -------------------------------------------------------------
_REDUCE = {"sum": reduce.sum, "prod": reduce.prod, "max": reduce.amax, "min": reduce.amin}


def _reduce(op, x, axes, keepdim, out_dtype):
    out = _REDUCE[op](x, tuple(axes), keepdim=keepdim) if axes else x
    if out_dtype is not None and _dtype(out_dtype) is not out.dtype:
        out = elementwise.cast(out, _dtype(out_dtype))
    return out


def _matmul(a, b, bias=None, act="none"):
    a, b = _pair(a, b)
    out = matmul.matmul(a, b)
    if bias is not None:
        out = elementwise.add(out, _const(bias, out))
    return _activation(act, out, 0.0, 0.0)


def _softmax(x, dim, log):
    return softmax.log_softmax(x, dim) if log else softmax.softmax(x, dim)


def _softmax_backward(y, grad, dim, log):
    y, grad = _pair(y, grad)
    return softmax.softmax_backward_formula(y, grad, dim, log)


def _cross_entropy_backward(logits, target, lse, grad_loss, ignore_index, label_smoothing):
    logits, grad_loss = _pair(logits, grad_loss)
    return softmax.cross_entropy_backward_formula(logits, target, lse, grad_loss, ignore_index,
                                                  label_smoothing)


def _linear_backward(g, x, w, y, act, need_x, need_w, need_b):
    x, w, y = _const(x, g), _const(w, g), _const(y, g)
    return matmul.linear_backward_formula(g, x, w, y, act, need_x, need_w, need_b)


T.reduce = _reduce
T.matmul = _matmul
T.linear_backward = _linear_backward
T.softmax = _softmax
T.softmax_backward = _softmax_backward
T.cross_entropy_backward = _cross_entropy_backward


# --- gathers -----------------------------------------------------------------------------------
def _take(x, positions):
    flat = shape.reshape(x, (-1,))
    return index.getitem(flat, _const(arrays.from_host(positions, x._data), x))


T.take = _take
T.index_select = lambda x, axis, idx: index.index_select(
    x, axis, _const(arrays.from_host(idx, x._data) if not isinstance(idx, Tensor) else idx, x))

T.scatter_view = index.ScatterView.apply
T.scatter_add = index.ScatterAdd.apply
T.index_scatter_add = index.IndexScatterAdd.apply

arrays.DEVICES[Tensor] = T
