"""The CUDA backend: the build, tapegrad.cuda, device placement and transfers, device errors,
and modules, optimizers and training on device "cuda".

Tests taking `gpu` run on the real GPU where there is one and otherwise on the host stand-in for
the CUDA kernels (tests/cuda_standin.py), which checks everything but the kernels themselves.
The op table runs on both through test_ops.py's `device` fixture.
"""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import _C, nn

# What exists only on the CPU: the thread pool, the build report, the instruction-set switch,
# the allocator of CPU arrays (CUDA arrays have their own, in arrays/cuda.py) and PyTorch's
# MT19937 stream (a GPU draws from its own Philox stream: _C.cuda.random_uniform / _normal).
CPU_ONLY = {"get_num_threads", "set_num_threads", "build_info", "set_isa", "get_isa", "empty",
            "owns_memory", "cached_memory", "release_cached_memory", "random_state_words", "random_seed",
            "random_integers", "random_bits", "random_permutation", "random_bernoulli",
            "random_bernoulli_each", "random_exponential", "cache_sizes", "set_cache_sizes"}


def _public(module):
    return {n for n in dir(module) if not n.startswith("__")}


# --- the build, with or without a GPU --------------------------------------------------------

@pytest.mark.skipif(not _C.has_cuda, reason="built without a CUDA compiler")
def test_cuda_module_has_every_cpu_kernel():
    missing = (_public(_C.cpu) - CPU_ONLY) - _public(_C.cuda)
    assert not missing, f"_C.cuda lacks {sorted(missing)}"


@pytest.mark.skipif(not _C.has_cuda, reason="built without a CUDA compiler")
@pytest.mark.parametrize("call", [
    lambda k: k.unary("neg", np.zeros(3), np.zeros(3)),
    lambda k: k.binary("add", np.zeros(3), np.zeros(3), np.zeros(3)),
    lambda k: k.reduce("sum", np.zeros(3), [0], np.zeros(())),
    lambda k: k.matmul(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), None, "none", False),
    lambda k: k.copy_to_host(np.zeros(3), np.zeros(3)),
])
def test_cuda_kernels_refuse_host_arrays(call):
    """Host memory passed as device memory would be read by the GPU: a TypeError instead."""
    with pytest.raises(TypeError, match="expected a CUDA array"):
        call(_C.cuda)


@pytest.mark.skipif(tg.cuda.is_available(), reason="a GPU is present")
def test_without_a_gpu_cuda_is_absent_and_says_so():
    assert tg.cuda.is_available() is False and tg.cuda.device_count() == 0
    for make in (lambda: tg.zeros(2, device="cuda"), lambda: tg.ones(2).cuda(),
                 lambda: nn.Linear(2, 2).to("cuda"), lambda: tg.cuda.memory_allocated()):
        with pytest.raises(RuntimeError, match="CUDA|cuda"):
            make()
    if _C.has_cuda:  # the compiled runtime answers without crashing, and refuses to allocate
        assert _C.cuda.device_count() == 0
        with pytest.raises(ValueError, match="0 CUDA devices"):
            _C.cuda.alloc(16, 0)


def test_show_config_reports_cuda_and_cublas(capsys):
    text = tg.show_config()
    assert "CUDA: TAPEGRAD_CUDA=" in text  # what the build switch did
    if _C.has_cuda:
        assert "cuBLASLt:" in text


