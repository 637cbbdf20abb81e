"""Attaches Tensor's operators and op methods. Each is a one-line forward to the function in
tapegrad.ops that implements it, so that x.sum(1) and tapegrad.sum(x, 1) are the same code."""
from __future__ import annotations

from .ops import activations
from .ops import elementwise
from .ops import index
from .ops import matmul
from .ops import reduce
from .ops import shape
from .ops import random
from .ops import softmax
from .tensor import Tensor


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _inplace(fn_cls, op, floating=False):
    def method(self, other, *, alpha=1):
        if alpha != 1:
            other = elementwise.mul(other, alpha)
        return elementwise.inplace_binary(fn_cls, self, other, op, floating)
    method.__name__ = op
    return method


def _inplace_unary(fn, op):
    def method(self, *args, **kwargs):
        return elementwise.inplace_unary(lambda t: fn(t, *args, **kwargs), self, op)
    method.__name__ = op
    return method


_METHODS = {
    # arithmetic operators
    "__add__": elementwise.add, "__radd__": _reflected(elementwise.add),
    "__sub__": elementwise.sub, "__rsub__": _reflected(elementwise.sub),
    "__mul__": elementwise.mul, "__rmul__": _reflected(elementwise.mul),
    "__truediv__": elementwise.div, "__rtruediv__": _reflected(elementwise.div),
    "__floordiv__": elementwise.floor_divide, "__rfloordiv__": _reflected(elementwise.floor_divide),
    "__mod__": elementwise.remainder, "__rmod__": _reflected(elementwise.remainder),
    "__pow__": elementwise.pow, "__rpow__": _reflected(elementwise.pow),
    "__matmul__": matmul.matmul, "__rmatmul__": _reflected(matmul.matmul),
    "__neg__": elementwise.neg, "__pos__": lambda self: self, "__abs__": elementwise.abs,
    "__invert__": elementwise.logical_not,
    "__and__": elementwise.logical_and, "__or__": elementwise.logical_or, "__xor__": elementwise.logical_xor,
    "__rand__": _reflected(elementwise.logical_and), "__ror__": _reflected(elementwise.logical_or),
    "__rxor__": _reflected(elementwise.logical_xor),
    "__eq__": elementwise.eq, "__ne__": elementwise.ne, "__lt__": elementwise.lt, "__le__": elementwise.le, "__gt__": elementwise.gt, "__ge__": elementwise.ge,
    "__getitem__": index.getitem, "__setitem__": index.setitem,
    # named elementwise
    **elementwise.FUNCTIONS,  # x.exp(), x.add(y), ...: one per row of the op tables
    **{alias: elementwise.FUNCTIONS[name] for alias, name in elementwise.ALIASES.items()},
    "subtract": elementwise.sub, "multiply": elementwise.mul, "divide": elementwise.div,
    "true_divide": elementwise.div, "negative": elementwise.neg,
    "clamp": elementwise.clamp, "clip": elementwise.clamp,
    "where": lambda self, condition, other: elementwise.where(condition, self, other),
    "eq": elementwise.eq, "ne": elementwise.ne, "lt": elementwise.lt, "le": elementwise.le, "gt": elementwise.gt, "ge": elementwise.ge,
    "isclose": elementwise.isclose, "allclose": elementwise.allclose, "equal": elementwise.equal,
    "logical_and": elementwise.logical_and, "logical_or": elementwise.logical_or, "logical_xor": elementwise.logical_xor,
    "logical_not": elementwise.logical_not, "isnan": elementwise.isnan, "isinf": elementwise.isinf, "isfinite": elementwise.isfinite,
    # activations
    "sigmoid": activations.sigmoid, "tanh": activations.tanh, "relu": activations.relu,
    "softmax": softmax.softmax, "log_softmax": softmax.log_softmax,
    # reductions
    "sum": reduce.sum, "mean": reduce.mean, "prod": reduce.prod, "max": reduce.max, "min": reduce.min,
    "amax": reduce.amax, "amin": reduce.amin, "argmax": reduce.argmax, "argmin": reduce.argmin,
    "var": reduce.var, "std": reduce.std, "norm": reduce.norm, "logsumexp": reduce.logsumexp, "all": reduce.all, "any": reduce.any,
    # linear algebra
    "matmul": matmul.matmul, "mm": matmul.matmul, "dot": matmul.dot, "mv": matmul.mv, "bmm": matmul.bmm,
    "outer": matmul.outer, "ger": matmul.outer, "addmm": matmul.addmm,
    # shape
    "reshape": shape.reshape, "view": shape.view, "flatten": shape.flatten, "unflatten": shape.unflatten,
    "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze, "permute": shape.permute,
    "transpose": shape.transpose, "t": shape.t, "movedim": shape.movedim, "expand": shape.expand,
    "expand_as": shape.expand_as, "broadcast_to": shape.broadcast_to, "split": shape.split,
    "chunk": shape.chunk, "unbind": shape.unbind, "narrow": shape.narrow,
    "index_select": index.index_select, "nonzero": index.nonzero, "flip": index.flip,
    "masked_fill": index.masked_fill,
    "masked_fill_": lambda self, mask, value: elementwise.inplace_unary(
        lambda t: index.masked_fill(t, mask, value), self, "masked_fill_"),
    "view_as": lambda self, other: shape.view(self, tuple(other.shape)),
    "reshape_as": lambda self, other: shape.reshape(self, tuple(other.shape)),
    # in-place
    "add_": _inplace(elementwise.Add, "add_"), "sub_": _inplace(elementwise.Sub, "sub_"),
    "mul_": _inplace(elementwise.Mul, "mul_"), "div_": _inplace(elementwise.Div, "div_", floating=True),
    "__iadd__": _inplace(elementwise.Add, "add_"), "__isub__": _inplace(elementwise.Sub, "sub_"),
    "__imul__": _inplace(elementwise.Mul, "mul_"), "__itruediv__": _inplace(elementwise.Div, "div_", floating=True),
    "clamp_": _inplace_unary(elementwise.clamp, "clamp_"), "clip_": _inplace_unary(elementwise.clamp, "clip_"),
    "neg_": _inplace_unary(elementwise.neg, "neg_"), "exp_": _inplace_unary(elementwise.exp, "exp_"),
    "sqrt_": _inplace_unary(elementwise.sqrt, "sqrt_"), "abs_": _inplace_unary(elementwise.abs, "abs_"),
    "relu_": _inplace_unary(activations.relu, "relu_"), "sigmoid_": _inplace_unary(activations.sigmoid, "sigmoid_"),
    "tanh_": _inplace_unary(activations.tanh, "tanh_"), "pow_": _inplace_unary(elementwise.pow, "pow_"),
    "erfinv_": _inplace_unary(elementwise.FUNCTIONS["erfinv"], "erfinv_"),
    # sampling in place: x.uniform_(), x.normal_(), x.bernoulli_(p), ...
    **random.METHODS,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)


