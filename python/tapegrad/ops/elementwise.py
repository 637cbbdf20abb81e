"""Elementwise ops (kernels: csrc/cpu/elementwise.cpp): arithmetic with broadcasting and
PyTorch's type promotion, unary math, comparisons, where, clamp, casts.

Backward passes are written with backend calls on arrays; broadcasting is undone by
``sum_to_shape``.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes as _dt
from .._checks import int_arg, number_arg, tensor_arg
from ..autograd.function import Function
from ..backend import for_array
from ..tensor import Tensor
from .device import move, same_device


# --- operands and type promotion -------------------------------------------------------------

_CATEGORY = {"bool": 0, "int64": 1, "float32": 2, "float64": 2}


def _scalar_dtype(s, op: str) -> _dt.dtype:
    if isinstance(s, (bool, np.bool_)):
        return _dt.bool_
    if isinstance(s, numbers.Integral):
        return _dt.int64
    if isinstance(s, numbers.Real):
        return _dt.get_default_dtype()
    raise TypeError(f"{op}: unsupported operand type {type(s).__name__}; expected a Tensor or a number")


def result_type(*operands, op: str = "result_type") -> _dt.dtype:
    """PyTorch's promotion: the highest category wins (bool < integer < float); within it,
    dimensioned tensors outrank 0-d tensors, which outrank Python numbers."""
    best = None  # (category, priority, rank, dtype)
    for o in operands:
        if isinstance(o, Tensor):
            d = o.dtype
            prio = 2 if o.ndim else 1
        else:
            d = _scalar_dtype(o, op)
            prio = 0
        key = (_CATEGORY[d.name], prio, d._rank)
        if best is None or key[:2] > best[0][:2] or (key[:2] == best[0][:2] and key[2] > best[0][2]):
            best = (key, d)
    return best[1]


def as_operand(x, dtype: _dt.dtype, op: str) -> Tensor:
    """x (Tensor or Python number) as a tensor of `dtype`; numbers become 0-d constants."""
    if isinstance(x, Tensor):
        return x if x.dtype is dtype else cast(x, dtype)
    if isinstance(x, np.ndarray):
        return Tensor._wrap(for_array(x).asarray(x, dtype.np))
    if not isinstance(x, numbers.Real):
        raise TypeError(f"{op}: unsupported operand type {type(x).__name__}; expected a Tensor or a number")
    try:
        return Tensor._wrap(np.array(x, dtype=dtype.np))
    except (OverflowError, ValueError):  # as PyTorch, a number that does not fit the operation's dtype
        raise RuntimeError(f"{op}: value {x} cannot be converted to {dtype.name} without overflow") from None


def _promote_pair(a, b, op: str, floating: bool = False):
    if (isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype == b._data.dtype
            and (not floating or a._data.dtype.kind == "f") and type(a._data) is type(b._data)):
        return a, b
    if isinstance(a, np.ndarray):
        a = Tensor._wrap(a)
    if isinstance(b, np.ndarray):
        b = Tensor._wrap(b)
    d = result_type(a, b, op=op)
    if floating and not d.is_floating_point:
        d = _dt.get_default_dtype()
    return same_device(as_operand(a, d, op), as_operand(b, d, op), op)


def _be(a):
    return for_array(a)


def _sum_to(g, shape):
    return _be(g).sum_to_shape(g, shape)


# --- cast ------------------------------------------------------------------------------------

class Cast(Function):
    def forward(self, x, dtype):
        self.src = x.dtype
        return _be(x).astype(x, dtype.np)

    def backward(self, g):
        return _be(g).astype(g, self.src)


def cast(x: Tensor, dtype) -> Tensor:
    dtype = _dt.to_dtype(dtype)
    if x.dtype is dtype:
        return x
    if x.requires_grad and not dtype.is_floating_point:
        from ..autograd.grad_mode import no_grad

        with no_grad():
            return Cast.apply(x, dtype)
    return Cast.apply(x, dtype)


# --- binary arithmetic -----------------------------------------------------------------------

class Add(Function):
    def forward(self, a, b, out=None):
        self.shapes = (a.shape, b.shape)
        return _be(a).binary("add", a, b, out)

    def backward(self, g):
        sa, sb = self.shapes
        return (_sum_to(g, sa) if self.needs_input_grad[0] else None,
                _sum_to(g, sb) if self.needs_input_grad[1] else None)


class Sub(Function):
    def forward(self, a, b, out=None):
        self.shapes = (a.shape, b.shape)
        return _be(a).binary("sub", a, b, out)

    def backward(self, g):
        sa, sb = self.shapes
        gb = None
        if self.needs_input_grad[1]:
            gb = _sum_to(_be(g).unary("neg", g), sb)
        return (_sum_to(g, sa) if self.needs_input_grad[0] else None, gb)


class Mul(Function):
    def forward(self, a, b, out=None):
        self.shapes = (a.shape, b.shape)
        need_a, need_b = self.needs_input_grad or (False, False)
        # Each gradient needs only the other operand: x.mul_(2) must not save x itself.
        self.save_for_backward(a if need_b else None, b if need_a else None)
        return _be(a).binary("mul", a, b, out)

    def backward(self, g):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        be = _be(g)
        ga = _sum_to(be.binary("mul", g, b), sa) if self.needs_input_grad[0] else None
        gb = _sum_to(be.binary("mul", g, a), sb) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b, out=None):
        self.shapes = (a.shape, b.shape)
        res = _be(a).binary("div", a, b, out)
        # d(a/b)/db = -(a/b)/b: the result, not a, is what the second gradient needs.
        need_b = self.needs_input_grad and self.needs_input_grad[1]
        self.save_for_backward(b, res if need_b else None)
        return res

    def backward(self, g):
        b, res = self.saved_tensors
        sa, sb = self.shapes
        be = _be(g)
        ga = gb = None
        g_over_b = be.binary("div", g, b)
        if self.needs_input_grad[0]:
            ga = _sum_to(g_over_b, sa)
        if self.needs_input_grad[1]:
            gb = _sum_to(be.unary("neg", be.binary("mul", g_over_b, res)), sb)
        return ga, gb


class Pow(Function):
    def forward(self, a, b, out=None):
        res = _be(a).binary("pow", a, b, out)
        self.save_for_backward(a, b, res)
        return res

    def backward(self, g):
        a, b, res = self.saved_tensors
        be = _be(g)
        ga = gb = None
        if self.needs_input_grad[0]:
            # b * a^(b-1), with a 0-d b kept as a scalar kernel operand; 0 where b == 0 (as
            # PyTorch), where 0 * 0^-1 would be nan
            one, zero = be.scalar(1, b.dtype), be.scalar(0, b.dtype)
            ga = be.binary("mul", b, be.binary("pow", a, be.binary("sub", b, one)))
            ga = be.where(be.compare("eq", b, zero), be.scalar(0, ga.dtype), ga)
            ga = _sum_to(be.binary("mul", g, ga), a.shape)
        if self.needs_input_grad[1]:
            # a^b * log(a); where a == 0 and b >= 0 the limit is 0 (as PyTorch)
            zero = be.scalar(0, a.dtype)
            t = be.binary("mul", res, be.unary("log", a))
            mask = be.binary("logical_and", be.compare("eq", a, zero), be.compare("ge", b, zero))
            t = be.where(mask, zero, t)
            gb = _sum_to(be.binary("mul", g, t), b.shape)
        return ga, gb


class Maximum(Function):
    """maximum/minimum: the gradient goes to the larger (smaller) input, split evenly on ties."""
    op = "maximum"

    def forward(self, a, b, out=None):
        self.save_for_backward(a, b)
        return _be(a).binary(self.op, a, b, out)

    def backward(self, g):
        a, b = self.saved_tensors
        be = _be(g)
        wins = "gt" if self.op == "maximum" else "lt"
        zero = be.scalar(0, g.dtype)
        half = be.binary("mul", g, be.scalar(0.5, g.dtype))
        tie = be.compare("eq", a, b)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = be.where(be.compare(wins, a, b), g, be.where(tie, half, zero))
            ga = _sum_to(ga, a.shape)
        if self.needs_input_grad[1]:
            gb = be.where(be.compare(wins, b, a), g, be.where(tie, half, zero))
            gb = _sum_to(gb, b.shape)
        return ga, gb


class Minimum(Maximum):
    op = "minimum"


class FloorDivide(Function):
    """Python's (and PyTorch's) floor division: the floor of the exact quotient, so 1.0 // 0.1
    is 9, not floor(1.0 / 0.1) = 10. Piecewise constant: a zero gradient, as
    div(rounding_mode="floor")."""

    def forward(self, a, b):
        self.specs = ((a.shape, a.dtype), (b.shape, b.dtype))
        return _be(a).binary("floor_divide", a, b)

    def backward(self, g):
        be = _be(g)
        return tuple(be.zeros(shape, dtype) if need else None
                     for need, (shape, dtype) in zip(self.needs_input_grad, self.specs))


class Remainder(Function):
    """a - floor_divide(a, b) * b, with the divisor's sign: d/da = 1, d/db = -floor_divide(a, b)."""

    def forward(self, a, b):
        need_b = self.needs_input_grad and self.needs_input_grad[1]
        self.save_for_backward(a if need_b else None, b if need_b else None)
        self.shapes = (a.shape, b.shape)
        return _be(a).binary("remainder", a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        be = _be(g)
        ga = _sum_to(g, sa) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            gb = _sum_to(be.unary("neg", be.binary("mul", g, be.binary("floor_divide", a, b))), sb)
        return ga, gb


def add(a, b, *, alpha=1):
    if alpha != 1:
        b = mul(b, alpha)
    a, b = _promote_pair(a, b, "add")
    if a.dtype is _dt.bool_:  # as PyTorch: bool + bool is logical or
        return logical_or(a, b)
    return Add.apply(a, b)


def sub(a, b, *, alpha=1):
    if alpha != 1:
        b = mul(b, alpha)
    a, b = _promote_pair(a, b, "sub")
    if a.dtype is _dt.bool_:
        raise TypeError("sub: subtraction of two bool tensors is not supported; use logical_xor")
    return Sub.apply(a, b)


def mul(a, b):
    a, b = _promote_pair(a, b, "mul")
    if a.dtype is _dt.bool_:  # bool * bool is logical and
        return logical_and(a, b)
    return Mul.apply(a, b)


def div(a, b, *, rounding_mode=None):
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return trunc(div(a, b))
    if rounding_mode is not None:
        raise ValueError(f"div: expected rounding_mode None, 'floor' or 'trunc', got {rounding_mode!r}")
    a, b = _promote_pair(a, b, "div", floating=True)
    return Div.apply(a, b)


def floor_divide(a, b):
    a, b = _promote_pair(a, b, "floor_divide")
    return FloorDivide.apply(a, b)


def remainder(a, b):
    a, b = _promote_pair(a, b, "remainder")
    return Remainder.apply(a, b)


def pow(a, b):  # noqa: A001 - PyTorch's name
    a, b = _promote_pair(a, b, "pow")
    if a.dtype is _dt.bool_:
        a, b = cast(a, _dt.int64), cast(b, _dt.int64)
    return Pow.apply(a, b)


def maximum(a, b):
    a, b = _promote_pair(a, b, "maximum")
    return Maximum.apply(a, b)


def minimum(a, b):
    a, b = _promote_pair(a, b, "minimum")
    return Minimum.apply(a, b)


# --- unary -----------------------------------------------------------------------------------

class Neg(Function):
    def forward(self, x, out=None):
        return _be(x).unary("neg", x, out)

    def backward(self, g):
        return _be(g).unary("neg", g)


class Exp(Function):
    def forward(self, x, out=None):
        y = _be(x).unary("exp", x, out)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved_tensors
        return _be(g).binary("mul", g, y)


class Log(Function):
    def forward(self, x, out=None):
        self.save_for_backward(x)
        return _be(x).unary("log", x, out)

    def backward(self, g):
        (x,) = self.saved_tensors
        return _be(g).binary("div", g, x)


class Log1p(Function):
    def forward(self, x, out=None):
        self.save_for_backward(x)
        return _be(x).unary("log1p", x, out)

    def backward(self, g):
        (x,) = self.saved_tensors
        be = _be(g)
        return be.binary("div", g, be.binary("add", x, be.scalar(1, x.dtype)))


class Expm1(Function):
    def forward(self, x, out=None):
        y = _be(x).unary("expm1", x, out)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved_tensors
        be = _be(g)
        return be.binary("mul", g, be.binary("add", y, be.scalar(1, y.dtype)))


class Sqrt(Function):
    def forward(self, x, out=None):
        y = _be(x).unary("sqrt", x, out)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved_tensors
        be = _be(g)
        return be.binary("div", g, be.binary("mul", y, be.scalar(2, y.dtype)))


class Rsqrt(Function):
    def forward(self, x, out=None):
        y = _be(x).unary("rsqrt", x, out)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        # d x^-1/2 = -1/2 x^-3/2 = -0.5 * y^3
        (y,) = self.saved_tensors
        be = _be(g)
        y3 = be.binary("mul", be.unary("square", y), y)
        return be.binary("mul", g, be.binary("mul", y3, be.scalar(-0.5, y.dtype)))


class Reciprocal(Function):
    def forward(self, x, out=None):
        y = _be(x).unary("reciprocal", x, out)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved_tensors
        be = _be(g)
        return be.unary("neg", be.binary("mul", g, be.unary("square", y)))


class Square(Function):
    def forward(self, x, out=None):
        self.save_for_backward(x)
        return _be(x).unary("square", x, out)

    def backward(self, g):
        (x,) = self.saved_tensors
        be = _be(g)
        return be.binary("mul", g, be.binary("mul", x, be.scalar(2, x.dtype)))


class Abs(Function):
    def forward(self, x, out=None):
        self.save_for_backward(x)
        return _be(x).unary("abs", x, out)

    def backward(self, g):
        (x,) = self.saved_tensors
        be = _be(g)
        return be.binary("mul", g, be.unary("sign", x))


class Sin(Function):
    def forward(self, x, out=None):
        self.save_for_backward(x)
        return _be(x).unary("sin", x, out)

    def backward(self, g):
        (x,) = self.saved_tensors
        be = _be(g)
        return be.binary("mul", g, be.unary("cos", x))


class Cos(Function):
    def forward(self, x, out=None):
        self.save_for_backward(x)
        return _be(x).unary("cos", x, out)

    def backward(self, g):
        (x,) = self.saved_tensors
        be = _be(g)
        return be.unary("neg", be.binary("mul", g, be.unary("sin", x)))


class Piecewise(Function):
    """sign, round, floor, ceil, trunc: piecewise constant, so the gradient is zero."""

    def forward(self, x, op, out=None):
        self.shape, self.dtype = x.shape, x.dtype
        return _be(x).unary(op, x, out)

    def backward(self, g):
        return _be(g).zeros(self.shape, self.dtype)


def _float_input(x, op) -> Tensor:
    tensor_arg(x, op)
    return x if x.dtype.is_floating_point else cast(x, _dt.get_default_dtype())


def _unary(fn_cls, x, op, out=None):
    return fn_cls.apply(_float_input(x, op), out=out) if out is None else fn_cls.apply(x, out=out)


def neg(x):
    if tensor_arg(x, "neg").dtype is _dt.bool_:
        raise TypeError("neg: negation of a bool tensor is not supported; use logical_not")
    return Neg.apply(x)


def exp(x):
    return Exp.apply(_float_input(x, "exp"))


def log(x):
    return Log.apply(_float_input(x, "log"))


def log1p(x):
    return Log1p.apply(_float_input(x, "log1p"))


def expm1(x):
    return Expm1.apply(_float_input(x, "expm1"))


def sqrt(x):
    return Sqrt.apply(_float_input(x, "sqrt"))


def rsqrt(x):
    return Rsqrt.apply(_float_input(x, "rsqrt"))


def reciprocal(x):
    return Reciprocal.apply(_float_input(x, "reciprocal"))


def square(x):
    if tensor_arg(x, "square").dtype is _dt.bool_:
        x = cast(x, _dt.int64)
    return Square.apply(x)


def abs(x):  # noqa: A001 - PyTorch's name
    if tensor_arg(x, "abs").dtype is _dt.bool_:
        return x
    return Abs.apply(x)


def sin(x):
    return Sin.apply(_float_input(x, "sin"))


def cos(x):
    return Cos.apply(_float_input(x, "cos"))


def sign(x):
    if tensor_arg(x, "sign").dtype is _dt.bool_:
        return x
    return Piecewise.apply(x, "sign")


def _rounding(x, op):
    if not tensor_arg(x, op).dtype.is_floating_point:
        return x
    return Piecewise.apply(x, op)


def round(x, decimals: int = 0):  # noqa: A001 - PyTorch's name
    tensor_arg(x, "round")
    decimals = int_arg(decimals, "round", "decimals")
    if decimals:
        try:
            scale = 10.0 ** decimals
        except OverflowError:
            raise RuntimeError(f"round: decimals={decimals} is out of range (10**decimals overflows a float)") from None
        return div(_rounding(mul(x, scale), "round"), scale)
    return _rounding(x, "round")


def floor(x):
    return _rounding(x, "floor")


def ceil(x):
    return _rounding(x, "ceil")


def trunc(x):
    return _rounding(x, "trunc")


# --- clamp, where ----------------------------------------------------------------------------

class Clamp(Function):
    def forward(self, x, lo, hi, out=None):
        self.save_for_backward(x)
        self.bounds = (lo, hi)
        return _be(x).clamp(x, lo, hi, out)

    def backward(self, g):
        (x,) = self.saved_tensors
        be = _be(g)
        lo, hi = self.bounds
        keep = None
        if lo is not None:
            keep = be.compare("ge", x, be.scalar(lo, x.dtype))
        if hi is not None:
            upper = be.compare("le", x, be.scalar(hi, x.dtype))
            keep = upper if keep is None else be.binary("logical_and", keep, upper)
        if keep is None:
            return g
        return be.where(keep, g, be.scalar(0, g.dtype))


def _clamp_bounds(x, lo, hi, op):
    if lo is None and hi is None:
        raise ValueError(f"{op}: at least one of 'min' or 'max' must not be None")
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        return None
    for name, v in (("min", lo), ("max", hi)):
        if v is not None:
            number_arg(v, op, name)
    cast_ = float if x.dtype.is_floating_point else int
    try:
        return (None if lo is None else cast_(lo)), (None if hi is None else cast_(hi))
    except (ValueError, OverflowError):  # int(nan), int(inf) for an integer tensor
        raise RuntimeError(f"{op}: bounds {lo} and {hi} cannot be converted to {x.dtype.name}") from None


def clamp(x, min=None, max=None):  # noqa: A002 - PyTorch's names
    tensor_arg(x, "clamp")
    bounds = _clamp_bounds(x, min, max, "clamp")
    if bounds is None:  # tensor bounds: compose maximum/minimum
        out = x if min is None else maximum(x, min)
        return out if max is None else minimum(out, max)
    d = result_type(x, *(b for b in (min, max) if b is not None), op="clamp")
    if d is _dt.bool_:
        d = _dt.int64
    x = cast(x, d)
    return Clamp.apply(x, *_clamp_bounds(x, min, max, "clamp"))


clip = clamp


class Where(Function):
    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        self.shapes = (a.shape, b.shape)
        return _be(a).where(cond, a, b)

    def backward(self, g):
        (cond,) = self.saved_tensors
        be = _be(g)
        zero = be.scalar(0, g.dtype)
        ga = _sum_to(be.where(cond, g, zero), self.shapes[0]) if self.needs_input_grad[1] else None
        gb = _sum_to(be.where(cond, zero, g), self.shapes[1]) if self.needs_input_grad[2] else None
        return None, ga, gb


def where(condition, input=None, other=None):  # noqa: A002
    if input is None and other is None:
        from .index import nonzero

        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor):
        raise TypeError(f"where: condition must be a bool Tensor, got {type(condition).__name__}")
    if condition.dtype is not _dt.bool_:
        raise TypeError(f"where: expected condition to be a bool tensor, got {condition.dtype}")
    a, b = _promote_pair(input, other, "where")
    condition, a = same_device(condition, a, "where")
    condition, b = same_device(condition, b, "where")
    _be(a._data).broadcast_shapes("where", condition.shape, a.shape)
    _be(a._data).broadcast_shapes("where", _be(a._data).broadcast_shapes("where", condition.shape, a.shape), b.shape)
    return Where.apply(condition, a, b)


