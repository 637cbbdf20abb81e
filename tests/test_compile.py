"""Graph mode (tapegrad.compile): replayed steps give eager's numbers bit for bit, and what
cannot be replayed falls back to eager (or raises with fullgraph=True)."""
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.compile import CaptureError

STEPS = 100


def _data(device, n_batches=STEPS, batch=12, features=4, classes=3, seed=1):
    rng = np.random.default_rng(seed)
    xs = [tg.tensor(rng.standard_normal((batch, features)).astype(np.float32), device=device)
          for _ in range(n_batches)]
    ys = [tg.tensor(rng.integers(0, classes, batch), device=device) for _ in range(n_batches)]
    return xs, ys


def _model(kind, device):
    tg.manual_seed(0)
    layers = [nn.Linear(4, 16)]
    if kind == "batchnorm":
        layers.append(nn.BatchNorm1d(16))
    layers.append(nn.ReLU())
    if kind == "dropout":
        layers.append(nn.Dropout(0.3))
    layers += [nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)]
    return nn.Sequential(*layers).to(device)


def _ce_step(model, opt):
    """The plain training step: zero_grad, cross-entropy, backward, step; returns the loss."""
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


OPTIMIZERS = {
    "adam": lambda p: tg.optim.Adam(p, lr=1e-2),
    "adamw": lambda p: tg.optim.AdamW(p, lr=1e-2, weight_decay=0.05),
    "sgd_momentum": lambda p: tg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda p: tg.optim.RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
    "adagrad": lambda p: tg.optim.Adagrad(p, lr=0.05),
    # per-step scalar state kept by the kernels: NAdam's mu_product, ASGD's eta and mu
    "nadam": lambda p: tg.optim.NAdam(p, lr=1e-2, weight_decay=0.01),
    "radam": lambda p: tg.optim.RAdam(p, lr=1e-2),
    "asgd": lambda p: tg.optim.ASGD(p, lr=0.05, t0=3),
    "rprop": lambda p: tg.optim.Rprop(p, lr=1e-2),
}


def _train(compiled, device, opt_name="adam", kind="plain", scheduler=False, clip=False,
           steps=STEPS):
    """Losses and final state of `steps` training steps, the step compiled or not."""
    model = _model(kind, device)
    opt = OPTIMIZERS[opt_name](model.parameters())
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.7) if scheduler else None
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        opt.step()
        if sched is not None:
            sched.step()
        return loss

    fn = tg.compile(step) if compiled else step
    xs, ys = _data(device, steps)
    tg.manual_seed(123)  # the dropout masks' stream
    if device == "cuda":
        tg.cuda.manual_seed(123)
    losses = [fn(x, y) for x, y in zip(xs, ys)]
    state = [p.detach().cpu().numpy().copy() for p in model.parameters()]
    state += [b.detach().cpu().numpy().copy() for b in model.buffers()]
    state += [v.detach().cpu().numpy().copy() for st in opt.state.values() for v in st.values()
              if isinstance(v, tg.Tensor)]
    return [float(l.item()) for l in losses], state, fn, opt


def _assert_same(eager, compiled):
    le, se = eager[:2]
    lc, sc = compiled[:2]
    assert lc == le  # bit for bit
    assert len(se) == len(sc)
    for a, b in zip(se, sc):
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_training_step_matches_eager_bit_for_bit(device, opt_name):
    eager = _train(False, device, opt_name)
    compiled = _train(True, device, opt_name)
    _assert_same(eager, compiled)
    assert "kernel calls" in compiled[2].explain()  # it was recorded, not run eagerly


@pytest.mark.parametrize("kind,scheduler,clip", [
    ("plain", True, False),     # the lr changes every 7 steps
    ("dropout", False, False),  # fresh masks from the generator every step
    ("batchnorm", False, False),  # running statistics and num_batches_tracked
    ("plain", False, True),     # clip_grad_norm_
    ("dropout", True, True),
])
def test_step_state_that_changes_between_steps(device, kind, scheduler, clip):
    eager = _train(False, device, "adam", kind, scheduler, clip)
    compiled = _train(True, device, "adam", kind, scheduler, clip)
    _assert_same(eager, compiled)
    if scheduler:
        assert compiled[3].param_groups[0]["lr"] == eager[3].param_groups[0]["lr"] != 1e-2


