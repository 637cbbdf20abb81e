"""Kernel tests for _C.cpu.matmul: out = act(a @ b + bias) or out += a @ b.

Every result is checked against a float64 numpy reference with the standard GEMM error bound
|C - C_ref| <= c * K * eps * (|A| @ |B|): each output is a K-term dot product, so its rounding
error grows with K and with the magnitude of the terms, not of the (possibly cancelling) sum.
The tests run once per CPU code path this CPU supports (portable, avx2, avx512).
"""
import itertools
import math
import sys

import numpy as np
import pytest

from kernels_on_device import use_cuda_kernels
from tapegrad._C import cpu as K

DTYPES = [np.float32, np.float64]
ACTS = ["none", "relu", "gelu", "gelu_tanh", "sigmoid", "tanh"]
SMALL = [0, 1, 2, 3, 5, 9, 17]


def _supported_isas():
    isas = []
    before = K.get_isa()
    for name in ("portable", "avx2", "avx512"):
        try:
            K.set_isa(name)
            isas.append(name)
        except ValueError:
            pass
    K.set_isa(before)
    return isas


@pytest.fixture(params=_supported_isas() + ["cuda"])
def isa(request, monkeypatch):
    """Each CPU code path, then _C.cuda where a GPU is present."""
    if request.param == "cuda":
        use_cuda_kernels(sys.modules[__name__], monkeypatch)
        yield "cuda"
        return
    before = K.get_isa()
    K.set_isa(request.param)
    yield request.param
    K.set_isa(before)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def act_ref(name, x):
    x = np.asarray(x, dtype=np.float64)
    if name == "none":
        return x
    if name == "relu":
        return np.where(x < 0, 0.0, x)
    if name == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name == "gelu_tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))
    if name == "tanh":
        return np.tanh(x)
    raise AssertionError(name)


def operand(rng, shape, dtype, layout):
    """A (rows, cols) or (batch, rows, cols) operand laid out as: 'n' C-contiguous,
    't' a transposed view of a contiguous array, 's' a strided (sliced, reversed) view."""
    if layout == "n":
        return rng.standard_normal(shape).astype(dtype)
    if layout == "t":
        swapped = shape[:-2] + (shape[-1], shape[-2])
        return np.swapaxes(rng.standard_normal(swapped).astype(dtype), -1, -2)
    if layout == "s":
        big = rng.standard_normal(shape[:-2] + (2 * shape[-2] + 1, 3 * shape[-1] + 1)).astype(dtype)
        return big[..., 1::2, ::-3][..., : shape[-2], : shape[-1]]
    raise AssertionError(layout)


def mm64(a, b):
    # einsum's own loops rather than BLAS: OpenBLAS worker threads keep spinning after a call
    # and would compete for the cores with the kernel's thread pool between checks.
    return np.einsum("...ik,...kj->...ij", a, b, optimize=False)