def _T(self):
    return shape.permute(self, tuple(reversed(range(self.ndim))))


def _mT(self):
    return shape.transpose(self, -2, -1)


Tensor.T = property(_T)
Tensor.mT = property(_mT)


def zero_(self):
    return fill_(self, 0)


def fill_(self, value):
    if isinstance(value, Tensor):
        value = value.item()
    return copy_(self, elementwise.as_operand(value, self.dtype, "fill_"))


def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_: expected a Tensor source, got {type(src).__name__}")
    return elementwise.inplace_binary(elementwise.Overwrite, self, src, "copy_", cast_other=False)


def _new(factory):
    """Tensor.new_zeros and friends: a new tensor with this one's dtype and device unless told."""
    def method(self, *args, dtype=None, device=None, requires_grad=False, **kwargs):
        from . import creation

        return getattr(creation, factory)(*args, dtype=self.dtype if dtype is None else dtype,
                                          device=self.device if device is None else device,
                                          requires_grad=requires_grad, **kwargs)
    method.__name__ = f"new_{factory}" if factory != "tensor" else "new_tensor"
    return method


for _factory in ("empty", "zeros", "ones", "full", "tensor"):
    setattr(Tensor, f"new_{_factory}", _new(_factory))

Tensor.zero_ = zero_
Tensor.fill_ = fill_
Tensor.copy_ = copy_