def test_generator_state_advances_as_eager(device):
    _, _, _, _ = _train(False, device, "adam", "dropout", steps=10)
    after_eager = tg.rand(3, device=device).cpu().numpy()
    _train(True, device, "adam", "dropout", steps=10)
    after_compiled = tg.rand(3, device=device).cpu().numpy()
    np.testing.assert_array_equal(after_compiled, after_eager)


def test_compiled_module_with_eager_optimizer(device):
    def run(compiled):
        model = _model("plain", device)
        net = tg.compile(model) if compiled else model
        opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        xs, ys = _data(device, 30)
        losses, input_grads = [], []
        for x, y in zip(xs, ys):
            x = x.clone().requires_grad_(True)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            input_grads.append(x.grad.cpu().numpy())
        return losses, [p.detach().cpu().numpy() for p in model.parameters()], input_grads, net

    le, pe, ge, _ = run(False)
    lc, pc, gc, net = run(True)
    assert lc == le
    for a, b in zip(pe + ge, pc + gc):
        np.testing.assert_array_equal(b, a)
    text = net.explain()
    assert "-- backward --" in text and "linear_backward" in text
    # the module's own API is there
    assert len(list(net.parameters())) == 6 and net.training
    net.eval()
    assert not net._orig_mod.training


def test_compiled_module_second_forward_before_backward(device):
    model = _model("plain", device)
    net = tg.compile(model)
    xs, _ = _data(device, 4)
    net(xs[0]).sum().backward()  # recorded
    model.zero_grad()
    a = net(xs[1])
    b = net(xs[2])  # a's backward is still due: this one runs eagerly
    (a.sum() + b.sum()).backward()
    grads = [p.grad.cpu().numpy().copy() for p in model.parameters()]
    model.zero_grad()
    (model(xs[1]).sum() + model(xs[2]).sum()).backward()
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_array_equal(g, p.grad.cpu().numpy())


def test_inference_under_no_grad(device):
    model = _model("batchnorm", device).eval()

    @tg.compile
    def predict(x):
        return nn.functional.softmax(model(x), dim=1).argmax(1), model(x)

    xs, _ = _data(device, 5)
    with tg.no_grad():
        for x in xs:
            labels, logits = predict(x)
            ref_logits = model(x)
            np.testing.assert_array_equal(logits.cpu().numpy(), ref_logits.cpu().numpy())
            np.testing.assert_array_equal(labels.cpu().numpy(), ref_logits.argmax(1).cpu().numpy())
    assert "kernel calls" in predict.explain()


def test_inputs_are_read_in_place_and_checked_like_saved_tensors(device):
    # On the CPU a replay reads a C-contiguous input where it lies (Recording.bind); other
    # layouts, and inputs the function writes, are copied. Either way the numbers are eager's,
    # and changing an input before the backward that needs it is an error.
    model = _model("plain", device)
    net = tg.compile(model)
    xs, _ = _data(device, 3)
    net(xs[0]).sum().backward()  # recorded
    for x in (xs[1], xs[2].t().contiguous().t()):
        model.zero_grad()
        net(x).sum().backward()
        grads = [p.grad.cpu().numpy().copy() for p in model.parameters()]
        model.zero_grad()
        model(x).sum().backward()
        for g, p in zip(grads, model.parameters()):
            np.testing.assert_array_equal(g, p.grad.cpu().numpy())
    for run in (model, net):
        x = xs[1].clone()
        out = run(x).sum()
        x.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()

    @tg.compile
    def bump(x):  # writes its input: the recording's copy, never the caller's tensor
        x.add_(1)
        return x * 2

    with tg.no_grad():
        for i in range(3):
            x = tg.zeros(4, device=device)
            out = bump(x)
            np.testing.assert_array_equal(x.cpu().numpy(), np.zeros(4, np.float32))
            np.testing.assert_array_equal(out.cpu().numpy(), np.full(4, 2, np.float32))


