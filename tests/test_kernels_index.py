"""Copy, gather and scatter kernels of tapegrad._C.cpu (copy, take, put_add, index_select,
index_add) against numpy over dtypes, shapes and memory layouts."""
import itertools

import numpy as np
import pytest

from tapegrad._C import cpu as K

DTYPES = [np.float32, np.float64, np.int64, np.bool_]
NUMERIC = [np.float32, np.float64, np.int64]
SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 0, 3), (4, 1, 3), (33, 17), (2, 3, 4, 5)]


def rand(shape, dtype, rng):
    """Random values as an ndarray (0-d too, never a numpy scalar)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if dtype == np.int64:
        return np.asarray(rng.integers(-1000, 1000, size=shape, dtype=np.int64))
    return np.asarray(rng.uniform(-100, 100, size=shape), dtype=dtype)


def layouts(base: np.ndarray):
    """base's values as views in several layouts: contiguous, strided, transposed, reversed."""
    yield "contiguous", base.copy()
    if base.ndim == 0:
        return
    big = np.zeros(base.shape[:-1] + (2 * base.shape[-1],), base.dtype)
    big[..., ::2] = base
    yield "strided", big[..., ::2]
    yield "transposed", np.transpose(base).copy().T
    yield "reversed", base[..., ::-1].copy()[..., ::-1]


# ---------------------------------------------------------------------------------------------
# copy

def cast_ref(x, dtype):
    """numpy's astype, except float -> int64 of NaN/inf/out-of-range, which the kernel defines
    as INT64_MIN (what numpy gives on x86) without relying on undefined behaviour."""
    with np.errstate(all="ignore"):
        return x.astype(dtype)


@pytest.mark.parametrize("src_dtype,dst_dtype", list(itertools.product(DTYPES, DTYPES)),
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_copy_all_dtype_pairs(kernels, shape, src_dtype, dst_dtype):
    rng = np.random.default_rng(0)
    base = rand(shape, src_dtype, rng)
    if np.dtype(src_dtype).kind == "f" and base.size:
        base.flat[::5] = np.round(base.flat[::5])  # exact integers and zeros convert exactly
        base.flat[1::7] = 0.0
        base.flat[2::9] = -0.75  # truncation toward zero gives 0
    ref = cast_ref(base, dst_dtype)
    for _, src in layouts(base):
        for _, dst in layouts(np.zeros(shape, dst_dtype)):
            K.copy(src, dst)
            np.testing.assert_array_equal(dst, ref)
            assert dst.dtype == np.dtype(dst_dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_copy_broadcast_source_and_big(dtype):
    rng = np.random.default_rng(1)
    row = rand((1, 37), dtype, rng)
    src = np.broadcast_to(row, (4000, 37))  # stride 0 along the first axis
    dst = np.empty((4000, 37), dtype)
    K.copy(src, dst)
    np.testing.assert_array_equal(dst, np.broadcast_to(row, (4000, 37)))
    s = np.broadcast_to(np.array(rand((), dtype, rng)), (3, 4))
    dst = np.empty((3, 4), np.float64)
    K.copy(s, dst)
    np.testing.assert_array_equal(dst, cast_ref(np.array(s), np.float64))
    # a large transpose (contiguous()), across threads
    x = rand((513, 1025), dtype, rng)
    out = np.empty((1025, 513), dtype)
    K.copy(x.T, out)
    np.testing.assert_array_equal(out, x.T)
    out32 = np.empty((1025, 513), np.float32)
    K.copy(x.T, out32)
    np.testing.assert_array_equal(out32, cast_ref(x.T, np.float32))
    K.copy(x.T[::-1, ::-1], out)  # transposed and reversed
    np.testing.assert_array_equal(out, x.T[::-1, ::-1])
    strided = np.zeros((1025, 2 * 513), dtype)[:, ::2]  # a strided destination
    K.copy(x.T, strided)
    np.testing.assert_array_equal(strided, x.T)


def test_copy_special_conversions():
    f = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 2.9, -2.9, -0.0, 0.5, 9.2e18], np.float64)
    out = np.empty(f.shape, np.int64)
    K.copy(f, out)
    lo = np.iinfo(np.int64).min
    np.testing.assert_array_equal(out, [lo, lo, lo, lo, lo, 2, -2, 0, 0, 9200000000000000000])
    b = np.empty(f.shape, bool)
    K.copy(f, b)  # nonzero (NaN included) is True, as numpy
    np.testing.assert_array_equal(b, [True, True, True, True, True, True, True, False, True, True])
    raw = np.array([0, 1, 2, 255], np.uint8).view(bool)  # bool bytes other than 0/1
    for dt in NUMERIC:
        o = np.empty(4, dt)
        K.copy(raw, o)
        np.testing.assert_array_equal(o, [0, 1, 1, 1])
    big = np.array([2**53 + 1, -(2**62), 3], np.int64)
    o = np.empty(3, np.float32)
    K.copy(big, o)
    np.testing.assert_array_equal(o, big.astype(np.float32))
    o = np.empty(2, np.float32)
    K.copy(np.array([1e300, -1e300]), o)
    np.testing.assert_array_equal(o, [np.inf, -np.inf])


