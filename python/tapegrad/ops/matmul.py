"""Matrix products (kernels: csrc/cpu/matmul.cpp): matmul with PyTorch's 1-D / 2-D / batched
rules and broadcasting batch dims, and linear with the bias added inside the GEMM.

Backward GEMMs read the saved operands through transposed views: no transposed copies.
"""
from __future__ import annotations

from .._checks import tensor_arg
from ..autograd.function import Function
from ..backend import for_array
from ..tensor import Tensor
from . import elementwise as ew


def _t(a):
    """Swap the last two axes (a view)."""
    axes = list(range(a.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return for_array(a).permute(a, axes)


class MatMul(Function):
    """a (..., M, K) @ b (..., K, N) with broadcast batch dims (at least 2-D each)."""

    def forward(self, a, b):
        need_a, need_b = self.needs_input_grad or (False, False)
        self.save_for_backward(a if need_b else None, b if need_a else None)
        self.shapes = (a.shape, b.shape)
        return _bmm(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        be = for_array(g)
        ga = be.sum_to_shape(_bmm(g, _t(b)), sa) if self.needs_input_grad[0] else None
        gb = be.sum_to_shape(_bmm(_t(a), g), sb) if self.needs_input_grad[1] else None
        return ga, gb


def _bmm(x, y):
    """x @ y for arrays of at least 2 dims, batch dims broadcast."""
    be = for_array(x)
    if x.ndim == 2 and y.ndim == 2:
        return be.matmul(x, y)
    batch = tuple(be.broadcast_shapes("matmul", x.shape[:-2], y.shape[:-2]))
    out = be.matmul(_as_batch3(be, x, batch), _as_batch3(be, y, batch))
    return be.reshape(out, batch + out.shape[-2:])


def _as_batch3(be, x, batch):
    """x broadcast to `batch` + its matrix dims, as a 3-D (B, rows, cols) array; broadcast
    batch dims keep stride 0 and collapse into one batch dim without copying when they can."""
    x = be.broadcast_to(x, batch + x.shape[-2:])
    nb = 1
    for s in batch:
        nb *= s
    if x.ndim == 3:
        return x
    if be.can_view(x, (nb,) + x.shape[-2:]):
        return be.reshape(x, (nb,) + x.shape[-2:])
    return be.reshape(be.contiguous(x), (nb,) + x.shape[-2:])


def matmul(a, b) -> Tensor:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(
            f"matmul: expected Tensor operands, got {type(a).__name__} and {type(b).__name__}"
        )
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"matmul: both arguments need at least 1 dimension, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"matmul: expected both operands to have the same dtype, got {a.dtype.name} and {b.dtype.name}"
        )
    if not a.dtype.is_floating_point:
        raise RuntimeError(f"matmul: integer and bool operands are not supported (got {a.dtype.name})")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not align")
    from .shape import reshape, squeeze

    if a.ndim == 1 and b.ndim == 1:
        return reshape(MatMul.apply(reshape(a, (1, -1)), reshape(b, (-1, 1))), ())
    if a.ndim == 1:
        return squeeze(MatMul.apply(reshape(a, (1, -1)), b), -2)
    if b.ndim == 1:
        return squeeze(MatMul.apply(a, reshape(b, (-1, 1))), -1)
    return MatMul.apply(a, b)


class Linear(Function):
    """x (N, in) @ w.T (w: (out, in)) + bias, the bias added in the GEMM's epilogue."""

    def forward(self, x, w, bias=None):
        be = for_array(x)
        need_x, need_w = self.needs_input_grad[:2] if self.needs_input_grad else (False, False)
        self.save_for_backward(x if need_w else None, w if need_x else None)
        return be.matmul(x, be.permute(w, (1, 0)), bias=bias)

    def backward(self, g):
        x, w = self.saved_tensors
        be = for_array(g)
        gx = be.matmul(g, w) if self.needs_input_grad[0] else None
        gw = be.matmul(be.permute(g, (1, 0)), x) if self.needs_input_grad[1] else None
        gb = None
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = be.reduce("sum", g, (0,))
        return gx, gw, gb


def linear(input, weight, bias=None) -> Tensor:  # noqa: A002 - PyTorch's names
    tensor_arg(input, "linear")
    tensor_arg(weight, "linear", "weight")
    if bias is not None:
        tensor_arg(bias, "linear", "bias")
    if input.ndim == 0 or weight.ndim != 2:
        if weight.ndim == 1:
            out = matmul(input, weight)
            return out if bias is None else ew.add(out, bias)
        raise RuntimeError(
            f"linear: expected a 2-D weight and an input with at least 1 dim, got shapes "
            f"{tuple(input.shape)} and {tuple(weight.shape)}"
        )
    if input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input shape {tuple(input.shape)} and weight shape {tuple(weight.shape)} do not "
            f"align (input features {input.shape[-1]} != weight in_features {weight.shape[1]})"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"linear: bias shape {tuple(bias.shape)} does not match weight shape {tuple(weight.shape)}"
        )
    if input.dtype is not weight.dtype or (bias is not None and bias.dtype is not weight.dtype):
        raise RuntimeError(
            f"linear: expected input, weight and bias of one dtype, got {input.dtype.name}, "
            f"{weight.dtype.name}" + (f" and {bias.dtype.name}" if bias is not None else "")
        )
    from .shape import reshape

    lead = tuple(input.shape[:-1])
    rows = 1
    for s in lead:
        rows *= s
    x2 = input if input.ndim == 2 else reshape(input, (rows, input.shape[-1]))  # no -1: K may be 0
    args = (x2, weight) if bias is None else (x2, weight, bias)
    out = Linear.apply(*args)
    return out if input.ndim == 2 else reshape(out, lead + (weight.shape[0],))
