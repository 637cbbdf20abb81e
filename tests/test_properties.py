"""Property-based tests (hypothesis) against float64 numpy: every elementwise binary op on
random mutually broadcastable shapes, the reductions over random dims, and basic indexing with
random keys. Forward checks draw values that include infinities, NaN, signed zeros, subnormals
and huge numbers, and the tensors come in random memory layouts; gradient checks draw values in
each op's domain and compare tapegrad's backward with an analytic float64 gradient (summed back
to the input's shape where the input was broadcast).

Each test runs in two tiers (tests/conftest.py): 100 examples in the default run and 10,000
under `pytest -m slow`.
"""
from __future__ import annotations

import inspect
import math
import re
import warnings
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

import tapegrad as tg
from op_table import BINARY, OPS
from tapegrad.ops import elementwise

# the hypothesis tests run once per tier: 100 examples by default, 10,000 under -m slow
tiered = pytest.mark.usefixtures("tier")

EPS = np.finfo(np.float64).eps
TINY = np.finfo(np.float64).smallest_subnormal
INF, NAN = math.inf, math.nan
SHAPES2 = hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, min_side=0, max_side=5)
SHAPES3 = hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=4, min_side=0, max_side=5)
SHAPE = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, INF, -INF, NAN]
# Anything a float64 can hold: moderate values (which collide and tie), the special values,
# and hypothesis' full float range (huge, tiny and subnormal numbers).
ANY = st.one_of(st.floats(-100, 100), st.sampled_from(SPECIAL), st.floats())
# No tiny magnitudes: powers of them land among subnormals, where libm and numpy round apart.
MODERATE = st.floats(-1e3, 1e3).filter(lambda v: v == 0 or abs(v) > 1e-100)
LAYOUTS = st.sampled_from(["c", "f", "s", "r"])


def finite(lo=-10.0, hi=10.0, away=0.0):
    """Finite floats in [lo, hi]; with `away`, none in (-away, away)."""
    if not away:
        return st.floats(lo, hi)
    return st.one_of(st.floats(lo, -away), st.floats(away, hi))


def arrays(data, shape, elements):
    return data.draw(hnp.arrays(np.float64, shape, elements=elements))


def tensor(a: np.ndarray, layout: str = "c", requires_grad: bool = False) -> tg.Tensor:
    """`a` as a float64 tensor laid out as: 'c' C-contiguous, 'f' column-major, 's' every other
    element of a wider buffer, 'r' reversed (negative stride) along the first axis."""
    a = np.array(a, dtype=np.float64)
    if a.ndim and a.size and layout != "c":
        if layout == "f":
            a = np.asfortranarray(a)
        elif layout == "s":
            wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],))
            wide[..., ::2] = a
            a = wide[..., ::2]
        else:
            a = a[::-1].copy()[::-1]
    return tg.from_numpy(a).requires_grad_(requires_grad)


def sum_tol(terms: np.ndarray, shape) -> np.ndarray:
    """The rounding bound of sum_to(terms, shape) when each term already carries a few roundings:
    a few ulps of each term, n ulps of the sum of n magnitudes, and as many subnormal spacings
    (an op whose result underflows errs by those, not by a relative amount)."""
    n = max(1, terms.size // max(1, int(np.prod(shape))))
    return 4 * (n + 8) * (EPS * sum_to(np.abs(terms), shape) + TINY)


def sum_to(x: np.ndarray, shape) -> np.ndarray:
    """The gradient of broadcasting `shape` to x.shape: sum over the broadcast axes."""
    lead = x.ndim - len(shape)
    x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True).reshape(shape)


def assert_values(got: tg.Tensor, want: np.ndarray, tol=0.0, what=""):
    """got == want: same shape and dtype, NaN at the same positions, infinities equal and finite
    values within `tol` (a scalar or an array of bounds; 0 means bit-for-bit up to zero signs)."""
    g = got.detach().numpy()
    want = np.asarray(want)
    assert g.shape == want.shape, f"{what}: shape {g.shape} != {want.shape}"
    assert g.dtype == want.dtype, f"{what}: dtype {g.dtype} != {want.dtype}"
    if g.dtype.kind != "f":
        np.testing.assert_array_equal(g, want, err_msg=what)
        return
    nan_g, nan_w = np.isnan(g), np.isnan(want)
    assert np.array_equal(nan_g, nan_w), f"{what}: NaN at {np.argwhere(nan_g != nan_w)[:5].tolist()}: {g} vs {want}"
    with np.errstate(all="ignore"):
        ok = (g == want) | (np.abs(g - want) <= tol)
    bad = ~ok & ~nan_w
    assert not bad.any(), (
        f"{what}: {bad.sum()} values differ, first at {np.argwhere(bad)[0].tolist()}: "
        f"got {g[bad][:4]} want {want[bad][:4]} (tol {np.broadcast_to(tol, want.shape)[bad][:4]})"
    )