def test_copy_overlapping_views():
    """Slice assignment between overlapping views behaves like numpy's (reads before writes)."""
    for src_sl, dst_sl in [(slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1)),
                           (slice(None, None, -1), slice(None))]:
        x = np.arange(20.0)
        y = np.arange(20.0)
        K.copy(x[src_sl], x[dst_sl])
        y[dst_sl] = y[src_sl]
        np.testing.assert_array_equal(x, y)
    x = np.arange(12.0).reshape(3, 4)
    K.copy(x.T.copy().T, x)
    K.copy(x, x)  # exactly the same view: nothing to do
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(3, 4))
    x = np.arange(12.0).reshape(3, 4)
    y = x.copy()
    K.copy(x[:, ::-1], x)
    np.testing.assert_array_equal(x, y[:, ::-1])
    # float64 -> int64 into the same bytes: element i is read before it is overwritten
    v = np.array([1.5, -2.5, 3.0])
    K.copy(v, v.view(np.int64))
    np.testing.assert_array_equal(v.view(np.int64), [1, -2, 3])


def test_copy_errors():
    with pytest.raises(ValueError, match=r"copy: shapes \(3,\) and \(4,\) must match"):
        K.copy(np.ones(3), np.empty(4))
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="copy: output array is read-only"):
        K.copy(np.ones(3), ro)
    with pytest.raises(ValueError, match="copy: unsupported array dtype 'int32'"):
        K.copy(np.ones(3, np.int32), np.empty(3))


# ---------------------------------------------------------------------------------------------
# take

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(1,), (10,), (3, 5), (4, 1, 6), (2, 3, 4, 5)], ids=str)
def test_take(kernels, shape, dtype):
    rng = np.random.default_rng(2)
    base = rand(shape, dtype, rng)
    n = base.size
    for ishape in [(), (0,), (6,), (3, 4)]:
        idx0 = np.asarray(rng.integers(0, n, size=ishape), dtype=np.int64)
        ref = base.reshape(-1)[idx0]
        for (_, src), (_, idx) in itertools.product(layouts(base), layouts(idx0)):
            out = np.empty(ishape, dtype)
            K.take(src, idx, out)
            np.testing.assert_array_equal(out, ref)


def test_take_broadcast_and_big():
    rng = np.random.default_rng(3)
    row = rng.standard_normal(7)
    src = np.broadcast_to(row, (5, 7))
    idx = rng.integers(0, 35, 50, dtype=np.int64)
    out = np.empty(50)
    K.take(src, idx, out)
    np.testing.assert_array_equal(out, np.array(src).reshape(-1)[idx])
    out = np.empty(1)
    K.take(np.array(4.0), np.zeros(1, np.int64), out)  # 0-d source
    np.testing.assert_array_equal(out, [4.0])
    x = rng.standard_normal((300, 400)).astype(np.float32)
    idx = rng.integers(0, x.size, 200_001, dtype=np.int64)
    out = np.empty(idx.shape, np.float32)
    K.take(x.T, idx, out)
    np.testing.assert_array_equal(out, x.T.reshape(-1)[idx])


def test_take_errors():
    x = np.arange(10.0)
    with pytest.raises(IndexError, match="take: index 12 is out of bounds for size 10"):
        K.take(x, np.array([1, 12], np.int64), np.empty(2))
    with pytest.raises(IndexError, match="take: index -1 is out of bounds for size 10"):
        K.take(x, np.array([-1], np.int64), np.empty(1))
    with pytest.raises(IndexError, match="take: index 0 is out of bounds for size 0"):
        K.take(np.empty(0), np.array([0], np.int64), np.empty(1))
    with pytest.raises(ValueError, match="take: index must be int64, got float64"):
        K.take(x, np.array([1.0]), np.empty(1))
    with pytest.raises(ValueError, match="take: out must be float64, got float32"):
        K.take(x, np.array([1], np.int64), np.empty(1, np.float32))
    with pytest.raises(ValueError, match=r"take: out shape \(2,\) does not match index shape \(1,\)"):
        K.take(x, np.array([1], np.int64), np.empty(2))


# ---------------------------------------------------------------------------------------------
# put_add