def test_recording_keeps_no_copy_of_inputs_it_reads_in_place():
    model = _model("plain", "cpu")
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    step = tg.compile(_ce_step(model, opt))
    xs, ys = _data("cpu", 4)
    eager_model = _model("plain", "cpu")
    eager_step = _ce_step(eager_model, tg.optim.SGD(eager_model.parameters(), lr=0.1))
    # The first call's x is not C-contiguous: the recording reads a C-contiguous copy of it.
    firsts = [xs[0].t().contiguous().t(), xs[1], xs[2].t().contiguous().t(), xs[3]]
    for x, y in zip(firsts, ys):
        assert step(x, y).item() == eager_step(x, y).item()
    graph = next(iter(step._graphs.values()))
    assert graph.inputs == [None, None]  # no buffer of its own for x or y
    assert "inputs read in place: 2" in step.explain()
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_returned_tensors_do_not_alias_replay_buffers(device):
    model = _model("plain", device)
    opt = tg.optim.Adam(model.parameters())

    step = tg.compile(_ce_step(model, opt))

    xs, ys = _data(device, 4)
    losses = [step(x, y) for x, y in zip(xs, ys)]
    values = [l.item() for l in losses]
    step(xs[0], ys[0])
    assert [l.item() for l in losses] == values
    assert len(set(values)) == 4


def test_signature_cache_records_again_and_warns_once_when_full():
    model = _model("plain", "cpu")

    @tg.compile
    def f(x):
        return model(x).sum()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for rows in range(1, 12):
            x = tg.randn(rows, 4)
            with tg.no_grad():
                np.testing.assert_array_equal(f(x).numpy(), model(x).sum().numpy())
    full = [w for w in caught if "signatures" in str(w.message)]
    assert len(full) == 1
    assert len(f._graphs) == 8


def test_direct_replay_checks_everything_the_signature_holds():
    # A call with positional CPU tensors and plain values is replayed by _C.Replay in one step;
    # any difference from the recorded signature or state sends it down the full path, which
    # records or picks the matching recording. Each call must give eager's numbers.
    model = _model("dropout", "cpu")

    @tg.compile
    def f(x, scale, mode):
        out = model(x) * scale
        return (out.sum(), out.amax()) if mode == "both" else out.sum()

    def eager(x, scale, mode):
        out = model(x) * scale
        return (out.sum(), out.amax()) if mode == "both" else out.sum()

    xs = [tg.randn(5, 4), tg.randn(5, 4), tg.randn(7, 4), tg.randn(5, 4).double()]
    calls = [(xs[0], 2.0, "sum", True, True), (xs[1], 2.0, "sum", True, True),
             (xs[2], 2.0, "sum", True, True), (xs[1], 3.0, "sum", True, True),
             (xs[1], 2.0, "both", True, True),
             (xs[1], 2.0, "sum", False, True), (xs[1], 2.0, "sum", False, False),
             (xs[1].clone().requires_grad_(True), 2.0, "sum", False, False),
             (xs[3], 2.0, "sum", False, True), (xs[1], 2.0, "sum", False, True)]
    for x, scale, mode, training, no_grad in calls:
        model.train(training)
        model.double() if x.dtype == tg.float64 else model.float()
        with tg.set_grad_enabled(not no_grad):
            tg.manual_seed(5)
            got = f(x, scale, mode)
            tg.manual_seed(5)
            want = eager(x, scale, mode)
        got, want = (got, want) if mode == "both" else ((got,), (want,))
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.requires_grad == w.requires_grad
            np.testing.assert_array_equal(g.detach().numpy(), w.detach().numpy())
    assert f._fast is not None  # the last call took the direct replay
    # Its tensors are ordinary ones, each with a version counter of its own.
    model.train(True)
    model.float()
    with tg.no_grad():
        f(xs[1], 2.0, "both")
        a, b = f(xs[1], 2.0, "both")
    assert f._fast is not None and type(a) is tg.Tensor and a._version is not b._version
    before = b.item()
    a.add_(1)
    assert a._version[0] == 1 and b._version[0] == 0 and b.item() == before


