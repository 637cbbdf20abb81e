"""Matrix products (kernels: csrc/cpu/matmul.cpp): matmul with PyTorch's 1-D / 2-D / batched
rules and broadcasting batch dims, and linear with the bias (and a relu/sigmoid/tanh) applied
inside the GEMM.

Backward GEMMs read the saved operands through transposed views: no transposed copies. Linear's
whole backward (activation, both GEMMs, bias sum) is one kernel call.
"""
from __future__ import annotations

from .._checks import tensor_arg
from ..autograd.node import Node
from .. import arrays
from ..tensor import Tensor
from . import elementwise
from .activations import DERIVATIVES


def _t(a):
    """Swap the last two axes (a view)."""
    axes = list(range(a.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return arrays.permute(a, axes)


class MatMul(Node):
    """a (..., M, K) @ b (..., K, N) with broadcast batch dims (at least 2-D each)."""

    def forward(self, a, b):
        need_a, need_b = self.needs_input_grad or (False, False)
        self.save_for_backward(a if need_b else None, b if need_a else None)
        self.shapes = (a.shape, b.shape)
        return _bmm(a, b)

    def backward(self, g):
        a, b = self.saved_arrays
        sa, sb = self.shapes
        ga = arrays.sum_to_shape(_bmm(g, _t(b)), sa) if self.needs_input_grad[0] else None
        gb = arrays.sum_to_shape(_bmm(_t(a), g), sb) if self.needs_input_grad[1] else None
        return ga, gb


def _bmm(x, y):
    """x @ y for arrays of at least 2 dims, batch dims broadcast."""
    if x.ndim == 2 and y.ndim == 2:
        return arrays.matmul(x, y)
    batch = tuple(arrays.broadcast_shapes("matmul", x.shape[:-2], y.shape[:-2]))
    out = arrays.matmul(_as_batch3(x, batch), _as_batch3(y, batch))
    return arrays.reshape(out, batch + out.shape[-2:])


def _as_batch3(x, batch):
    """x broadcast to `batch` + its matrix dims, as a 3-D (B, rows, cols) array; broadcast
    batch dims keep stride 0 and collapse into one batch dim without copying when they can."""
    x = arrays.broadcast_to(x, batch + x.shape[-2:])
    nb = 1
    for s in batch:
        nb *= s
    if x.ndim == 3:
        return x
    if arrays.can_view(x, (nb,) + x.shape[-2:]):
        return arrays.reshape(x, (nb,) + x.shape[-2:])
    return arrays.reshape(arrays.contiguous(x), (nb,) + x.shape[-2:])


def matmul(input, other) -> Tensor:  # noqa: A002 - PyTorch's keyword names
    a, b = input, other
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        x, y = a._data, b._data
        # Two matrices of one float dtype that align: the common case, checked in one place.
        if (x.ndim == 2 and y.ndim == 2 and x.shape[1] == y.shape[0] and x.dtype == y.dtype
                and x.dtype.kind == "f"):
            return MatMul.apply(a, b)
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


class Linear(Node):
    """act(x (N, in) @ w.T (w: (out, in)) + bias): bias and activation applied in the GEMM's
    epilogue. The activation is one whose derivative is a function of its output (relu,
    sigmoid, tanh), so the output is all backward keeps of it."""

    def forward(self, x, w, bias=None, act="none"):
        need_x, need_w = self.needs_input_grad[:2] if self.needs_input_grad else (False, False)
        y = arrays.matmul(x, arrays.permute(w, (1, 0)), bias=bias, act=act)
        self.act = act
        self.save_for_backward(x if need_w else None, w if need_x else None,
                               y if act != "none" and self.needs_input_grad else None)
        return y

    def backward(self, g):
        x, w, y = self.saved_arrays
        needs = self.needs_input_grad
        # activation backward, both GEMMs and the bias's column sum: one kernel call
        return arrays.linear_backward(g, x, w, y, self.act, needs[0], needs[1],
                                            len(needs) > 2 and needs[2])


def linear_backward_formula(g, x, w, y, act: str, need_x: bool, need_w: bool, need_b: bool):
    """arrays.linear_backward's math in named array ops: on Tensors, the differentiable
    backward of Linear that create_graph records."""
    if act != "none":
        g = DERIVATIVES[act](g, y, 0.0, 0.0)
    gx = arrays.matmul(g, w) if need_x else None
    gw = arrays.matmul(arrays.permute(g, (1, 0)), x) if need_w else None
    gb = arrays.sum(g, (0,)) if need_b else None
    return gx, gw, gb


# Activations the GEMM epilogue applies and Linear's backward undoes from the output alone.
FUSABLE_ACTIVATIONS = ("relu", "sigmoid", "tanh")
_LINEAR_ACTS = frozenset(FUSABLE_ACTIVATIONS + ("none",))


def linear(input, weight, bias=None, act="none") -> Tensor:  # noqa: A002 - PyTorch's names
    """PyTorch's F.linear; `act` (one of FUSABLE_ACTIVATIONS) applies that activation in the
    same kernel call, as nn.Sequential does for a Linear followed by ReLU/Sigmoid/Tanh."""
    if isinstance(input, Tensor) and isinstance(weight, Tensor):
        x, w = input._data, weight._data
        # The common case checked in one expression; anything else takes the full checks.
        if (x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[1] and x.dtype == w.dtype
                and x.dtype.kind == "f" and act in _LINEAR_ACTS and (bias is None or (
                    isinstance(bias, Tensor) and bias._data.shape == w.shape[:1]
                    and bias._data.dtype == w.dtype))):
            if bias is None:
                return Linear.apply(input, weight, act=act)
            return Linear.apply(input, weight, bias, act=act)
    return _linear_checked(input, weight, bias, act)


def _linear_checked(input, weight, bias, act) -> Tensor:  # noqa: A002
    tensor_arg(input, "linear")
    tensor_arg(weight, "linear", "weight")
    if bias is not None:
        tensor_arg(bias, "linear", "bias")
    if act != "none" and act not in FUSABLE_ACTIVATIONS:
        raise ValueError(f"linear: act must be one of {FUSABLE_ACTIVATIONS} or 'none', got {act!r}")
    if input.ndim == 0 or weight.ndim != 2:
        if weight.ndim == 1 and act == "none":
            out = matmul(input, weight)
            return out if bias is None else elementwise.add(out, bias)
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
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"linear: integer and bool operands are not supported (got {input.dtype.name})")
    from .shape import reshape

    lead = tuple(input.shape[:-1])
    rows = 1
    for s in lead:
        rows *= s
    x2 = input if input.ndim == 2 else reshape(input, (rows, input.shape[-1]))  # no -1: K may be 0
    args = (x2, weight) if bias is None else (x2, weight, bias)
    out = Linear.apply(*args, act=act)
    return out if input.ndim == 2 else reshape(out, lead + (weight.shape[0],))


# --- the other products, composites of matmul (PyTorch's names, checks and keyword names) ------

def _float_operands(op: str, *named):
    for name, t in named:
        tensor_arg(t, op, name)
    dtypes = {t.dtype for _, t in named}
    if len(dtypes) > 1:
        raise RuntimeError(f"{op}: expected all operands to have the same dtype, got "
                           + " and ".join(t.dtype.name for _, t in named))


def dot(input, tensor) -> Tensor:  # noqa: A002
    """The inner product of two 1-D tensors of one length."""
    _float_operands("dot", ("input", input), ("tensor", tensor))
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {input.ndim}D and {tensor.ndim}D tensors "
                           f"(shapes {tuple(input.shape)} and {tuple(tensor.shape)})")
    if input.shape[0] != tensor.shape[0]:
        raise RuntimeError(f"dot: inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{tensor.shape[0]}] to have the same number of elements")
    return matmul(input, tensor)


