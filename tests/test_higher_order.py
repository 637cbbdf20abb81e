"""Higher-order gradients: create_graph=True records the backward as a graph, so gradients of
gradients work through every op (tests/test_ops.py runs gradgradcheck on each row of the op
table). Here: Hessian-vector products and gradient penalties of whole models against PyTorch,
third derivatives, and the semantics of .grad under create_graph."""
import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-9, atol=1e-11)


def _pair(a, requires_grad=True):
    return (tg.tensor(a, dtype=tg.float64, requires_grad=requires_grad),
            torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad))


def _model(T, Fn, x, params, target, kind):
    w1, b1, w2, b2, gamma, beta = params + [None] * (6 - len(params))
    if kind == "fused":  # the Linear + activation that Sequential fuses into one GEMM
        from tapegrad.ops.matmul import linear
        h = linear(x, w1, b1, act="tanh") if T is tg else T.tanh(Fn.linear(x, w1, b1))
    else:
        h = Fn.linear(x, w1, b1)
        h = {"relu": T.relu, "sigmoid": T.sigmoid, "gelu": Fn.gelu, "silu": Fn.silu,
             "softplus": Fn.softplus, "elu": Fn.elu}[kind](h)
    if kind in ("relu", "gelu"):
        h = Fn.layer_norm(h, (h.shape[-1],), gamma, beta)
    elif kind in ("sigmoid", "silu"):
        h = Fn.batch_norm(h, None, None, gamma, beta, training=True)
    logits = Fn.linear(h, w2, b2)
    if kind == "softplus":
        return (Fn.softmax(logits, 1) * Fn.log_softmax(logits, 1)).sum()
    return Fn.cross_entropy(logits, target)


@pytest.mark.parametrize("kind", ["fused", "relu", "sigmoid", "gelu", "silu", "softplus", "elu"])
def test_hessian_vector_product_of_an_mlp_matches_torch(kind):
    rng = np.random.default_rng(1)
    shapes = [(6, 4), (6,), (3, 6), (3,)] + ([(6,), (6,)] if kind in ("relu", "gelu", "sigmoid", "silu") else [])
    arrays = [rng.standard_normal(s) for s in shapes]
    vs = [rng.standard_normal(s) for s in shapes]
    x = rng.standard_normal((5, 4))
    target = rng.integers(0, 3, 5)
    results = []
    for T, Fn in ((tg, F), (torch, torch.nn.functional)):
        params = [T.tensor(a, dtype=T.float64, requires_grad=True) for a in arrays]
        xt = T.tensor(x, dtype=T.float64)
        loss = _model(T, Fn, xt, params, T.tensor(target), kind)
        grads = T.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * T.tensor(v, dtype=T.float64)).sum() for g, v in zip(grads, vs))
        hvp = T.autograd.grad(dot, params)
        results.append([h.detach().numpy() for h in hvp])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, **TOL)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_gradient_penalty_through_backward_create_graph():
    """A WGAN-GP-style penalty: (|d out / d x| - 1)^2, minimised through .grad of the input."""
    rng = np.random.default_rng(2)
    xs, ws = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    results = []
    for T in (tg, torch):
        x = T.tensor(xs, dtype=T.float64, requires_grad=True)
        w = T.tensor(ws, dtype=T.float64, requires_grad=True)
        out = T.tanh(x @ w.T).sum()
        out.backward(create_graph=True)
        assert x.grad.requires_grad and x.grad.grad_fn is not None
        penalty = ((x.grad.pow(2).sum(1).sqrt() - 1) ** 2).mean()
        gx = x.grad.detach().clone()
        w.grad = None
        penalty.backward()
        results.append((gx.numpy(), w.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, **TOL)


def test_third_derivative_of_a_polynomial():
    x, _ = _pair([0.5, -1.5, 2.0])
    y = (x ** 4 - 3 * x ** 2).sum()
    d1, = tg.autograd.grad(y, x, create_graph=True)
    d2, = tg.autograd.grad(d1.sum(), x, create_graph=True)
    d3, = tg.autograd.grad(d2.sum(), x)
    xn = np.array([0.5, -1.5, 2.0])
    np.testing.assert_allclose(d1.detach().numpy(), 4 * xn ** 3 - 6 * xn, **TOL)
    np.testing.assert_allclose(d2.detach().numpy(), 12 * xn ** 2 - 6, **TOL)
    np.testing.assert_allclose(d3.numpy(), 24 * xn, **TOL)


def test_second_derivative_through_indexing_and_reductions_matches_torch():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 5))
    outs = []
    for T in (tg, torch):
        x = T.tensor(a, dtype=T.float64, requires_grad=True)
        y = (x[1:, ::2].exp() * x[:3, 1:4].sin()).prod(1).sum() + x[[0, 2, 2]].pow(3).amax()
        g, = T.autograd.grad(y, x, create_graph=True)
        h, = T.autograd.grad((g * g).sum(), x)
        outs.append((g.detach().numpy(), h.numpy()))
    for ours, theirs in zip(*outs):
        np.testing.assert_allclose(ours, theirs, **TOL)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_create_graph_keeps_the_graph_and_grad_accumulates_out_of_place():
    x, _ = _pair([1.0, 2.0])
    y = (x ** 3).sum()
    y.backward(create_graph=True)  # retain_graph defaults to create_graph
    first = x.grad
    y.backward(create_graph=True)
    assert x.grad is not first  # out of place: the first gradient's graph is untouched
    np.testing.assert_allclose(x.grad.detach().numpy(), 2 * 3 * np.array([1.0, 4.0]), **TOL)
    np.testing.assert_allclose(first.detach().numpy(), 3 * np.array([1.0, 4.0]), **TOL)