def check(out, a, b, bias=None, act="none", before=None, scale=16.0):
    """Asserts out == act(a @ b + bias) (+ before when accumulating) within the GEMM bound."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    pre = mm64(a64, b64)
    bound = mm64(np.abs(a64), np.abs(b64))
    if bias is not None:
        pre = pre + bias.astype(np.float64)
        bound = bound + np.abs(bias.astype(np.float64))
    if before is not None:
        pre = pre + before.astype(np.float64)
        bound = bound + np.abs(before.astype(np.float64))
    ref = act_ref(act, pre)
    eps = np.finfo(out.dtype).eps
    k = a.shape[-1]
    tiny = np.finfo(out.dtype).tiny
    # The activations are 1.13-Lipschitz at most (gelu), and round to a few ulps of their
    # result or, where they cancel (gelu near its minimum), of their argument.
    tol = 1.2 * scale * (k + 2) * eps * bound + 8 * eps * (np.abs(ref) + np.abs(pre)) + tiny
    err = np.abs(out.astype(np.float64) - ref)
    assert out.shape == ref.shape
    assert np.all(err <= tol), (
        f"max err {err.max()} vs tol {tol.flat[np.argmax(err - tol)]} for shapes {a.shape} @ {b.shape}"
    )


def thread_counts(*counts):
    """Sets each thread count in turn for the body of a for loop; the count before comes back
    after the loop, or when it raises."""
    before = K.get_num_threads()
    try:
        for n in counts:
            K.set_num_threads(n)
            yield n
    finally:
        K.set_num_threads(before)


def run(a, b, bias=None, act="none", out=None):
    if out is None:
        out = np.full(a.shape[:-1] + b.shape[-1:], np.nan, dtype=a.dtype)
    K.matmul(a, b, out, bias, act)
    return out


# --- shapes and layouts ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_small_shapes_all_layouts(isa, dtype):
    rng = np.random.default_rng(0)
    for m, k, n in itertools.product(SMALL, SMALL, SMALL):
        for la, lb in itertools.product("nts", "nts"):
            a = operand(rng, (m, k), dtype, la)
            b = operand(rng, (k, n), dtype, lb)
            check(run(a, b), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(257, 17, 9), (9, 257, 17), (17, 9, 257), (257, 257, 5),
                                   (3, 257, 257), (257, 5, 257), (1, 257, 1), (257, 1, 257),
                                   (100, 513, 70), (300, 600, 200), (20, 30, 3100)])
def test_larger_shapes_all_layouts(isa, dtype, m, k, n):
    rng = np.random.default_rng(1)
    for la, lb in itertools.product("nt", "nts"):
        a = operand(rng, (m, k), dtype, la)
        b = operand(rng, (k, n), dtype, lb)
        check(run(a, b), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_long_k(isa, dtype):
    rng = np.random.default_rng(2)
    for la, lb in [("n", "n"), ("n", "t"), ("t", "n")]:
        a = operand(rng, (17, 4096), dtype, la)
        b = operand(rng, (4096, 33), dtype, lb)
        check(run(a, b), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_shapes(isa, dtype):
    # x @ W.T + b with a (out, in) weight, then the two backward products.
    rng = np.random.default_rng(3)
    for batch, fin, fout in [(12, 16, 2), (64, 784, 128), (256, 20, 64), (7, 3, 1)]:
        x = operand(rng, (batch, fin), dtype, "n")
        w = operand(rng, (fout, fin), dtype, "n")
        bias = rng.standard_normal(fout).astype(dtype)
        check(run(x, w.T, bias, "relu"), x, w.T, bias, "relu")
        g = operand(rng, (batch, fout), dtype, "n")
        check(run(g, w), g, w)
        check(run(g.T, x), g.T, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_products_match_the_blocked_path(isa, dtype):
    # Products of up to 32^3 multiply-adds skip packing (gemm_small_body). Their rows are
    # computed by the same chain of operations as the packed microkernels', so the first rows
    # of a product too big for that path come out identical, bit for bit.
    if isa == "cuda":
        pytest.skip("the unpacked path is the CPU's")
    rng = np.random.default_rng(12)
    for k, n, lb in [(16, 16, "t"), (2, 16, "t"), (16, 2, "t"), (12, 16, "n"), (30, 33, "s")]:
        a = operand(rng, (3000, k), dtype, "n")
        b = operand(rng, (k, n), dtype, lb)
        bias = rng.standard_normal(n).astype(dtype)
        for act in ACTS:
            big = run(a, b, bias, act)
            small = run(a[:12], b, bias, act)
            assert 12 * k * n <= 32 ** 3 < 3000 * k * n
            np.testing.assert_array_equal(small, big[:12], err_msg=f"{act} k={k} n={n}")
        before = rng.standard_normal((3000, n)).astype(dtype)
        big, small = before.copy(), before[:12].copy()
        K.matmul(a, b, big, None, "none", True)
        K.matmul(a[:12], b, small, None, "none", True)
        np.testing.assert_array_equal(small, big[:12])


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_products_match_the_wide_kernel(isa, dtype):
    # A C at most one vector wide has a kernel of its own that reads a row-major A in place (its
    # full slivers; the edge sliver is packed). Each element is the same chain of operations as
    # in the wide kernel, so the columns of a narrow product equal those of a wide one, bit for
    # bit: for both layouts of A, row counts that leave an edge sliver, several k-blocks (K=600),
    # the epilogues, and 1 and 2 threads.
    if isa == "cuda":
        pytest.skip("the narrow kernel is the CPU's")
    rng = np.random.default_rng(13)
    for _ in thread_counts(1, 2):
        for m, k, n, la in [(4096, 64, 16, "n"), (1000, 70, 10, "n"), (999, 600, 8, "t"), (50, 700, 3, "n")]:
            a = operand(rng, (m, k), dtype, la)
            wide_b = operand(rng, (k, 64), dtype, "t")
            bias = rng.standard_normal(64).astype(dtype)
            for act in ACTS:
                wide = run(a, wide_b, bias, act)
                narrow = run(a, wide_b[:, :n], bias[:n], act)
                check(narrow, a, wide_b[:, :n], bias[:n], act)
                np.testing.assert_array_equal(narrow, wide[:, :n], err_msg=f"{act} {m}x{k}x{n} {la}")


def test_threaded_sizes_are_deterministic(isa):
    # Large enough to split across threads; run-to-run results must agree bit for bit.
    rng = np.random.default_rng(4)
    a = operand(rng, (301, 700), np.float32, "n")
    b = operand(rng, (700, 333), np.float32, "t")
    first = run(a, b)
    check(first, a, b)
    for _ in range(3):
        np.testing.assert_array_equal(run(a, b), first)


def test_cache_sizes_are_read_and_can_be_set():
    caches = K.cache_sizes()
    assert set(caches) == {"l1d", "l2", "l3"}
    assert all(isinstance(v, int) and v >= 4096 for v in caches.values()), caches
    try:
        K.set_cache_sizes(l1d=16 << 10, l2=256 << 10, l3=1 << 20)
        assert K.cache_sizes() == {"l1d": 16 << 10, "l2": 256 << 10, "l3": 1 << 20}
        with pytest.raises(ValueError, match="every size must be positive.*l2=0"):
            K.set_cache_sizes(l1d=32 << 10, l2=0, l3=1 << 20)
        assert K.cache_sizes()["l2"] == 256 << 10
    finally:
        K.set_cache_sizes(**caches)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_activation_equals_the_activation_kernel(isa, dtype):
    # The epilogue applies the activation kernels' own functions (activation_functors.h), so
    # act(a @ b + bias) fused into the product equals the activation kernel run on the product's
    # output, bit for bit: full and edge tiles, the unpacked small path, the narrow kernel,
    # strided C, a product computed transposed (few rows), and K = 0.
    if isa == "cuda":
        pytest.skip("the CPU's epilogue")
    rng = np.random.default_rng(16)
    cases = [(100, 70, 90), (5, 6, 7), (300, 40, 10), (3, 500, 200), (40, 0, 30)]
    for (m, k, n), act in itertools.product(cases, [a for a in ACTS if a != "none"]):
        a = operand(rng, (m, k), dtype, "n") * 3
        b = operand(rng, (k, n), dtype, "t")
        bias = rng.standard_normal(n).astype(dtype)
        fused = run(a, b, bias, act)
        plain = run(a, b, bias, "none")
        K.activation(act, plain, plain, 0.0, 0.0)
        np.testing.assert_array_equal(fused, plain, err_msg=f"{m}x{k}x{n} {act}")
        strided = np.full((m, 2 * n), np.nan, dtype)[:, ::2]
        K.matmul(a, b, strided, bias, act)
        np.testing.assert_array_equal(strided, plain, err_msg=f"{m}x{k}x{n} {act} strided C")


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_do_not_depend_on_the_cache_sizes(isa, dtype):
    # The GEMM's MC x NC blocking follows the cache sizes (tiny caches: one micro-tile per
    # block; huge ones: the whole product in one block), its k-blocks do not: the results are
    # the same bit for bit, at 1 and 2 threads, with and without bias and activation.
    if isa == "cuda":
        pytest.skip("the cache blocking is the CPU's")
    rng = np.random.default_rng(14)
    caches = K.cache_sizes()
    cases = [((500, 600), (600, 700), "n", "t"), ((333, 1100), (1100, 70), "t", "n"),
             ((2000, 64), (64, 16), "n", "t")]
    try:
        for nthreads in thread_counts(1, 2):
            for sa, sb, la, lb in cases:
                a, b = operand(rng, sa, dtype, la), operand(rng, sb, dtype, lb)
                bias = rng.standard_normal(sb[1]).astype(dtype)
                results = []
                for sizes in [caches, dict(l1d=1024, l2=1024, l3=1024), dict(l1d=1 << 30, l2=1 << 30, l3=1 << 30)]:
                    K.set_cache_sizes(**sizes)
                    results.append((run(a, b), run(a, b, bias, "gelu")))
                check(results[0][0], a, b)
                for plain, fused in results[1:]:
                    np.testing.assert_array_equal(plain, results[0][0], err_msg=f"{sa}x{sb} {nthreads}")
                    np.testing.assert_array_equal(fused, results[0][1], err_msg=f"{sa}x{sb} {nthreads}")
    finally:
        K.set_cache_sizes(**caches)


@pytest.mark.parametrize("dtype", DTYPES)
def test_operands_read_in_place_match_packed_ones(isa, dtype):
    # Operands whose k-steps are at most 256 bytes apart are read in place, not packed: a
    # column-major A (the weight gradient's gz.T) and a row-major B. Each element is the same
    # chain of operations either way, so the results equal those of contiguous copies that are
    # packed, bit for bit: row counts that leave an edge sliver, several k-blocks, 1 and 2 threads.
    if isa == "cuda":
        pytest.skip("packing is the CPU's")
    rng = np.random.default_rng(15)
    for nthreads in thread_counts(1, 2):
        for m, k, n in [(64, 4096, 64), (50, 1500, 40), (13, 700, 64)]:
            a_cols = rng.standard_normal((k, m)).astype(dtype).T  # column-major, k-steps m apart
            b_rows = rng.standard_normal((k, n)).astype(dtype)    # row-major, k-steps n apart
            a_packed = np.asfortranarray(rng.standard_normal((m, 8 * k)).astype(dtype))[:, ::8]
            a_packed[...] = a_cols  # the same values, k-steps too far apart to be read in place
            b_packed = np.ascontiguousarray(np.repeat(b_rows, 4, axis=1))[:, ::4]
            bias = rng.standard_normal(n).astype(dtype)
            for act in ("none", "relu"):
                direct = run(a_cols, b_rows, bias, act)
                check(direct, a_cols, b_rows, bias, act)
                np.testing.assert_array_equal(direct, run(a_packed, b_packed, bias, act),
                                              err_msg=f"{m}x{k}x{n} {act} {nthreads}")


# --- batched -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_batched(isa, dtype):
    rng = np.random.default_rng(5)
    for bsz, m, k, n in [(3, 5, 9, 17), (4, 64, 70, 50), (1, 2, 3, 4), (0, 3, 4, 5), (5, 0, 3, 2),
                         (6, 2, 0, 3)]:
        for la, lb in [("n", "n"), ("t", "n"), ("n", "t"), ("s", "s")]:
            a = operand(rng, (bsz, m, k), dtype, la)
            b = operand(rng, (bsz, k, n), dtype, lb)
            out = run(a, b)
            assert out.shape == (bsz, m, n)
            check(out, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_stride0_broadcast(isa, dtype):
    rng = np.random.default_rng(6)
    bsz, m, k, n = 4, 33, 40, 19
    w = rng.standard_normal((k, n)).astype(dtype)
    x = rng.standard_normal((bsz, m, k)).astype(dtype)
    wb = np.broadcast_to(w, (bsz, k, n))
    assert wb.strides[0] == 0
    check(run(x, wb), x, wb)
    xb = np.broadcast_to(x[0], (bsz, m, k))
    out = run(xb, wb)
    check(out, xb, wb)
    for i in range(1, bsz):
        np.testing.assert_array_equal(out[i], out[0])
    # Many small products split over threads by batch.
    a = rng.standard_normal((64, 40, 30)).astype(dtype)
    b = np.broadcast_to(rng.standard_normal((30, 50)).astype(dtype), (64, 30, 50))
    check(run(a, b), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_noncontiguous_out(isa, dtype):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((3, 10, 7)).astype(dtype)
    b = rng.standard_normal((3, 7, 20)).astype(dtype)
    big = np.zeros((6, 21, 40), dtype)
    out = big[::2, 1::2, ::2]
    K.matmul(a, b, out)
    check(out, a, b)
    assert np.all(big[1::2] == 0) and np.all(big[:, ::2] == 0)


# --- epilogue: bias, activations, accumulate ---------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_bias_and_activation(isa, dtype, act):
    rng = np.random.default_rng(8)
    for m, k, n in [(1, 1, 1), (12, 16, 2), (5, 9, 17), (37, 100, 70), (24, 600, 64), (3, 0, 5)]:
        for with_bias in (False, True):
            a = operand(rng, (m, k), dtype, "n")
            b = operand(rng, (k, n), dtype, "t")
            bias = (3 * rng.standard_normal(n)).astype(dtype) if with_bias else None
            check(run(a, b, bias, act), a, b, bias, act)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_strided(isa, dtype):
    rng = np.random.default_rng(9)
    a = operand(rng, (13, 21), dtype, "n")
    b = operand(rng, (21, 40), dtype, "n")
    bias = rng.standard_normal(120).astype(dtype)[::-3]
    check(run(a, b, bias, "gelu"), a, b, bias, "gelu")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_exactly(isa, dtype):
    m, n = 30, 70
    a = np.ones((m, 1), dtype)
    b = np.where(np.arange(n) % 2 == 0, 1000.0, -1000.0).astype(dtype)[None, :]
    out = run(a, b, act="sigmoid")
    assert np.all(out[:, ::2] == 1.0) and np.all(out[:, 1::2] == 0.0)
    out = run(a, b, act="tanh")
    assert np.all(out[:, ::2] == 1.0) and np.all(out[:, 1::2] == -1.0)
    bias = np.where(np.arange(n) % 3 == 0, 1e30, -1e30).astype(dtype)
    out = run(a, np.zeros_like(b), bias, "gelu")
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates(isa, dtype):
    a = np.ones((13, 4), dtype)
    a[5, 2] = np.nan
    b = np.ones((4, 40), dtype)
    for act in ACTS:
        out = run(a, b, act=act)
        assert np.all(np.isnan(out[5])), act
        assert not np.any(np.isnan(np.delete(out, 5, axis=0))), act


@pytest.mark.parametrize("dtype", DTYPES)
def test_accumulate(isa, dtype):
    rng = np.random.default_rng(10)
    for m, k, n in [(1, 1, 1), (5, 9, 17), (40, 1100, 33), (130, 64, 300), (4, 0, 3)]:
        for lb in "nt":
            a = operand(rng, (m, k), dtype, "n")
            b = operand(rng, (k, n), dtype, lb)
            before = rng.standard_normal((m, n)).astype(dtype)
            out = before.copy()
            K.matmul(a, b, out, None, "none", True)
            check(out, a, b, before=before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_noncontiguous_out(isa, dtype):
    rng = np.random.default_rng(11)
    for m, k, n in [(5, 9, 17), (50, 70, 40)]:
        a = operand(rng, (m, k), dtype, "n")
        b = operand(rng, (k, n), dtype, "n")
        bias = rng.standard_normal(n).astype(dtype)
        out_t = np.full((n, m), np.nan, dtype).T  # column-major out
        K.matmul(a, b, out_t, bias, "tanh")
        check(out_t, a, b, bias, "tanh")
        big = np.zeros((2 * m, 3 * n), dtype)
        out_s = big[::2, 1::3]
        K.matmul(a, b, out_s, bias, "relu")
        check(out_s, a, b, bias, "relu")
        assert np.all(big[1::2] == 0) and np.all(big[:, ::3] == 0) and np.all(big[:, 2::3] == 0)
        before = rng.standard_normal((m, n)).astype(dtype)
        out_s[...] = before
        K.matmul(a, b, out_s, None, "none", True)
        check(out_s, a, b, before=before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_k_gives_act_of_bias(isa, dtype):
    a = np.zeros((4, 0), dtype)
    b = np.zeros((0, 3), dtype)
    bias = np.array([-1.0, 0.5, 2.0], dtype)
    out = run(a, b, bias, "relu")
    np.testing.assert_array_equal(out, np.broadcast_to(np.array([0.0, 0.5, 2.0], dtype), (4, 3)))
    np.testing.assert_array_equal(run(a, b), np.zeros((4, 3), dtype))
    np.testing.assert_allclose(run(a, b, act="sigmoid"), np.full((4, 3), 0.5, dtype))
    out = np.full((4, 3), 7.0, dtype)
    K.matmul(a, b, out, None, "none", True)
    np.testing.assert_array_equal(out, np.full((4, 3), 7.0, dtype))


def test_empty_m_n():
    for shape_a, shape_b in [((0, 5), (5, 3)), ((4, 5), (5, 0)), ((0, 0), (0, 0))]:
        a, b = np.ones(shape_a), np.ones(shape_b)
        out = run(a, b, np.ones(shape_b[1]), "gelu")
        assert out.shape == (shape_a[0], shape_b[1])


def test_keyword_defaults():
    a, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    out = np.empty((2, 4), np.float32)
    K.matmul(a, b, out)
    np.testing.assert_array_equal(out, np.full((2, 4), 3.0, np.float32))
    K.matmul(a=a, b=b, out=out, bias=np.ones(4, np.float32), act="relu", accumulate=False)
    np.testing.assert_array_equal(out, np.full((2, 4), 4.0, np.float32))


# --- errors ------------------------------------------------------------------------------------

def test_error_shapes_do_not_align():
    out = np.empty((3, 2))
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) do not align"):
        K.matmul(np.ones((3, 4)), np.ones((5, 2)), out)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3, 4\) and \(2, 5, 2\) do not align"):
        K.matmul(np.ones((2, 3, 4)), np.ones((2, 5, 2)), np.empty((2, 3, 2)))


def test_error_dtypes():
    with pytest.raises(ValueError, match=r"matmul: dtypes float32 and float64 do not match"):
        K.matmul(np.ones((3, 4), np.float32), np.ones((4, 2)), np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: out dtype float32 does not match operand dtype float64"):
        K.matmul(np.ones((3, 4)), np.ones((4, 2)), np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: expected float32 or float64 operands, got int64"):
        K.matmul(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64), np.empty((3, 2), np.int64))
    with pytest.raises(ValueError, match=r"matmul: bias dtype float32 does not match operand dtype float64"):
        K.matmul(np.ones((3, 4)), np.ones((4, 2)), np.empty((3, 2)), np.ones(2, np.float32))


def test_error_bias_shape():
    with pytest.raises(ValueError, match=r"matmul: bias has shape \(3,\), expected \(2,\)"):
        K.matmul(np.ones((3, 4)), np.ones((4, 2)), np.empty((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match=r"matmul: bias has shape \(1, 2\), expected \(2,\)"):
        K.matmul(np.ones((3, 4)), np.ones((4, 2)), np.empty((3, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"matmul: bias must be None or a numpy array, got list"):
        K.matmul(np.ones((3, 4)), np.ones((4, 2)), np.empty((3, 2)), [1.0, 2.0])


def test_error_out_shape():
    with pytest.raises(ValueError, match=r"matmul: out has shape \(2, 3\), expected \(3, 2\)"):
        K.matmul(np.ones((3, 4)), np.ones((4, 2)), np.empty((2, 3)))
    with pytest.raises(ValueError, match=r"matmul: out has shape \(3, 2\), expected \(5, 3, 2\)"):
        K.matmul(np.ones((5, 3, 4)), np.ones((5, 4, 2)), np.empty((3, 2)))
    with pytest.raises(ValueError, match=r"matmul: out must not have zero \(broadcast\) strides"):
        K.matmul(np.ones((3, 4)), np.ones((4, 2)),
                 np.lib.stride_tricks.as_strided(np.empty(2), (3, 2), (0, 8)))
    a = np.ones((4, 4))
    with pytest.raises(ValueError, match=r"matmul: out must not share memory with a or b"):
        K.matmul(a, np.ones((4, 4)), a)
    ro = np.empty((3, 2))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"matmul: output array is read-only"):
        K.matmul(np.ones((3, 4)), np.ones((4, 2)), ro)


def test_error_ndim_and_batch():
    with pytest.raises(ValueError, match=r"matmul: expected 2-D or 3-D operands, got shapes \(4,\) and \(4, 2\)"):
        K.matmul(np.ones(4), np.ones((4, 2)), np.empty(2))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3, 4\) and \(4, 2\) must both be 2-D or both 3-D"):
        K.matmul(np.ones((2, 3, 4)), np.ones((4, 2)), np.empty((2, 3, 2)))
    with pytest.raises(ValueError, match=r"matmul: batch sizes of shapes \(2, 3, 4\) and \(3, 4, 2\) differ"):
        K.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 2)), np.empty((2, 3, 2)))


def test_error_act_and_accumulate():
    a, b, out = np.ones((3, 4)), np.ones((4, 2)), np.empty((3, 2))
    with pytest.raises(ValueError, match=r"matmul: unknown activation 'swish' \(expected one of none, relu"):
        K.matmul(a, b, out, None, "swish")
    with pytest.raises(ValueError, match=r"matmul: accumulate=True cannot be combined with bias or act"):
        K.matmul(a, b, out, None, "relu", True)
    with pytest.raises(ValueError, match=r"matmul: accumulate=True cannot be combined with bias or act"):
        K.matmul(a, b, out, np.ones(2), "none", True)


def test_isa_selection_errors():
    with pytest.raises(ValueError, match=r"set_isa: unknown CPU code path 'sse9' \(expected portable, avx2, avx512 or auto\)"):
        K.set_isa("sse9")
    assert K.get_isa() in ("portable", "avx2", "avx512")


# ---- linear_backward: activation backward, both GEMMs and the bias sum in one call ----------

def _act_grad_from_output(act, y):
    if act == "relu":
        return (y > 0).astype(np.float64)
    if act == "sigmoid":
        return (1 - y) * y
    if act == "tanh":
        return 1 - y * y
    return np.ones_like(y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["none", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("n,i,o", [(0, 3, 4), (1, 1, 1), (5, 9, 17), (17, 3, 2), (257, 40, 23)])
def test_linear_backward_matches_reference(isa, dtype, act, n, i, o):
    rng = np.random.default_rng(n * 100 + i * 10 + o)
    x = operand(rng, (n, i), dtype, "n")
    w = operand(rng, (o, i), dtype, "n")
    g = operand(rng, (n, o), dtype, "n")
    y = run(x, np.ascontiguousarray(w.T), act=act if act != "none" else "none")
    gx, gw, gb = (np.full(s, np.nan, dtype) for s in ((n, i), (o, i), (o,)))
    K.linear_backward(g, x, w, y if act != "none" else None, act, gx, gw, gb)
    gz = g.astype(np.float64) * _act_grad_from_output(act, y.astype(np.float64))
    gz_k = gz.astype(dtype)  # the kernel rounds gz to the dtype before its GEMMs
    check(gx, gz_k, w)
    check(gw, np.ascontiguousarray(gz_k.T), x)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(gb, gz.sum(0), rtol=0, atol=4 * eps * (np.abs(gz).sum(0).max(initial=0) + 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["none", "relu", "tanh"])
def test_linear_backward_strided_operands_and_skipped_outputs(isa, dtype, act):
    rng = np.random.default_rng(7)
    n, i, o = 19, 23, 9
    x, w, g, y = (operand(rng, s, dtype, "s") for s in ((n, i), (o, i), (n, o), (n, o)))
    gx = np.full((2 * n, i), np.nan, dtype)[::2]  # strided output rows
    gb = np.full(o, np.nan, dtype)
    K.linear_backward(g, None, w, y if act != "none" else None, act, gx, None, gb)
    gz = (g.astype(np.float64) * _act_grad_from_output(act, y.astype(np.float64))).astype(dtype)
    check(gx, gz, w)
    np.testing.assert_allclose(gb, gz.astype(np.float64).sum(0), rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_linear_backward_errors():
    f = np.float32
    g, x, w = np.ones((4, 3), f), np.ones((4, 5), f), np.ones((3, 5), f)
    with pytest.raises(ValueError, match=r"linear_backward: gw has shape \(3, 4\), expected \(3, 5\)"):
        K.linear_backward(g, x, w, None, "none", None, np.empty((3, 4), f), None)
    with pytest.raises(ValueError, match="linear_backward: act 'relu' needs the output y"):
        K.linear_backward(g, x, w, None, "relu", None, None, np.empty(3, f))
    with pytest.raises(ValueError, match="linear_backward: act must be none, relu, sigmoid or tanh"):
        K.linear_backward(g, x, w, g, "gelu", None, None, None)
    with pytest.raises(ValueError, match="linear_backward: x dtype float64 does not match grad dtype float32"):
        K.linear_backward(g, x.astype(np.float64), w, None, "none", None, np.empty((3, 5), f), None)
    with pytest.raises(ValueError, match="outputs must not share memory with inputs"):
        K.linear_backward(g, x, w, None, "none", None, None, w[:, 0])