def group_size(shape, axes) -> int:
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


# --- elementwise binary ops ---------------------------------------------------------------------

DIFFERENTIABLE = [op for op in BINARY if op.partials is not None]
# Not elementwise ops of two tensors, though their signatures take two arguments; and the
# tolerance comparisons, which need both operands of one dtype where this table mixes them
# (tests/test_tensor.py::test_isclose_allclose_equal checks them against numpy and PyTorch).
_NOT_BINARY_OPS = {"cast", "isclose", "allclose", "equal"}


def test_binary_table_covers_the_api():
    """Every public two-operand function of ops/elementwise.py and every two-input row of the
    op table has a row here, so a new binary op cannot miss these properties."""
    api = set()
    for name, fn in vars(elementwise).items():
        if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != elementwise.__name__:
            continue
        params = inspect.signature(fn).parameters.values()
        required = [p for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
        if len(required) == 2 and name not in _NOT_BINARY_OPS:
            api.add(name)
    names = {op.name for op in BINARY}
    assert api <= names, f"binary ops without properties: {sorted(api - names)}"
    assert {op.name for op in OPS} & api <= names


@pytest.mark.parametrize("op", BINARY, ids=str)
@tiered
@given(data=st.data())
def test_binary_forward(op, data):
    sa, sb = data.draw(SHAPES2, label="shapes").input_shapes
    a, b = arrays(data, sa, ANY), arrays(data, sb, ANY)
    out = op.fn(tensor(a, data.draw(LAYOUTS)), tensor(b, data.draw(LAYOUTS)))
    with np.errstate(all="ignore"):  # the reference's overflows, and spacing(max float)
        want = op.ref(a, b)
        tol = op.ulps * np.spacing(np.abs(want)) if op.ulps and want.dtype.kind == "f" else 0.0
    assert_values(out, want, tol, op.name)


@pytest.mark.parametrize("op", DIFFERENTIABLE, ids=str)
@tiered
@given(data=st.data())
def test_binary_gradient(op, data):
    sa, sb = data.draw(SHAPES2, label="shapes").input_shapes
    a, b = arrays(data, sa, finite(*op.domain[0])), arrays(data, sb, finite(*op.domain[1]))
    ta, tb = tensor(a, data.draw(LAYOUTS), True), tensor(b, data.draw(LAYOUTS), True)
    out = op.fn(ta, tb)
    g = arrays(data, tuple(out.shape), finite(-2.0, 2.0))
    out.backward(tg.tensor(g, dtype=tg.float64))
    ab, bb = np.broadcast_arrays(a, b)
    for t, shape, d, name in zip((ta, tb), (sa, sb), op.partials(ab, bb), "ab"):
        terms = g * d
        assert_values(t.grad, sum_to(terms, shape), sum_tol(terms, shape), f"d {op.name} / d {name}")


@tiered
@given(data=st.data())
def test_where_forward_and_gradient(data):
    sc, sa, sb = data.draw(SHAPES3, label="shapes").input_shapes
    cond = data.draw(hnp.arrays(np.bool_, sc))
    a, b = arrays(data, sa, ANY), arrays(data, sb, ANY)
    ta, tb = tensor(a, data.draw(LAYOUTS), True), tensor(b, data.draw(LAYOUTS), True)
    out = tg.where(tg.tensor(cond), ta, tb)
    assert_values(out, np.where(cond, a, b), 0.0, "where")
    g = arrays(data, tuple(out.shape), finite(-2.0, 2.0))
    out.backward(tg.tensor(g, dtype=tg.float64))
    cb = np.broadcast_to(cond, g.shape)
    for t, shape, terms, name in ((ta, sa, np.where(cb, g, 0.0), "a"), (tb, sb, np.where(cb, 0.0, g), "b")):
        assert_values(t.grad, sum_to(terms, shape), sum_tol(terms, shape), f"d where / d {name}")


# --- reductions ---------------------------------------------------------------------------------

@st.composite
def dims(draw, ndim: int, kind: str):
    """A `dim` argument for a tensor of `ndim` dims. kind 'multi': None, an int, or a tuple of
    distinct dims (empty meaning all, as PyTorch); 'one': an int; 'one_or_none'; 'required':
    an int or a tuple. Ints may be negative; a 0-d tensor takes 0 and -1."""
    one = st.integers(-max(ndim, 1), max(ndim, 1) - 1)
    if kind == "one":
        return draw(one)
    if kind == "one_or_none":
        return draw(st.none() | one)
    axes = draw(st.lists(st.integers(0, max(ndim, 1) - 1), unique=True, max_size=max(ndim, 1)))
    as_tuple = tuple(a - max(ndim, 1) if draw(st.booleans()) else a for a in axes)
    options = [one, st.just(as_tuple)]
    if kind == "multi":
        options.append(st.none())
    return draw(st.one_of(*options))


def axes_of(dim, ndim: int) -> tuple:
    """The non-negative axes `dim` reduces (PyTorch: None and () mean all)."""
    if dim is None or dim == ():
        return tuple(range(ndim))
    if ndim == 0:
        return ()
    dims_ = (dim,) if isinstance(dim, int) else dim
    return tuple(sorted(d % ndim for d in dims_))


def reduce_ref(fn, x, axes, keepdim, empty=NAN):
    """A numpy reduction over `axes` (possibly none), `empty` where the group has no elements."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if group_size(x.shape, axes) == 0:
            shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
            out = np.full(shape, empty)
        else:
            out = fn(x, axis=axes, keepdims=True)
    return out if keepdim else out.reshape([s for i, s in enumerate(out.shape) if i not in axes])


def expand_back(g, shape, axes, keepdim):
    """A reduced result's gradient broadcast over the input's shape."""
    kept = tuple(1 if i in axes else s for i, s in enumerate(shape))
    return np.broadcast_to(np.reshape(g, kept), shape)


def _exclusive_prod(x, axes):
    """For each element, the product of the other elements of its group (no division, so
    zeros are handled exactly as the derivative of a product)."""
    if x.size == 0:
        return np.ones(x.shape)
    rest = [i for i in range(x.ndim) if i not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,))
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], -1), -1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
    others = (left * right).reshape(moved.shape)
    return np.transpose(others, np.argsort(rest + list(axes)))


def _lse(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis)


def _pnorm(p):
    def fn(x, axis, keepdims):
        a = np.abs(x)
        if p == INF:
            return np.max(a, axis=axis, keepdims=keepdims)
        if p == -INF:
            return np.min(a, axis=axis, keepdims=keepdims)
        return np.sum(a**p, axis=axis, keepdims=keepdims) ** (1 / p)
    return fn


NORM_PS = [2, "fro", 1, 3.0, 0.5, INF, -INF]


@tiered
@given(data=st.data())
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "all", "any"])
def test_reduce_sum_like_forward(name, data):
    """Sums, means, products and the logical reductions, with infinities and NaN in the input."""
    shape = data.draw(SHAPE, label="shape")
    # products stay within [0.5, 2] in magnitude, so they never underflow or overflow
    mag = finite(0.5, 2.0) if name == "prod" else finite(-1e6, 1e6)
    x = arrays(data, shape, st.one_of(mag, st.sampled_from([0.0, INF, -INF, NAN])))
    dim = data.draw(dims(len(shape), "multi"), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    t = tensor(x, data.draw(LAYOUTS))
    axes = axes_of(dim, len(shape))
    n = group_size(shape, axes)
    if name in ("all", "any"):
        ref_axes = () if dim == () else axes
        out = getattr(tg, name)(t, dim, keepdim)
        want = reduce_ref(getattr(np, name), x != 0, ref_axes, keepdim, empty=name == "all")
        assert_values(out, want.astype(bool), 0.0, name)
        return
    out = getattr(tg, name)(t, dim, keepdim=keepdim)
    with np.errstate(all="ignore"):
        finite_x = np.where(np.isfinite(x), x, 0.0)
    empty = {"sum": 0.0, "prod": 1.0, "mean": NAN}[name]
    want = reduce_ref(getattr(np, name), x, axes, keepdim, empty)
    scale = reduce_ref(np.sum, np.abs(finite_x), axes, keepdim, 0.0)
    if name == "prod":
        scale = np.abs(want)
    elif name == "mean":
        scale = scale / max(n, 1)
    assert_values(out, want, 2 * (n + 2) * EPS * scale, f"{name} over {dim}")


@tiered
@given(data=st.data())
@pytest.mark.parametrize("name", ["amax", "amin", "max", "min", "argmax", "argmin"])
def test_reduce_extremes_forward(name, data):
    """Extremes and their indices: exact, NaN wins, ties go to the first occurrence; reducing
    an empty group raises."""
    shape = data.draw(SHAPE, label="shape")
    x = arrays(data, shape, st.one_of(st.integers(-3, 3).map(float), st.sampled_from([INF, -INF, NAN]), finite()))
    t = tensor(x, data.draw(LAYOUTS))
    keepdim = data.draw(st.booleans(), label="keepdim")
    kind = {"amax": "required", "amin": "required"}.get(name, "one_or_none")
    dim = data.draw(dims(len(shape), kind), label="dim")
    axes = axes_of(dim, len(shape))
    if group_size(shape, axes) == 0:
        with pytest.raises((RuntimeError, IndexError), match=name):
            getattr(tg, name)(t, dim, keepdim) if dim is not None else getattr(tg, name)(t)
        return
    npfn = {"amax": np.max, "max": np.max, "amin": np.min, "min": np.min,
            "argmax": np.argmax, "argmin": np.argmin}[name]
    if name.startswith("arg"):
        out = getattr(tg, name)(t, dim, keepdim)
        if dim is None:
            want = np.argmax(x) if name == "argmax" else np.argmin(x)
            want = np.reshape(want, (1,) * x.ndim if keepdim else ())
        else:
            want = npfn(x, axis=axes[0] if axes else None, keepdims=keepdim) if x.ndim else np.array(0)
        assert_values(out, np.asarray(want, dtype=np.int64), 0, name)
        return
    if name in ("max", "min") and dim is None:
        assert_values(getattr(tg, name)(t), npfn(x), 0.0, name)
        return
    out = getattr(tg, name)(t, dim, keepdim)
    want = reduce_ref(npfn, x, axes, keepdim)
    if name in ("max", "min"):
        values, indices = out
        assert_values(values, want, 0.0, name)
        argfn = np.argmax if name == "max" else np.argmin
        idx = argfn(x, axis=axes[0], keepdims=keepdim) if x.ndim else np.array(0)
        assert_values(indices, np.asarray(idx, dtype=np.int64), 0, f"{name} indices")
    else:
        assert_values(out, want, 0.0, name)


@tiered
@given(data=st.data())
@pytest.mark.parametrize("name", ["var", "std", "logsumexp", "norm"])
def test_reduce_statistics_forward(name, data):
    shape = data.draw(SHAPE, label="shape")
    x = arrays(data, shape, MODERATE)
    t = tensor(x, data.draw(LAYOUTS))
    keepdim = data.draw(st.booleans(), label="keepdim")
    dim = data.draw(dims(len(shape), "required" if name == "logsumexp" else "multi"), label="dim")
    axes = axes_of(dim, len(shape))
    n = group_size(shape, axes)
    big = reduce_ref(np.max, np.abs(x), axes, keepdim, 0.0)
    if name in ("var", "std"):
        correction = data.draw(st.integers(0, 1), label="correction")
        out = getattr(tg, name)(t, dim, keepdim=keepdim, correction=correction)
        want = reduce_ref(lambda v, axis, keepdims: getattr(np, name)(v, axis=axis, ddof=correction, keepdims=keepdims),
                          x, axes, keepdim)
        # two passes: the mean's rounding enters the squares only to second order
        var = want**2 if name == "std" else want
        tol = 8 * (n + 2) * EPS * (var + n * EPS * big**2)
        if name == "std":
            with np.errstate(all="ignore"):
                tol = np.where(want > 0, tol / want, np.sqrt(tol))
        assert_values(out, want, tol, f"{name} over {dim} correction {correction}")
    elif name == "logsumexp":
        out = tg.logsumexp(t, dim, keepdim)
        want = reduce_ref(_lse, x, axes, keepdim, empty=-INF)
        assert_values(out, want, 8 * (n + 2) * EPS * (1 + big), f"logsumexp over {dim}")
    else:
        p = data.draw(st.sampled_from(NORM_PS), label="p")
        if n == 0 and p in (INF, -INF):
            with pytest.raises(RuntimeError, match="norm"):
                tg.norm(t, p, dim, keepdim)
            return
        out = tg.norm(t, p, dim, keepdim)
        want = reduce_ref(_pnorm(2 if p == "fro" else p), x, axes, keepdim, empty=0.0)
        assert_values(out, want, 8 * (n + 2) * EPS * np.abs(want), f"norm p={p} over {dim}")


def _grad_amax(x, axes, extreme):
    """The gradient share of each element: 1 / (number of ties) where it equals its group's
    extreme (kept dims), 0 elsewhere."""
    mask = x == np.broadcast_to(extreme, x.shape)
    return mask / np.broadcast_to(np.sum(mask, axis=axes, keepdims=True), x.shape)


def _first_hit(x, axis, extreme):
    """A one-hot mask of the first occurrence of each group's extreme along `axis`."""
    idx = (np.argmax if extreme == "max" else np.argmin)(x, axis=axis, keepdims=True)
    hit = np.zeros(x.shape)
    np.put_along_axis(hit, idx, 1.0, axis=axis)
    return hit


@tiered
@given(data=st.data())
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "max", "min", "var", "std",
                                  "logsumexp", "norm"])