@pytest.mark.skipif(not _C.has_cuda, reason="built without a CUDA compiler")
def test_the_module_links_no_cublas_and_imports_without_it():
    """cuBLASLt is loaded at the first GEMM, so _C needs no cuBLAS library to load: it is not
    among the libraries the dynamic loader must find."""
    import shutil
    import subprocess

    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is not installed")
    dynamic = subprocess.run(["readelf", "-d", _C.__file__], capture_output=True, text=True, check=True).stdout
    needed = [line for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert needed and not any("cublas" in line or "libcudart" in line for line in needed), needed
    soname = _C.cuda.cublaslt_soname()
    if soname is None:
        return  # built without cuBLASLt support: the tiled kernels serve every GEMM
    import glob
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    from_pip = sorted(p for root in (spec.submodule_search_locations if spec else [])
                      for p in glob.glob(f"{root}/*/lib/{soname}"))
    path = _C.cuda.cublaslt_path()
    if from_pip:  # PyPI's nvidia-cublas is installed: that is where the library comes from
        assert path == from_pip[0]
    else:  # a toolkit's library on the loader's path, or none (tiled kernels)
        assert path is None or soname in path


def test_out_of_memory_error_is_a_runtime_error():
    assert issubclass(tg.cuda.OutOfMemoryError, RuntimeError)


def test_tf32_is_off_by_default_and_settable(gpu):
    assert tg.backends.cuda.matmul.allow_tf32 is False
    tg.backends.cuda.matmul.allow_tf32 = True
    try:
        assert tg.backends.cuda.matmul.allow_tf32 is True
    finally:
        tg.backends.cuda.matmul.allow_tf32 = False


# --- devices and transfers -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [tg.float32, tg.float64, tg.int64, tg.bool])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 0, 3)])
def test_round_trip_keeps_values_dtype_and_shape(gpu, dtype, shape):
    host = (np.random.default_rng(0).standard_normal(shape) * 10).astype(dtype.np)
    t = tg.tensor(host)
    g = t.to(gpu)
    assert g.is_cuda and g.device == tg.device("cuda:0") and g.dtype is dtype and g.shape == t.shape
    back = g.cpu()
    assert not back.is_cuda and back.dtype is dtype
    np.testing.assert_array_equal(back.numpy(), host)
    assert g.tolist() == host.tolist()


def test_views_and_non_contiguous_sources_move_correctly(gpu):
    x = tg.arange(24.0).reshape(2, 3, 4)
    for view in (x.transpose(0, 2), x[:, 1], x[..., ::2], x.expand(2, 2, 3, 4)):
        np.testing.assert_array_equal(view.to(gpu).cpu().numpy(), view.numpy())
    g = x.to(gpu)
    for make in (lambda t: t.transpose(0, 2), lambda t: t[:, 1], lambda t: t[..., ::2],
                 lambda t: t.permute(2, 0, 1).reshape(4, 6), lambda t: t[1:, :, 2:].contiguous()):
        np.testing.assert_array_equal(make(g).cpu().numpy(), make(x).numpy())


def test_device_of_results_repr_and_numpy(gpu):
    a = tg.ones(2, 3, device=gpu)
    assert (a * 2 + 1).device == a.device and a.sum().is_cuda
    assert "device='cuda:0'" in repr(a)
    with pytest.raises(TypeError, match=r"cpu\(\)"):
        a.numpy()
    with pytest.raises(TypeError, match=r"cpu\(\)"):
        np.asarray(a)
    assert a.sum().item() == 6.0 and float(a[0, 0]) == 1.0


def test_gradients_flow_back_across_devices(gpu):
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ((w.to(gpu) * 3).sum()).backward()
    assert not w.grad.is_cuda and w.grad.tolist() == [3.0, 3.0, 3.0]
    v = tg.tensor([1.0, -2.0], device=gpu, requires_grad=True)
    (v.cpu() ** 2).sum().backward()
    assert v.grad.is_cuda and v.grad.tolist() == [2.0, -4.0]


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a @ b.t(), lambda a, b: tg.where(a > 0, a, b),
    lambda a, b: tg.cat([a, b]), lambda a, b: nn.functional.mse_loss(a, b),
])
def test_mixing_devices_raises_naming_both(gpu, op):
    a, b = tg.ones(2, 2), tg.ones(2, 2, device=gpu)
    for x, y in ((a, b), (b, a)):
        with pytest.raises(RuntimeError) as e:
            op(x, y)
        assert "cpu" in str(e.value) and "cuda:0" in str(e.value)


def test_numbers_and_0d_cpu_tensors_join_the_gpu_operand(gpu):
    a = tg.tensor([1.0, 2.0], device=gpu)
    for out in (a + 1, 2 * a, a + tg.tensor(1.0), tg.tensor(1.0) + a, a.clamp(0, 1.5),
                tg.where(a > 1, a, 0.0), tg.maximum(a, tg.tensor(1.5))):
        assert out.is_cuda
    a.add_(tg.tensor(1.0))
    a.copy_(tg.tensor([5.0, 6.0]))  # copy_ takes its source from any device
    a[0] = 7.0
    assert a.tolist() == [7.0, 6.0]


