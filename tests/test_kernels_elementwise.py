"""Elementwise kernels of tapegrad._C.cpu (unary, binary, compare, where, clamp, fill) against
numpy, computed in float64 and rounded to the tested dtype, over many shapes and memory layouts."""
import zlib

import mpmath
import numpy as np
import pytest

from tapegrad._C import cpu as K

FLOATS = [np.float32, np.float64]
SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 0, 3), (4, 1, 3), (33, 17), (2, 3, 4, 5)]
BIG = (100_003,)  # above the threading threshold: exercises the split across threads

# float32 results are correctly rounded (arithmetic) or within ~1 ulp (libm), i.e. 2^-24..2^-23
# relative; 1e-6 leaves room for the reference's own final rounding. atol covers subnormals.
TOL = {np.float32: dict(rtol=1e-6, atol=1e-37), np.float64: dict(rtol=1e-13, atol=1e-300)}


def seed(*key):
    return zlib.crc32(repr(key).encode())


def layouts(base: np.ndarray):
    """The values of `base` in several memory layouts: contiguous, strided, transposed,
    reversed (negative strides). Each is a view with exactly base's shape and values."""
    yield "contiguous", base.copy()
    if base.ndim == 0:
        return
    big = np.zeros(base.shape[:-1] + (2 * base.shape[-1],), base.dtype)
    big[..., ::2] = base
    yield "strided", big[..., ::2]
    yield "transposed", np.transpose(base).copy().T
    yield "reversed", base[..., ::-1].copy()[..., ::-1]


def rand(shape, dtype, rng, lo=-3.0, hi=3.0):
    """Random values as an ndarray (0-d too, never a numpy scalar)."""
    if np.dtype(dtype) == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if np.dtype(dtype) == np.int64:
        return np.asarray(rng.integers(-50, 50, size=shape, dtype=np.int64))
    return np.asarray(rng.uniform(lo, hi, size=shape), dtype=dtype)


def check_close(got, ref, dtype):
    assert got.dtype == np.dtype(dtype)
    with np.errstate(all="ignore"):  # the reference may overflow the tested dtype: inf
        want = np.asarray(ref).astype(dtype)
    np.testing.assert_allclose(got, want, equal_nan=True, **TOL[dtype])


SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 0.5, -0.5, 1.5, 2.5, -2.5, 1e-30,
           1e30, 3.7, -3.7, 1e-45, 100.0, -100.0]

# ---------------------------------------------------------------------------------------------
# unary

UNARY = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs,
    "sin": np.sin, "cos": np.cos, "round": np.round,
    # PyTorch's sign, (0 < x) - (x < 0): 0 at nan where numpy's gives nan
    "sign": lambda x: np.where(np.isnan(x), np.zeros_like(x), np.sign(x)),
    "reciprocal": lambda x: 1.0 / x, "square": np.square, "log1p": np.log1p,
    "expm1": np.expm1, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
}
POSITIVE_DOMAIN = {"log", "sqrt", "rsqrt", "log1p"}


def unary_input(op, shape, dtype, rng):
    if op in POSITIVE_DOMAIN:
        return rand(shape, dtype, rng, 0.01, 5.0)
    if op == "round":  # plenty of exact halves to check ties-to-even
        return np.asarray(rng.integers(-20, 20, size=shape) / 2.0, dtype=dtype)
    return rand(shape, dtype, rng)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary_float(op, shape, dtype):
    rng = np.random.default_rng(seed(op, shape))
    base = unary_input(op, shape, dtype, rng)
    ref = UNARY[op](base.astype(np.float64))
    for _, x in layouts(base):
        out = np.full(shape, 7, dtype)
        K.unary(op, x, out)
        check_close(out, ref, dtype)
    for _, out in layouts(np.zeros(shape, dtype)):  # non-contiguous output
        K.unary(op, base, out)
        check_close(out, ref, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_special_values(op, dtype):
    x = np.array(SPECIAL, dtype)
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        ref = UNARY[op](x.astype(np.float64))
    K.unary(op, x, out)
    check_close(out, ref, dtype)
    # Signs of zeros matter for neg/abs/sign/round/floor/ceil/trunc (numpy keeps them).
    if op in ("neg", "abs", "sign", "round", "floor", "ceil", "trunc"):
        np.testing.assert_array_equal(np.signbit(out), np.signbit(ref))


@pytest.mark.parametrize("op", ["neg", "abs", "sign", "square"])
def test_unary_int64(kernels, op):
    rng = np.random.default_rng(1)
    base = np.concatenate([rng.integers(-10**9, 10**9, 200),
                           [0, 1, -1, np.iinfo(np.int64).min, np.iinfo(np.int64).max]])
    with np.errstate(all="ignore"):
        ref = UNARY[op](base)
    for _, x in layouts(base.astype(np.int64)):
        out = np.empty_like(x)
        K.unary(op, x, out)
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["neg", "exp", "sin", "square"])
def test_unary_big_and_inplace(op, dtype):
    rng = np.random.default_rng(2)
    x = rand(BIG, dtype, rng)
    ref = UNARY[op](x.astype(np.float64))
    out = np.empty_like(x)
    K.unary(op, x, out)
    check_close(out, ref, dtype)
    K.unary(op, x, x)  # exact aliasing: in-place
    check_close(x, ref, dtype)


