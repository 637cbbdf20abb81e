"""GEMM edge cases through the public API (tapegrad.matmul, the @ operator, nn.functional.linear)
and their backward products: M, N and K each take every value of EDGE_SIZES in every position
(0, 1, tile edges and their neighbours, 257), with operands given as contiguous tensors, .t()
views and strided slices in every combination, in float32 and float64, plus long K (to 4096),
1-D operands and broadcast batches.

Each product is checked element by element against float64 numpy with the GEMM error bound
|C - C64| <= 16 K eps (|A| @ |B|): each output is a K-term dot product whose rounding error
grows with K and with the magnitude of its terms (not of their possibly cancelling sum). With
K = 0 the bound is 0: the result must be exact zeros (or exactly the bias). The kernel-level
layouts and epilogues are in test_kernels_matmul.py; the edge sizes here run once per
microkernel family this CPU supports (its `isa` fixture), as their tile edges differ.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from test_kernels_matmul import isa, mm64  # noqa: F401 - isa is a fixture

EDGE_SIZES = [0, 1, 2, 3, 5, 9, 17, 19, 23, 40, 257]
DTYPES = [tg.float32, tg.float64]
LAYOUTS = list(itertools.product("nts", "nts"))
PATHS = ["matmul", "@", "linear"]


def _triples():
    """(M, N, K) over EDGE_SIZES as an orthogonal array of strength 2: each pair of positions
    sees every pair of values once (121 triples instead of 1331), so every value appears in
    every position, against every value of each other position."""
    n = len(EDGE_SIZES)
    return [(EDGE_SIZES[i], EDGE_SIZES[j], EDGE_SIZES[(i + j) % n]) for i in range(n) for j in range(n)]


TRIPLES = _triples()


def operand(rng, rows, cols, dtype, layout):
    """A (rows, cols) operand and the leaf tensor it is a view of, laid out as: 'n' contiguous,
    't' the .t() view of a contiguous (cols, rows) tensor, 's' a strided slice of a wider
    tensor. Returns (operand, leaf, grad_of) where grad_of maps leaf.grad to the operand's."""
    if layout == "n":
        leaf = tg.tensor(rng.standard_normal((rows, cols)), dtype=dtype, requires_grad=True)
        return leaf, leaf, lambda g: g
    if layout == "t":
        leaf = tg.tensor(rng.standard_normal((cols, rows)), dtype=dtype, requires_grad=True)
        return leaf.t(), leaf, lambda g: g.T
    leaf = tg.tensor(rng.standard_normal((2 * rows + 1, 3 * cols + 1)), dtype=dtype, requires_grad=True)
    view = leaf[1::2, 2::3][:rows, :cols]
    assert tuple(view.shape) == (rows, cols) and (not view.is_contiguous() or rows * cols <= 1)
    return view, leaf, lambda g: g[1::2, 2::3][:rows, :cols]


def values(t) -> np.ndarray:
    return np.asarray(t.detach().numpy(), dtype=np.float64)


def assert_gemm(out, a, b, k, what, bias=None):
    """out == a @ b (+ bias) within 16 K eps (|a| @ |b|) elementwise, a and b float64 arrays."""
    eps = np.finfo(out.detach().numpy().dtype).eps
    want = mm64(a, b)
    tol = 16 * k * eps * mm64(np.abs(a), np.abs(b))
    if bias is not None:
        want = want + bias
        tol = tol + eps * np.abs(want)  # the one rounding of adding the bias
    got = values(out)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = np.abs(got - want)
    bad = ~(err <= tol)
    assert not bad.any(), (
        f"{what}: {bad.sum()} of {bad.size} outside the bound; worst at {np.argwhere(bad)[0].tolist()}: "
        f"got {got[bad][0]!r} want {want[bad][0]!r} tol {tol[bad][0]!r}"
    )