def test_reduce_gradient(name, data):
    shape = data.draw(SHAPE, label="shape")
    if name == "prod":  # zeros (one or several per group) exercise the product's special cases
        elements = st.one_of(st.just(0.0), finite(0.5, 2.0), finite(-2.0, -0.5))
    elif name in ("amax", "amin", "max", "min", "norm"):  # small integers tie often
        elements = st.one_of(st.integers(-3, 3).map(float), finite(-5.0, 5.0))
    elif name in ("var", "std"):  # constant groups give a zero deviation
        elements = st.one_of(st.just(1.5), finite(-5.0, 5.0))
    else:
        elements = finite(-5.0, 5.0)
    x = arrays(data, shape, elements)
    kind = {"max": "one", "min": "one", "logsumexp": "required", "amax": "required",
            "amin": "required"}.get(name, "multi")
    dim = data.draw(dims(len(shape), kind), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    axes = axes_of(dim, len(shape))
    n = group_size(shape, axes)
    if n == 0 and name in ("amax", "amin", "max", "min"):
        return  # an error, checked by test_reduce_extremes_forward
    t = tensor(x, data.draw(LAYOUTS), requires_grad=True)
    extra = {}
    if name in ("var", "std"):
        extra["correction"] = data.draw(st.integers(0, max(0, min(1, n - 1))), label="correction")
    if name == "norm":
        extra["p"] = data.draw(st.sampled_from(NORM_PS), label="p")
        if n == 0 and extra["p"] in (INF, -INF):
            return
    if name in ("max", "min"):
        out = getattr(tg, name)(t, dim, keepdim).values
    elif name == "norm":
        out = tg.norm(t, extra["p"], dim, keepdim)
    elif name in ("var", "std"):
        out = getattr(tg, name)(t, dim, keepdim=keepdim, correction=extra["correction"])
    else:
        out = getattr(tg, name)(t, dim, keepdim=keepdim) if name in ("sum", "mean", "prod") else \
            getattr(tg, name)(t, dim, keepdim)
    g = arrays(data, tuple(out.shape), finite(-2.0, 2.0))
    out.backward(tg.tensor(g, dtype=tg.float64))
    ge = expand_back(g, shape, axes, keepdim)
    want, scale, *floor = _reduce_grad_ref(name, x, axes, ge, n, **extra)
    tol = 16 * (n + 4) * (EPS * scale + TINY) + (floor[0] if floor else 0.0)
    assert_values(t.grad, want, tol, f"d {name}{extra} over {dim}")


def _reduce_grad_ref(name, x, axes, ge, n, correction=None, p=None):
    """(analytic gradient, a bound on the magnitudes its rounding error scales with[, an
    absolute tolerance where the gradient is not determined by the data])."""
    with np.errstate(all="ignore"):
        if name == "sum":
            return ge, np.abs(ge)
        if name == "mean":
            return ge / n, np.abs(ge / n)
        if name == "prod":
            want = ge * _exclusive_prod(x, axes)
            return want, np.abs(want)
        if name in ("amax", "amin"):
            ext = (np.max if name == "amax" else np.min)(x, axis=axes, keepdims=True)
            want = ge * _grad_amax(x, axes, ext)
            return want, np.abs(want)
        if name in ("max", "min"):
            axis = axes[0] if axes else None
            want = ge * (_first_hit(x, axis, name) if x.ndim else 1.0)
            return want, np.abs(want)
        mean = np.mean(x, axis=axes, keepdims=True) if n else np.zeros(())
        dev = x - mean
        # what the deviation's rounding is relative to: x, and the mean's own rounding, which
        # is relative to the magnitudes summed (not to the mean: they may cancel)
        spread = np.abs(x) + (np.mean(np.abs(x), axis=axes, keepdims=True) if n else 0.0)
        if name == "var":
            return ge * (2 * dev / (n - correction)), np.abs(ge) * (2 * spread / (n - correction))
        if name == "std":
            std = np.sqrt(np.sum(dev**2, axis=axes, keepdims=True) / (n - correction))
            # Where the spread is at the level of the mean's rounding (1e-5 ten times), the
            # deviations are rounding noise and dev / std can be anything up to
            # 1 / sqrt(n - correction) (Cauchy-Schwarz); for a truly zero spread PyTorch gives 0.
            big = np.max(np.abs(x), axis=axes, keepdims=True) if n else np.zeros(())
            noise = std <= 8 * (n + 2) * EPS * big
            want = np.where(noise, 0.0, ge * (dev / ((n - correction) * std)))  # ge * dev may underflow
            scale = np.where(noise, 0.0, np.abs(ge) * spread / ((n - correction) * std))
            return want, scale, np.where(noise, np.abs(ge) / np.sqrt(n - correction), 0.0)
        if name == "logsumexp":
            lse = _lse(x, axes, True) if n else np.zeros(())
            want = ge * np.exp(x - lse)
            return want, np.abs(want) * (1 + np.abs(x) + np.abs(lse))
        # norm, with PyTorch's conventions: a zero norm, or a zero element under p < 1, has a
        # zero gradient; infinity norms share it evenly among the tied extremes.
        p = 2 if p == "fro" else p
        a = np.abs(x)
        if p in (INF, -INF):
            ext = (np.max if p == INF else np.min)(a, axis=axes, keepdims=True)
            want = ge * np.sign(x) * _grad_amax(a, axes, ext)
            return want, np.abs(want)
        norm = _pnorm(p)(x, axes, True) if n else np.zeros(())
        want = np.where((norm > 0) & (a > 0), ge * np.sign(x) * (a / norm) ** (p - 1), 0.0)
        return want, np.abs(want)


# --- basic indexing -----------------------------------------------------------------------------

@st.composite
def basic_keys(draw, shape, step_sign=1):
    """A basic index for `shape`: ints (negative too), slices with out-of-range bounds and
    positive steps (or, with step_sign <= 0, at least one slice and every step negative or
    zero), None, and at most one Ellipsis; a bare component or a tuple."""
    ndim = len(shape)
    used = draw(st.integers(0, ndim))
    if draw(st.booleans()):  # an Ellipsis with `before` components ahead of it
        before = draw(st.integers(0, used))
        dims_ = list(shape[:before]) + list(shape[ndim - (used - before):])
    else:
        before, dims_ = None, list(shape[:used])
    parts = []
    for s in dims_:
        bound = st.none() | st.integers(-2 * s - 2, 2 * s + 2)
        if s and draw(st.booleans()):
            parts.append(draw(st.integers(-s, s - 1)))
        else:
            step = (st.none() | st.integers(1, s + 2)) if step_sign > 0 else st.integers(-s - 2, 0)
            parts.append(slice(draw(bound), draw(bound), draw(step)))
    if step_sign <= 0 and not any(isinstance(k, slice) for k in parts):
        if parts:
            parts[0] = slice(None, None, draw(st.integers(-3, 0)))
        else:
            parts.append(slice(None, None, draw(st.integers(-3, 0))))
    if before is not None:
        parts.insert(before, Ellipsis)
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    if len(parts) == 1 and draw(st.booleans()):
        return parts[0]
    return tuple(parts)


@tiered
@given(data=st.data())
def test_basic_index_forward_and_gradient(data):
    shape = data.draw(SHAPE, label="shape")
    x = arrays(data, shape, ANY)
    key = data.draw(basic_keys(shape), label="key")
    t = tensor(x, data.draw(LAYOUTS), requires_grad=True)
    out = t[key]
    want = x[key]
    assert_values(out, np.asarray(want), 0.0, f"x[{key}]")
    if out.numel():  # basic indexing gives a view
        assert np.shares_memory(out.detach().numpy(), t.detach().numpy())
    g = arrays(data, tuple(out.shape), finite(-2.0, 2.0))
    out.backward(tg.tensor(g, dtype=tg.float64))
    expected = np.zeros(shape)
    expected[key] = g
    assert_values(t.grad, expected, 0.0, f"d x[{key}]")


@tiered
@given(data=st.data())
def test_basic_index_setitem(data):
    shape = data.draw(SHAPE, label="shape")
    x = arrays(data, shape, ANY)
    key = data.draw(basic_keys(shape), label="key")
    region = np.asarray(x[key]).shape
    assignable = hnp.broadcastable_shapes(region, max_dims=len(region), min_side=0).filter(
        lambda vs: np.broadcast_shapes(vs, region) == region)
    vshape = data.draw(assignable, label="value shape")
    v = arrays(data, vshape, ANY)
    t = tensor(x, data.draw(LAYOUTS))
    t[key] = tg.tensor(v, dtype=tg.float64)
    expected = x.copy()
    expected[key] = v
    assert_values(t, expected, 0.0, f"x[{key}] = v")


@tiered
@given(data=st.data())
def test_nonpositive_slice_step_raises(data):
    """As PyTorch: negative and zero slice steps raise ValueError."""
    shape = data.draw(SHAPE.filter(len), label="shape")
    key = data.draw(basic_keys(shape, step_sign=-1), label="key")
    t = tensor(arrays(data, shape, finite()))
    with pytest.raises(ValueError, match="step"):
        t[key]


@tiered
@given(data=st.data())
def test_out_of_range_int_index_raises(data):
    shape = data.draw(SHAPE.filter(len), label="shape")
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    s = shape[axis]
    i = data.draw(st.integers(s, s + 10) | st.integers(-s - 10, -s - 1), label="index")
    t = tensor(arrays(data, shape, finite()))
    with pytest.raises(IndexError, match=f"out of bounds.*{re.escape(str(tuple(shape)))}"):
        t[(slice(None),) * axis + (i,)]


# --- regressions these properties found ----------------------------------------------------------

def test_floor_divide_is_floor_of_exact_quotient():
    # 1 / 0.1 rounds to 10.0, but the exact quotient of the two doubles is just below 10
    a = tg.tensor([1.0, -1.0, 1.0], dtype=tg.float64)
    b = tg.tensor([0.1, 0.1, -np.inf], dtype=tg.float64)
    np.testing.assert_array_equal(tg.floor_divide(a, b).numpy(), [1.0 // 0.1, -1.0 // 0.1, -1.0])
    np.testing.assert_array_equal(tg.remainder(a, b).numpy(), np.remainder([1.0, -1.0, 1.0], [0.1, 0.1, -np.inf]))


def test_empty_dim_list_reduces_every_dim():
    x = tg.arange(6.0).reshape(2, 3)
    assert x.sum(()).item() == 15.0 and x.mean([]).item() == 2.5
    assert tuple(x.var((), keepdim=True).shape) == (1, 1)
    assert tuple(x.all(()).shape) == (2, 3)  # as PyTorch: all/any over no dims reduce nothing


def test_std_and_norm_have_zero_gradient_at_zero():
    # as PyTorch, where the chain through sqrt / pow would give 0 * inf = nan
    cases = [(lambda t: t.std(), tg.full((3,), 2.0, requires_grad=True))]
    cases += [(lambda t, p=p: t.norm(p), tg.zeros(3, requires_grad=True)) for p in (2, 3.0, 0.5)]
    for fn, x in cases:
        fn(x).backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))