def mv(input, vec) -> Tensor:  # noqa: A002
    """A matrix (n, m) times a vector (m,)."""
    _float_operands("mv", ("input", input), ("vec", vec))
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a 2-D matrix and a 1-D vector, got shapes {tuple(input.shape)} and "
                           f"{tuple(vec.shape)}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"mv: size mismatch, got input {tuple(input.shape)} and vec {tuple(vec.shape)}")
    return matmul(input, vec)


def bmm(input, mat2) -> Tensor:  # noqa: A002
    """Batched matrix products of (b, n, m) and (b, m, p), without broadcasting."""
    _float_operands("bmm", ("input", input), ("mat2", mat2))
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: batch1 must be a 3D tensor and batch2 must be a 3D tensor, got shapes "
                           f"{tuple(input.shape)} and {tuple(mat2.shape)}")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(f"bmm: shapes {tuple(input.shape)} and {tuple(mat2.shape)} do not align (batch sizes "
                           "must be equal, input's columns mat2's rows)")
    return matmul(input, mat2)


def outer(input, vec2) -> Tensor:  # noqa: A002
    """input[i] * vec2[j] for 1-D tensors."""
    from .elementwise import mul
    from .shape import reshape

    for name, t in (("input", input), ("vec2", vec2)):
        tensor_arg(t, "outer", name)
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: 1D tensors expected, got shapes {tuple(input.shape)} and {tuple(vec2.shape)}")
    return mul(reshape(input, (-1, 1)), reshape(vec2, (1, -1)))


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the product's shape; with beta 0,
    input is not read (its NaN and inf do not propagate), as PyTorch."""
    from .elementwise import add, mul

    _float_operands("addmm", ("mat1", mat1), ("mat2", mat2))
    tensor_arg(input, "addmm")
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"addmm: mat1 and mat2 must be matrices, got shapes {tuple(mat1.shape)} and "
                           f"{tuple(mat2.shape)}")
    product = matmul(mat1, mat2)
    try:
        fits = tuple(arrays.broadcast_shapes("addmm", tuple(input.shape), tuple(product.shape))) == tuple(product.shape)
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"addmm: input of shape {tuple(input.shape)} cannot be broadcast to the product's shape "
                           f"{tuple(product.shape)} (mat1 {tuple(mat1.shape)}, mat2 {tuple(mat2.shape)})")
    if alpha != 1:
        product = mul(product, alpha)
    if beta == 0:
        return product
    return add(mul(input, beta) if beta != 1 else input, product)