def test_exp_float32_sweep():
    """float32 exp is computed in-house (vectorised, not libm): check it in ulps over the whole
    range, from the subnormal results near -104 to the overflow to inf above 88.72."""
    x = np.concatenate([np.linspace(-106, 90, 2_000_003, dtype=np.float32),
                        np.array([-np.inf, np.inf, np.nan, 88.72283, 88.72284, -87.33655,
                                  -103.97208, -103.2789, 0.0, -0.0, 1e-8, -1e-8], np.float32)])
    for _, xs in layouts(x):
        out = np.empty_like(x)
        K.unary("exp", xs, out)
        ref = np.exp(x.astype(np.float64))
        with np.errstate(all="ignore"):
            ref32 = ref.astype(np.float32)
            err = np.abs(out.astype(np.float64) - ref) / np.spacing(ref32).astype(np.float64)
        finite = np.isfinite(ref32)
        assert err[finite].max() <= 1.5
        np.testing.assert_array_equal(out[~finite], ref32[~finite])


@pytest.mark.parametrize("op, lo, hi, bound", [("expm1", -30.0, 90.0, 2.0),
                                               ("log1p", -1.0, 1e30, 2.5)])
def test_expm1_log1p_float32_sweep(op, lo, hi, bound):
    """float32 expm1 and log1p are computed in-house too (simd_math.h): check them in ulps over
    their range, densely near 0, where both must keep full relative accuracy."""
    rng = np.random.default_rng(3)
    near0 = 10.0 ** rng.uniform(-12, 0, 1_000_000) * rng.choice([-1.0, 1.0], 1_000_000)
    x = np.concatenate([np.linspace(lo, min(hi, 100.0), 1_000_003), near0,
                        10.0 ** rng.uniform(0, np.log10(hi), 100_000)])
    x = x[(x >= lo) & (x <= hi)].astype(np.float32)
    for _, xs in layouts(x):
        out = np.empty_like(x)
        K.unary(op, xs, out)
        with np.errstate(all="ignore"):  # log1p(-1) = -inf
            ref = UNARY[op](x.astype(np.float64))
            ref32 = ref.astype(np.float32)
            err = np.abs(out.astype(np.float64) - ref) / np.spacing(ref32).astype(np.float64)
        finite = np.isfinite(ref32)
        assert err[finite].max() <= bound
        np.testing.assert_array_equal(out[~finite], ref32[~finite])


def test_expm1_log1p_float32_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -1.5, 1e-45, -1e-45, 3e38, 89.0,
                  -104.0], np.float32)
    for op in ["expm1", "log1p"]:
        out = np.empty_like(x)
        with np.errstate(all="ignore"):
            want = UNARY[op](x)  # numpy's own float32 results
        K.unary(op, x, out)
        np.testing.assert_allclose(out, want, rtol=3e-7, atol=0, equal_nan=True, err_msg=op)
        signed = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(out[signed]), np.signbit(want[signed]),
                                      err_msg=op)


def test_unary_broadcast_input_and_overlap():
    v = np.broadcast_to(np.array(2.0, np.float32), (4, 5))
    out = np.empty((4, 5), np.float32)
    K.unary("exp", v, out)
    check_close(out, np.full((4, 5), np.exp(2.0)), np.float32)
    # Input and output overlapping in reverse order: the result is as if x were read first.
    x = np.arange(10.0)
    K.unary("neg", x[::-1], x)
    np.testing.assert_array_equal(x, -np.arange(10.0)[::-1])


def test_unary_errors():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="unary: unknown op 'foo'"):
        K.unary("foo", x, np.empty_like(x))
    with pytest.raises(ValueError, match=r"neg: out shape \(3,\) does not match input shape \(4,\)"):
        K.unary("neg", x, np.empty(3, np.float32))
    with pytest.raises(ValueError, match="neg: dtypes float32 and float64 must match"):
        K.unary("neg", x, np.empty(4, np.float64))
    with pytest.raises(ValueError, match="exp: not supported for int64"):
        K.unary("exp", np.ones(3, np.int64), np.empty(3, np.int64))
    with pytest.raises(ValueError, match="neg: not supported for bool"):
        K.unary("neg", np.ones(3, bool), np.empty(3, bool))
    with pytest.raises(ValueError, match="unsupported array dtype 'int32'"):
        K.unary("neg", np.ones(3, np.int32), np.empty(3, np.int32))
    ro = np.empty(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="neg: output array is read-only"):
        K.unary("neg", x, ro)
    unaligned = np.zeros(17, np.uint8)[1:].view(np.float32)
    with pytest.raises(ValueError, match="not aligned"):
        K.unary("neg", unaligned, np.empty(4, np.float32))


