"""softmax, log_softmax, fused softmax-cross-entropy (kernels: csrc/cpu/softmax.cpp), and binary
cross-entropy on probabilities.

Cross-entropy keeps only the per-row log-sum-exp between forward and backward; the backward
kernel recomputes the probabilities on the fly."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from .._checks import int_arg, number_arg
from ..autograd.node import Node
from .. import arrays
from ..tensor import Tensor
from .elementwise import _float_input


class Softmax(Node):
    log = False

    def forward(self, x, dim):
        y = arrays.softmax(x, dim, self.log)
        self.dim = dim
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved_arrays
        return arrays.softmax_backward(y, g, self.dim, self.log)


class LogSoftmax(Softmax):
    log = True


def softmax_backward_formula(y, grad, dim: int, log: bool):
    """arrays.softmax_backward's math in named array ops (the differentiable backward of
    create_graph): grad - exp(y) sum(grad) for log_softmax, y (grad - sum(grad y)) for
    softmax, the sums along `dim`."""
    if log:
        return arrays.sub(grad, arrays.mul(arrays.exp(y), arrays.sum(grad, (dim,), keepdim=True)))
    return arrays.mul(y, arrays.sub(grad, arrays.sum(arrays.mul(grad, y), (dim,), keepdim=True)))


def cross_entropy_backward_formula(logits, target, lse, grad_loss, ignore_index: int,
                                   label_smoothing: float):
    """arrays.cross_entropy_backward's math in named array ops (the differentiable backward
    of create_graph): (softmax(logits) - the smoothed one-hot target) times each row's
    gradient, 0 on ignored rows. The softmax is computed again from the logits, not from the
    saved log-sum-exp, so that it is differentiable in them."""
    n, c = logits.shape
    p = arrays.softmax(logits, 1)
    classes = arrays.reshape(arrays.arange(0, c, 1, target.dtype, target), (1, c))
    hit = arrays.eq(classes, arrays.reshape(target, (n, 1)))
    off = label_smoothing / c if c else 0.0
    q = arrays.where(hit, arrays.full_like(p, 1.0 - label_smoothing + off), off)
    row = arrays.where(arrays.ne(target, ignore_index), grad_loss, 0)
    return arrays.mul(arrays.sub(p, q), arrays.reshape(row, (n, 1)))


def _apply_softmax(cls, x, dim, dtype, op: str):
    if dtype is not None:
        x = x.to(dtype)
    x = _float_input(x, op)
    if dim is None:
        raise TypeError(f"{op}(): argument 'dim' must be given (an int)")
    d = x._dim(dim, op=op)
    if x.ndim == 0:  # a single element: softmax over a dim of size 1
        return cls.apply(x.reshape(1), 0).reshape(())
    return cls.apply(x, d)


def softmax(x, dim=None, dtype=None):
    return _apply_softmax(Softmax, x, dim, dtype, "softmax")


def log_softmax(x, dim=None, dtype=None):
    return _apply_softmax(LogSoftmax, x, dim, dtype, "log_softmax")


class CrossEntropy(Node):
    """Per-row cross-entropy of (N, C) logits against int64 class indices, reduced."""

    def forward(self, logits, target, ignore_index, label_smoothing, reduction):
        loss, lse, self.count = arrays.cross_entropy_forward(logits, target, ignore_index, label_smoothing)
        self.save_for_backward(logits, lse)
        self.target, self.opts = target, (ignore_index, label_smoothing)
        self.reduction = reduction
        if reduction == "none":
            return loss
        total = arrays.reduce("sum", loss, (0,))
        if reduction == "sum":
            return total
        return arrays.div(total, self.count)  # 0 / 0 = NaN when every target is ignored

    def backward(self, g):
        logits, lse = self.saved_arrays
        if self.reduction == "mean":
            g = arrays.div(g, self.count)
        row = g if self.reduction == "none" else arrays.broadcast_to(g, logits.shape[:1])
        return arrays.cross_entropy_backward(logits, self.target, lse, row, *self.opts)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,  # noqa: A002
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """PyTorch's cross_entropy: logits (N, C) or (N, C, d1, ...) or (C,), and class indices
    (N,) / (N, d1, ...) / () — or class probabilities of the logits' shape."""
    if weight is None and size_average is None and reduce is None and isinstance(input, Tensor) \
            and isinstance(target, Tensor) and reduction in ("mean", "sum", "none") \
            and 0.0 <= label_smoothing <= 1.0:
        x, t = input._data, target._data
        # The common case, (N, C) float logits and (N,) class indices, checked in one place.
        if x.ndim == 2 and t.ndim == 1 and x.dtype.kind == "f" and t.dtype == np.int64 \
                and t.shape[0] == x.shape[0]:
            return CrossEntropy.apply(input, t, ignore_index, float(label_smoothing), reduction)
    from .shape import movedim, reshape

    if weight is not None:
        raise NotImplementedError("cross_entropy: per-class 'weight' is not supported yet")
    if size_average is not None or reduce is not None:
        raise TypeError("cross_entropy: size_average and reduce are deprecated; use reduction=")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"cross_entropy: {reduction!r} is not a valid value for reduction")
    label_smoothing = number_arg(label_smoothing, "cross_entropy", "label_smoothing")
    ignore_index = int_arg(ignore_index, "cross_entropy", "ignore_index")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    x = _float_input(input, "cross_entropy")
    if not isinstance(target, Tensor):
        raise TypeError(f"cross_entropy: target must be a Tensor, got {type(target).__name__}")
    if target.dtype.is_floating_point:
        return _cross_entropy_probs(x, target, reduction, label_smoothing)
    if target.dtype is not _dt.int64:
        raise RuntimeError(f"cross_entropy: expected target of dtype int64 (class indices), got {target.dtype.name}")
    if x.ndim == 1:
        if target.ndim != 0:
            raise ValueError(f"cross_entropy: for 1-D logits of shape {tuple(x.shape)} the target must be 0-d, got shape {tuple(target.shape)}")
        out = cross_entropy(reshape(x, (1, -1)), reshape(target, (1,)), ignore_index=ignore_index,
                            reduction=reduction, label_smoothing=label_smoothing)
        return reshape(out, ()) if reduction == "none" else out
    if x.ndim < 1 or target.shape != x.shape[:1] + x.shape[2:]:
        raise ValueError(
            f"cross_entropy: input of shape {tuple(x.shape)} and target of shape {tuple(target.shape)} "
            f"do not match (expected target shape {tuple(x.shape[:1] + x.shape[2:])})"
        )
    c = x.shape[1]
    extra = tuple(x.shape[2:])
    if extra:
        # an explicit row count: with no classes (c = 0) a -1 could not be inferred
        rows = reshape(movedim(x, 1, -1), (x.numel() // c if c else x.shape[0] * math.prod(extra), c))
        flat_target = reshape(target, (-1,))
        out = CrossEntropy.apply(rows, flat_target._data, ignore_index, float(label_smoothing), reduction)
        return reshape(out, (x.shape[0],) + extra) if reduction == "none" else out
    return CrossEntropy.apply(x, target._data, ignore_index, float(label_smoothing), reduction)


def _cross_entropy_probs(x, target, reduction, label_smoothing):
    from . import elementwise
    from .reduce import mean, sum

    if target.shape != x.shape:
        raise ValueError(
            f"cross_entropy: probability targets must have the logits' shape; got input {tuple(x.shape)} "
            f"and target {tuple(target.shape)}"
        )
    dim = 1 if x.ndim > 1 else 0
    c = x.shape[dim]
    if label_smoothing:
        target = elementwise.add(elementwise.mul(target, 1.0 - label_smoothing), label_smoothing / c)
    loss = elementwise.neg(sum(elementwise.mul(target.to(x.dtype), log_softmax(x, dim)), dim))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return sum(loss)
    return mean(loss)


class BinaryCrossEntropy(Node):
    """Elementwise -(t log p + (1 - t) log(1 - p)) with both logs clamped at -100, and
    PyTorch's gradient (p - t) / max(p (1 - p), 1e-12), finite at p = 0 and p = 1."""

    def forward(self, p, t):
        log_p, log_q = _clamped_logs(p)
        self.save_for_backward(p, t)
        # -(t * log_p + (1 - t) * log_q) = -(log_q + t * (log_p - log_q))
        return arrays.neg(arrays.add(log_q, arrays.mul(t, arrays.sub(log_p, log_q))))

    def backward(self, g):
        p, t = self.saved_arrays
        gp = gt = None
        if self.needs_input_grad[0]:
            # PyTorch's floor is the float32 constant 1e-12 (9.99999996e-13), also in float64
            denom = arrays.maximum(arrays.mul(p, arrays.sub(1, p)), float(np.float32(1e-12)))
            gp = arrays.mul(g, arrays.div(arrays.sub(p, t), denom))
        if self.needs_input_grad[1]:
            log_p, log_q = _clamped_logs(p)
            gt = arrays.mul(g, arrays.sub(log_q, log_p))
        return gp, gt


def _clamped_logs(p):
    """log p and log(1 - p), each at least -100 (PyTorch's clamp)."""
    return arrays.maximum(arrays.log(p), -100), arrays.maximum(arrays.log(arrays.sub(1, p)), -100)