@pytest.mark.parametrize("what", ["item", "print", "if", "parameter"])
def test_uncapturable_code_falls_back_to_eager_with_one_warning(what, capsys):
    model = _model("plain", "cpu")
    opt = tg.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        if what == "item":
            loss.item()
        elif what == "print":
            print(loss)
        elif what == "if":
            if loss > 100:
                raise AssertionError
        else:
            nn.Parameter(tg.zeros(1))
        loss.backward()
        opt.step()
        return loss

    xs, ys = _data("cpu", 5)
    compiled = tg.compile(step)
    with pytest.warns(UserWarning, match="runs eagerly: cannot capture") as caught:
        losses = [compiled(x, y).item() for x, y in zip(xs, ys)]
    assert len([w for w in caught if "runs eagerly" in str(w.message)]) == 1
    assert "eager" in compiled.explain()
    model2 = _model("plain", "cpu")
    assert losses[0] == nn.functional.cross_entropy(model2(xs[0]), ys[0]).item()

    strict = tg.compile(step, fullgraph=True)
    model.load_state_dict(model2.state_dict())
    with pytest.raises(CaptureError, match="fullgraph=True"):
        strict(xs[0], ys[0])


def test_replaced_parameter_records_again_and_in_place_load_is_seen():
    def run(compiled):
        model = _model("plain", "cpu")
        opt = tg.optim.SGD(model.parameters(), lr=0.1)

        step = _ce_step(model, opt)
        fn = tg.compile(step) if compiled else step
        xs, ys = _data("cpu", 12)
        out = []
        snapshot = None
        for i, (x, y) in enumerate(zip(xs, ys)):
            if i == 3:
                snapshot = {k: v.clone() for k, v in model.state_dict().items()}
            if i == 6:
                model.load_state_dict(snapshot)  # copies in place
            if i == 8:
                with tg.no_grad():
                    new = nn.Parameter(model[0].weight.detach() * 0.5)
                model[0].weight = new
                opt.param_groups[0]["params"][0] = new
            out.append(fn(x, y).item())
        return out, [p.detach().numpy() for p in model.parameters()]

    le, pe = run(False)
    lc, pc = run(True)
    assert lc == le
    for a, b in zip(pe, pc):
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("set_to_none", [True, False, None])
def test_gradient_reset_and_accumulation_match_eager(set_to_none):
    def run(compiled):
        model = _model("plain", "cpu")
        opt = tg.optim.SGD(model.parameters(), lr=0.01)

        def step(x, y):
            if set_to_none is not None:
                opt.zero_grad(set_to_none=set_to_none)
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()  # without zero_grad, gradients accumulate across calls
            opt.step()
            return loss

        fn = tg.compile(step) if compiled else step
        xs, ys = _data("cpu", 10)
        return [fn(x, y).item() for x, y in zip(xs, ys)], [p.grad.numpy() for p in model.parameters()]

    le, ge = run(False)
    lc, gc = run(True)
    assert lc == le
    for a, b in zip(ge, gc):
        np.testing.assert_array_equal(b, a)


def test_ignored_targets_vary_per_batch():
    def run(compiled):
        model = _model("plain", "cpu")
        loss_fn = nn.CrossEntropyLoss(ignore_index=1)

        def f(x, y):
            return loss_fn(model(x), y)

        fn = tg.compile(f) if compiled else f
        xs, ys = _data("cpu", 10)
        with tg.no_grad():
            return [fn(x, y).item() for x, y in zip(xs, ys)]

    assert run(True) == run(False)


def test_error_during_replay_is_a_python_exception_and_the_model_stays_usable():
    model = _model("plain", "cpu")
    opt = tg.optim.SGD(model.parameters(), lr=0.1)

    step = tg.compile(_ce_step(model, opt))

    xs, ys = _data("cpu", 4)
    step(xs[0], ys[0])
    bad = ys[1].clone()
    bad[0] = 7  # no such class
    with pytest.raises((ValueError, IndexError, RuntimeError), match="7"):
        step(xs[1], bad)
    loss = step(xs[2], ys[2])
    assert np.isfinite(loss.item())
    assert np.isfinite(step(xs[3], ys[3]).item())