def check_product(path, m, n, k, dtype, la, lb, rng):
    """Forward and backward of one product; la and lb lay out A (M, K) and B (K, N) (for
    linear: the weight W (N, K), so that 't' gives linear a contiguous W.T)."""
    what = f"{path} M={m} N={n} K={k} {dtype.name} layouts {la}{lb}"
    a, a_leaf, a_grad = operand(rng, m, k, dtype, la)
    if path == "linear":
        w, b_leaf, w_grad = operand(rng, n, k, dtype, lb)
        bias = tg.tensor(rng.standard_normal(n), dtype=dtype, requires_grad=True)
        out = F.linear(a, w, bias)
        b64 = values(w).T
        assert_gemm(out, values(a), b64, k, what, bias=values(bias))
    else:
        b, b_leaf, b_grad = operand(rng, k, n, dtype, lb)
        out = tg.matmul(a, b) if path == "matmul" else a @ b
        b64 = values(b)
        assert_gemm(out, values(a), b64, k, what)
    assert out.dtype is dtype
    g = rng.standard_normal((m, n))
    out.backward(tg.tensor(g, dtype=dtype))
    a64 = values(a)
    grad_a = a_grad(values(a_leaf.grad))
    assert_gemm(tg.tensor(grad_a, dtype=dtype), g, b64.T, n, f"{what} d/dA")
    grad_b = (w_grad if path == "linear" else b_grad)(values(b_leaf.grad))
    if path == "linear":  # dW = g.T @ x, d bias = column sums of g
        assert_gemm(tg.tensor(grad_b, dtype=dtype), g.T, a64, m, f"{what} d/dW")
        assert_gemm(tg.tensor(values(bias.grad)[None], dtype=dtype), np.ones((1, m)), g, m, f"{what} d/dbias")
    else:
        assert_gemm(tg.tensor(grad_b, dtype=dtype), a64.T, g, m, f"{what} d/dB")


def test_triples_cover_every_size_in_every_position():
    for pos in range(3):
        assert sorted({t[pos] for t in TRIPLES}) == EDGE_SIZES
    for p, q in itertools.combinations(range(3), 2):
        assert len({(t[p], t[q]) for t in TRIPLES}) == len(EDGE_SIZES) ** 2


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("path", PATHS)
def test_edge_sizes_every_layout(isa, path, dtype):
    rng = np.random.default_rng(10 * PATHS.index(path) + DTYPES.index(dtype))
    for m, n, k in TRIPLES:
        for la, lb in LAYOUTS:
            check_product(path, m, n, k, dtype, la, lb, rng)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("k", [1000, 4096])
def test_long_k_every_layout(isa, k, dtype):
    rng = np.random.default_rng(k)
    for (m, n), (la, lb) in itertools.product([(1, 1), (3, 5), (17, 23), (40, 9)], LAYOUTS):
        check_product("matmul", m, n, k, dtype, la, lb, rng)
    check_product("linear", 19, 257, k, dtype, "s", "t", rng)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_vector_operands(dtype):
    rng = np.random.default_rng(5)
    for k, n in itertools.product(EDGE_SIZES, [0, 1, 17]):
        v = tg.tensor(rng.standard_normal(k), dtype=dtype)
        mat, _, _ = operand(rng, k, n, dtype, "t")
        assert_gemm((v @ mat)[None], values(v)[None], values(mat), k, f"vector @ matrix K={k} N={n}")
        assert_gemm((mat.t() @ v)[None], values(v)[None], values(mat), k, f"matrix @ vector K={k} N={n}")
        w = tg.tensor(rng.standard_normal(k), dtype=dtype)
        dot = tg.matmul(v, w)
        assert tuple(dot.shape) == ()
        assert_gemm(dot.reshape(1, 1), values(v)[None], values(w)[:, None], k, f"dot K={k}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_broadcast_batches(dtype):
    """Batch dims broadcast (stride 0), with the matrices of each batch given as transposed
    views; edge sizes inside."""
    rng = np.random.default_rng(6)
    for (ba, bb), (m, n, k) in itertools.product(
            [((2, 3), (3,)), ((4, 1), (1, 5)), ((0,), (1,)), ((3,), (3,))],
            [(0, 3, 5), (1, 17, 19), (23, 1, 9), (5, 40, 0), (17, 2, 257)]):
        a = tg.tensor(rng.standard_normal(ba + (k, m)), dtype=dtype).transpose(-1, -2)
        b = tg.tensor(rng.standard_normal(bb + (n, k)), dtype=dtype).transpose(-1, -2)
        assert_gemm(a @ b, values(a), values(b), k, f"batched {ba}x{m}x{k} @ {bb}x{k}x{n}")