@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dshape", [(1,), (10,), (4, 6), (2, 3, 4)], ids=str)
def test_put_add(kernels, dshape, dtype):
    rng = np.random.default_rng(4)
    dst0 = rand(dshape, dtype, rng)
    n = dst0.size
    for ishape in [(), (0,), (8,), (5, 7)]:
        idx0 = np.asarray(rng.integers(0, n, size=ishape), dtype=np.int64)  # with duplicates
        src0 = rand(ishape, dtype, rng)
        ref = dst0.copy()
        np.add.at(ref.reshape(-1), idx0, src0)
        for (_, idx), (_, src) in zip(layouts(idx0), layouts(src0)):
            dst = dst0.copy()
            K.put_add(dst, idx, src)
            np.testing.assert_allclose(dst, ref, rtol=1e-6)


def test_put_add_broadcast_src_many_duplicates():
    dst = np.zeros(10, np.float64)
    idx = np.tile(np.arange(10, dtype=np.int64), 50_000)
    K.put_add(dst, idx, np.broadcast_to(np.array(0.5), idx.shape))
    np.testing.assert_array_equal(dst, np.full(10, 25_000.0))
    d = np.zeros(3, np.int64)
    K.put_add(d, np.array([0, 0, 2], np.int64), np.array([np.iinfo(np.int64).max, 2, 5]))
    np.testing.assert_array_equal(d, [np.iinfo(np.int64).min + 1, 0, 5])


def test_put_add_errors():
    dst = np.zeros(10)
    with pytest.raises(IndexError, match="put_add: index 10 is out of bounds for size 10"):
        K.put_add(dst, np.array([3, 10], np.int64), np.ones(2))
    np.testing.assert_array_equal(dst, np.zeros(10))  # nothing written
    with pytest.raises(ValueError, match="put_add: dst must be C-contiguous"):
        K.put_add(np.zeros((4, 4)).T, np.array([1], np.int64), np.ones(1))
    with pytest.raises(ValueError, match="put_add: not supported for bool"):
        K.put_add(np.zeros(3, bool), np.array([1], np.int64), np.ones(1, bool))
    with pytest.raises(ValueError, match="put_add: src must be float64, got float32"):
        K.put_add(dst, np.array([1], np.int64), np.ones(1, np.float32))
    with pytest.raises(ValueError, match=r"put_add: index shape \(2,\) and src shape \(3,\) must match"):
        K.put_add(dst, np.array([1, 2], np.int64), np.ones(3))


# ---------------------------------------------------------------------------------------------
# index_select

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(10,), (6, 4), (3, 5, 4), (2, 3, 1, 5)], ids=str)
def test_index_select(kernels, shape, dtype):
    rng = np.random.default_rng(5)
    base = rand(shape, dtype, rng)
    for axis in range(-len(shape), len(shape)):
        size = shape[axis]
        for n in (0, 1, 7):
            idx0 = rng.integers(0, size, n, dtype=np.int64)  # duplicates included
            ref = np.take(base, idx0, axis=axis)
            for (_, src), (_, idx) in itertools.product(layouts(base), layouts(idx0)):
                out = np.empty(ref.shape, dtype)
                K.index_select(src, axis, idx, out)
                np.testing.assert_array_equal(out, ref)


def test_index_select_embedding_and_broadcast():
    rng = np.random.default_rng(6)
    table = rng.standard_normal((5000, 64)).astype(np.float32)
    idx = rng.integers(0, 5000, 20_000, dtype=np.int64)
    out = np.empty((20_000, 64), np.float32)
    K.index_select(table, 0, idx, out)
    np.testing.assert_array_equal(out, table[idx])
    out = np.empty((5000, 300), np.float32)
    cols = rng.integers(0, 64, 300, dtype=np.int64)
    K.index_select(table, 1, cols, out)
    np.testing.assert_array_equal(out, table[:, cols])
    src = np.broadcast_to(rng.standard_normal(9), (4, 9))
    out = np.empty((3, 9))
    K.index_select(src, 0, np.array([3, 0, 3], np.int64), out)
    np.testing.assert_array_equal(out, np.array(src)[[3, 0, 3]])


