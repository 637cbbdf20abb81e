"""_C.cpu.activation / activation_backward against float64 numpy references."""
import math

import numpy as np
import pytest

from tapegrad._C import cpu as K

DTYPES = [np.float32, np.float64]
# float32: a handful of roundings inside each formula; float64: libm is within a few ulp
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-15)}

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gelu_tanh_u(x):
    return math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)


# kind -> (params, forward(x, p1, p2), derivative(x, p1, p2)), all on float64 arrays.
# 0.5 (1 + erf(t)) is written 0.5 erfc(-t) and 0.5 (1 + tanh(u)) as sigmoid(2u): the same
# functions, without the cancellation that would make the reference itself inaccurate.
REFS = {
    "relu": ((0.0, 0.0), lambda x, a, b: np.where(x < 0, 0.0, x),
             lambda x, a, b: np.where(x > 0, 1.0, 0.0)),
    "sigmoid": ((0.0, 0.0), lambda x, a, b: _sigmoid(x),
                lambda x, a, b: _sigmoid(x) * _sigmoid(-x)),
    "tanh": ((0.0, 0.0), lambda x, a, b: np.tanh(x),
             lambda x, a, b: 1.0 - np.tanh(x) ** 2),
    "leaky_relu": ((0.2, 0.0), lambda x, a, b: np.where(x > 0, x, a * x),
                   lambda x, a, b: np.where(x > 0, 1.0, a)),
    "elu": ((0.7, 0.0), lambda x, a, b: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))),
            lambda x, a, b: np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0)))),
    "gelu": ((0.0, 0.0), lambda x, a, b: 0.5 * x * _erfc(-x / math.sqrt(2)),
             lambda x, a, b: 0.5 * _erfc(-x / math.sqrt(2))
             + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)),
    "gelu_tanh": ((0.0, 0.0), lambda x, a, b: x * _sigmoid(2 * _gelu_tanh_u(x)),
                  lambda x, a, b: _sigmoid(2 * _gelu_tanh_u(x))
                  + 2 * x * _sigmoid(2 * _gelu_tanh_u(x)) * _sigmoid(-2 * _gelu_tanh_u(x))
                  * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)),
    "softplus": ((2.0, 20.0), lambda x, a, b: np.where(a * x > b, x, np.logaddexp(0, a * x) / a),
                 lambda x, a, b: np.where(a * x > b, 1.0, _sigmoid(a * x))),
    "silu": ((0.0, 0.0), lambda x, a, b: x * _sigmoid(x),
             lambda x, a, b: _sigmoid(x) * (1 + x * _sigmoid(-x))),
}
KINDS = list(REFS)
SAVES_OUTPUT = {"sigmoid", "tanh"}

SHAPES = [(), (0,), (1,), (7,), (3, 5), (4, 0, 3), (2, 3, 4, 5), (257,), (50_001,)]


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return np.asarray(rng.standard_normal(shape) * 3, dtype=dtype)


def _forward(kind, x, out=None):
    p1, p2 = REFS[kind][0]
    if out is None:
        out = np.empty_like(x)
    K.activation(kind, x, out, p1, p2)
    return out


def _ref_forward(kind, x):
    (p1, p2), f, _ = REFS[kind]
    with np.errstate(over="ignore"):
        return f(np.asarray(x, np.float64), p1, p2)


def _ref_backward(kind, g, x):
    (p1, p2), _, d = REFS[kind]
    with np.errstate(over="ignore"):
        return np.asarray(g, np.float64) * d(np.asarray(x, np.float64), p1, p2)


def _saved(kind, x):
    """What activation_backward takes: the forward output for sigmoid/tanh, else the input."""
    return _forward(kind, x) if kind in SAVES_OUTPUT else x


# --------------------------------------------------------------------------------------------
# forward

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_matches_reference(kind, shape, dtype):
    x = _inputs(shape, dtype)
    out = _forward(kind, x)
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_allclose(out, _ref_forward(kind, x), **TOL[dtype])