def test_factories_place_tensors_on_the_device(gpu):
    made = [tg.zeros(2, device=gpu), tg.ones(2, device=gpu), tg.full((2,), 3.0, device=gpu),
            tg.empty(2, device=gpu), tg.arange(3, device=gpu), tg.linspace(0, 1, 3, device=gpu),
            tg.eye(2, device=gpu), tg.rand(2, device=gpu), tg.randn(2, device=gpu),
            tg.randint(0, 5, (2,), device=gpu), tg.randperm(3, device=gpu),
            tg.tensor([1, 2], device=gpu), tg.as_tensor(np.ones(2), device=gpu),
            tg.tensor([1.0], device=tg.device("cuda", 0)), tg.zeros(1, device=0)]
    assert all(t.is_cuda for t in made)
    x = tg.ones(2, device=gpu)
    assert all(t.is_cuda for t in (tg.zeros_like(x), tg.ones_like(x), tg.rand_like(x), tg.full_like(x, 2)))
    assert not tg.zeros_like(x, device="cpu").is_cuda
    assert tg.eye(3, device=gpu).cpu().numpy().tolist() == np.eye(3).tolist()
    with pytest.raises(RuntimeError, match="cuda:5"):
        tg.zeros(1, device="cuda:5")


def test_random_numbers_follow_the_gpu_seed(gpu):
    tg.cuda.manual_seed(123)
    a = tg.rand(1000, device=gpu)
    b = tg.randn(1000, device=gpu, dtype=tg.float64)
    tg.cuda.manual_seed(123)
    a2, b2 = tg.rand(1000, device=gpu), tg.randn(1000, device=gpu, dtype=tg.float64)
    np.testing.assert_array_equal(a.cpu().numpy(), a2.cpu().numpy())
    np.testing.assert_array_equal(b.cpu().numpy(), b2.cpu().numpy())
    u = a.cpu().numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    assert not np.array_equal(u, tg.rand(1000, device=gpu).cpu().numpy())  # the stream moved on
    n = b.cpu().numpy()
    assert abs(n.mean()) < 0.15 and abs(n.std() - 1) < 0.1


def test_dropout_on_the_gpu(gpu):
    tg.cuda.manual_seed(0)
    x = tg.ones(10_000, device=gpu, requires_grad=True)
    y = nn.functional.dropout(x, 0.25)
    values = y.detach().cpu().numpy()
    kept = values != 0
    assert y.is_cuda and abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(values[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), y.detach().cpu().numpy(), rtol=1e-6)


def test_memory_statistics_and_out_of_memory(gpu):
    before = tg.cuda.memory_allocated()
    big = tg.empty(1 << 20, device=gpu)
    assert tg.cuda.memory_allocated() >= before + 4 * (1 << 20)
    assert tg.cuda.max_memory_allocated() >= tg.cuda.memory_allocated()
    del big
    assert tg.cuda.memory_allocated() <= before + 512
    keep = tg.arange(4.0, device=gpu)
    with pytest.raises(tg.cuda.OutOfMemoryError):
        tg.empty(1 << 50, device=gpu)
    assert (keep * 2).tolist() == [0.0, 2.0, 4.0, 6.0]  # the process is still usable
    tg.cuda.synchronize()
    tg.cuda.empty_cache()


# --- modules, optimizers and training --------------------------------------------------------

def _mlp():
    tg.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


def test_module_to_moves_parameters_in_place(gpu):
    model = _mlp()
    params = list(model.parameters())
    opt = tg.optim.SGD(model.parameters(), lr=0.1)  # built before the move, as PyTorch allows
    assert model.to(gpu) is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(p.is_cuda and p.is_leaf and p.requires_grad for p in model.parameters())
    out = model(tg.randn(4, 6).to(gpu))
    out.sum().backward()
    opt.step()
    assert all(p.grad.is_cuda for p in params)
    model.cpu()
    assert not any(p.is_cuda for p in model.parameters())
    assert nn.Linear(2, 3, device=gpu).weight.is_cuda
    bn = nn.BatchNorm1d(3).to(gpu)
    assert bn.running_mean.is_cuda and bn.num_batches_tracked.is_cuda