def test_index_select_errors():
    x = np.zeros((6, 4))
    with pytest.raises(IndexError, match="index_select: index 6 is out of bounds for axis 0 with size 6"):
        K.index_select(x, 0, np.array([1, 6], np.int64), np.empty((2, 4)))
    with pytest.raises(IndexError, match="index_select: index -1 is out of bounds for axis 1 with size 4"):
        K.index_select(x, 1, np.array([-1], np.int64), np.empty((6, 1)))
    with pytest.raises(ValueError, match="index_select: axis 2 is out of range for an array with 2 dimensions"):
        K.index_select(x, 2, np.array([0], np.int64), np.empty((6, 4)))
    with pytest.raises(ValueError, match="index_select: expected an array with at least 1 dimension"):
        K.index_select(np.array(1.0), 0, np.array([0], np.int64), np.empty(1))
    with pytest.raises(ValueError, match=r"index_select: index must be 1-D, got shape \(1, 1\)"):
        K.index_select(x, 0, np.zeros((1, 1), np.int64), np.empty((1, 4)))
    with pytest.raises(ValueError, match=r"index_select: out shape \(3, 4\) does not match the expected \(2, 4\)"):
        K.index_select(x, 0, np.array([0, 1], np.int64), np.empty((3, 4)))
    with pytest.raises(ValueError, match="index_select: out must be C-contiguous"):
        K.index_select(x, 0, np.array([0, 1, 2, 3], np.int64), np.empty((4, 4)).T)
    with pytest.raises(ValueError, match="index_select: out must be float64, got float32"):
        K.index_select(x, 0, np.array([0], np.int64), np.empty((1, 4), np.float32))


# ---------------------------------------------------------------------------------------------
# index_add

def index_add_ref(dst, axis, idx, src):
    ref = dst.copy()
    axis = axis % dst.ndim
    np.add.at(ref, (slice(None),) * axis + (idx,), src)
    return ref


@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(10,), (6, 4), (3, 5, 4), (2, 3, 1, 5)], ids=str)
def test_index_add(kernels, shape, dtype):
    rng = np.random.default_rng(7)
    dst0 = rand(shape, dtype, rng)
    for axis in range(-len(shape), len(shape)):
        for n in (0, 1, 9):
            idx0 = rng.integers(0, shape[axis], n, dtype=np.int64)  # duplicates accumulate
            sshape = list(shape)
            sshape[axis] = n
            src0 = rand(tuple(sshape), dtype, rng)
            ref = index_add_ref(dst0, axis, idx0, src0)
            for (_, dst), (_, idx), (_, src) in zip(layouts(dst0), layouts(idx0),
                                                     reversed(list(layouts(src0)))):
                K.index_add(dst, axis, idx, src)
                np.testing.assert_allclose(dst, ref, rtol=1e-6)


def test_index_add_big_and_broadcast():
    rng = np.random.default_rng(8)
    # the embedding backward: few long rows, many duplicate indices
    dst = np.zeros((100, 64), np.float32)
    idx = rng.integers(0, 100, 50_000, dtype=np.int64)
    src = rng.standard_normal((50_000, 64)).astype(np.float32)
    want = index_add_ref(dst.astype(np.float64), 0, idx, src.astype(np.float64))
    K.index_add(dst, 0, idx, src)
    # float32 sums of ~500 terms of size ~1: a few ulps of the running sum (~25) each
    np.testing.assert_allclose(dst, want, rtol=1e-4, atol=1e-4)
    # many outer rows, adding along the last axis
    dst = np.zeros((3000, 20))
    idx = rng.integers(0, 20, 30, dtype=np.int64)
    src = rng.standard_normal((3000, 30))
    ref = index_add_ref(dst, 1, idx, src)
    K.index_add(dst, 1, idx, src)
    np.testing.assert_allclose(dst, ref, rtol=1e-12)
    dst = np.zeros((5, 3))
    src = np.broadcast_to(np.array([1.0, 2.0, 3.0]), (4, 3))
    K.index_add(dst, 0, np.array([0, 0, 4, 1], np.int64), src)
    np.testing.assert_array_equal(dst, [[2, 4, 6], [1, 2, 3], [0, 0, 0], [0, 0, 0], [1, 2, 3]])


def test_index_add_errors():
    dst = np.zeros((5, 3))
    with pytest.raises(IndexError, match="index_add: index 5 is out of bounds for axis 0 with size 5"):
        K.index_add(dst, 0, np.array([0, 5], np.int64), np.ones((2, 3)))
    np.testing.assert_array_equal(dst, np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"index_add: src shape \(2, 4\) does not match the expected \(2, 3\)"):
        K.index_add(dst, 0, np.array([0, 1], np.int64), np.ones((2, 4)))
    with pytest.raises(ValueError, match="index_add: not supported for bool"):
        K.index_add(np.zeros(3, bool), 0, np.array([0], np.int64), np.ones(1, bool))
    with pytest.raises(ValueError, match="index_add: src must be float64, got float32"):
        K.index_add(dst, 0, np.array([0], np.int64), np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="index_add: axis -3 is out of range"):
        K.index_add(dst, -3, np.array([0], np.int64), np.ones((1, 3)))
    with pytest.raises(ValueError, match="index_add: index must be int64, got float64"):
        K.index_add(dst, 0, np.array([0.0]), np.ones((1, 3)))
