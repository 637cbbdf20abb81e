"""The op table: one row per op, each with sample inputs (0-d, empty, size-1, odd and broadcast
shapes) and a float64 numpy reference. tests/test_ops.py drives every row through forward checks
in float64 and float32, gradcheck in float64, and non-contiguous inputs.

BINARY lists every elementwise op of two tensors with its analytic partial derivatives, for the
broadcasting properties (tests/test_properties.py) and the special values
(tests/test_special_values.py).

A sample is a list of numpy arrays made by `make(rng)`: float arrays become differentiable
inputs; integer / bool arrays are passed as constant tensors (targets, masks, indices).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.ops.matmul import linear

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _erfinv_scalar(y: float) -> float:
    """erf's inverse by bisection on math.erf (monotonic): 200 halvings of [-6, 6] pin it to
    1e-59 absolutely, so to a float64 everywhere but at 0, which is its own answer."""
    if y == 0.0 or math.isnan(y):
        return y
    if y <= -1.0 or y >= 1.0:
        return math.copysign(math.inf, y) if abs(y) == 1.0 else math.nan
    lo, hi = -6.0, 6.0  # erf(+-6) rounds to +-1 in float64
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if math.erf(mid) < y else (lo, mid)
    return 0.5 * (lo + hi)


_erfinv = np.vectorize(_erfinv_scalar, otypes=[np.float64])


@dataclass
class Op:
    name: str
    fn: Callable               # fn(*tensors) -> Tensor
    ref: Callable              # ref(*float64 arrays) -> array
    samples: list              # list of callables rng -> list of np arrays
    grad: bool = True          # differentiable: run gradcheck
    rtol32: float = 1e-5       # float32 forward tolerance against the float64 reference
    atol32: float = 1e-6
    ids: list = field(default_factory=list)


def floats(*shape, lo=-2.0, hi=2.0, away=0.0):
    """Uniform floats in [lo, hi), optionally kept `away` from 0 (for kinks and poles)."""
    def make(rng):
        x = rng.uniform(lo, hi, size=shape)
        if away:
            x = np.where(np.abs(x) < away, np.copysign(away, x) + x, x)
        return np.asarray(x, dtype=np.float64)
    return make


def ints(*shape, lo=0, hi=5):
    return lambda rng: rng.integers(lo, hi, size=shape).astype(np.int64)


def sample(*makers):
    return lambda rng: [m(rng) for m in makers]


UNARY_SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 3, 4)]
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 1, 2), (1, 3, 2)), ((2, 3, 2), ()), ((), ()),
                 ((0, 3), (3,)), ((5,), (1,)), ((1,), (7,))]


def unary_samples(**kw):
    return [sample(floats(*s, **kw)) for s in UNARY_SHAPES]


def binary_samples(kw_a=None, kw_b=None):
    return [sample(floats(*a, **(kw_a or {})), floats(*b, **(kw_b or {}))) for a, b in BINARY_SHAPES]


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _softplus(x, beta=1.0, threshold=20.0):
    bx = beta * x
    return np.where(bx > threshold, x, np.logaddexp(0, bx) / beta)


def _prelu(x, w):
    w = w.reshape((-1,) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else w.reshape((1,) * x.ndim)
    return np.where(x > 0, x, w * x)


def _signs(*shape):
    return lambda rng: rng.choice([-1, 1], size=shape).astype(np.int64)


def _cos(a, b, axis=-1):
    # PyTorch's two forms: cosine_embedding_loss adds 1e-12 to each squared norm; cosine_similarity
    # divides each vector by its norm first (the norms here are far from its eps)
    if axis == 1:
        return np.sum(a / np.linalg.norm(a, axis=1, keepdims=True) * b / np.linalg.norm(b, axis=1, keepdims=True), 1)
    return np.sum(a * b, axis) / np.sqrt((np.sum(a * a, axis) + 1e-12) * (np.sum(b * b, axis) + 1e-12))


def _multilabel_margin(x, t):
    n, c = x.shape
    total = np.zeros(n)
    for r in range(n):
        listed = []
        for j in t[r]:
            if j == -1:
                break
            listed.append(j)
        for j in listed:
            for i in range(c):
                if i not in listed:
                    total[r] += max(0.0, 1 - x[r, j] + x[r, i])
    return np.mean(total / c)


def _multi_margin(x, t, p=2, margin=0.8):
    n, c = x.shape
    z = np.maximum(0, margin - x[np.arange(n), t][:, None] + x) ** p
    z[np.arange(n), t] = 0
    return np.mean(z.sum(1) / c)


def _triplet(a, p, n, margin=2.0):
    d = lambda u, v: np.sqrt(np.sum((u - v + 1e-6) ** 2, -1))  # noqa: E731
    return np.mean(np.maximum(0, margin + d(a, p) - d(a, n)))


def _logsumexp(x, axis, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    return x - _logsumexp(x, axis, keepdims=True)


def _cross_entropy(x, t, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    logp = _log_softmax(x, 1)
    n, c = x.shape
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    nll = -logp[np.arange(n), safe]
    smooth = -logp.mean(axis=1)
    loss = np.where(keep, (1 - label_smoothing) * nll + label_smoothing * smooth, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum()


def _bce_logits(x, t):
    return np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))


def _kl_div(logq, p):
    return np.mean(np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - logq), 0.0))


def _mat(a, b):
    return np.matmul(a, b)


_RUNNING_NP = (np.array([0.3, -0.2, 0.1]), np.array([0.5, 1.5, 2.0]))
_RUNNING = tuple(tg.tensor(a) for a in _RUNNING_NP)


def _batch_norm_ref(x, w, b):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-5)
    return xhat * w.reshape(shape) + b.reshape(shape)


def _layer_norm_ref(x, w, b):
    xhat = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    return xhat * w + b


OPS = [
    # --- binary arithmetic -------------------------------------------------------------------
    Op("add", lambda a, b: a + b, np.add, binary_samples()),
    Op("sub", lambda a, b: a - b, np.subtract, binary_samples()),
    Op("mul", lambda a, b: a * b, np.multiply, binary_samples()),
    Op("div", lambda a, b: a / b, np.divide, binary_samples(kw_b={"away": 0.3})),
    Op("pow", lambda a, b: a ** b, np.power, binary_samples(kw_a={"lo": 0.3, "hi": 2.0})),
    Op("maximum", tg.maximum, np.maximum, binary_samples()),
    Op("minimum", tg.minimum, np.minimum, binary_samples()),
    Op("radd_scalar", lambda a: 2.5 + a, lambda a: 2.5 + a, unary_samples()),
    Op("rsub_scalar", lambda a: 2.5 - a, lambda a: 2.5 - a, unary_samples()),
    Op("rdiv_scalar", lambda a: 1.5 / a, lambda a: 1.5 / a, unary_samples(away=0.3)),
    Op("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, unary_samples()),
    Op("rpow_scalar", lambda a: 2.0 ** a, lambda a: 2.0 ** a, unary_samples()),
    Op("neg", lambda a: -a, np.negative, unary_samples()),
    # --- unary math --------------------------------------------------------------------------
    Op("exp", tg.exp, np.exp, unary_samples()),
    Op("log", tg.log, np.log, unary_samples(lo=0.2, hi=3.0)),
    Op("log1p", tg.log1p, np.log1p, unary_samples(lo=-0.5, hi=3.0)),
    Op("expm1", tg.expm1, np.expm1, unary_samples()),
    Op("sqrt", tg.sqrt, np.sqrt, unary_samples(lo=0.2, hi=3.0)),
    Op("rsqrt", tg.rsqrt, lambda a: 1 / np.sqrt(a), unary_samples(lo=0.2, hi=3.0)),
    Op("reciprocal", tg.reciprocal, np.reciprocal, unary_samples(away=0.3)),
    Op("square", tg.square, np.square, unary_samples()),
    Op("abs", tg.abs, np.abs, unary_samples(away=0.05)),
    Op("sin", tg.sin, np.sin, unary_samples()),
    Op("cos", tg.cos, np.cos, unary_samples()),
    Op("log2", tg.log2, np.log2, unary_samples(lo=0.2, hi=3.0)),
    Op("log10", tg.log10, np.log10, unary_samples(lo=0.2, hi=3.0)),
    Op("exp2", tg.exp2, np.exp2, unary_samples()),
    Op("tan", tg.tan, np.tan, unary_samples(lo=-1.2, hi=1.2)),
    Op("asin", tg.asin, np.arcsin, unary_samples(lo=-0.9, hi=0.9)),
    Op("acos", tg.acos, np.arccos, unary_samples(lo=-0.9, hi=0.9)),
    Op("atan", tg.atan, np.arctan, unary_samples(lo=-3.0, hi=3.0)),
    Op("sinh", tg.sinh, np.sinh, unary_samples()),
    Op("cosh", tg.cosh, np.cosh, unary_samples()),
    Op("asinh", tg.asinh, np.arcsinh, unary_samples(lo=-3.0, hi=3.0)),
    Op("acosh", tg.acosh, np.arccosh, unary_samples(lo=1.2, hi=4.0)),
    Op("atanh", tg.atanh, np.arctanh, unary_samples(lo=-0.9, hi=0.9)),
    Op("erf", tg.erf, _erf, unary_samples()),
    Op("erfc", tg.erfc, _erfc, unary_samples()),
    Op("erfinv", tg.erfinv, _erfinv, unary_samples(lo=-0.95, hi=0.95)),
    # frac jumps at the integers: samples in (-1, 1) kept 0.1 from 0
    Op("frac", tg.frac, lambda a: a - np.trunc(a), unary_samples(lo=-0.9, hi=0.9, away=0.1)),
    Op("fmod", tg.fmod, np.fmod, binary_samples(kw_a={"lo": -5.0, "hi": 5.0}, kw_b={"away": 0.3})),
    Op("hypot", tg.hypot, np.hypot, binary_samples(kw_a={"away": 0.1}, kw_b={"away": 0.1})),
    Op("atan2", tg.atan2, np.arctan2, binary_samples(kw_a={"away": 0.1}, kw_b={"away": 0.1})),
    Op("logaddexp", tg.logaddexp, np.logaddexp, binary_samples()),
    Op("clamp", lambda a: tg.clamp(a, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), unary_samples()),
    Op("clamp_min", lambda a: a.clamp(min=0.1), lambda a: np.maximum(a, 0.1), unary_samples()),
    Op("where", lambda a, b, c: tg.where(c, a, b), lambda a, b, c: np.where(c, a, b),
       [sample(floats(3, 4), floats(3, 4), lambda r: r.random((3, 4)) > 0.5),
        sample(floats(3, 1), floats(1, 4), lambda r: r.random((3, 4)) > 0.5),
        sample(floats(), floats(2, 3), lambda r: np.array(True))]),
    Op("round", tg.round, np.round, unary_samples(), grad=True),
    # piecewise constant: gradcheck sees the zero gradient between the jumps
    Op("floor", tg.floor, np.floor, unary_samples()),
    Op("ceil", tg.ceil, np.ceil, unary_samples()),
    Op("trunc", tg.trunc, np.trunc, unary_samples()),
    Op("sign", tg.sign, np.sign, unary_samples(away=0.05)),
    # --- activations -------------------------------------------------------------------------
    Op("sigmoid", tg.sigmoid, lambda a: 1 / (1 + np.exp(-a)), unary_samples(lo=-6, hi=6)),
    Op("tanh", tg.tanh, np.tanh, unary_samples()),
    Op("relu", F.relu, lambda a: np.maximum(a, 0), unary_samples(away=0.05)),
    Op("leaky_relu", lambda a: F.leaky_relu(a, 0.2), lambda a: np.where(a > 0, a, 0.2 * a),
       unary_samples(away=0.05)),
    Op("elu", lambda a: F.elu(a, 1.3), lambda a: np.where(a > 0, a, 1.3 * np.expm1(a)),
       unary_samples(away=0.05)),
    Op("gelu", F.gelu, lambda a: 0.5 * a * (1 + _erf(a / math.sqrt(2))), unary_samples()),
    Op("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), _gelu_tanh, unary_samples()),
    Op("softplus", F.softplus, _softplus, unary_samples(lo=-5, hi=5)),
    Op("softplus_beta", lambda a: F.softplus(a, beta=2.0, threshold=3.0),
       lambda a: _softplus(a, 2.0, 3.0), unary_samples(lo=-3, hi=3)),
    Op("silu", F.silu, lambda a: a / (1 + np.exp(-a)), unary_samples()),
    # composites (kinks kept `away` from the samples: gradcheck differences across a kink)
    Op("hardtanh", lambda a: F.hardtanh(a, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7),
       [sample(floats(*s, lo=-2, hi=2)) for s in UNARY_SHAPES]),
    Op("relu6", lambda a: F.relu6(a * 4), lambda a: np.clip(a * 4, 0, 6), unary_samples(away=0.05)),
    Op("hardsigmoid", lambda a: F.hardsigmoid(a * 2), lambda a: np.clip(a * 2 + 3, 0, 6) / 6, unary_samples()),
    Op("hardswish", lambda a: F.hardswish(a * 2), lambda a: a * 2 * np.clip(a * 2 + 3, 0, 6) / 6, unary_samples()),
    Op("softsign", F.softsign, lambda a: a / (1 + np.abs(a)), unary_samples(away=0.05)),
    Op("tanhshrink", F.tanhshrink, lambda a: a - np.tanh(a), unary_samples()),
    Op("logsigmoid", F.logsigmoid, lambda a: -np.logaddexp(0, -a), unary_samples(lo=-30, hi=30)),
    Op("mish", F.mish, lambda a: a * np.tanh(np.logaddexp(0, a)), unary_samples(lo=-5, hi=5)),
    Op("selu", F.selu, lambda a: 1.0507009873554805 * np.where(a > 0, a, 1.6732632423543772 * np.expm1(a)),
       unary_samples(away=0.05)),
    Op("celu", lambda a: F.celu(a, 0.7), lambda a: np.where(a > 0, a, 0.7 * np.expm1(a / 0.7)),
       unary_samples(away=0.05)),
    Op("threshold", lambda a: F.threshold(a, 0.3, -2.0), lambda a: np.where(a > 0.3, a, -2.0),
       [sample(floats(*s, lo=0.5, hi=2.0)) for s in UNARY_SHAPES[:3]] + [sample(floats(3, 5, away=0.05))]),
    Op("softshrink", F.softshrink, lambda a: np.where(a > 0.5, a - 0.5, np.where(a < -0.5, a + 0.5, 0)),
       unary_samples(lo=-0.45, hi=0.45) + [sample(floats(4, 3, lo=0.55, hi=2)), sample(floats(5, lo=-2, hi=-0.55))]),
    Op("hardshrink", F.hardshrink, lambda a: np.where(np.abs(a) > 0.5, a, 0),
       unary_samples(lo=-0.45, hi=0.45) + [sample(floats(4, 3, lo=0.55, hi=2)), sample(floats(5, lo=-2, hi=-0.55))]),
    Op("glu", F.glu, lambda a: a[..., :a.shape[-1] // 2] / (1 + np.exp(-a[..., a.shape[-1] // 2:])),
       [sample(floats(4)), sample(floats(3, 6)), sample(floats(2, 3, 2)), sample(floats(0, 4))]),
    Op("glu_dim0", lambda a: F.glu(a, 0), lambda a: a[:a.shape[0] // 2] / (1 + np.exp(-a[a.shape[0] // 2:])),
       [sample(floats(4, 3)), sample(floats(2, 1, 2))]),
    Op("prelu", F.prelu, _prelu,
       [sample(floats(3, 4, away=0.05), floats(4)), sample(floats(2, 3, 5, away=0.05), floats(3)),
        sample(floats(2, 3, away=0.05), floats(1)), sample(floats(5, away=0.05), floats(1)),
        sample(floats(away=0.05), floats(1))]),
    Op("softmin", lambda a: F.softmin(a, dim=-1),
       lambda a: np.exp(-a - _logsumexp(-a, -1, keepdims=True)), [sample(floats(3, 5)), sample(floats(2, 3, 4))]),
    # --- reductions --------------------------------------------------------------------------
    Op("sum", lambda a: a.sum(), np.sum, unary_samples()),
    Op("sum_dim1_keep", lambda a: a.sum(1, keepdim=True), lambda a: a.sum(1, keepdims=True),
       [sample(floats(3, 5)), sample(floats(2, 3, 4)), sample(floats(4, 0))]),
    Op("sum_dims", lambda a: a.sum((0, 2)), lambda a: a.sum((0, 2)),
       [sample(floats(2, 3, 4)), sample(floats(1, 1, 5)), sample(floats(3, 2, 1))]),
    Op("mean", lambda a: a.mean(), np.mean, [sample(floats(*s)) for s in [(), (1,), (7,), (3, 5), (2, 3, 4)]]),
    Op("mean_dim", lambda a: a.mean(-1), lambda a: a.mean(-1), [sample(floats(3, 5)), sample(floats(2, 3, 4))]),
    Op("prod", lambda a: a.prod(1), lambda a: a.prod(1),
       [sample(floats(3, 5, away=0.2)), sample(floats(2, 3, 4, away=0.2)), sample(floats(3, 1))]),
    Op("amax", lambda a: a.amax(0), lambda a: a.max(0), [sample(floats(3, 5)), sample(floats(4, 2, 3))]),
    Op("amin_all", lambda a: a.amin(), np.min, [sample(floats(3, 5)), sample(floats(7)), sample(floats())]),
    Op("max_all", lambda a: a.max(), np.max, [sample(floats(3, 5)), sample(floats(1))]),
    Op("max_dim", lambda a: a.max(1).values, lambda a: a.max(1), [sample(floats(3, 5)), sample(floats(2, 4, 3))]),
    Op("min_dim_keep", lambda a: a.min(0, keepdim=True)[0], lambda a: a.min(0, keepdims=True),
       [sample(floats(3, 5)), sample(floats(2, 4, 3))]),
    Op("var", lambda a: a.var(), lambda a: a.var(ddof=1), [sample(floats(7)), sample(floats(3, 5))]),
    Op("var_biased_dim", lambda a: a.var(1, unbiased=False), lambda a: a.var(1),
       [sample(floats(3, 5)), sample(floats(2, 3, 4))]),
    Op("std", lambda a: a.std(0), lambda a: a.std(0, ddof=1), [sample(floats(4, 3)), sample(floats(5))]),
    Op("logsumexp", lambda a: a.logsumexp(1), lambda a: _logsumexp(a, 1),
       [sample(floats(3, 5)), sample(floats(2, 4, 3)), sample(floats(1, 1))]),
    # --- linear algebra ----------------------------------------------------------------------
    Op("dot", tg.dot, lambda a, b: np.dot(a, b), [sample(floats(5), floats(5)), sample(floats(0), floats(0))]),
    Op("mv", tg.mv, lambda m, v: m @ v, [sample(floats(3, 4), floats(4)), sample(floats(2, 0), floats(0))]),
    Op("bmm", tg.bmm, lambda a, b: a @ b, [sample(floats(2, 3, 4), floats(2, 4, 5)), sample(floats(1, 2, 2), floats(1, 2, 3))]),
    Op("outer", tg.outer, np.outer, [sample(floats(3), floats(4)), sample(floats(1), floats(2))]),
    Op("addmm", lambda c, a, b: tg.addmm(c, a, b, beta=0.5, alpha=2.0), lambda c, a, b: 0.5 * c + 2.0 * (a @ b),
       [sample(floats(3, 5), floats(3, 4), floats(4, 5)), sample(floats(5), floats(2, 3), floats(3, 5))]),
    Op("matmul", tg.matmul, _mat,
       [sample(floats(3, 4), floats(4, 5)), sample(floats(1, 1), floats(1, 1)),
        sample(floats(5, 9), floats(9, 3)), sample(floats(4), floats(4, 3)), sample(floats(3, 4), floats(4)),
        sample(floats(6), floats(6)), sample(floats(2, 3, 4), floats(4, 2)),
        sample(floats(2, 1, 3, 4), floats(5, 4, 2)), sample(floats(0, 3), floats(3, 2)),
        sample(floats(3, 0), floats(0, 2))]),
    Op("linear", F.linear, lambda x, w, b: x @ w.T + b,
       [sample(floats(4, 3), floats(5, 3), floats(5)), sample(floats(1, 2), floats(1, 2), floats(1)),
        sample(floats(2, 3, 4), floats(6, 4), floats(6))]),
    Op("linear_nobias", F.linear, lambda x, w: x @ w.T, [sample(floats(4, 3), floats(5, 3))]),
    # the activations Sequential fuses into the GEMM (inputs kept off relu's kink)
    Op("linear_relu", lambda x, w, b: linear(x, w, b, act="relu"), lambda x, w, b: np.maximum(x @ w.T + b, 0),
       [sample(floats(4, 3, lo=0.5, hi=2), floats(5, 3, lo=0.5, hi=2), floats(5))]),
    Op("linear_sigmoid", lambda x, w, b: linear(x, w, b, act="sigmoid"),
       lambda x, w, b: 1 / (1 + np.exp(-(x @ w.T + b))), [sample(floats(4, 3), floats(5, 3), floats(5))]),
    Op("linear_tanh", lambda x, w, b: linear(x, w, b, act="tanh"), lambda x, w, b: np.tanh(x @ w.T + b),
       [sample(floats(4, 3), floats(5, 3), floats(5))]),
    # --- normalization -----------------------------------------------------------------------
    Op("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
       lambda x, w, b: _batch_norm_ref(x, w, b), [sample(floats(5, 3), floats(3), floats(3)),
                                                  sample(floats(4, 2, 3), floats(2), floats(2))]),
    Op("batch_norm_eval", lambda x, w, b: F.batch_norm(x, _RUNNING[0].to(x.device), _RUNNING[1].to(x.device), w, b, training=False),
       lambda x, w, b: ((x - _RUNNING_NP[0]) / np.sqrt(_RUNNING_NP[1] + 1e-5)) * w + b,
       [sample(floats(5, 3), floats(3), floats(3))]),
    Op("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b), lambda x, w, b: _layer_norm_ref(x, w, b),
       [sample(floats(3, 4), floats(4), floats(4)), sample(floats(2, 3, 4), floats(4), floats(4))]),
    # --- shape -------------------------------------------------------------------------------
    Op("reshape", lambda a: a.reshape(-1, 2), lambda a: a.reshape(-1, 2),
       [sample(floats(3, 4)), sample(floats(2, 3, 2)), sample(floats(0, 2))]),
    Op("transpose", lambda a: a.transpose(0, -1), lambda a: np.swapaxes(a, 0, -1),
       [sample(floats(3, 4)), sample(floats(2, 3, 4))]),
    Op("permute", lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), [sample(floats(2, 3, 4))]),
    Op("T", lambda a: a.T, lambda a: a.T, [sample(floats(3, 4)), sample(floats(5))]),
    Op("expand", lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)),
       [sample(floats(3, 1)), sample(floats(1, 4)), sample(floats())]),
    Op("unsqueeze", lambda a: a.unsqueeze(1), lambda a: np.expand_dims(a, 1), [sample(floats(3, 4)), sample(floats(3))]),
    Op("squeeze", lambda a: a.squeeze(), np.squeeze, [sample(floats(3, 1, 4, 1)), sample(floats(1))]),
    Op("flatten", lambda a: a.flatten(1), lambda a: a.reshape(a.shape[0], -1), [sample(floats(2, 3, 4))]),
    Op("cat", lambda a, b: tg.cat([a, b], 1), lambda a, b: np.concatenate([a, b], 1),
       [sample(floats(3, 2), floats(3, 4)), sample(floats(2, 0, 2), floats(2, 3, 2))]),
    Op("stack", lambda a, b: tg.stack([a, b], -1), lambda a, b: np.stack([a, b], -1),
       [sample(floats(3, 2), floats(3, 2)), sample(floats(), floats())]),
    Op("split", lambda a: a.split(2, 1)[1], lambda a: a[:, 2:4], [sample(floats(3, 5))]),
    Op("chunk", lambda a: a.chunk(3)[2], lambda a: a[4:], [sample(floats(6, 2)), sample(floats(5))]),
    Op("contiguous", lambda a: a.T.contiguous(), lambda a: a.T, [sample(floats(3, 4))]),
    # --- indexing ----------------------------------------------------------------------------
    Op("flip", lambda a: tg.flip(a, (0, -1)), lambda a: np.flip(a, (0, -1)),
       [sample(floats(3, 4)), sample(floats(2, 3, 2)), sample(floats(0, 3))]),
    Op("masked_fill", lambda a, m: a.masked_fill(m, 0.5), lambda a, m: np.where(m, 0.5, a),
       [sample(floats(3, 4), lambda r: r.random((3, 4)) > 0.5), sample(floats(2, 3), lambda r: r.random(3) > 0.5)]),
    Op("index_basic", lambda a: a[1, ::2, None, ...], lambda a: a[1, ::2, None, ...],
       [sample(floats(3, 5, 2)), sample(floats(2, 4))]),
    Op("index_neg_int", lambda a: a[-1], lambda a: a[-1], [sample(floats(4, 3)), sample(floats(2))]),
    Op("index_int_tensor", lambda a, i: a[i], lambda a, i: a[i],
       [sample(floats(5, 3), lambda r: np.array([0, 4, 4, 1])), sample(floats(4), lambda r: np.array([[3, 0], [0, 2]]))]),
    Op("index_bool_mask", lambda a, m: a[m], lambda a, m: a[m],
       [sample(floats(3, 4), lambda r: r.random((3, 4)) > 0.5), sample(floats(3, 4), lambda r: np.zeros(3, bool))]),
    Op("index_pair", lambda a, i, j: a[i, j], lambda a, i, j: a[i, j],
       [sample(floats(4, 5), ints(6, hi=4), ints(6, hi=5))]),
    Op("index_mixed", lambda a, i: a[:, i, 1:], lambda a, i: a[:, i, 1:], [sample(floats(2, 4, 3), ints(3, hi=4))]),
    # --- softmax and losses ------------------------------------------------------------------
    Op("softmax", lambda a: F.softmax(a, 1), lambda a: _softmax(a, 1),
       [sample(floats(3, 5)), sample(floats(2, 4, 3)), sample(floats(1, 1)), sample(floats(0, 3))]),
    Op("softmax_dim0", lambda a: F.softmax(a, 0), lambda a: _softmax(a, 0), [sample(floats(4, 3)), sample(floats(5))]),
    Op("log_softmax", lambda a: F.log_softmax(a, -1), lambda a: _log_softmax(a, -1),
       [sample(floats(3, 5)), sample(floats(2, 3, 4)), sample(floats(7))]),
    Op("cross_entropy", F.cross_entropy, _cross_entropy,
       [sample(floats(4, 5), ints(4, hi=5)), sample(floats(1, 3), ints(1, hi=3)), sample(floats(6, 2), ints(6, hi=2))]),
    Op("cross_entropy_sum_ignore", lambda x, t: F.cross_entropy(x, t, ignore_index=1, reduction="sum"),
       lambda x, t: _cross_entropy(x, t, ignore_index=1, reduction="sum"), [sample(floats(6, 4), ints(6, hi=4))]),
    Op("cross_entropy_none_smooth", lambda x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.1),
       lambda x, t: _cross_entropy(x, t, label_smoothing=0.1, reduction="none"), [sample(floats(5, 3), ints(5, hi=3))]),
    Op("nll_loss", F.nll_loss, lambda x, t: -x[np.arange(len(t)), t].mean(), [sample(floats(4, 5), ints(4, hi=5))]),
    Op("mse_loss", F.mse_loss, lambda a, b: np.mean((a - b) ** 2), [sample(floats(3, 4), floats(3, 4)), sample(floats(5), floats(5))]),
    Op("l1_loss", F.l1_loss, lambda a, b: np.mean(np.abs(a - b)), [sample(floats(3, 4), floats(3, 4, lo=3, hi=4))]),
    Op("smooth_l1_loss", lambda a, b: F.smooth_l1_loss(a, b, reduction="sum"),
       lambda a, b: np.sum(np.where(np.abs(a - b) < 1, 0.5 * (a - b) ** 2, np.abs(a - b) - 0.5)),
       [sample(floats(4, 3, lo=-3, hi=3), floats(4, 3))]),
    Op("huber_loss", lambda a, b: F.huber_loss(a, b, delta=0.5),
       lambda a, b: np.mean(np.where(np.abs(a - b) <= 0.5, 0.5 * (a - b) ** 2, 0.5 * (np.abs(a - b) - 0.25))),
       [sample(floats(4, 3, lo=-3, hi=3), floats(4, 3))]),
    Op("binary_cross_entropy", F.binary_cross_entropy,
       lambda p, t: -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)),
       [sample(floats(4, 3, lo=0.05, hi=0.95), floats(4, 3, lo=0, hi=1))]),
    Op("bce_with_logits", F.binary_cross_entropy_with_logits, _bce_logits,
       [sample(floats(4, 3, lo=-4, hi=4), floats(4, 3, lo=0, hi=1)), sample(floats(6), floats(6, lo=0, hi=1))]),
    Op("kl_div", F.kl_div, _kl_div, [sample(floats(3, 4, lo=-3, hi=-0.1), floats(3, 4, lo=0.01, hi=1))]),
    # the composite losses and distances (nn.functional)
    Op("gaussian_nll_loss", F.gaussian_nll_loss,
       lambda x, t, v: np.mean(0.5 * (np.log(v) + (x - t) ** 2 / v)),
       [sample(floats(4, 3), floats(4, 3), floats(4, 3, lo=0.3, hi=2)), sample(floats(5), floats(5), floats(5, lo=0.3, hi=2))]),
    Op("poisson_nll_loss", lambda x, t: F.poisson_nll_loss(x, t, reduction="sum"),
       lambda x, t: np.sum(np.exp(x) - t * x), [sample(floats(4, 3), floats(4, 3, lo=0, hi=3))]),
    Op("margin_ranking_loss", lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=0.2),
       lambda a, b, y: np.mean(np.maximum(0, -y * (a - b) + 0.2)), [sample(floats(6), floats(6), _signs(6))]),
    Op("hinge_embedding_loss", F.hinge_embedding_loss,
       lambda x, y: np.mean(np.where(y == 1, x, np.maximum(0, 1 - x))), [sample(floats(3, 4, lo=-2, hi=0.9), _signs(3, 4))]),
    Op("soft_margin_loss", F.soft_margin_loss, lambda x, y: np.mean(np.log1p(np.exp(-y * x))),
       [sample(floats(3, 4), _signs(3, 4))]),
    Op("multilabel_soft_margin_loss", F.multilabel_soft_margin_loss,
       lambda x, t: np.mean(np.mean(-(t * -np.logaddexp(0, -x) + (1 - t) * -np.logaddexp(0, x)), -1)),
       [sample(floats(3, 4), floats(3, 4, lo=0, hi=1))]),
    Op("multilabel_margin_loss", F.multilabel_margin_loss, _multilabel_margin,
       [sample(floats(3, 4), lambda r: np.array([[3, 0, -1, 1], [1, 2, 3, 0], [2, -1, 0, 0]]))]),
    Op("multi_margin_loss", lambda x, t: F.multi_margin_loss(x, t, p=2, margin=0.8), _multi_margin,
       [sample(floats(4, 5), ints(4, hi=5))]),
    Op("cosine_embedding_loss", lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=-0.5),
       lambda a, b, y: np.mean(np.where(y == 1, 1 - _cos(a, b), np.maximum(0, _cos(a, b) + 0.5))),
       [sample(floats(5, 3), floats(5, 3), _signs(5))]),
    Op("triplet_margin_loss", lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=2.0), _triplet,
       [sample(floats(4, 3), floats(4, 3), floats(4, 3))]),
    Op("pairwise_distance", F.pairwise_distance, lambda a, b: np.sqrt(np.sum((a - b + 1e-6) ** 2, -1)),
       [sample(floats(4, 3), floats(4, 3)), sample(floats(2, 4, 3), floats(3))]),
    Op("cosine_similarity", F.cosine_similarity, lambda a, b: _cos(a, b, 1),
       [sample(floats(4, 3), floats(4, 3)), sample(floats(2, 3, 2), floats(1, 3, 2))]),
    Op("normalize", F.normalize, lambda a: a / np.sqrt(np.sum(a * a, 1, keepdims=True)),
       [sample(floats(3, 4)), sample(floats(2, 3, 2))]),
    Op("bilinear", F.bilinear, lambda a, b, w, c: np.einsum("ni,oij,nj->no", a, w, b) + c,
       [sample(floats(4, 2), floats(4, 3), floats(5, 2, 3), floats(5))]),
    Op("pad_constant", lambda a: F.pad(a, (1, 2, 2, -1), value=0.5),
       lambda a: np.pad(a[:-1], ((2, 0), (1, 2)), constant_values=0.5), [sample(floats(3, 4))]),
    Op("pad_reflect", lambda a: F.pad(a, (2, 1, 1, 1), mode="reflect"),
       lambda a: np.pad(a, ((0, 0), (1, 1), (2, 1)), mode="reflect"), [sample(floats(2, 3, 4))]),
    Op("pad_replicate", lambda a: F.pad(a, (3, 1), mode="replicate"),
       lambda a: np.pad(a, ((0, 0), (3, 1)), mode="edge"), [sample(floats(2, 3))]),
    Op("pad_circular", lambda a: F.pad(a, (2, 3), mode="circular"),
       lambda a: np.pad(a, ((0, 0), (2, 3)), mode="wrap"), [sample(floats(2, 3))]),
]


# --- elementwise ops of two tensors --------------------------------------------------------------

@dataclass(frozen=True)
class Binary:
    name: str
    fn: Callable                      # fn(Tensor, Tensor) -> Tensor
    ref: Callable                     # float64 numpy reference
    partials: Callable | None = None  # (a, b) broadcast -> (d out / d a, d out / d b)
    domain: tuple = ((-10.0, 10.0), (-10.0, 10.0))  # (lo, hi[, away from 0]) per input, for gradients
    ulps: int = 0                     # 0: IEEE-exact ops, equal bit for bit

    def __repr__(self):
        return self.name


def _max_partials(a, b):
    tie = 0.5 * (a == b)  # a tie splits the gradient evenly, as PyTorch
    return (a > b) + tie, (b > a) + tie


def _min_partials(a, b):
    tie = 0.5 * (a == b)
    return (a < b) + tie, (b < a) + tie


def _ones(a, b):
    return np.ones_like(a), np.ones_like(b)


def _pow_ref(a, b):
    # numpy takes a square root when the exponent is a single 0.5, so (-inf) ** 0.5 is nan
    # there; with a second exponent its loop is C99 pow (+inf), as PyTorch's tensor pow.
    ab, bb = np.broadcast_arrays(a, b)
    flat = np.power(np.append(ab.ravel(), np.ones(1, ab.dtype)), np.append(bb.ravel(), np.full(1, 2, bb.dtype)))
    return flat[:-1].reshape(ab.shape)


def _pow_partials(a, b):
    # b * a^(b-1), masked where b == 0 as PyTorch (the limit of b * a^(b-1) there is 0)
    return np.where(b == 0, 0.0, b * a ** (b - 1)), a**b * np.log(a)


_AWAY = (-10.0, 10.0, 0.1)
BINARY = [
    Binary("add", tg.add, np.add, _ones),
    Binary("sub", tg.sub, np.subtract, lambda a, b: (np.ones_like(a), -np.ones_like(b))),
    Binary("mul", tg.mul, np.multiply, lambda a, b: (b, a)),
    Binary("div", tg.div, np.divide, lambda a, b: (1 / b, -a / b**2), ((-10.0, 10.0), _AWAY)),
    # positive bases keep a^b and log(a) real
    Binary("pow", tg.pow, _pow_ref, _pow_partials, ((0.1, 10.0), (-3.0, 3.0)), ulps=2),
    Binary("maximum", tg.maximum, np.maximum, _max_partials),
    Binary("minimum", tg.minimum, np.minimum, _min_partials),
    # floor division is piecewise constant: a zero gradient, as div(rounding_mode="floor")
    Binary("floor_divide", tg.floor_divide, np.floor_divide, lambda a, b: (0 * a, 0 * b), ((-10.0, 10.0), _AWAY)),
    Binary("remainder", tg.remainder, np.remainder, lambda a, b: (np.ones_like(a), -np.floor_divide(a, b)),
           ((-10.0, 10.0), _AWAY)),
    Binary("fmod", tg.fmod, np.fmod, lambda a, b: (np.ones_like(a), -np.trunc(a / b)), ((-10.0, 10.0), _AWAY)),
    # libm's hypot, atan2, exp and log1p are within 1 ulp, not correctly rounded, and numpy's
    # loops may use other implementations than the C library's: 2 ulps for the two roundings
    Binary("hypot", tg.hypot, np.hypot, lambda a, b: (a / np.hypot(a, b), b / np.hypot(a, b)), (_AWAY, _AWAY),
           ulps=2),
    Binary("atan2", tg.atan2, np.arctan2, lambda a, b: (b / (a * a + b * b), -a / (a * a + b * b)), (_AWAY, _AWAY),
           ulps=2),
    Binary("logaddexp", tg.logaddexp, np.logaddexp,
           lambda a, b: (np.exp(a - np.logaddexp(a, b)), np.exp(b - np.logaddexp(a, b))), ulps=2),
    Binary("eq", tg.eq, np.equal),
    Binary("ne", tg.ne, np.not_equal),
    Binary("lt", tg.lt, np.less),
    Binary("le", tg.le, np.less_equal),
    Binary("gt", tg.gt, np.greater),
    Binary("ge", tg.ge, np.greater_equal),
    Binary("logical_and", tg.logical_and, np.logical_and),
    Binary("logical_or", tg.logical_or, np.logical_or),
    Binary("logical_xor", tg.logical_xor, np.logical_xor),
]