def _strided_cases(dtype):
    base = _inputs((6, 10), dtype, seed=1)
    return {
        "transposed": base.T,
        "sliced": base[::2, 1::3],
        "reversed": base[::-1, ::-2],
        "broadcast_row": np.broadcast_to(base[0], (5, 10)),
        "broadcast_col": np.broadcast_to(base[:, :1], (6, 4)),
        "scalar_broadcast": np.broadcast_to(base[2, 3], (3, 2)),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_noncontiguous(kind, dtype):
    for name, x in _strided_cases(dtype).items():
        ref = _ref_forward(kind, x)
        np.testing.assert_allclose(_forward(kind, x), ref, **TOL[dtype], err_msg=name)
        # non-contiguous output as well
        out = np.empty(x.shape[::-1], dtype).T
        _forward(kind, x, out)
        np.testing.assert_allclose(out, ref, **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_in_place(kind, dtype):
    x = _inputs((33, 17), dtype, seed=2)
    ref = _ref_forward(kind, x)
    view = x[:, 1:]  # in place on a strided view too
    ref_view = _ref_forward(kind, view)
    y = x.copy()
    K.activation(kind, y, y, *REFS[kind][0])
    np.testing.assert_allclose(y, ref, **TOL[dtype])
    z = x.copy()
    K.activation(kind, z[:, 1:], z[:, 1:], *REFS[kind][0])
    np.testing.assert_allclose(z[:, 1:], ref_view, **TOL[dtype])
    np.testing.assert_array_equal(z[:, 0], x[:, 0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_exactly(dtype):
    x = np.array([-1000.0, -800.0, -89.0, 0.0, 89.0, 800.0, 1000.0], dtype)
    y = _forward("sigmoid", x)
    assert y[0] == 0.0 and y[1] == 0.0 and y[-2] == 1.0 and y[-1] == 1.0
    assert y[3] == 0.5 and y[4] == 1.0
    assert np.all(np.isfinite(y))
    # the tail keeps its relative accuracy instead of flushing early
    np.testing.assert_allclose(_forward("sigmoid", np.array([-30.0, -80.0], dtype)),
                               np.exp([-30.0, -80.0]), rtol=TOL[dtype]["rtol"])
    s = _forward("silu", x)
    assert s[0] == 0.0 and s[-1] == 1000.0
    assert np.all(np.isfinite(s))


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_inputs_stay_finite(dtype):
    x = np.array([-1e4, -1000.0, -50.0, 50.0, 1000.0, 1e4], dtype)
    assert np.array_equal(_forward("tanh", x), np.sign(x).astype(dtype))
    np.testing.assert_array_equal(_forward("gelu", x), np.where(x > 0, x, 0).astype(dtype))
    np.testing.assert_array_equal(_forward("gelu_tanh", x), np.where(x > 0, x, 0).astype(dtype))
    np.testing.assert_array_equal(_forward("elu", x)[:2], np.array([-0.7, -0.7], dtype))
    for kind in KINDS:
        gx = np.ones_like(x)
        out = np.empty_like(x)
        K.activation_backward(kind, gx, _saved(kind, x), out, *REFS[kind][0])
        assert np.all(np.isfinite(out)), kind
        np.testing.assert_allclose(out, _ref_backward(kind, gx, x), **TOL[dtype], err_msg=kind)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_params_and_extremes(dtype):
    x = np.array([-1e4, -100.0, -20.0, -1.0, 0.0, 1e-3, 1.0, 9.5, 10.0, 10.5, 30.0, 1e4], dtype)
    for beta, threshold in [(1.0, 20.0), (2.0, 20.0), (0.5, 5.0), (1.0, 1e9), (-1.5, 20.0)]:
        out = np.empty_like(x)
        K.activation("softplus", x, out, beta, threshold)
        xd = x.astype(np.float64)
        ref = np.where(beta * xd > threshold, xd, np.logaddexp(0, beta * xd) / beta)
        np.testing.assert_allclose(out, ref, **TOL[dtype], err_msg=f"beta={beta}")
        assert np.all(np.isfinite(out))
        g = np.full_like(x, 0.5)
        K.activation_backward("softplus", g, x, out, beta, threshold)
        dref = np.where(beta * xd > threshold, 0.5, 0.5 * _sigmoid(beta * xd))
        np.testing.assert_allclose(out, dref, **TOL[dtype], err_msg=f"beta={beta}")
    out = np.empty_like(x)
    K.activation("softplus", x, out, 2.0, 20.0)
    assert out[9] == x[9] and out[10] == x[10] and out[11] == x[11]
    assert out[0] == 0.0  # no overflow, no nan: exp(-2e4) underflows cleanly
    # above the threshold softplus is exactly x (torch semantics), at or below it is not
    x = np.array([0.5, 0.75, 1.0], dtype)
    out = np.empty_like(x)
    K.activation("softplus", x, out, 2.0, 1.5)
    np.testing.assert_allclose(out[:2], np.logaddexp(0, 2 * x[:2].astype(np.float64)) / 2,
                               **TOL[dtype])
    assert out[2] == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates(dtype):
    x = np.array([np.nan, 1.0, -1.0], dtype)
    for kind in KINDS:
        assert np.isnan(_forward(kind, x)[0]), kind


# --------------------------------------------------------------------------------------------
# backward

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_reference(kind, shape, dtype):
    x = _inputs(shape, dtype, seed=3)
    g = _inputs(shape, dtype, seed=4)
    saved = _saved(kind, x)
    out = np.empty_like(x)
    K.activation_backward(kind, g, saved, out, *REFS[kind][0])
    if kind == "sigmoid":
        ref = g.astype(np.float64) * saved * (1.0 - saved.astype(np.float64))
    elif kind == "tanh":
        ref = g.astype(np.float64) * (1.0 - saved.astype(np.float64) ** 2)
    else:
        ref = _ref_backward(kind, g, x)
    np.testing.assert_allclose(out, ref, **TOL[dtype])


@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_finite_differences(kind):
    rng = np.random.default_rng(5)
    x = rng.uniform(-4, 4, 400)
    x = x[np.abs(x) > 1e-3]  # away from the kinks of relu, leaky_relu, elu
    if kind == "softplus":
        x = x[np.abs(2.0 * x - 20.0) > 1e-3]  # and from softplus' switch to identity
    g = rng.standard_normal(x.shape)
    h = 1e-6
    fd = (_forward(kind, x + h) - _forward(kind, x - h)) / (2 * h)
    out = np.empty_like(x)
    K.activation_backward(kind, g, _saved(kind, x), out, *REFS[kind][0])
    # central differences: O(h^2) truncation plus eps/h roundoff
    np.testing.assert_allclose(out, g * fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_at_zero_follows_torch(dtype):
    x = np.zeros(1, dtype)
    g = np.full(1, 3.0, dtype)
    expect = {"relu": 0.0, "leaky_relu": 3.0 * 0.2, "elu": 3.0 * 0.7, "sigmoid": 0.75, "tanh": 3.0,
              "gelu": 1.5, "gelu_tanh": 1.5, "softplus": 1.5, "silu": 1.5}
    for kind in KINDS:
        out = np.empty_like(x)
        K.activation_backward(kind, g, _saved(kind, x), out, *REFS[kind][0])
        np.testing.assert_allclose(out, [expect[kind]], rtol=1e-6, err_msg=kind)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_backward_noncontiguous_and_in_place(kind, dtype):
    for name, x in _strided_cases(dtype).items():
        g = np.asarray(_inputs(x.shape, dtype, seed=6)[::-1])
        gt = np.ascontiguousarray(g.T).T  # same values, column-major
        ref = _ref_backward(kind, g, x)
        if kind in SAVES_OUTPUT:
            saved = _forward(kind, x)
            yd = saved.astype(np.float64)
            ref = g * (yd * (1 - yd) if kind == "sigmoid" else 1 - yd * yd)
        else:
            saved = x
        out = np.empty(x.shape[::-1], dtype).T
        K.activation_backward(kind, gt, saved, out, *REFS[kind][0])
        np.testing.assert_allclose(out, ref, **TOL[dtype], err_msg=name)
        # in place into grad
        gi = gt.copy()
        K.activation_backward(kind, gi, saved, gi, *REFS[kind][0])
        np.testing.assert_allclose(gi, ref, **TOL[dtype], err_msg=name)
    # broadcast grad (stride 0), as an upstream sum() gives
    x = _inputs((40, 3), dtype, seed=7)
    g = np.broadcast_to(np.asarray(2.0, dtype), x.shape)
    out = np.empty_like(x)
    K.activation_backward(kind, g, _saved(kind, x), out, *REFS[kind][0])
    if kind in SAVES_OUTPUT:
        yd = _saved(kind, x).astype(np.float64)
        ref = 2.0 * (yd * (1 - yd) if kind == "sigmoid" else 1 - yd * yd)
    else:
        ref = _ref_backward(kind, g, x)
    np.testing.assert_allclose(out, ref, **TOL[dtype])


def test_threads_do_not_change_results():
    x = _inputs((300_001,), np.float32, seed=8)
    n = K.get_num_threads()
    try:
        for kind in KINDS:
            K.set_num_threads(1)
            one = _forward(kind, x)
            K.set_num_threads(4)
            many = _forward(kind, x)
            np.testing.assert_array_equal(one, many, err_msg=kind)
    finally:
        K.set_num_threads(n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_partial_overlap_reads_inputs_first(dtype):
    """Inputs that share memory with out without being out itself give numpy's result: as if
    every input were read before out is written."""
    x0 = _inputs((41,), dtype, seed=9)
    buf = x0.copy()
    K.activation("sigmoid", buf[:-1], buf[1:])  # out one element ahead of x
    np.testing.assert_allclose(buf[1:], _ref_forward("sigmoid", x0[:-1]), **TOL[dtype])
    assert buf[0] == x0[0]
    buf = x0.copy()
    K.activation("tanh", buf[::-1], buf)  # the same memory, reversed
    np.testing.assert_allclose(buf, _ref_forward("tanh", x0[::-1]), **TOL[dtype])
    for kind in ["silu", "gelu", "elu"]:
        buf = x0.copy()
        g, x = buf[:20], buf[20:40]
        want = _ref_backward(kind, x0[:20], x0[20:40])
        out = buf[7:27]  # overlaps the end of grad and the start of saved
        K.activation_backward(kind, g, x, out, *REFS[kind][0])
        np.testing.assert_allclose(out, want, **TOL[dtype], err_msg=kind)


# --------------------------------------------------------------------------------------------
# float32 accuracy of the vectorised math (simd_math.h), in units in the last place

def _ulp(v):
    """The float32 ulp at float64 magnitudes v (2^-149 in the subnormal range)."""
    return np.ldexp(1.0, np.maximum(np.frexp(np.abs(v))[1] - 24, -149))


def _sweep_inputs():
    """10^6 float32 values: uniform over [-20, 20], where the activations bend, and log-uniform
    magnitudes from 1e-8 to 1e2 of both signs, where relative accuracy near 0 and the tails show."""
    rng = np.random.default_rng(10)
    uniform = rng.uniform(-20, 20, 500_000)
    mags = 10.0 ** rng.uniform(-8, 2, 500_000)
    return np.concatenate([uniform, mags * rng.choice([-1.0, 1.0], mags.size)]).astype(np.float32)


def _max_ulps(got, ref, scale):
    """The largest |got - ref| in float32 ulps of `scale`: the magnitude of the terms the formula
    adds, which the roundings are relative to (|ref| itself where nothing cancels). Results below
    2^-100 are left out: their float32 intermediates may be subnormal, with fewer bits."""
    keep = np.abs(ref) >= 2.0**-100
    err = np.abs(got.astype(np.float64) - ref) / _ulp(scale)
    return err[keep].max()


def _two_u(x):
    return 2 * _gelu_tanh_u(np.asarray(x, np.float64))


# The measured maxima, with FMA and without (the baseline build), are below these bounds: each
# activation is a few roundings on top of exp, expm1, log1p (within 1-2 ulp) or the normal CDF
# (within 5.7 ulp, which gelu's bound reflects).
FWD_ULPS = {"sigmoid": 3, "tanh": 3, "silu": 4, "softplus": 3, "elu": 2.5, "gelu": 7,
            "gelu_tanh": 3.5}
BWD_ULPS = {"sigmoid": 2.5, "tanh": 1.5, "silu": 5, "softplus": 4, "elu": 3, "gelu": 4.5,
            "gelu_tanh": 1}


@pytest.mark.parametrize("kind", sorted(FWD_ULPS))
def test_float32_forward_ulps(kind):
    x = _sweep_inputs()
    ref = _ref_forward(kind, x)
    scale = np.abs(ref)
    if kind == "gelu_tanh":
        # u is rounded to float32 before the sigmoid, an error relative to |2u| (torch's too)
        scale = scale * (1 + np.abs(_two_u(x)))
    assert _max_ulps(_forward(kind, x), ref, scale) <= FWD_ULPS[kind]


@pytest.mark.parametrize("kind", sorted(BWD_ULPS))
def test_float32_backward_ulps(kind):
    x = _sweep_inputs()
    xd = x.astype(np.float64)
    g = np.asarray(np.random.default_rng(11).uniform(0.5, 2.0, x.size), np.float32)
    saved = _saved(kind, x)
    out = np.empty_like(x)
    K.activation_backward(kind, g, saved, out, *REFS[kind][0])
    y = saved.astype(np.float64)
    if kind == "sigmoid":
        ref, scale = g * y * (1.0 - y), g * y * (1.0 + y)
    elif kind == "tanh":
        ref, scale = g * (1.0 - y * y), g * (1.0 + y * y)
    else:
        ref = _ref_backward(kind, g, x)
        scale = np.abs(ref)
        if kind == "silu":  # s (1 + x s(-x)) cancels near x = -1.28
            scale = g * _sigmoid(xd) * (1 + np.abs(xd) * _sigmoid(-xd))
        elif kind == "gelu":  # Phi(x) + x phi(x) cancels near x = -0.75
            scale = g * (0.5 * _erfc(-xd / math.sqrt(2))
                         + np.abs(xd) * np.exp(-0.5 * xd * xd) / math.sqrt(2 * math.pi))
        elif kind == "gelu_tanh":  # likewise, and u is rounded to float32 (see above)
            scale = 3 * g * (1 + np.abs(xd)) * (1 + np.abs(_two_u(xd)))
    assert _max_ulps(out, ref, scale) <= BWD_ULPS[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_float32_special_values_match_float64(kind):
    """The float32 vector code and the float64 libm code agree on infinities, nan, signed
    zeros, subnormal inputs and the largest floats."""
    big = float(np.finfo(np.float32).max)
    vals = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, big, -big, 30.0,
            -30.0, 1e4, -1e4]
    x32 = np.array(vals, np.float32)
    got = _forward(kind, x32)
    want = _forward(kind, x32.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, equal_nan=True, err_msg=kind)
    signed = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[signed]), np.signbit(want[signed]),
                                  err_msg=kind)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["sigmoid", "tanh", "gelu", "softplus"])
def test_every_length_and_layout_gives_the_same_bits(kind, dtype):
    """Vector tails (any length mod the vector width) and strided layouts (gathered in blocks)
    compute every element exactly as the contiguous loop does."""
    x = _inputs((1000,), dtype, seed=12)
    full = _forward(kind, x)
    for n in range(1, 70):
        np.testing.assert_array_equal(_forward(kind, x[:n]), full[:n], err_msg=str(n))
    wide = np.zeros(3000, dtype)
    wide[::3] = x
    np.testing.assert_array_equal(_forward(kind, wide[::3]), full)
    np.testing.assert_array_equal(_forward(kind, x[::-1]), full[::-1])


# --------------------------------------------------------------------------------------------
# errors

_X = np.ones((3,), np.float32)
_F32, _F64, _I64 = np.float32, np.float64, np.int64

ERROR_CASES = [
    (lambda: K.activation("swish", _X, np.empty_like(_X)),
     "activation: unknown activation 'swish'"),
    (lambda: K.activation_backward("Relu", _X, _X, np.empty_like(_X)),
     "activation_backward: unknown activation 'Relu'"),
    (lambda: K.activation("relu", _X, np.empty(4, _F32)),
     r"activation: x and out shapes \(3,\) and \(4,\) must match"),
    (lambda: K.activation("relu", _X, np.empty(3, _F64)),
     "activation: x and out dtypes must match, got float32 and float64"),
    (lambda: K.activation("relu", np.ones(3, _I64), np.ones(3, _I64)),
     "activation: expected a float32 or float64 array, got int64"),
    (lambda: K.activation("relu", np.ones(3, np.float16), np.ones(3, np.float16)),
     "activation: unsupported array dtype 'float16'"),
    (lambda: K.activation("relu", _X, np.broadcast_to(_F32(0), (3,))),
     "activation: output array is read-only"),
    (lambda: K.activation("softplus", _X, np.empty_like(_X)),
     "activation: softplus needs a nonzero beta"),
    (lambda: K.activation_backward("relu", _X, np.ones((2, 3), _F32), np.empty_like(_X)),
     r"activation_backward: grad and saved shapes \(3,\) and \(2, 3\) must match"),
    (lambda: K.activation_backward("relu", _X, _X, np.empty(3, _F64)),
     "activation_backward: grad and out dtypes must match, got float32 and float64"),
]


@pytest.mark.parametrize("call, match", ERROR_CASES, ids=range(len(ERROR_CASES)))
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