def test_without_create_graph_gradients_have_no_graph():
    x, _ = _pair([1.0, 2.0])
    g, = tg.autograd.grad((x ** 3).sum(), x)
    assert not g.requires_grad and g.grad_fn is None


def test_grad_of_a_gradient_that_does_not_depend_on_the_input():
    x, _ = _pair([1.0, 2.0])
    g, = tg.autograd.grad((3 * x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), [3.0, 3.0])
    assert not g.requires_grad  # a constant: nothing to differentiate
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.autograd.grad(g.sum(), x)


def test_create_graph_on_cuda_standin(cuda_standin):
    x = tg.tensor([0.3, -0.7, 1.1], dtype=tg.float64, device="cuda", requires_grad=True)
    y = (tg.tanh(x) * x.exp()).sum()
    g, = tg.autograd.grad(y, x, create_graph=True)
    h, = tg.autograd.grad(g.sum(), x)
    assert h.is_cuda
    xn = np.array([0.3, -0.7, 1.1])
    t, e = np.tanh(xn), np.exp(xn)
    d1 = (1 - t ** 2) * e + t * e
    d2 = -2 * t * (1 - t ** 2) * e + 2 * (1 - t ** 2) * e + t * e
    np.testing.assert_allclose(g.detach().cpu().numpy(), d1, **TOL)
    np.testing.assert_allclose(h.cpu().numpy(), d2, **TOL)


def test_input_derivatives_of_a_module_train_its_parameters_as_torch():
    """A physics-informed loss: u''(x) of an nn.Sequential (fused Linear + Tanh), differentiated
    with respect to the module's Parameters."""
    results = []
    for T in (tg, torch):
        rng = np.random.default_rng(7)
        m = T.nn.Sequential(T.nn.Linear(1, 5), T.nn.Tanh(), T.nn.Linear(5, 1)).double()
        with T.no_grad():
            for p in m.parameters():
                p.copy_(T.tensor(rng.standard_normal(tuple(p.shape))))
        x = T.linspace(0, 1, 7, dtype=T.float64).unsqueeze(1).requires_grad_()
        u = m(x)
        du, = T.autograd.grad(u, x, T.ones_like(u), create_graph=True)
        d2u, = T.autograd.grad(du, x, T.ones_like(du), create_graph=True)
        ((d2u + 1) ** 2).mean().backward()
        results.append([None if p.grad is None else p.grad.numpy() for p in m.parameters()])
    for ours, theirs in zip(*results):
        if theirs is None:  # the last bias does not reach u''
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs, **TOL)
