"""Tensor hooks (register_hook, register_post_accumulate_grad_hook) and Module hooks (forward
pre/post, full backward pre/post), each against PyTorch where it has them."""
import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-12, atol=1e-14)


def _leaf(T, values):
    return T.tensor(values, dtype=T.float64, requires_grad=True)


@pytest.mark.parametrize("T", [tg, torch], ids=["tapegrad", "torch"])
def test_leaf_hook_changes_the_accumulated_gradient_and_can_be_removed(T):
    x = _leaf(T, [1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: (seen.append(g.clone()), g * 10)[1])
    (x * x).sum().backward()  # x is used twice: the hook sees the summed gradient once
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0].numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 40.0])
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_hooks_match_torch_on_non_leaves_with_retain_grad():
    results = []
    for T in (tg, torch):
        x = _leaf(T, [1.0, -2.0, 3.0])
        h = x * 2
        h.retain_grad()
        h.register_hook(lambda g: g + 1)
        order = []
        h.register_hook(lambda g: order.append("second"))
        (h ** 2).sum().backward()
        results.append((h.grad.numpy(), x.grad.numpy(), order))
    (hg, xg, order), (thg, txg, torder) = results
    np.testing.assert_allclose(hg, thg, **TOL)
    np.testing.assert_allclose(xg, txg, **TOL)
    assert order == torder == ["second"]


def test_hooks_apply_to_autograd_grad_of_a_leaf():
    for T in (tg, torch):
        x = _leaf(T, [1.0, 2.0])
        x.register_hook(lambda g: g * 3)
        g, = T.autograd.grad((x ** 2).sum(), x)
        np.testing.assert_array_equal(g.numpy(), [6.0, 12.0])


def test_post_accumulate_grad_hook_steps_each_parameter_during_backward():
    results = []
    for T in (tg, torch):
        w = _leaf(T, [0.5, -1.0])
        calls = []

        def sgd(p, calls=calls, T=T):
            calls.append(p.grad.clone())
            with T.no_grad():
                p -= 0.1 * p.grad
            p.grad = None

        w.register_post_accumulate_grad_hook(sgd)
        for _ in range(3):
            ((w * T.tensor([1.0, 2.0], dtype=T.float64)) ** 2).sum().backward()
        assert w.grad is None and len(calls) == 3
        results.append(w.detach().numpy())
    np.testing.assert_allclose(*results, **TOL)


def test_hook_errors():
    x = tg.tensor([1.0])
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        x.register_hook(lambda g: g)
    y = _leaf(tg, [1.0]) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.register_post_accumulate_grad_hook(lambda t: None)
    z = _leaf(tg, [1.0, 2.0])
    z.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match="changed the gradient's shape from"):
        (z * 2).sum().backward()
    with pytest.raises(TypeError, match="must be callable"):
        z.register_hook(3)


def _linear(T, seed=0):
    rng = np.random.default_rng(seed)
    lin = T.nn.Linear(3, 2).double()
    with T.no_grad():
        lin.weight.copy_(T.tensor(rng.standard_normal((2, 3))))
        lin.bias.copy_(T.tensor(rng.standard_normal(2)))
    return lin


def test_forward_pre_and_forward_hooks_match_torch():
    results = []
    for T in (tg, torch):
        lin = _linear(T)
        log = []
        lin.register_forward_pre_hook(lambda m, args: (log.append("pre"), (args[0] * 2,))[1])
        lin.register_forward_pre_hook(lambda m, args: log.append("first"), prepend=True)
        handle = lin.register_forward_hook(lambda m, args, out: out + 1)
        lin.register_forward_hook(lambda m, args, kwargs, out: (log.append(sorted(kwargs)), out * 3)[1],
                                  with_kwargs=True)
        x = T.tensor([[1.0, 0.5, -1.0]], dtype=T.float64)
        first = lin(x).detach().numpy()
        handle.remove()
        second = lin(x).detach().numpy()
        results.append((first, second, log))
    (f, s, log), (tf, ts, tlog) = results
    np.testing.assert_allclose(f, tf, **TOL)
    np.testing.assert_allclose(s, ts, **TOL)
    assert log == tlog == ["first", "pre", [], "first", "pre", []]


def test_forward_pre_hook_with_kwargs_replaces_args_and_kwargs():
    class Scale(tg.nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": 5.0}), with_kwargs=True)
    np.testing.assert_array_equal(m(tg.tensor([1.0, 2.0])).numpy(), [5.0, 10.0])


def test_full_backward_hooks_match_torch_and_can_replace_gradients():
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((4, 3))
    results = []
    for T in (tg, torch):
        model = T.nn.Sequential(_linear(T, 1), T.nn.ReLU(), _linear(T, 2).to(T.float64))
        model[2] = T.nn.Linear(2, 2).double()
        with T.no_grad():
            model[2].weight.copy_(T.tensor(rng.standard_normal((2, 2)) if T is tg else results[0][4]))
            model[2].bias.zero_()
        w2 = model[2].weight.detach().numpy().copy()
        seen = []
        model[0].register_full_backward_hook(
            lambda m, gin, gout: seen.append(("post0", [None if g is None else g.numpy().copy() for g in gin],
                                              [g.numpy().copy() for g in gout])))
        model[2].register_full_backward_pre_hook(lambda m, gout: (gout[0] * 2,))
        model[2].register_full_backward_hook(lambda m, gin, gout: (gin[0] * 0.5,))
        x = T.tensor(xs, dtype=T.float64, requires_grad=True)
        model(x).pow(2).sum().backward()
        results.append((seen, x.grad.numpy(), model[0].weight.grad.numpy(), model[2].weight.grad.numpy(), w2))
    ours, theirs = results
    assert [s[0] for s in ours[0]] == [s[0] for s in theirs[0]] == ["post0"]
    for (_, gin, gout), (_, tgin, tgout) in zip(ours[0], theirs[0]):
        for a, b in zip(gin + gout, tgin + tgout):
            np.testing.assert_allclose(a, b, **TOL)
    for a, b in zip(ours[1:4], theirs[1:4]):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing when gradients are computed with respect to module outputs")
def test_full_backward_hook_with_inputs_that_do_not_require_grad():
    results = []
    for T in (tg, torch):
        lin = _linear(T)
        seen = []
        lin.register_full_backward_hook(lambda m, gin, gout: seen.append((gin, gout[0].numpy().copy())))
        lin(T.tensor([[1.0, 2.0, 3.0]], dtype=T.float64)).sum().backward()
        assert len(seen) == 1 and seen[0][0] == (None,)
        results.append((seen[0][1], lin.weight.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, **TOL)


def test_a_hooked_linear_in_sequential_runs_unfused_and_its_hook_fires():
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU())
    outs = []
    model[0].register_forward_hook(lambda m, args, out: outs.append(out.detach().numpy().copy()))
    y = model(tg.randn(2, 3))
    assert len(outs) == 1 and outs[0].shape == (2, 4)
    np.testing.assert_array_equal(y.detach().numpy(), np.maximum(outs[0], 0))