# ---------------------------------------------------------------------------------------------
# binary

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum,
    "floor_divide": np.floor_divide, "remainder": np.remainder,
}
# Python-style division snaps an integral quotient in the array's own precision, so these are
# checked against numpy in the same dtype rather than against float64.
SAME_DTYPE_REF = {"floor_divide", "remainder"}


def binary_ref(op, a, b, dtype):
    with np.errstate(all="ignore"):
        if op in SAME_DTYPE_REF:
            return BINARY[op](a.astype(dtype), b.astype(dtype))
        return BINARY[op](a.astype(np.float64), b.astype(np.float64))


def binary_inputs(op, shape, dtype, rng):
    a = rand(shape, dtype, rng)
    b = rand(shape, dtype, rng)
    if op == "pow":
        a = rand(shape, dtype, rng, 0.1, 3.0)
    if op in ("div", "floor_divide", "remainder"):
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_binary_float(op, shape, dtype):
    rng = np.random.default_rng(seed(op, shape, "b"))
    a0, b0 = binary_inputs(op, shape, dtype, rng)
    ref = binary_ref(op, a0, b0, dtype)
    for (_, a), (_, b) in zip(layouts(a0), reversed(list(layouts(b0)))):
        out = np.full(shape, 7, dtype)
        K.binary(op, a, b, out)
        check_close(out, ref, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_broadcast(op, dtype):
    """Operands broadcast with stride-0 views: a Python scalar as a 0-d array, a row, a column."""
    rng = np.random.default_rng(3)
    shape = (9, 13)
    a0, b0 = binary_inputs(op, shape, dtype, rng)
    scalar = np.array(b0[0, 0])
    row = b0[:1, :]
    col = a0[:, :1]
    cases = [
        (a0, np.broadcast_to(scalar, shape)),
        (np.broadcast_to(scalar, shape), a0 if op != "pow" else b0),
        (a0, np.broadcast_to(row, shape)),
        (np.broadcast_to(col, shape), b0),
        (a0.T.copy().T, np.broadcast_to(row, shape)),
    ]
    for a, b in cases:
        out = np.empty(shape, dtype)
        K.binary(op, a, b, out)
        check_close(out, binary_ref(op, np.array(a), np.array(b), dtype), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_special_values(op, dtype):
    v = np.array(SPECIAL, dtype)
    a, b = np.meshgrid(v, v)
    out = np.empty_like(a)
    K.binary(op, a, b, out)
    check_close(out, binary_ref(op, a, b, dtype), dtype)


def test_maximum_minimum_propagate_nan():
    a = np.array([np.nan, 1.0, np.nan, 2.0, -np.inf], np.float32)
    b = np.array([1.0, np.nan, np.nan, 3.0, np.nan], np.float32)
    for op, fn in [("maximum", np.maximum), ("minimum", np.minimum)]:
        out = np.empty_like(a)
        K.binary(op, a, b, out)
        np.testing.assert_array_equal(out, fn(a, b))


@pytest.mark.parametrize("dtype", FLOATS + [np.int64])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "maximum"])
def test_binary_big_and_aliasing(op, dtype):
    rng = np.random.default_rng(4)
    a0, b0 = rand(BIG, dtype, rng), rand(BIG, dtype, rng)
    with np.errstate(all="ignore"):
        ref = BINARY[op](a0, b0)
    a, b = a0.copy(), b0.copy()
    K.binary(op, a, b, a)  # a.op_(b)
    np.testing.assert_allclose(a, ref, rtol=1e-6)
    a, b = a0.copy(), b0.copy()
    K.binary(op, a, b, b)  # out aliases the second operand
    np.testing.assert_allclose(b, ref, rtol=1e-6)
    a = a0.copy()
    K.binary(op, a, a, a)  # x.op_(x)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(a, BINARY[op](a0, a0), rtol=1e-6)
    # in-place on a strided view, the other operand interleaved with it in the same buffer
    x = a0.copy()
    even, odd = x[0::2][: BIG[0] // 2], x[1::2]
    with np.errstate(all="ignore"):
        want = BINARY[op](a0[0::2][: BIG[0] // 2], a0[1::2])
    K.binary(op, even, odd, even)
    np.testing.assert_allclose(even, want, rtol=1e-6)
    np.testing.assert_array_equal(odd, a0[1::2])


def test_binary_partial_overlap():
    """Overlapping but not identical views behave as if the inputs were read first."""
    x = np.arange(10.0)
    K.binary("add", x[1:], x[:-1], x[1:])
    y = np.arange(10.0)
    y[1:] = y[1:] + y[:-1]
    np.testing.assert_array_equal(x, y)
    x = np.arange(12.0)
    K.binary("mul", x[::-1], x, x)
    np.testing.assert_array_equal(x, np.arange(12.0)[::-1] * np.arange(12.0))


INT_OPS = ["add", "sub", "mul", "maximum", "minimum", "pow", "floor_divide", "remainder"]


@pytest.mark.parametrize("op", INT_OPS)
def test_binary_int64(kernels, op):
    rng = np.random.default_rng(5)
    a = rng.integers(-1000, 1000, 300, dtype=np.int64)
    b = rng.integers(-1000, 1000, 300, dtype=np.int64)
    if op == "pow":
        a = rng.integers(-7, 8, 300, dtype=np.int64)
        b = rng.integers(0, 70, 300, dtype=np.int64)  # large exponents wrap, as numpy
    if op in ("floor_divide", "remainder"):
        b[b == 0] = 3
        a = np.concatenate([a, [np.iinfo(np.int64).min, 7, -7, 7, -7]])
        b = np.concatenate([b, [-1, 2, 2, -2, -2]])
    with np.errstate(all="ignore"):
        ref = BINARY[op](a, b)
    for (_, x), (_, y) in zip(layouts(a), layouts(b)):
        out = np.empty_like(a)
        K.binary(op, x, y, out)
        np.testing.assert_array_equal(out, ref)
    out = np.empty_like(a)
    K.binary(op, a, np.broadcast_to(b[:1], a.shape), out)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(out, BINARY[op](a, b[:1]))


def test_binary_int64_wraps(kernels):
    big = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min], np.int64)
    one = np.array([1, -1], np.int64)
    out = np.empty_like(big)
    K.binary("add", big, one, out)
    np.testing.assert_array_equal(out, [np.iinfo(np.int64).min, np.iinfo(np.int64).max])


def test_binary_int64_errors_leave_out_untouched():
    a = np.arange(5, dtype=np.int64)
    b = np.array([1, 2, 0, 1, 1], np.int64)
    for op in ("floor_divide", "remainder"):
        x = a.copy()
        with pytest.raises(ValueError, match=f"{op}: division by zero"):
            K.binary(op, x, b, x)
        np.testing.assert_array_equal(x, a)
    x = a.copy()
    with pytest.raises(ValueError, match="pow: Integers to negative integer powers are not allowed."):
        K.binary("pow", x, np.array([1, 2, -1, 0, 1], np.int64), x)
    np.testing.assert_array_equal(x, a)


@pytest.mark.parametrize("op,fn", [("logical_and", np.logical_and), ("logical_or", np.logical_or),
                                   ("logical_xor", np.logical_xor)])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_binary_bool(kernels, op, fn, shape):
    rng = np.random.default_rng(6)
    a0, b0 = rand(shape, bool, rng), rand(shape, bool, rng)
    for (_, a), (_, b) in zip(layouts(a0), layouts(b0)):
        out = np.empty(shape, bool)
        K.binary(op, a, b, out)
        np.testing.assert_array_equal(out, fn(a0, b0))
    if shape:
        out = np.empty(shape, bool)
        K.binary(op, a0, np.broadcast_to(np.array(True), shape), out)
        np.testing.assert_array_equal(out, fn(a0, True))


def test_bool_bytes_other_than_one_read_as_true():
    a = np.array([2, 0, 255, 1], np.uint8).view(bool)
    b = np.array([1, 1, 4, 0], np.uint8).view(bool)
    out = np.empty(4, bool)
    K.binary("logical_xor", a, b, out)
    np.testing.assert_array_equal(out.view(np.uint8), [0, 1, 0, 1])
    K.compare("eq", a, b, out)
    np.testing.assert_array_equal(out.view(np.uint8), [1, 0, 1, 0])


def test_binary_errors():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="binary: unknown op 'arctan2'"):
        K.binary("arctan2", x, x, np.empty_like(x))
    with pytest.raises(ValueError, match="add: dtypes float32 and float64 must match"):
        K.binary("add", x, np.ones(4), np.empty_like(x))
    with pytest.raises(ValueError, match=r"add: shapes \(4,\) and \(3,\) must match"):
        K.binary("add", x, np.ones(3, np.float32), np.empty_like(x))
    with pytest.raises(ValueError, match="add: out must be float32, got float64"):
        K.binary("add", x, x, np.empty(4))
    with pytest.raises(ValueError, match=r"add: out shape \(2, 2\) does not match input shape \(4,\)"):
        K.binary("add", x, x, np.empty((2, 2), np.float32))
    with pytest.raises(ValueError, match="div: not supported for int64"):
        K.binary("div", np.ones(2, np.int64), np.ones(2, np.int64), np.empty(2, np.int64))
    with pytest.raises(ValueError, match="add: not supported for bool"):
        K.binary("add", np.ones(2, bool), np.ones(2, bool), np.empty(2, bool))
    with pytest.raises(ValueError, match="logical_and: not supported for float32"):
        K.binary("logical_and", x, x, np.empty_like(x))
    with pytest.raises(TypeError):
        K.binary("add", [1.0], x, np.empty_like(x))


