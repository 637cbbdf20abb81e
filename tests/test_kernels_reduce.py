# Kernel-level tests of _C.cpu.reduce(op, x, axes, out) against float64 numpy references:
# every op on random shapes and axis subsets up to 4-D, non-contiguous, reversed and stride-0
# inputs, empty kept and reduced sets, NaN handling, argmax/argmin ties, the large paths
# (chunked full reductions, column and row reductions), float32 accuracy, determinism, errors.
import re

import numpy as np
import pytest

from tapegrad._C import cpu as K

FLOAT_OPS = ["sum", "prod", "max", "min", "argmax", "argmin"]
ALL_DTYPES = [np.float32, np.float64, np.int64]


def out_dtype(op, dtype):
    if op in ("argmax", "argmin"):
        return np.int64
    return np.dtype(dtype)


def reduce(op, x, axes):
    axes = list(axes)
    kept = [x.shape[d] for d in range(x.ndim) if d not in axes]
    out = np.empty(kept, out_dtype(op, x.dtype))
    K.reduce(op, x, axes, out)
    return out


def reference(op, x, axes):
    axes = tuple(sorted(axes))
    kept = [d for d in range(x.ndim) if d not in axes]
    if op in ("argmax", "argmin"):
        kept_shape = [x.shape[d] for d in kept]
        if not axes:
            return np.zeros(kept_shape, np.int64)
        n = int(np.prod([x.shape[d] for d in axes]))
        y = np.transpose(x, kept + list(axes)).reshape(kept_shape + [n])
        return (np.argmax if op == "argmax" else np.argmin)(y, axis=-1)
    if op in ("all", "any"):
        return getattr(np, op)(x, axis=axes)
    wide = x.astype(np.float64) if x.dtype.kind == "f" else x
    return {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[op](wide, axis=axes)


def check(op, x, axes):
    out = reduce(op, x, axes)
    ref = np.asarray(reference(op, x, axes))
    assert out.shape == ref.shape
    if op in ("sum", "prod") and x.dtype.kind == "f":
        # float32: sums are blocked (a few float roundings per value, then double), products
        # run in double; both stay well within 1e-6 of the scale. float64: 1e-12.
        rtol = 1e-6 if x.dtype == np.float32 else 1e-12
        if op == "sum":
            scale = np.abs(x.astype(np.float64)).sum(axis=tuple(axes))
        else:
            scale = np.abs(ref)
        err = np.abs(out.astype(np.float64) - ref)
        # (plus the smallest normal number: results that underflow lose relative precision)
        tiny = np.finfo(x.dtype).tiny
        assert np.all(err <= rtol * scale + tiny), (op, x.shape, axes, err.max())
    else:
        np.testing.assert_array_equal(out, ref.astype(out.dtype), err_msg=f"{op} {x.shape} {axes}")


def values(rng, shape, dtype, op):
    if dtype == np.int64:
        lo, hi = (-3, 4) if op == "prod" else (-50, 50)
        return rng.integers(lo, hi, size=shape).astype(np.int64)
    if op == "prod":
        # near 1 so that products of tens of thousands of values stay finite
        v = rng.uniform(0.97, 1.03, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    else:
        v = rng.standard_normal(shape)
    return v.astype(dtype)


def make_view(rng, shape, dtype, op, layout):
    """An array of `shape` whose memory layout is `layout`."""
    nd = len(shape)
    if layout == "contig" or nd == 0:
        return values(rng, shape, dtype, op)
    if layout == "transpose":
        perm = rng.permutation(nd)
        base = values(rng, [shape[p] for p in perm], dtype, op)
        return base.transpose(np.argsort(perm))
    if layout == "step":  # steps of 2, some negative
        base = values(rng, [2 * s for s in shape], dtype, op)
        idx = tuple(slice(None, None, int(rng.choice([2, -2]))) for _ in shape)
        return base[idx]
    if layout == "broadcast":  # some axes with stride 0
        bshape = [1 if rng.random() < 0.5 else s for s in shape]
        return np.broadcast_to(values(rng, bshape, dtype, op), shape)
    if layout == "mixed":  # transposed and reversed
        perm = rng.permutation(nd)
        base = values(rng, [shape[p] for p in perm], dtype, op)[..., ::-1]
        return base.transpose(np.argsort(perm))
    raise AssertionError(layout)


LAYOUTS = ["contig", "transpose", "step", "broadcast", "mixed"]


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_random_shapes_axes_layouts(kernels, seed, dtype):
    rng = np.random.default_rng(seed)
    for _ in range(6):
        nd = int(rng.integers(1, 5))
        shape = [int(rng.choice([1, 2, 3, 5, 7, 16, 33])) for _ in range(nd)]
        axes = [d for d in range(nd) if rng.random() < 0.5]
        axes = list(rng.permutation(axes)) if axes else []  # any order is accepted
        axes = [int(a) for a in axes]
        layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
        for op in FLOAT_OPS:
            check(op, make_view(rng, shape, dtype, op, layout), axes)


@pytest.mark.parametrize("seed", range(10))
def test_random_with_empty_dims(kernels, seed):
    rng = np.random.default_rng(200 + seed)
    for _ in range(10):
        nd = int(rng.integers(1, 5))
        shape = [int(rng.choice([0, 1, 3, 4])) for _ in range(nd)]
        shape[int(rng.integers(nd))] = 0
        axes = [d for d in range(nd) if rng.random() < 0.5]
        layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
        reduced_empty = int(np.prod([shape[d] for d in axes])) == 0
        for dtype in ALL_DTYPES:
            x = make_view(rng, shape, dtype, "sum", layout)
            for op in FLOAT_OPS:
                if op in ("sum", "prod") or not reduced_empty:
                    check(op, x, axes)
                else:
                    with pytest.raises(ValueError, match=re.escape(f"{op}: cannot reduce over an empty dimension of shape {tuple(shape)}")):
                        reduce(op, x, axes)
        b = make_view(rng, shape, np.float64, "sum", layout) > 0
        for op in ("all", "any"):
            check(op, b, axes)


@pytest.mark.parametrize("seed", range(12))
def test_random_bool_all_any(kernels, seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(8):
        nd = int(rng.integers(1, 5))
        shape = [int(rng.choice([1, 2, 3, 5, 17, 40])) for _ in range(nd)]
        axes = [d for d in range(nd) if rng.random() < 0.5]
        layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
        p = float(rng.choice([0.02, 0.5, 0.98]))
        x = make_view(rng, shape, np.float64, "sum", layout)
        x = x < np.quantile(x, p) if x.size else x.astype(bool)
        for op in ("all", "any"):
            check(op, x, axes)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_zero_dim(kernels, dtype):
    x = np.array(3.5 if dtype != np.int64 else 7, dtype=dtype)
    for op in FLOAT_OPS:
        out = reduce(op, x, [])
        assert out.shape == ()
        assert out == (0 if op.startswith("arg") else x)
    for op in ("all", "any"):
        for v in (True, False):
            assert reduce(op, np.array(v), []) == v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_axes_is_a_copy(kernels, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 5)).astype(dtype)[::-1, ::2].transpose(2, 0, 1)
    for op in ("sum", "prod", "max", "min"):
        np.testing.assert_array_equal(reduce(op, x, []), x)
    np.testing.assert_array_equal(reduce("argmax", x, []), np.zeros(x.shape, np.int64))
    # reducing only size-1 axes is a copy too
    y = x[:, None]
    np.testing.assert_array_equal(reduce("sum", y, [1]), x)
    np.testing.assert_array_equal(reduce("argmin", y, [1]), np.zeros(x.shape, np.int64))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_size_zero(kernels, dtype):
    x = np.zeros((0, 3), dtype)
    # empty kept set: nothing to write, no error even for max
    for op in FLOAT_OPS:
        assert reduce(op, x, [1]).shape == (0,)
    # empty reduced set: the identity
    np.testing.assert_array_equal(reduce("sum", x, [0]), np.zeros(3, dtype))
    np.testing.assert_array_equal(reduce("prod", x, [0]), np.ones(3, dtype))
    assert reduce("sum", x, [0, 1]) == 0
    assert reduce("prod", x, [0, 1]) == 1
    for op in ("max", "min", "argmax", "argmin"):
        with pytest.raises(ValueError, match=re.escape(f"{op}: cannot reduce over an empty dimension of shape (0, 3)")):
            reduce(op, x, [0])
        with pytest.raises(ValueError, match="cannot reduce over an empty dimension"):
            reduce(op, x, [0, 1])
        with pytest.raises(ValueError, match="cannot reduce over an empty dimension"):
            reduce(op, np.zeros((0, 0), dtype), [1])
    b = np.zeros((2, 0), bool)
    np.testing.assert_array_equal(reduce("all", b, [1]), [True, True])
    np.testing.assert_array_equal(reduce("any", b, [1]), [False, False])
    assert reduce("all", b, [0]).shape == (0,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_propagates_in_max_min(kernels, dtype):
    rng = np.random.default_rng(2)
    for shape, axes in [((1000,), [0]), ((300, 7), [0]), ((7, 300), [1]), ((64, 130), [0]),
                        ((9, 1030), [0, 1]), ((5, 6, 7), [0, 2])]:
        x = rng.standard_normal(shape).astype(dtype)
        flat = x.reshape(-1)
        for pos in rng.choice(flat.size, size=3, replace=False):
            y = flat.copy()
            y[pos] = np.nan
            y = y.reshape(shape)
            for op in ("max", "min"):
                out = reduce(op, y, axes)
                ref = getattr(np, op)(y.astype(np.float64), axis=tuple(axes))
                np.testing.assert_array_equal(out, ref.astype(dtype))
                assert np.isnan(out).sum() >= 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_ties_and_nan(kernels, dtype):
    x = np.array([1, 5, 2, 5, 5, 0], dtype)
    assert reduce("argmax", x, [0]) == 1
    assert reduce("argmin", x, [0]) == 5
    x = np.array([3, 0, 0, 3], dtype)
    assert reduce("argmin", x, [0]) == 1
    x = np.array([1, np.nan, 7, np.nan, -1], dtype)
    assert reduce("argmax", x, [0]) == 1  # first NaN wins, as torch
    assert reduce("argmin", x, [0]) == 1
    x = np.full(300, 2.0, dtype)
    assert reduce("argmax", x, [0]) == 0
    x[[70, 250]] = np.nan
    assert reduce("argmax", x, [0]) == 70
    x = np.full(1000, -np.inf, dtype)
    assert reduce("argmax", x, [0]) == 0
    assert reduce("argmin", x, [0]) == 0
    # C-order index over several reduced axes
    x = np.zeros((3, 4, 5), dtype)
    x[1, 2, 3] = 9
    x[2, 3, 4] = 9
    np.testing.assert_array_equal(reduce("argmax", x, [0, 2]), [0, 0, 8, 14])
    assert reduce("argmax", x, [0, 1, 2]) == np.ravel_multi_index((1, 2, 3), x.shape)
    # reversed and strided reduced axes keep the logical index
    y = np.arange(40, dtype=dtype)[::-3]
    assert reduce("argmax", y, [0]) == 0
    assert reduce("argmin", y, [0]) == len(y) - 1
    # column argmax with ties and NaN, through the row-buffer path
    rng = np.random.default_rng(3)
    z = rng.integers(0, 4, size=(200, 70)).astype(dtype)
    z[150, 5] = np.nan
    z[120, 5] = np.nan
    for op in ("argmax", "argmin"):
        check(op, z, [0])
        check(op, z.T, [1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_argmax_many_ties_all_lengths(kernels, dtype):
    # few distinct values, so ties are everywhere; every run length up to past the long-run
    # threshold, contiguous and strided, with and without NaN
    rng = np.random.default_rng(9)
    for n in list(range(1, 70)) + [255, 256, 257, 300, 1000]:
        for trial in range(3):
            x = rng.integers(0, 3, size=(2, n)).astype(dtype)
            if dtype != np.int64 and trial == 2:
                x[:, rng.integers(n)] = np.nan
                x[1, rng.integers(n)] = np.nan
            for op in ("argmax", "argmin"):
                check(op, x, [1])
                check(op, x[:, ::-1], [1])
                check(op, x.T, [0])


def test_int64_sums_and_prods_exact(kernels):
    rng = np.random.default_rng(4)
    x = rng.integers(-(2**40), 2**40, size=(513, 77))
    for axes in ([0], [1], [0, 1]):
        np.testing.assert_array_equal(reduce("sum", x, axes), x.sum(axis=tuple(axes)))
    big = rng.integers(-(2**40), 2**40, size=3_000_000)
    assert reduce("sum", big, [0]) == big.sum()
    p = rng.choice([-2, -1, 1, 2], size=(60, 3, 40))
    for axes in ([0], [2], [0, 2], [0, 1, 2]):
        np.testing.assert_array_equal(reduce("prod", p, axes), p.prod(axis=tuple(axes)))
    # wraps modulo 2**64 like numpy
    w = np.full(70, 3, np.int64)
    assert reduce("prod", w, [0]) == np.prod(w)
    assert reduce("sum", np.array([2**62, 2**62, 2**62], np.int64), [0]) == np.array([2**62] * 3).sum()


def test_float32_sum_accuracy_1e7():
    x = np.full(10**7, 0.1, np.float32)
    exact = 10**7 * float(np.float32(0.1))
    got = float(reduce("sum", x, [0]))
    assert abs(got - exact) / exact <= 1e-6
    # the same through the column (row-buffer) and row paths
    cols = reduce("sum", x.reshape(-1, 10), [0]).astype(np.float64)
    assert np.all(np.abs(cols - exact / 10) / (exact / 10) <= 1e-6)
    rows = reduce("sum", x.reshape(10, -1), [1]).astype(np.float64)
    assert np.all(np.abs(rows - exact / 10) / (exact / 10) <= 1e-6)
    strided = float(reduce("sum", x[::2], [0]))
    assert abs(strided - exact / 2) / (exact / 2) <= 1e-6


LARGE_CASES = [
    ((1_000_003,), [0]),  # full reduction, chunked across threads
    ((3, 200_001), [1]),  # few long rows, chunked
    ((300_001, 3), [0]),  # few columns, row-buffer split into row chunks
    ((1001, 3), [0]),  # short rows taken several at a time as one wide row
    ((5003, 63), [0]),
    ((50, 41, 6), [0, 1]),
    ((7, 999, 5), [1]),
    ((4096, 1000), [0]),  # bias-gradient shape
    ((1500, 2100), [0]),  # several column blocks
    ((2048, 1037), [1]),  # row sums
    ((130, 170, 12), [0, 1]),  # rows spanning two axes
    ((40, 3000, 9), [1]),
]


@pytest.mark.parametrize("shape,axes", LARGE_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_paths(kernels, shape, axes, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    for op in ("sum", "max", "min", "argmax", "argmin"):
        check(op, x, axes)
    check("sum", x.T, [x.ndim - 1 - a for a in axes])
    p = rng.uniform(0.9995, 1.0005, size=shape).astype(dtype)
    check("prod", p, axes)
    b = x > 2.5
    for op in ("all", "any"):
        check(op, b, axes)
        check(op, ~b, axes)


def test_large_int64_paths():
    rng = np.random.default_rng(6)
    for shape, axes in LARGE_CASES[:8]:
        x = rng.integers(-1000, 1000, size=shape)
        for op in ("sum", "max", "min", "argmax", "argmin"):
            check(op, x, axes)


def test_stride_zero_large():
    rng = np.random.default_rng(7)
    v = rng.standard_normal(1000).astype(np.float32)
    x = np.broadcast_to(v, (500, 1000))
    for op in ("sum", "max", "argmax", "argmin"):
        for axes in ([0], [1], [0, 1]):
            check(op, x, axes)
    c = np.broadcast_to(v[:, None], (1000, 300))
    for op in ("sum", "min", "argmin"):
        for axes in ([0], [1], [0, 1]):
            check(op, c, axes)


def test_deterministic_and_thread_independent():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2048, 1024)).astype(np.float32)
    flat = rng.standard_normal(3_000_017).astype(np.float32)
    cases = [(flat, [0]), (x, [0]), (x, [1]), (x, [0, 1]), (x.T, [1])]
    first = [reduce("sum", a, ax).tobytes() for a, ax in cases]
    for _ in range(3):
        assert [reduce("sum", a, ax).tobytes() for a, ax in cases] == first
    n = K.get_num_threads()
    try:
        K.set_num_threads(1)
        assert [reduce("sum", a, ax).tobytes() for a, ax in cases] == first
        K.set_num_threads(3)
        assert [reduce("sum", a, ax).tobytes() for a, ax in cases] == first
    finally:
        K.set_num_threads(n)


def test_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"reduce: unknown op 'mean'"):
        K.reduce("mean", x, [0], np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range for input of shape \(2, 3\)"):
        K.reduce("sum", x, [2], np.empty(2, np.float32))
    with pytest.raises(ValueError, match=r"sum: axis -1 is out of range"):
        K.reduce("sum", x, [-1], np.empty(2, np.float32))
    with pytest.raises(ValueError, match=r"max: axis 1 is repeated in axes \[1, 1\] for input of shape \(2, 3\)"):
        K.reduce("max", x, [1, 1], np.empty(2, np.float32))
    with pytest.raises(ValueError, match=r"sum: out has shape \(3,\), expected \(2,\) for input of shape \(2, 3\) reduced over axes \[1\]"):
        K.reduce("sum", x, [1], np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"sum: out has shape \(2, 1\), expected \(2,\)"):
        K.reduce("sum", x, [1], np.empty((2, 1), np.float32))
    with pytest.raises(ValueError, match=r"sum: out must be float32 for a float32 input, got float64"):
        K.reduce("sum", x, [1], np.empty(2, np.float64))
    with pytest.raises(ValueError, match=r"argmax: out must be int64 for a float32 input, got float32"):
        K.reduce("argmax", x, [1], np.empty(2, np.float32))
    with pytest.raises(ValueError, match=r"all: expected a bool input, got float32"):
        K.reduce("all", x, [1], np.empty(2, bool))
    with pytest.raises(ValueError, match=r"sum: expected a float32, float64 or int64 input, got bool"):
        K.reduce("sum", x > 0, [1], np.empty(2, bool))
    with pytest.raises(ValueError, match=r"sum: unsupported array dtype 'int32'"):
        K.reduce("sum", x.astype(np.int32), [1], np.empty(2, np.int32))
    with pytest.raises(ValueError, match=r"sum: out of shape \(3, 2\) must be C-contiguous"):
        K.reduce("sum", np.zeros((3, 4, 2), np.float32), [1], np.empty((2, 3), np.float32).T)
    ro = np.empty(2, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"sum: output array is read-only"):
        K.reduce("sum", x, [1], ro)
