"""Attaches Tensor's operators and op methods. Each is a one-line forward to the function in
tapegrad.ops that implements it, so that x.sum(1) and tapegrad.sum(x, 1) are the same code."""
from __future__ import annotations

from .ops import activations as act
from .ops import elementwise as ew
from .ops import index as ix
from .ops import matmul as mm
from .ops import reduce as red
from .ops import shape as sh
from .ops import softmax as sm
from .tensor import Tensor


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _inplace(fn_cls, op, floating=False):
    def method(self, other, *, alpha=1):
        if alpha != 1:
            other = ew.mul(other, alpha)
        return ew.inplace_binary(fn_cls, self, other, op, floating)
    method.__name__ = op
    return method


def _inplace_unary(fn, op):
    def method(self, *args, **kwargs):
        return ew.inplace_unary(lambda t: fn(t, *args, **kwargs), self, op)
    method.__name__ = op
    return method


_METHODS = {
    # arithmetic operators
    "__add__": ew.add, "__radd__": _reflected(ew.add),
    "__sub__": ew.sub, "__rsub__": _reflected(ew.sub),
    "__mul__": ew.mul, "__rmul__": _reflected(ew.mul),
    "__truediv__": ew.div, "__rtruediv__": _reflected(ew.div),
    "__floordiv__": ew.floor_divide, "__rfloordiv__": _reflected(ew.floor_divide),
    "__mod__": ew.remainder, "__rmod__": _reflected(ew.remainder),
    "__pow__": ew.pow, "__rpow__": _reflected(ew.pow),
    "__matmul__": mm.matmul, "__rmatmul__": _reflected(mm.matmul),
    "__neg__": ew.neg, "__pos__": lambda self: self, "__abs__": ew.abs,
    "__invert__": ew.logical_not,
    "__and__": ew.logical_and, "__or__": ew.logical_or, "__xor__": ew.logical_xor,
    "__rand__": _reflected(ew.logical_and), "__ror__": _reflected(ew.logical_or),
    "__rxor__": _reflected(ew.logical_xor),
    "__eq__": ew.eq, "__ne__": ew.ne, "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt, "__ge__": ew.ge,
    "__getitem__": ix.getitem, "__setitem__": ix.setitem,
    # named elementwise
    "add": ew.add, "sub": ew.sub, "subtract": ew.sub, "mul": ew.mul, "multiply": ew.mul,
    "div": ew.div, "divide": ew.div, "true_divide": ew.div, "pow": ew.pow,
    "floor_divide": ew.floor_divide, "remainder": ew.remainder,
    "neg": ew.neg, "negative": ew.neg, "exp": ew.exp, "log": ew.log, "log1p": ew.log1p,
    "expm1": ew.expm1, "sqrt": ew.sqrt, "rsqrt": ew.rsqrt, "reciprocal": ew.reciprocal,
    "square": ew.square, "abs": ew.abs, "sin": ew.sin, "cos": ew.cos, "sign": ew.sign,
    "round": ew.round, "floor": ew.floor, "ceil": ew.ceil, "trunc": ew.trunc,
    "clamp": ew.clamp, "clip": ew.clamp, "maximum": ew.maximum, "minimum": ew.minimum,
    "where": lambda self, condition, other: ew.where(condition, self, other),
    "eq": ew.eq, "ne": ew.ne, "lt": ew.lt, "le": ew.le, "gt": ew.gt, "ge": ew.ge,
    "logical_and": ew.logical_and, "logical_or": ew.logical_or, "logical_xor": ew.logical_xor,
    "logical_not": ew.logical_not, "isnan": ew.isnan, "isinf": ew.isinf, "isfinite": ew.isfinite,
    # activations
    "sigmoid": act.sigmoid, "tanh": act.tanh, "relu": act.relu,
    "softmax": sm.softmax, "log_softmax": sm.log_softmax,
    # reductions
    "sum": red.sum, "mean": red.mean, "prod": red.prod, "max": red.max, "min": red.min,
    "amax": red.amax, "amin": red.amin, "argmax": red.argmax, "argmin": red.argmin,
    "var": red.var, "std": red.std, "norm": red.norm, "logsumexp": red.logsumexp, "all": red.all, "any": red.any,
    # linear algebra
    "matmul": mm.matmul, "mm": mm.matmul,
    # shape
    "reshape": sh.reshape, "view": sh.view, "flatten": sh.flatten, "unflatten": sh.unflatten,
    "squeeze": sh.squeeze, "unsqueeze": sh.unsqueeze, "permute": sh.permute,
    "transpose": sh.transpose, "t": sh.t, "movedim": sh.movedim, "expand": sh.expand,
    "expand_as": sh.expand_as, "broadcast_to": sh.broadcast_to, "split": sh.split,
    "chunk": sh.chunk, "unbind": sh.unbind, "narrow": sh.narrow,
    "index_select": ix.index_select, "nonzero": ix.nonzero,
    "view_as": lambda self, other: sh.view(self, tuple(other.shape)),
    "reshape_as": lambda self, other: sh.reshape(self, tuple(other.shape)),
    # in-place
    "add_": _inplace(ew.Add, "add_"), "sub_": _inplace(ew.Sub, "sub_"),
    "mul_": _inplace(ew.Mul, "mul_"), "div_": _inplace(ew.Div, "div_", floating=True),
    "__iadd__": _inplace(ew.Add, "add_"), "__isub__": _inplace(ew.Sub, "sub_"),
    "__imul__": _inplace(ew.Mul, "mul_"), "__itruediv__": _inplace(ew.Div, "div_", floating=True),
    "clamp_": _inplace_unary(ew.clamp, "clamp_"), "clip_": _inplace_unary(ew.clamp, "clip_"),
    "neg_": _inplace_unary(ew.neg, "neg_"), "exp_": _inplace_unary(ew.exp, "exp_"),
    "sqrt_": _inplace_unary(ew.sqrt, "sqrt_"), "abs_": _inplace_unary(ew.abs, "abs_"),
    "relu_": _inplace_unary(act.relu, "relu_"), "sigmoid_": _inplace_unary(act.sigmoid, "sigmoid_"),
    "tanh_": _inplace_unary(act.tanh, "tanh_"), "pow_": _inplace_unary(ew.pow, "pow_"),
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)


def _T(self):
    return sh.permute(self, tuple(reversed(range(self.ndim))))


def _mT(self):
    return sh.transpose(self, -2, -1)


Tensor.T = property(_T)
Tensor.mT = property(_mT)


def zero_(self):
    return fill_(self, 0)


def fill_(self, value):
    if isinstance(value, Tensor):
        value = value.item()
    return copy_(self, ew.as_operand(value, self.dtype, "fill_"))


def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_: expected a Tensor source, got {type(src).__name__}")
    return ew.inplace_binary(ew.Overwrite, self, src, "copy_", cast_other=False)


Tensor.zero_ = zero_
Tensor.fill_ = fill_
Tensor.copy_ = copy_