# --- comparisons and logic (no gradient) -----------------------------------------------------

def compare(op: str, a, b) -> Tensor:
    a, b = _promote_pair(a, b, op)
    return Tensor._wrap(_be(a._data).compare(op, a._data, b._data))


def eq(a, b):
    return compare("eq", a, b)


def ne(a, b):
    return compare("ne", a, b)


def lt(a, b):
    return compare("lt", a, b)


def le(a, b):
    return compare("le", a, b)


def gt(a, b):
    return compare("gt", a, b)


def ge(a, b):
    return compare("ge", a, b)


def _logical(op: str, a, b) -> Tensor:
    a, b = as_operand(a, _dt.bool_, op), as_operand(b, _dt.bool_, op)
    return Tensor._wrap(_be(a._data).binary(op, a._data, b._data))


def logical_and(a, b):
    return _logical("logical_and", a, b)


def logical_or(a, b):
    return _logical("logical_or", a, b)


def logical_xor(a, b):
    return _logical("logical_xor", a, b)


def logical_not(x):
    return compare("eq", as_operand(x, _dt.bool_, "logical_not"), False)


def isnan(x):
    return compare("ne", tensor_arg(x, "isnan"), x)


def isinf(x):
    if not tensor_arg(x, "isinf").dtype.is_floating_point:
        return compare("ne", x, x)
    return compare("eq", abs(x.detach()), float("inf"))