def test_arena_shares_memory_between_buffers_whose_lifetimes_do_not_overlap():
    tg.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(64, 64), nn.ReLU())])
    opt = tg.optim.Adam(model.parameters())

    @tg.compile
    def step(x):
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss

    step(tg.randn(32, 64))
    graph = next(iter(step._graphs.values()))
    assert 0 < graph.arena_bytes < graph.intermediate_bytes
    assert "of arena" in step.explain()


def test_compile_signature_and_decorator_forms():
    def f(x):
        return x * 2

    assert tg.compile(f, disable=True) is f
    g = tg.compile(f, fullgraph=False, dynamic=True, backend="inductor", mode="max-autotune",
                   options={"trace.enabled": False})
    deco = tg.compile(fullgraph=True)(f)

    @tg.compile(mode="reduce-overhead")
    def h(x):
        return x + 1

    x = tg.arange(4.0)
    for fn, ref in ((g, x * 2), (deco, x * 2), (h, x + 1)):
        np.testing.assert_array_equal(fn(x).numpy(), ref.numpy())
        np.testing.assert_array_equal(fn(x).numpy(), ref.numpy())  # the replay
    assert g.__name__ == "f"
    with pytest.raises(TypeError, match="callable"):
        tg.compile(3)


def test_replaced_submodule_records_again():
    model = _model("plain", "cpu")

    @tg.compile
    def f(x):
        return model(x)

    x = tg.randn(5, 4)
    with tg.no_grad():
        f(x)
        f(x)
        tg.manual_seed(7)
        model[0] = nn.Linear(4, 16)  # a new layer: the recording used the old one's weights
        np.testing.assert_array_equal(f(x).numpy(), model(x).numpy())


def test_other_threads_are_not_recorded():
    """Kernels another thread launches while a call is being recorded stay out of it."""
    import threading

    alone = _train(True, "cpu", "adam", steps=20)[2].explain()
    stop = threading.Event()
    a = tg.randn(64, 64)

    def busy():
        while not stop.is_set():
            (a @ a).relu().sum()

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        eager = _train(False, "cpu", "adam", steps=20)
        compiled = _train(True, "cpu", "adam", steps=20)
    finally:
        stop.set()
        worker.join()
    _assert_same(eager, compiled)
    assert compiled[2].explain() == alone  # the same kernel calls, nothing of the worker's


def test_compiled_forward_method():
    """@tapegrad.compile on a module's forward, as PyTorch scripts write it: the module's own
    parameters are guarded and trained like its submodules'."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(tg.ones(3))
            self.body = nn.Linear(4, 3)

        def forward(self, x):
            return self.body(x) * self.scale

    class CompiledNet(Net):
        forward = tg.compile(Net.forward)

    def run(cls, replace):
        tg.manual_seed(0)
        net = cls()
        opt = tg.optim.SGD(net.parameters(), lr=0.1)
        xs, ys = _data("cpu", 6)
        losses = []
        for i, (x, y) in enumerate(zip(xs, ys)):
            if replace and i == 3:  # a new parameter object: the recording must not use the old
                net.scale = nn.Parameter(tg.full((3,), 2.0))
                opt.param_groups[0]["params"][0] = net.scale
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, net.scale.detach().numpy()

    for replace in (False, True):
        compiled_losses, compiled_scale = run(CompiledNet, replace)
        eager_losses, eager_scale = run(Net, replace)
        assert compiled_losses == eager_losses
        np.testing.assert_array_equal(compiled_scale, eager_scale)


def test_compiled_module_using_its_own_parameter():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(tg.ones(4))

        def forward(self, x):
            return (x * self.w).sum()

    m = Scale()
    net = tg.compile(m)
    x = tg.randn(3, 4)
    with tg.no_grad():
        net(x)
        net(x)
        m.w = nn.Parameter(tg.full((4,), 3.0))  # the recording used the old parameter
        np.testing.assert_array_equal(net(x).numpy(), m(x).numpy())