@pytest.mark.parametrize("make_opt", [
    lambda p: tg.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda p: tg.optim.Adam(p, lr=1e-2, amsgrad=True),
    lambda p: tg.optim.AdamW(p, lr=1e-2),
    lambda p: tg.optim.RMSprop(p, lr=1e-2, centered=True, momentum=0.5),
    lambda p: tg.optim.Adagrad(p, lr=1e-1),
    lambda p: tg.optim.NAdam(p, lr=1e-2, weight_decay=0.01),
    lambda p: tg.optim.RAdam(p, lr=1e-2, weight_decay=0.01, decoupled_weight_decay=True),
    lambda p: tg.optim.Adamax(p, lr=1e-2),
    lambda p: tg.optim.Adadelta(p, lr=1.0),
    lambda p: tg.optim.ASGD(p, lr=0.05, t0=3),
    lambda p: tg.optim.Rprop(p, lr=1e-2),
])
def test_training_on_the_gpu_matches_the_cpu(gpu, make_opt):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.integers(0, 3, 32)
    losses = {}
    for dev in ("cpu", gpu):
        model = _mlp().to(dev)
        opt = make_opt(model.parameters())
        xs, ys = tg.tensor(x, device=dev), tg.tensor(y, device=dev)
        run = []
        for _ in range(10):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xs), ys)
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses[dev] = run
        assert all(s.is_cuda == (dev != "cpu") for st in opt.state.values() for s in st.values()
                   if isinstance(s, tg.Tensor) and s.ndim)
    np.testing.assert_allclose(losses[gpu], losses["cpu"], rtol=1e-4, atol=1e-5)


def test_checkpoints_save_from_and_load_to_the_gpu(gpu, tmp_path):
    model = _mlp().to(gpu)
    tg.save(model.state_dict(), tmp_path / "m.safetensors")
    for loc in ("cuda", tg.device("cuda:0"), {"cpu": "cuda"}):
        sd = tg.load(tmp_path / "m.safetensors", map_location=loc)
        assert all(t.is_cuda for t in sd.values())
    sd = tg.load(tmp_path / "m.safetensors")
    assert not any(t.is_cuda for t in sd.values())
    fresh = _mlp()
    fresh.load_state_dict(sd)
    x = tg.randn(3, 6)
    np.testing.assert_allclose(fresh(x).detach().numpy(), model(x.to(gpu)).detach().cpu().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_fit_on_the_gpu_moves_batches(gpu):
    from tapegrad.training import evaluate, fit
    from tapegrad.utils.data import DataLoader, TensorDataset

    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(tg.tensor(x), tg.tensor(y)), batch_size=16)
    model = _mlp().to(gpu)
    history = fit(model, tg.optim.Adam(model.parameters(), lr=1e-2), nn.CrossEntropyLoss(), loader,
                  loader, epochs=5, progress=False, log=None)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert evaluate(model, nn.CrossEntropyLoss(), loader)["acc"] > 0.8


def _on_two_standin_gpus(standin, monkeypatch) -> list:
    """Gives the stand-in two devices; returns the list of the devices its allocations are
    made on, from now on."""
    import cuda_standin

    monkeypatch.setattr(cuda_standin, "DEVICE_COUNT", 2)
    made = []
    alloc = standin.alloc

    def recording_alloc(nbytes, device):
        made.append(device)
        return alloc(nbytes, device)

    monkeypatch.setattr(standin, "alloc", recording_alloc)
    return made


def _second_gpu_step(x, w):
    y = (x.exp() * 2 + x.sin() / (x ** 2 + 1)).clamp(-5, 5)
    y = y + tg.maximum(x, 1.0) - tg.where(x > 1, x, 0.5) + x.rsqrt() + x.log1p() - x.sqrt() * x.abs()
    h = (y @ w).relu()
    return (h.sum() + y.prod(1).sum() + y.norm() + y.max(1).values.sum() + y.std()
            + nn.functional.log_softmax(y, 1).mean() + nn.functional.cross_entropy(h, tg.tensor([0, 1, 1], device=x.device)))