# ---------------------------------------------------------------------------------------------
# compare

COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
           "gt": np.greater, "ge": np.greater_equal}


@pytest.mark.parametrize("dtype", FLOATS + [np.int64, np.bool_])
@pytest.mark.parametrize("op", sorted(COMPARE))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_compare(kernels, op, shape, dtype):
    rng = np.random.default_rng(seed(op, shape, "c"))
    a0 = rand(shape, dtype, rng)
    b0 = rand(shape, dtype, rng)
    if dtype != np.bool_ and a0.size:
        b0.flat[::3] = a0.flat[::3]  # some equal pairs
    ref = COMPARE[op](a0, b0)
    for (_, a), (_, b) in zip(layouts(a0), layouts(b0)):
        out = np.empty(shape, bool)
        K.compare(op, a, b, out)
        np.testing.assert_array_equal(out, ref)
    if a0.size:
        s = np.broadcast_to(b0.flat[0], shape)
        out = np.empty(shape, bool)
        K.compare(op, a0, s, out)
        np.testing.assert_array_equal(out, COMPARE[op](a0, b0.flat[0]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(COMPARE))
def test_compare_nan_and_big(op, dtype):
    v = np.array(SPECIAL, dtype)
    a, b = np.meshgrid(v, v)
    out = np.empty(a.shape, bool)
    K.compare(op, a, b, out)
    np.testing.assert_array_equal(out, COMPARE[op](a, b))
    rng = np.random.default_rng(7)
    x, y = rand(BIG, dtype, rng), rand(BIG, dtype, rng)
    out = np.empty(BIG, bool)
    K.compare(op, x, y, out)
    np.testing.assert_array_equal(out, COMPARE[op](x, y))


def test_compare_errors():
    x = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="compare: unknown op 'lessthan'"):
        K.compare("lessthan", x, x, np.empty(3, bool))
    with pytest.raises(ValueError, match="lt: out must be bool, got float32"):
        K.compare("lt", x, x, np.empty(3, np.float32))
    with pytest.raises(ValueError, match="eq: dtypes float32 and int64 must match"):
        K.compare("eq", x, np.ones(3, np.int64), np.empty(3, bool))
    with pytest.raises(ValueError, match=r"eq: shapes \(3,\) and \(2,\) must match"):
        K.compare("eq", x, np.ones(2, np.float32), np.empty(3, bool))


