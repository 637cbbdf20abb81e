"""Every row of the op table (tests/op_table.py): forward against a float64 numpy reference in
float64 and float32, gradcheck and gradgradcheck (the gradient of create_graph's gradient) in
float64, and non-contiguous inputs equal to contiguous ones."""
import numpy as np
import pytest

import tapegrad as tg
from op_table import OPS

CASES = [pytest.param(op, i, id=f"{op.name}-{i}") for op in OPS for i in range(len(op.samples))]
GRAD_CASES = [c for c in CASES if c.values[0].grad]


def _inputs(op, i):
    return op.samples[i](np.random.default_rng(hash((op.name, i)) % 2**32))


def _to_tensors(arrays, dtype, device, requires_grad=False, noncontig=False):
    out = []
    for a in arrays:
        if a.dtype.kind == "f":
            if noncontig:
                a = _noncontiguous(a.astype(dtype.np))
            t = tg.from_numpy(a.astype(dtype.np, copy=False)) if noncontig else tg.tensor(a, dtype=dtype, device=device)
            out.append(t.requires_grad_(requires_grad))
        else:
            out.append(tg.tensor(a, device=device))
    return out


def _noncontiguous(a):
    """The same values in memory that is not C-contiguous (every other element of a wider array)."""
    if a.ndim == 0 or a.size == 0:
        return a
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    wide[..., ::2] = a
    view = wide[..., ::2]
    assert not view.flags.c_contiguous or a.shape[-1] == 1
    return view


def _ref(op, arrays):
    return np.asarray(op.ref(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]))


@pytest.mark.parametrize("op,i", CASES)
def test_forward_float64(op, i, device):
    arrays = _inputs(op, i)
    out = op.fn(*_to_tensors(arrays, tg.float64, device))
    expected = _ref(op, arrays)
    assert tuple(out.shape) == expected.shape
    if expected.dtype.kind == "f":
        assert out.dtype == tg.float64
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op,i", CASES)
def test_forward_float32(op, i, device):
    arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in _inputs(op, i)]
    out = op.fn(*_to_tensors(arrays, tg.float32, device))
    expected = _ref(op, arrays)
    assert tuple(out.shape) == expected.shape
    if expected.dtype.kind == "f":
        assert out.dtype == tg.float32
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=op.rtol32, atol=op.atol32)


@pytest.mark.parametrize("op,i", GRAD_CASES)
def test_gradcheck_float64(op, i, device):
    arrays = _inputs(op, i)
    inputs = _to_tensors(arrays, tg.float64, device, requires_grad=True)
    assert tg.autograd.gradcheck(op.fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("op,i", GRAD_CASES)
def test_gradgradcheck_float64(op, i, device):
    arrays = _inputs(op, i)
    inputs = _to_tensors(arrays, tg.float64, device, requires_grad=True)
    assert tg.autograd.gradgradcheck(op.fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("op,i", CASES)
def test_noncontiguous_equals_contiguous(op, i):
    arrays = _inputs(op, i)
    if not any(a.dtype.kind == "f" and a.ndim and a.size for a in arrays):
        pytest.skip("no input with elements to lay out differently")
    dense = _to_tensors(arrays, tg.float64, "cpu", requires_grad=op.grad)
    strided = _to_tensors(arrays, tg.float64, "cpu", requires_grad=op.grad, noncontig=True)
    out_d, out_s = op.fn(*dense), op.fn(*strided)
    np.testing.assert_allclose(out_s.detach().numpy(), out_d.detach().numpy(), rtol=1e-12, atol=1e-14)
    if op.grad and out_d.numel():
        seed = np.random.default_rng(7).standard_normal(tuple(out_d.shape))
        out_d.backward(tg.tensor(seed, dtype=tg.float64))
        out_s.backward(tg.tensor(seed, dtype=tg.float64))
        for td, ts in zip(dense, strided):
            if td.requires_grad:
                assert td.grad is not None and ts.grad is not None
                np.testing.assert_allclose(ts.grad.numpy(), td.grad.numpy(), rtol=1e-12, atol=1e-14)


# Ops whose GPU kernels sum in another order than the CPU's (reductions, GEMMs, the row ops and
# the losses built on them): they agree within 1e-3; elementwise kernels within float32 rounding.
_SUMMING = {"sum", "sum_dim1_keep", "sum_dims", "mean", "mean_dim", "prod", "var", "var_biased_dim",
            "std", "logsumexp", "matmul", "linear", "linear_nobias", "softmax", "softmax_dim0",
            "log_softmax", "cross_entropy", "cross_entropy_sum_ignore", "cross_entropy_none_smooth",
            "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
            "binary_cross_entropy", "bce_with_logits", "kl_div", "gaussian_nll_loss", "poisson_nll_loss",
            "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
            "multilabel_margin_loss", "multi_margin_loss", "cosine_embedding_loss", "triplet_margin_loss",
            "pairwise_distance", "cosine_similarity", "normalize", "bilinear", "softmin", "glu", "dot", "mv", "bmm",
            "addmm"}


@pytest.mark.parametrize("op,i", CASES)
def test_cpu_and_cuda_agree(op, i, gpu):
    """float32 forward and gradients computed on the GPU against the same on the CPU."""
    arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in _inputs(op, i)]
    rtol, atol = (1e-3, 1e-3) if op.name in _SUMMING else (1.3e-6, 1e-5)
    results = []
    for dev in ("cpu", gpu):
        inputs = _to_tensors(arrays, tg.float32, dev, requires_grad=op.grad)
        out = op.fn(*inputs)
        grads = []
        if op.grad and out.numel():
            seed = np.random.default_rng(3).standard_normal(tuple(out.shape)).astype(np.float32)
            out.backward(tg.tensor(seed, device=dev))
            grads = [t.grad.cpu().numpy() for t in inputs if t.requires_grad and t.grad is not None]
        assert out.is_cuda == (dev != "cpu")
        results.append((out.detach().cpu().numpy(), grads))
    (cpu_out, cpu_grads), (gpu_out, gpu_grads) = results
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=rtol, atol=atol)
    assert len(gpu_grads) == len(cpu_grads)
    for g, c in zip(gpu_grads, cpu_grads):
        np.testing.assert_allclose(g, c, rtol=rtol, atol=atol)