def isfinite(x):
    if not tensor_arg(x, "isfinite").dtype.is_floating_point:
        return compare("eq", x, x)
    return compare("lt", abs(x.detach()), float("inf"))


# --- in-place --------------------------------------------------------------------------------

class Overwrite(Function):
    """dst.copy_(src) / dst.fill_(v) while recording: the old values get no gradient, src all."""

    def forward(self, dst, src, out=None):
        self.src_shape, self.src_dtype = src.shape, src.dtype
        return _be(dst).copy_(src, dst if out is None else out)

    def backward(self, g):
        gs = _sum_to(g, self.src_shape)
        return None, (gs if gs.dtype == self.src_dtype else _be(g).astype(gs, self.src_dtype))


def inplace_binary(fn_cls, self: Tensor, other, op: str, floating: bool = False,
                   cast_other: bool = True) -> Tensor:
    """self op= other, keeping self's dtype (PyTorch refuses to change it)."""
    if cast_other:
        d = result_type(self, other, op=op)
        if floating and not d.is_floating_point:
            d = _dt.get_default_dtype()
        if _CATEGORY[d.name] > _CATEGORY[self.dtype.name]:
            raise RuntimeError(f"{op}: result type {d.name} can't be cast to the desired output type {self.dtype.name}")
        other = as_operand(other, self.dtype, op)
    if type(other._data) is not type(self._data) or (self.is_cuda and other.device != self.device):
        # copy_ takes its source from any device; other ops a number or a 0-d CPU tensor
        # (anything else raises in apply, naming both devices)
        if fn_cls is Overwrite or (other.ndim == 0 and not other.is_cuda):
            other = move(other, self.device)
    shape = _be(self._data).broadcast_shapes(op, self.shape, other.shape)
    if tuple(shape) != tuple(self.shape):
        raise RuntimeError(
            f"{op}: output with shape {tuple(self.shape)} doesn't match the broadcast shape {tuple(shape)} "
            f"(other operand of shape {tuple(other.shape)})"
        )
    return self._apply_inplace(
        op,
        compute=lambda t: fn_cls.apply(t, other),
        write=lambda: fn_cls.apply(self, other, out=self._data),
        others=(other,),
    )


def inplace_unary(fn, self: Tensor, op: str) -> Tensor:
    """self = fn(self) in place (fn: a function of a Tensor)."""
    return self._apply_inplace(
        op,
        compute=fn,
        write=lambda: _be(self._data).copy_(fn(self)._data, self._data),
    )