# ---------------------------------------------------------------------------------------------
# where

@pytest.mark.parametrize("dtype", FLOATS + [np.int64, np.bool_])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_where(kernels, shape, dtype):
    rng = np.random.default_rng(8)
    c0 = rand(shape, bool, rng)
    a0, b0 = rand(shape, dtype, rng), rand(shape, dtype, rng)
    ref = np.where(c0, a0, b0)
    for (_, c), (_, a), (_, b) in zip(layouts(c0), layouts(a0), reversed(list(layouts(b0)))):
        out = np.empty(shape, dtype)
        K.where(c, a, b, out)
        np.testing.assert_array_equal(out, ref)
    if a0.size:
        for a, b in [(a0, np.broadcast_to(b0.flat[0], shape)),
                     (np.broadcast_to(a0.flat[0], shape), b0)]:
            out = np.empty(shape, dtype)
            K.where(c0, a, b, out)
            np.testing.assert_array_equal(out, np.where(c0, a, b))


def test_where_big_broadcast_cond_and_nan_bits():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((400, 300))
    a[::7, ::5] = np.nan
    b = rng.standard_normal((400, 300))
    cond = np.broadcast_to(rng.random(300) < 0.5, (400, 300))
    out = np.empty_like(a)
    K.where(cond, a, b, out)
    np.testing.assert_array_equal(out, np.where(cond, a, b))
    K.where(cond, a, b, a)  # in-place into a
    np.testing.assert_array_equal(a, out)


def test_where_errors():
    x = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="where: cond must be bool, got float32"):
        K.where(x, x, x, np.empty_like(x))
    with pytest.raises(ValueError, match="where: dtypes float32 and float64 must match"):
        K.where(np.ones(3, bool), x, np.ones(3), np.empty_like(x))
    with pytest.raises(ValueError, match=r"where: shapes \(2,\) and \(3,\) must match"):
        K.where(np.ones(2, bool), x, x, np.empty_like(x))
    with pytest.raises(ValueError, match="where: out must be float32, got int64"):
        K.where(np.ones(3, bool), x, x, np.empty(3, np.int64))


# ---------------------------------------------------------------------------------------------
# clamp

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES + [BIG], ids=str)
@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (None, 0.5), (-0.5, None), (None, None),
                                   (1.0, -1.0), (-1, 2)])
