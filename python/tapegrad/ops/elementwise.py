"""Elementwise ops (kernels: csrc/cpu/elementwise.cpp): arithmetic with broadcasting and
PyTorch's type promotion, unary math, comparisons, where, clamp, casts.

The unary and binary math ops are rows of two tables (UNARY, BINARY), each with its derivative
written with named array ops (tapegrad.arrays); broadcasting is undone by ``sum_to_shape``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import arrays
from .. import dtypes as _dt
from .._checks import int_arg, number_arg, tensor_arg
from ..autograd.node import Node
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
        return Tensor._wrap(np.asarray(x, dtype=dtype.np))
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


# --- cast ------------------------------------------------------------------------------------

class Cast(Node):
    def forward(self, x, dtype):
        self.src = x.dtype
        return arrays.astype(x, dtype.np)

    def backward(self, g):
        return arrays.astype(g, self.src)


def cast(x: Tensor, dtype) -> Tensor:
    dtype = _dt.to_dtype(dtype)
    if x.dtype is dtype:
        return x
    if x.requires_grad and not dtype.is_floating_point:
        from ..autograd.grad_mode import no_grad

        with no_grad():
            return Cast.apply(x, dtype)
    return Cast.apply(x, dtype)


def _float_input(x, op) -> Tensor:
    tensor_arg(x, op)
    return x if x.dtype.is_floating_point else cast(x, _dt.get_default_dtype())


# --- the op tables: unary and binary math, one row per op --------------------------------------
# A row names the op (PyTorch's name; its kernel op unless `kernel` says otherwise) and gives its
# derivative as a formula of named array ops. A formula's parameters say what it needs: g (the
# upstream gradient), the inputs (x; a and b) and `result` (the output), so forward saves only
# what the wanted gradients need. A derivative of None is zero (piecewise constant ops).
# Each row gives tapegrad.<name> and Tensor.<name> (FUNCTIONS); add, sub, mul, div, pow and
# round wrap theirs in PyTorch's extra arguments and type rules, below the tables.
# `ints` says what an integer or bool input of a unary op does: "float" (computed in the default
# float dtype), "compute" (computed in its own dtype; `bools` then says "unchanged", "int64" or
# refuses with `bool_error`), or "unchanged" (returned as it is).

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@dataclass(frozen=True)
class Unary:
    name: str
    derivative: Callable | None
    kernel: str = ""
    ints: str = "float"
    bools: str = ""
    bool_error: str = ""


UNARY = (
    #     name          derivative (g: upstream gradient, x: input, result: output)
    Unary("neg",        lambda g: arrays.neg(g), ints="compute",
          bool_error="negation of a bool tensor is not supported; use logical_not"),
    Unary("exp",        lambda g, result: arrays.mul(g, result)),
    Unary("log",        lambda g, x: arrays.div(g, x)),
    Unary("log1p",      lambda g, x: arrays.div(g, arrays.add(x, 1))),
    Unary("expm1",      lambda g, result: arrays.mul(g, arrays.add(result, 1))),
    Unary("sqrt",       lambda g, result: arrays.div(g, arrays.mul(result, 2))),
    # d x^-1/2 = -1/2 x^-3/2 = -0.5 * result^3
    Unary("rsqrt",      lambda g, result: arrays.mul(g, arrays.mul(arrays.mul(arrays.square(result), result), -0.5))),
    Unary("reciprocal", lambda g, result: arrays.neg(arrays.mul(g, arrays.square(result)))),
    Unary("square",     lambda g, x: arrays.mul(g, arrays.mul(x, 2)), ints="compute", bools="int64"),
    Unary("abs",        lambda g, x: arrays.mul(g, arrays.sign(x)), ints="compute", bools="unchanged"),
    Unary("sin",        lambda g, x: arrays.mul(g, arrays.cos(x))),
    Unary("cos",        lambda g, x: arrays.neg(arrays.mul(g, arrays.sin(x)))),
    Unary("log2",       lambda g, x: arrays.div(g, arrays.mul(x, _LN2))),
    Unary("log10",      lambda g, x: arrays.div(g, arrays.mul(x, _LN10))),
    Unary("exp2",       lambda g, result: arrays.mul(g, arrays.mul(result, _LN2))),
    Unary("tan",        lambda g, result: arrays.mul(g, arrays.add(arrays.square(result), 1))),
    Unary("asin",       lambda g, x: arrays.mul(g, arrays.rsqrt(arrays.sub(1, arrays.square(x))))),
    Unary("acos",       lambda g, x: arrays.neg(arrays.mul(g, arrays.rsqrt(arrays.sub(1, arrays.square(x)))))),
    Unary("atan",       lambda g, x: arrays.div(g, arrays.add(arrays.square(x), 1))),
    Unary("sinh",       lambda g, x: arrays.mul(g, arrays.cosh(x))),
    Unary("cosh",       lambda g, x: arrays.mul(g, arrays.sinh(x))),
    Unary("asinh",      lambda g, x: arrays.mul(g, arrays.rsqrt(arrays.add(arrays.square(x), 1)))),
    Unary("acosh",      lambda g, x: arrays.mul(g, arrays.rsqrt(arrays.sub(arrays.square(x), 1)))),
    Unary("atanh",      lambda g, x: arrays.div(g, arrays.sub(1, arrays.square(x)))),
    # 2/sqrt(pi) exp(-x^2), and its inverse's sqrt(pi)/2 exp(erfinv(x)^2)
    Unary("erf",        lambda g, x: arrays.mul(g, arrays.mul(arrays.exp(arrays.neg(arrays.square(x))), _TWO_OVER_SQRT_PI))),
    Unary("erfc",       lambda g, x: arrays.mul(g, arrays.mul(arrays.exp(arrays.neg(arrays.square(x))), -_TWO_OVER_SQRT_PI))),
    Unary("erfinv",     lambda g, result: arrays.mul(g, arrays.mul(arrays.exp(arrays.square(result)), 1 / _TWO_OVER_SQRT_PI))),
    Unary("frac",       lambda g: g),
    Unary("sign",       None, ints="compute", bools="unchanged"),
    Unary("round",      None, ints="unchanged"),
    Unary("floor",      None, ints="unchanged"),
    Unary("ceil",       None, ints="unchanged"),
    Unary("trunc",      None, ints="unchanged"),
)


def _safe_div(a, b):
    """a / b, and 0 where b is 0 (a gradient's value at a removable singularity)."""
    return arrays.where(arrays.eq(b, 0), 0, arrays.div(a, b))


@dataclass(frozen=True)
class Binary:
    name: str
    da: Callable | None  # d/da and d/db, before the sum over a's (b's) broadcast dims
    db: Callable | None
    kernel: str = ""
    floating: bool = False  # integer operands are computed in the default float dtype


BINARY = (
    #      name            d/da, d/db (g: upstream gradient, a, b: inputs, result: output)
    Binary("add",          lambda g: g, lambda g: g),
    Binary("sub",          lambda g: g, lambda g: arrays.neg(g)),
    Binary("mul",          lambda g, b: arrays.mul(g, b), lambda g, a: arrays.mul(g, a)),
    Binary("div",          lambda g, b: arrays.div(g, b),
           lambda g, b, result: arrays.neg(arrays.mul(arrays.div(g, b), result))),
    # b * a^(b-1), 0 where b == 0 (as PyTorch), where 0 * 0^-1 would be nan; a^b * log(a),
    # whose limit where a == 0 and b >= 0 is 0 (as PyTorch)
    Binary("pow",
           lambda g, a, b: arrays.mul(g, arrays.where(arrays.eq(b, 0), 0, arrays.mul(b, arrays.pow(a, arrays.sub(b, 1))))),
           lambda g, a, b, result: arrays.mul(g, arrays.where(arrays.logical_and(arrays.eq(a, 0), arrays.ge(b, 0)), 0,
                                                              arrays.mul(result, arrays.log(a))))),
    # the gradient goes to the larger (smaller) input, split evenly on ties
    Binary("maximum",
           lambda g, a, b: arrays.where(arrays.gt(a, b), g, arrays.where(arrays.eq(a, b), arrays.mul(g, 0.5), 0)),
           lambda g, a, b: arrays.where(arrays.gt(b, a), g, arrays.where(arrays.eq(a, b), arrays.mul(g, 0.5), 0))),
    Binary("minimum",
           lambda g, a, b: arrays.where(arrays.lt(a, b), g, arrays.where(arrays.eq(a, b), arrays.mul(g, 0.5), 0)),
           lambda g, a, b: arrays.where(arrays.lt(b, a), g, arrays.where(arrays.eq(a, b), arrays.mul(g, 0.5), 0))),
    # Python's (and PyTorch's) floor division: the floor of the exact quotient, so 1.0 // 0.1
    # is 9, not floor(1.0 / 0.1) = 10; piecewise constant, as div(rounding_mode="floor")
    Binary("floor_divide", None, None),
    # a - floor_divide(a, b) * b, with the divisor's sign
    Binary("remainder",    lambda g: g, lambda g, a, b: arrays.neg(arrays.mul(g, arrays.floor_divide(a, b)))),
    # C's fmod: a - trunc(a / b) * b, with the dividend's sign
    Binary("fmod",         lambda g: g, lambda g, a, b: arrays.neg(arrays.mul(g, arrays.trunc(arrays.div(a, b))))),
    # a / hypot and b / hypot; 0 at a = b = 0, where hypot has its minimum (PyTorch gives NaN)
    Binary("hypot",        lambda g, a, result: arrays.mul(g, _safe_div(a, result)),
           lambda g, b, result: arrays.mul(g, _safe_div(b, result)), floating=True),
    # b / (a^2 + b^2) and -a / (a^2 + b^2); 0 at a = b = 0, as PyTorch
    Binary("atan2",        lambda g, a, b: arrays.mul(g, _safe_div(b, arrays.add(arrays.square(a), arrays.square(b)))),
           lambda g, a, b: arrays.neg(arrays.mul(g, _safe_div(a, arrays.add(arrays.square(a), arrays.square(b))))),
           floating=True),
    # softmax weights of the two operands: exp(a - logaddexp(a, b)) and exp(b - logaddexp(a, b))
    Binary("logaddexp",    lambda g, a, result: arrays.mul(g, arrays.exp(arrays.sub(a, result))),
           lambda g, b, result: arrays.mul(g, arrays.exp(arrays.sub(b, result))), floating=True),
)


def _uses(formula, names: tuple) -> tuple:
    """The positions in `names` of what a formula's parameters after g ask for."""
    if formula is None:
        return ()
    code = formula.__code__
    return tuple(names.index(p) for p in code.co_varnames[1:code.co_argcount])


def _bound(formula, uses: tuple):
    """formula as a function of (g, saved), passing it saved[i] for each i in `uses`. Spelled
    out for one and two arguments: unpacking a computed argument list costs more than the rest
    of a small op's backward."""
    if formula is None:
        return None
    if not uses:
        return lambda g, saved: formula(g)
    if len(uses) == 1:
        (i,) = uses
        return lambda g, saved: formula(g, saved[i])
    if len(uses) == 2:
        i, j = uses
        return lambda g, saved: formula(g, saved[i], saved[j])
    return lambda g, saved: formula(g, *[saved[i] for i in uses])


class UnaryFunction(Node):
    """An op of one array made from a Unary row (see UNARY)."""
    kernel = ""
    derivative = None  # the row's, as a function of (g, saved)
    uses: tuple = ()  # positions in (x, result) the derivative needs
    keeps_x = keeps_result = False

    def forward(self, x, out=None):
        result = arrays.unary(self.kernel, x, out)
        self.shape = x.shape
        if self.needs_input_grad and self.uses:
            self.save_for_backward(x if self.keeps_x else None, result if self.keeps_result else None)
        return result

    def backward(self, g):
        if self.derivative is None:
            return arrays.zeros(self.shape, g.dtype, g)
        return self.derivative(g, self.saved_arrays if self.uses else ())


class BinaryFunction(Node):
    """An op of two arrays made from a Binary row (see BINARY); each gradient is summed back
    to its operand's shape (the gradient of broadcasting)."""
    kernel = ""
    gradients = (None, None)  # d/da and d/db as functions of (g, saved (a, b, result))
    saves = False  # whether either needs any of a, b, result
    keeps: dict = {}  # needs_input_grad -> which of (a, b, result) forward saves (None: none)

    def forward(self, a, b, out=None):
        result = arrays.binary(self.kernel, a, b, out)
        self.shapes = (a.shape, b.shape)
        keep = self.keeps.get(self.needs_input_grad)
        if keep is not None:
            # Each gradient saves only what it needs: x.mul_(2) must not save x itself.
            self.save_for_backward(a if keep[0] else None, b if keep[1] else None,
                                   result if keep[2] else None)
        return result

    def backward(self, g):
        saved = self.saved_arrays if self.saves else ()
        need_a, need_b = self.needs_input_grad
        return (self._gradient(0, g, saved) if need_a else None,
                self._gradient(1, g, saved) if need_b else None)

    def _gradient(self, k: int, g, saved):
        shape = self.shapes[k]
        gradient = self.gradients[k]
        if gradient is None:  # (the operands have the result's dtype, so g's)
            return arrays.zeros(shape, g.dtype, g)
        return arrays.sum_to_shape(gradient(g, saved), shape)


def _class_name(name: str) -> str:
    """PyTorch's grad_fn stem of an op: floor_divide -> FloorDivide (FloorDivideBackward0)."""
    return "".join(part.capitalize() for part in name.split("_"))


def _unary_function(row: Unary):
    kernel = row.kernel or row.name
    arrays.define_unary(row.name, kernel)
    uses = _uses(row.derivative, ("x", "result"))
    derivative = _bound(row.derivative, uses)
    fn_cls = type(_class_name(row.name), (UnaryFunction,), {
        "kernel": kernel, "derivative": None if derivative is None else staticmethod(derivative),
        "uses": uses, "keeps_x": 0 in uses, "keeps_result": 1 in uses})

    def op(input):  # noqa: A002 - PyTorch's keyword names
        x = input
        if not tensor_arg(x, row.name).dtype.is_floating_point:
            if row.ints == "unchanged" or (x.dtype is _dt.bool_ and row.bools == "unchanged"):
                return x
            if row.ints == "float":
                x = cast(x, _dt.get_default_dtype())
            elif x.dtype is _dt.bool_:
                if row.bool_error:
                    raise TypeError(f"{row.name}: {row.bool_error}")
                if row.bools == "int64":
                    x = cast(x, _dt.int64)
        return fn_cls.apply(x)

    op.__name__ = op.__qualname__ = row.name
    op.__doc__ = f"{row.name}(input), elementwise (PyTorch's torch.{row.name})."
    return fn_cls, op


def _binary_function(row: Binary):
    kernel = row.kernel or row.name
    arrays.define_binary(row.name, kernel)
    uses = (_uses(row.da, ("a", "b", "result")), _uses(row.db, ("a", "b", "result")))
    keeps = {}
    for need in ((True, True), (True, False), (False, True)):
        wanted = {i for k in (0, 1) if need[k] for i in uses[k]}
        keeps[need] = tuple(i in wanted for i in range(3)) if wanted else None
    fn_cls = type(_class_name(row.name), (BinaryFunction,), {
        "kernel": kernel, "gradients": (_bound(row.da, uses[0]), _bound(row.db, uses[1])),
        "saves": any(uses), "keeps": keeps})

    def op(input, other):  # noqa: A002 - PyTorch's keyword names
        a, b = _promote_pair(input, other, row.name, floating=row.floating)
        return fn_cls.apply(a, b)

    op.__name__ = op.__qualname__ = row.name
    op.__doc__ = f"{row.name}(input, other), elementwise and broadcast (PyTorch's torch.{row.name})."
    return fn_cls, op


FUNCTIONS = {}  # name -> the Tensor function of each row of UNARY and BINARY
for _row in UNARY:
    _cls, FUNCTIONS[_row.name] = _unary_function(_row)
    globals()[_cls.__name__] = _cls
for _row in BINARY:
    _cls, FUNCTIONS[_row.name] = _binary_function(_row)
    globals()[_cls.__name__] = _cls
globals().update(FUNCTIONS)

# PyTorch's other names of rows (torch.arcsin is torch.asin), for tapegrad.<alias> and
# Tensor.<alias>.
ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2"}


# --- binary arithmetic: PyTorch's signatures and type rules over the BINARY rows ---------------

def add(input, other, *, alpha=1):  # noqa: A002 - PyTorch's keyword names
    if alpha != 1:
        other = mul(other, alpha)
    a, b = _promote_pair(input, other, "add")
    if a.dtype is _dt.bool_:  # as PyTorch: bool + bool is logical or
        return logical_or(a, b)
    return Add.apply(a, b)


def sub(input, other, *, alpha=1):  # noqa: A002
    if alpha != 1:
        other = mul(other, alpha)
    a, b = _promote_pair(input, other, "sub")
    if a.dtype is _dt.bool_:
        raise TypeError("sub: subtraction of two bool tensors is not supported; use logical_xor")
    return Sub.apply(a, b)


def mul(input, other):  # noqa: A002
    a, b = _promote_pair(input, other, "mul")
    if a.dtype is _dt.bool_:  # bool * bool is logical and
        return logical_and(a, b)
    return Mul.apply(a, b)


def div(input, other, *, rounding_mode=None):  # noqa: A002
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        return trunc(div(input, other))
    if rounding_mode is not None:
        raise ValueError(f"div: expected rounding_mode None, 'floor' or 'trunc', got {rounding_mode!r}")
    a, b = _promote_pair(input, other, "div", floating=True)
    return Div.apply(a, b)


def pow(input, exponent):  # noqa: A001,A002 - PyTorch's names
    a, b = _promote_pair(input, exponent, "pow")
    if a.dtype is _dt.bool_:
        a, b = cast(a, _dt.int64), cast(b, _dt.int64)
    return Pow.apply(a, b)


_round_row = FUNCTIONS["round"]


def round(input, decimals: int = 0):  # noqa: A001,A002 - PyTorch's names
    x = tensor_arg(input, "round")
    decimals = int_arg(decimals, "round", "decimals")
    if decimals:
        try:
            scale = 10.0 ** decimals
        except OverflowError:
            raise RuntimeError(f"round: decimals={decimals} is out of range (10**decimals overflows a float)") from None
        return div(_round_row(mul(x, scale)), scale)
    return _round_row(x)


FUNCTIONS.update(add=add, sub=sub, mul=mul, div=div, pow=pow, round=round)


# --- clamp, where ----------------------------------------------------------------------------

class Clamp(Node):
    def forward(self, x, lo, hi, out=None):
        self.save_for_backward(x)
        self.bounds = (lo, hi)
        return arrays.clamp(x, lo, hi, out)

    def backward(self, g):
        (x,) = self.saved_arrays
        lo, hi = self.bounds
        keep = None
        if lo is not None:
            keep = arrays.ge(x, lo)
        if hi is not None:
            upper = arrays.le(x, hi)
            keep = upper if keep is None else arrays.logical_and(keep, upper)
        if keep is None:
            return g
        return arrays.where(keep, g, 0)


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


class Where(Node):
    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        self.shapes = (a.shape, b.shape)
        return arrays.where(cond, a, b)

    def backward(self, g):
        (cond,) = self.saved_arrays
        sa, sb = self.shapes
        ga = arrays.sum_to_shape(arrays.where(cond, g, 0), sa) if self.needs_input_grad[1] else None
        gb = arrays.sum_to_shape(arrays.where(cond, 0, g), sb) if self.needs_input_grad[2] else None
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
    return Where.apply(condition, a, b)


# --- comparisons and logic (no gradient) -----------------------------------------------------

def compare(op: str, a, b) -> Tensor:
    a, b = _promote_pair(a, b, op)
    return Tensor._wrap(arrays.compare(op, a._data, b._data))


def eq(input, other):  # noqa: A002
    return compare("eq", input, other)


def ne(input, other):  # noqa: A002
    return compare("ne", input, other)


def lt(input, other):  # noqa: A002
    return compare("lt", input, other)


def le(input, other):  # noqa: A002
    return compare("le", input, other)


def gt(input, other):  # noqa: A002
    return compare("gt", input, other)


def ge(input, other):  # noqa: A002
    return compare("ge", input, other)


def _logical(op: str, a, b) -> Tensor:
    a, b = as_operand(a, _dt.bool_, op), as_operand(b, _dt.bool_, op)
    return Tensor._wrap(arrays.binary(op, a._data, b._data))


def logical_and(input, other):  # noqa: A002
    return _logical("logical_and", input, other)


def logical_or(input, other):  # noqa: A002
    return _logical("logical_or", input, other)


def logical_xor(input, other):  # noqa: A002
    return _logical("logical_xor", input, other)


def logical_not(input):  # noqa: A002 - PyTorch's keyword name
    x = input
    return compare("eq", as_operand(x, _dt.bool_, "logical_not"), False)


def isnan(input):  # noqa: A002 - PyTorch's keyword name
    x = input
    return compare("ne", tensor_arg(x, "isnan"), x)


def isinf(input):  # noqa: A002 - PyTorch's keyword name
    x = input
    if not tensor_arg(x, "isinf").dtype.is_floating_point:
        return compare("ne", x, x)
    return compare("eq", abs(x.detach()), float("inf"))


def isfinite(input):  # noqa: A002 - PyTorch's keyword name
    x = input
    if not tensor_arg(x, "isfinite").dtype.is_floating_point:
        return compare("eq", x, x)
    return compare("lt", abs(x.detach()), float("inf"))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """Elementwise |input - other| <= atol + rtol * |other| (PyTorch's formula, in the inputs'
    dtype). Equal values, infinities included, are always close; NaNs only to each other and
    only with equal_nan."""
    tensor_arg(input, "isclose")
    tensor_arg(other, "isclose", "other")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"isclose(): expected both inputs to have same dtype, but got "
                           f"{input.dtype.name} and {other.dtype.name}")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose(): rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    a, b = input.detach(), other.detach()
    close = eq(a, b)
    if not a.dtype.is_floating_point:
        if rtol == 0 and atol == 0:
            return close
        a, b = cast(a, _dt.get_default_dtype()), cast(b, _dt.get_default_dtype())
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    error = abs(sub(a, b))
    allowed = add(abs(mul(b, rtol)), atol)
    return logical_or(close, logical_and(isfinite(error), le(error, allowed)))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:  # noqa: A002
    """True when every element of input is close to other's (isclose)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input, other) -> bool:  # noqa: A002
    """True when the two tensors have the same shape and the same values."""
    tensor_arg(input, "equal")
    tensor_arg(other, "equal", "other")
    return tuple(input.shape) == tuple(other.shape) and bool(eq(input.detach(), other.detach()).all())


# --- in-place --------------------------------------------------------------------------------

class Overwrite(Node):
    """dst.copy_(src) / dst.fill_(v) while recording: the old values get no gradient, src all."""

    def forward(self, dst, src, out=None):
        self.src_shape, self.src_dtype = src.shape, src.dtype
        return arrays.copy_(src, dst if out is None else out)

    def backward(self, g):
        gs = arrays.sum_to_shape(g, self.src_shape)
        return None, (gs if gs.dtype == self.src_dtype else arrays.astype(gs, self.src_dtype))


def inplace_binary(fn_cls, self: Tensor, other, op: str, floating: bool = False,
                   cast_other: bool = True) -> Tensor:
    """self op= other, keeping self's dtype (PyTorch refuses to change it)."""
    if cast_other:
        d = result_type(self, other, op=op)
        if floating and not d.is_floating_point:
            d = _dt.get_default_dtype()
        if _CATEGORY[d.name] > _CATEGORY[self.dtype.name]:
            other_dtype = other.dtype.name if isinstance(other, Tensor) else type(other).__name__
            raise RuntimeError(f"{op}: result type {d.name} can't be cast to the desired output type {self.dtype.name} "
                               f"(operands {self.dtype.name} and {other_dtype})")
        other = as_operand(other, self.dtype, op)
    if type(other._data) is not type(self._data) or (self.is_cuda and other.device != self.device):
        # copy_ takes its source from any device; other ops a number or a 0-d CPU tensor
        # (anything else raises in apply, naming both devices)
        if fn_cls is Overwrite or (other.ndim == 0 and not other.is_cuda):
            other = move(other, self.device)
    shape = arrays.broadcast_shapes(op, self.shape, other.shape)
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
        write=lambda: arrays.copy_(fn(self)._data, self._data),
    )