def test_backward_on_a_second_gpu_makes_every_array_there(cuda_standin, monkeypatch):
    """Every array an op and its backward make, the 0-d constants of the gradient formulas
    included, is made on the operands' GPU, not on the current one."""
    made = _on_two_standin_gpus(cuda_standin, monkeypatch)
    rng = np.random.default_rng(0)
    xn, wn = rng.uniform(0.5, 2.0, (3, 4)), rng.standard_normal((4, 2))
    x = tg.tensor(xn, device="cuda:1", requires_grad=True)
    w = tg.tensor(wn, device="cuda:1", requires_grad=True)
    tg.cuda.set_device(0)
    loss = _second_gpu_step(x, w)
    loss.backward()
    assert made and set(made) == {1}
    assert x.grad.device == tg.device("cuda:1") and w.grad.device == tg.device("cuda:1")
    assert tg.cuda.current_device() == 0
    xc, wc = tg.tensor(xn, requires_grad=True), tg.tensor(wn, requires_grad=True)
    _second_gpu_step(xc, wc).backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.grad.cpu().numpy(), wc.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_arrays_on_two_gpus_in_one_kernel_raise(cuda_standin, monkeypatch):
    _on_two_standin_gpus(cuda_standin, monkeypatch)
    a, b = tg.ones(2, device="cuda:0"), tg.ones(2, device="cuda:1")
    with pytest.raises(RuntimeError, match="cuda:0 and cuda:1"):
        a + b


def test_concurrent_draws_never_share_random_numbers(cuda_standin, monkeypatch):
    """Each draw takes its own counter range of the GPU's Philox stream, even when threads draw
    at once (the kernel is slowed down so that draws overlap in time)."""
    import threading
    import time

    draws = []
    uniform = cuda_standin.random_uniform

    def slow_uniform(out, seed, offset):
        time.sleep(0.001)
        draws.append((offset, cuda_standin.random_bits_needed(out.size)))
        uniform(out, seed, offset)

    monkeypatch.setattr(cuda_standin, "random_uniform", slow_uniform)
    tg.cuda.manual_seed(7)

    def worker():
        for _ in range(20):
            tg.rand(5, device="cuda")

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(draws) == 120
    draws.sort()
    for (start, n), (next_start, _) in zip(draws, draws[1:]):
        assert start + n <= next_start, "two draws read the same counters"


# --- the kernel calls' effect on the calling thread (a real GPU only) -------------------------

_real_gpu = pytest.mark.skipif(not tg.cuda.is_available(), reason="needs a real GPU")


@_real_gpu
@pytest.mark.skipif(tg.cuda.is_available() and tg.cuda.device_count() < 2,
                    reason="needs two GPUs")
def test_kernel_calls_leave_the_current_device_alone():
    """Arrays on cuda:0 while cuda:1 is current: the kernels run on cuda:0 and cuda:1 is
    current again afterwards, so scalars and allocations keep going where the caller said."""
    x = tg.randn(64, 32, device="cuda:0", requires_grad=True)
    w = tg.randn(16, 32, device="cuda:0", requires_grad=True)
    opt = tg.optim.Adam([w])
    previous = _C.cuda.current_device()
    _C.cuda.set_device(1)
    try:
        loss = nn.functional.linear(x, w).relu().sum()  # matmul, activation, reduce
        loss.backward()                                   # linear_backward
        opt.step()                                        # optimizer
        assert _C.cuda.current_device() == 1
        assert np.isfinite(loss.item())                   # host copy
        assert _C.cuda.current_device() == 1
        assert w.device == tg.device("cuda:0")
    finally:
        _C.cuda.set_device(previous)


@_real_gpu
def test_waiting_for_the_gpu_releases_the_gil():
    """.item() behind a long queue of GPU work: other Python threads run while it waits."""
    import threading
    import time

    a = tg.randn(4096, 4096, device="cuda", dtype=tg.float64)
    for _ in range(200):  # about a second of float64 GEMMs, queued without waiting
        a = (a @ a) * (1.0 / 4096)
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (a.sum().item(), done.set()))
    waiter.start()
    time.sleep(0.05)  # the waiter starts waiting; this thread needs the GIL back to go on
    still_waiting = not done.is_set()
    waiter.join()
    assert still_waiting, "the main thread ran again only after .item() had finished waiting"