def test_clamp_float(kernels, shape, dtype, lo, hi):
    rng = np.random.default_rng(10)
    x0 = rand(shape, dtype, rng)
    if x0.size:
        x0.flat[::11] = np.nan
    ref = x0.astype(np.float64)
    if lo is not None:
        ref = np.maximum(ref, lo)
    if hi is not None:
        ref = np.minimum(ref, hi)  # lo > hi gives hi everywhere, as torch.clamp
    for _, x in layouts(x0):
        out = np.empty(shape, dtype)
        K.clamp(x, lo, hi, out)
        check_close(out, ref, dtype)
    x = x0.copy()
    K.clamp(x, lo, hi, x)  # in-place
    check_close(x, ref, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_clamp_nan_bound(dtype):
    x = np.array([-1.0, 0.0, 2.0, np.nan], dtype)
    for lo, hi in [(float("nan"), None), (None, float("nan")), (0.0, float("nan"))]:
        out = np.empty_like(x)
        K.clamp(x, lo, hi, out)  # torch.clamp gives NaN everywhere
        assert np.isnan(out).all()


def test_clamp_int64(kernels):
    x = np.arange(-10, 11, dtype=np.int64)
    out = np.empty_like(x)
    K.clamp(x, -2.5, 3.5, out)  # the integers inside [-2.5, 3.5]
    np.testing.assert_array_equal(out, np.clip(x, -2, 3))
    K.clamp(x, -3, None, out)
    np.testing.assert_array_equal(out, np.maximum(x, -3))
    big = np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max], np.int64)
    K.clamp(big, 2**62 + 1, None, big)
    np.testing.assert_array_equal(big, [2**62 + 1, 2**62 + 1, np.iinfo(np.int64).max])
    K.clamp(x, -1e30, 1e30, out)
    np.testing.assert_array_equal(out, x)


def test_clamp_errors():
    with pytest.raises(ValueError, match="clamp: not supported for bool"):
        K.clamp(np.ones(2, bool), 0.0, 1.0, np.empty(2, bool))
    with pytest.raises(ValueError, match="clamp: dtypes float32 and float64 must match"):
        K.clamp(np.ones(2, np.float32), 0.0, 1.0, np.empty(2))
    with pytest.raises(ValueError, match="clamp: bound nan is not valid for int64"):
        K.clamp(np.ones(2, np.int64), float("nan"), None, np.empty(2, np.int64))
    with pytest.raises(ValueError, match="clamp: min 'a' is not a number"):
        K.clamp(np.ones(2), "a", None, np.empty(2))


# ---------------------------------------------------------------------------------------------
# fill

@pytest.mark.parametrize("dtype,value,want", [
    (np.float32, 1.5, 1.5), (np.float64, -2.25, -2.25), (np.float32, 3, 3.0),
    (np.float64, True, 1.0), (np.float32, np.inf, np.inf), (np.int64, 7, 7),
    (np.int64, 2**62 + 1, 2**62 + 1), (np.int64, 2.7, 2), (np.int64, -2.7, -2),
    (np.int64, np.int64(-5), -5), (np.bool_, 0.5, True), (np.bool_, 0, False),
    (np.bool_, True, True), (np.float32, np.float32(0.1), np.float32(0.1)),
])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (100_001,)], ids=str)
def test_fill(kernels, dtype, value, want, shape):
    base = np.zeros(shape, dtype)
    for _, x in layouts(base):
        K.fill(x, value)
        np.testing.assert_array_equal(x, np.full(shape, want, dtype))
    if len(shape) == 1 and shape[0] > 1:
        y = np.zeros(shape, dtype)
        K.fill(y[::2], value)  # only every other element
        np.testing.assert_array_equal(y[::2], np.full(y[::2].shape, want, dtype))
        np.testing.assert_array_equal(y[1::2], np.zeros(y[1::2].shape, dtype))


def test_fill_errors():
    with pytest.raises(ValueError, match="fill: value nan cannot be converted to int64"):
        K.fill(np.zeros(2, np.int64), float("nan"))
    with pytest.raises(ValueError, match="fill: value 1e\\+30 cannot be converted to int64"):
        K.fill(np.zeros(2, np.int64), 1e30)
    with pytest.raises(ValueError, match=r"fill: value 1.18059e\+21 cannot be converted to int64"):
        K.fill(np.zeros(2, np.int64), 2**70)
    with pytest.raises(ValueError, match="fill: value 'x' is not a number"):
        K.fill(np.zeros(2), "x")
    ro = np.zeros(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="fill: output array is read-only"):
        K.fill(ro, 1.0)


def test_threads_agree():
    """The threaded split gives the same bits as a single thread."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(300_007).astype(np.float32)
    y = rng.standard_normal(300_007).astype(np.float32)
    n = K.get_num_threads()
    try:
        outs = []
        for t in (1, 3):
            K.set_num_threads(t)
            o1, o2 = np.empty_like(x), np.empty_like(x)
            K.unary("exp", x, o1)
            K.binary("pow", np.abs(x), y, o2)
            outs.append((o1, o2))
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        np.testing.assert_array_equal(outs[0][1], outs[1][1])
    finally:
        K.set_num_threads(n)


# ---------------------------------------------------------------------------------------------
# The transcendental ops added to the op lists: log2, log10, exp2, erf, erfc, erfinv, tan, asin,
# acos, atan, sinh, cosh, asinh, acosh, atanh, frac; hypot, atan2, logaddexp, fmod.
# They go through libm (float32 through its float functions), which is within 1-2 ulp of the
# exact result, and the float64 numpy reference is within 1 ulp itself: 4 ulp of the result,
# relative, covers both (float32: 4 * 2^-23 < 4.8e-7; float64: 4 * 2^-52 < 9e-16).
ULP4 = {np.float32: 4 * 2.0**-23, np.float64: 4 * 2.0**-52}

NEW_UNARY = {
    "log2": (np.log2, 0.01, 50.0), "log10": (np.log10, 0.01, 50.0), "exp2": (np.exp2, -30, 30),
    "tan": (np.tan, -1.5, 1.5), "asin": (np.arcsin, -1, 1), "acos": (np.arccos, -1, 1),
    "atan": (np.arctan, -20, 20), "sinh": (np.sinh, -10, 10), "cosh": (np.cosh, -10, 10),
    "asinh": (np.arcsinh, -20, 20), "acosh": (np.arccosh, 1, 30), "atanh": (np.arctanh, -1, 1),
    "frac": (lambda x: x - np.trunc(x), -20, 20),
}


def check_ulps(got, ref, dtype, scale=None):
    """|got - ref| <= 4 ulp of the result (of `scale` where given), NaN where ref is NaN."""
    assert got.dtype == np.dtype(dtype)
    with np.errstate(all="ignore"):
        want = np.asarray(ref, np.float64).astype(dtype).astype(np.float64)
    g = got.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_array_equal(g[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    s = np.abs(want if scale is None else scale)[fin]
    tiny = np.finfo(dtype).tiny
    err = np.abs(g[fin] - want[fin])
    assert np.all(err <= ULP4[dtype] * np.maximum(s, tiny)), np.max(err / np.maximum(s, tiny))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(NEW_UNARY))
def test_new_unary_float(op, dtype):
    fn, lo, hi = NEW_UNARY[op]
    rng = np.random.default_rng(seed(op, "new"))
    base = rand((5003,), dtype, rng, lo, hi)
    ref = fn(base.astype(np.float64))
    for _, x in layouts(base.reshape(7, -1) if base.size % 7 == 0 else base):
        out = np.empty(x.shape, dtype)
        K.unary(op, x, out)
        check_ulps(out.ravel(), ref, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(NEW_UNARY) + ["erf", "erfc", "erfinv"])
def test_new_unary_special_values(op, dtype):
    """0, -0, infinities, NaN and the domain edges, against torch in float64 (its special-value
    rules are the ones the Python layer promises), signs of zeros included."""
    torch = pytest.importorskip("torch")
    x = np.array(SPECIAL + [1.0 - 2.0**-20, -1.0 + 2.0**-20, 1.0 + 2.0**-20, 2.0**-20, 0.75, 1.0 / 3],
                 dtype)
    out = np.empty_like(x)
    K.unary(op, x, out)
    ref = getattr(torch, op)(torch.from_numpy(x.astype(np.float64))).numpy()
    check_ulps(out, ref, dtype)
    zero = ref == 0
    np.testing.assert_array_equal(np.signbit(out[zero]), np.signbit(ref[zero]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["erf", "erfc", "erfinv"])
def test_erf_family(op, dtype):
    """erf and erfc against torch in float64; erfinv, which is ours (no libm function), against
    mpmath at 50 digits across (-1, 1), the poles' neighbourhoods included, and as erf's
    inverse."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed(op, "erf"))
    if op == "erfinv":
        x = np.concatenate([rng.uniform(-1, 1, 3000), 1 - 10.0 ** -rng.uniform(1, 15, 300),
                            -(1 - 10.0 ** -rng.uniform(1, 7, 100)), 10.0 ** -rng.uniform(1, 300, 100)])
    else:
        x = rng.uniform(-6, 6, 3000)
    x = x.astype(dtype)
    x = x[np.abs(x) < 1] if op == "erfinv" else x
    out = np.empty_like(x)
    K.unary(op, x, out)
    if op == "erfinv":
        with mpmath.workdps(50):
            ref = np.array([float(mpmath.erfinv(mpmath.mpf(float(v)))) for v in x])
        check_ulps(out, ref, dtype)
        # torch's erfinv agrees to a few ulp as well
        tref = torch.erfinv(torch.from_numpy(x.astype(np.float64))).numpy()
        check_ulps(out, tref, dtype)
    else:
        ref = getattr(torch, op)(torch.from_numpy(x.astype(np.float64))).numpy()
        check_ulps(out, ref, dtype)


def test_erfinv_edges():
    for dtype in FLOATS:
        x = np.array([1.0, -1.0, 1.5, -1.5, np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)
        out = np.empty_like(x)
        K.unary("erfinv", x, out)
        np.testing.assert_array_equal(out[:2], [np.inf, -np.inf])
        assert np.all(np.isnan(out[2:7]))
        np.testing.assert_array_equal(np.signbit(out[7:]), [False, True])
        assert np.all(out[7:] == 0)


NEW_BINARY = {"hypot": np.hypot, "atan2": np.arctan2, "logaddexp": np.logaddexp, "fmod": np.fmod}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(NEW_BINARY))
def test_new_binary_float(op, dtype):
    rng = np.random.default_rng(seed(op, "newb"))
    a0 = rand((3001,), dtype, rng, -30, 30)
    b0 = rand((3001,), dtype, rng, -30, 30)
    with np.errstate(all="ignore"):
        if op == "fmod":  # exact in every dtype
            ref = np.fmod(a0, b0).astype(np.float64)
        else:
            ref = NEW_BINARY[op](a0.astype(np.float64), b0.astype(np.float64))
    # logaddexp is max(a, b) + log1p(exp(-|a - b|)): each part within a few ulp of itself, so
    # the error is relative to the larger part, not to a sum that may cancel to near 0.
    def scale_of(a, b):
        return np.maximum(np.abs(np.maximum(a, b)), np.log(2)) if op == "logaddexp" else None

    scale = scale_of(a0, b0)
    for (_, a), (_, b) in zip(layouts(a0), reversed(list(layouts(b0)))):
        out = np.full(a0.shape, 7, dtype)
        K.binary(op, a, b, out)
        check_ulps(out, ref, dtype, scale)
    out = np.empty_like(a0)
    K.binary(op, a0, np.broadcast_to(b0[:1], a0.shape), out)
    with np.errstate(all="ignore"):
        ref1 = (np.fmod(a0, b0[:1]) if op == "fmod"
                else NEW_BINARY[op](a0.astype(np.float64), b0[:1].astype(np.float64)))
    check_ulps(out, ref1, dtype, scale_of(a0, b0[:1]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(NEW_BINARY))
def test_new_binary_special_values(op, dtype):
    """Every pair of special values (zeros of both signs, infinities, NaN), against torch in
    float64 (numpy agrees except where noted in torch's docs), signs of zeros included."""
    torch = pytest.importorskip("torch")
    v = np.array(SPECIAL, dtype)
    a, b = np.meshgrid(v, v)
    out = np.empty_like(a)
    K.binary(op, a, b, out)
    ta, tb = torch.from_numpy(a.astype(np.float64)), torch.from_numpy(b.astype(np.float64))
    ref = getattr(torch, op)(ta, tb).numpy()
    if op == "fmod":
        with np.errstate(invalid="ignore"):  # fmod(inf, y) and fmod(x, 0) are NaN
            ref = np.fmod(a, b).astype(np.float64)  # exact in the tested dtype
    scale = np.maximum(np.abs(np.maximum(a, b)), np.log(2)) if op == "logaddexp" else None
    check_ulps(out.ravel(), ref.ravel(), dtype, None if scale is None else scale.ravel())
    zero = ref == 0
    np.testing.assert_array_equal(np.signbit(out[zero]), np.signbit(ref[zero]))


def test_logaddexp_no_overflow_and_infinities():
    for dtype in FLOATS:
        big = np.finfo(dtype).max
        a = np.array([big, 1000.0, np.inf, -np.inf, np.inf, -np.inf, -1000.0], dtype)
        b = np.array([big, 1000.0, np.inf, -np.inf, -np.inf, 5.0, -1000.0], dtype)
        out = np.empty_like(a)
        K.binary("logaddexp", a, b, out)
        # max + log 2 rounds back to max: no overflow at the top of the range
        want = np.array([big, 1000.0 + np.log(2), np.inf, -np.inf, np.inf, 5.0,
                         -1000.0 + np.log(2)], dtype)
        np.testing.assert_allclose(out, want, rtol=ULP4[dtype])


def test_fmod_int64_as_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    a = rng.integers(-1000, 1000, 500, dtype=np.int64)
    b = rng.integers(-40, 40, 500, dtype=np.int64)
    b[b == 0] = 7
    i64 = np.iinfo(np.int64)
    a = np.concatenate([a, [i64.min, i64.min, i64.max, 7, -7, 7, -7]])
    b = np.concatenate([b, [-1, 3, -1, 2, 2, -2, -2]])
    out = np.empty_like(a)
    K.binary("fmod", a, b, out)
    np.testing.assert_array_equal(out, torch.fmod(torch.from_numpy(a), torch.from_numpy(b)).numpy())
    x = a.copy()
    with pytest.raises(ValueError, match="fmod: division by zero"):
        K.binary("fmod", x, np.where(np.arange(a.size) == 3, 0, b), x)
    np.testing.assert_array_equal(x, a)


@pytest.mark.parametrize("op", sorted(NEW_UNARY) + ["erf", "erfc", "erfinv"])
def test_new_unary_not_for_int64(op):
    x = np.arange(4, dtype=np.int64)
    with pytest.raises(ValueError, match=f"{op}: not supported for int64"):
        K.unary(op, x, np.empty_like(x))


@pytest.mark.parametrize("op", ["hypot", "atan2", "logaddexp"])
def test_new_binary_not_for_int64(op):
    x = np.arange(4, dtype=np.int64)
    with pytest.raises(ValueError, match=f"{op}: not supported for int64"):
        K.binary(op, x, x, np.empty_like(x))
