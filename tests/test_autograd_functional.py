"""autograd.functional (vjp, jvp, jacobian, hessian, vhp, hvp) against PyTorch's."""
import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-10, atol=1e-12)


def _f_two(T):
    def f(x, y):
        return (x.sin() * y[:, None]).tanh(), (x ** 2).sum(1) * y.exp()
    return f


def _scalar(T):
    def f(x, w):
        return ((x @ w).tanh() ** 2).sum() + (w * w).sum() * x.sum()
    return f


def _inputs(T, seed=0):
    rng = np.random.default_rng(seed)
    return (T.tensor(rng.standard_normal((3, 2)), dtype=T.float64),
            T.tensor(rng.standard_normal(3), dtype=T.float64))


def _scalar_inputs(T, seed=1):
    rng = np.random.default_rng(seed)
    return (T.tensor(rng.standard_normal((2, 3)), dtype=T.float64),
            T.tensor(rng.standard_normal((3, 2)), dtype=T.float64))


def _flat(result):
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _flat(r)]
    return [result.detach().numpy()]


def _compare(ours, theirs):
    ours, theirs = _flat(ours), _flat(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("name", ["vjp", "jvp", "jacobian"])
def test_first_order_match_torch(name):
    results = []
    for T in (tg, torch):
        x, y = _inputs(T)
        f = _f_two(T)
        F = T.autograd.functional
        if name == "jacobian":
            results.append(F.jacobian(f, (x, y)))
        else:
            rng = np.random.default_rng(5)
            # vjp takes one vector per output, jvp one per input
            v = (T.tensor(rng.standard_normal((3, 2)), dtype=T.float64),
                 T.tensor(rng.standard_normal(3), dtype=T.float64))
            results.append(getattr(F, name)(f, (x, y), v))
    _compare(*results)


@pytest.mark.parametrize("name", ["hessian", "vhp", "hvp"])
def test_second_order_match_torch(name):
    results = []
    for T in (tg, torch):
        x, w = _scalar_inputs(T)
        F = T.autograd.functional
        if name == "hessian":
            results.append(F.hessian(_scalar(T), (x, w)))
        else:
            rng = np.random.default_rng(6)
            v = (T.tensor(rng.standard_normal((2, 3)), dtype=T.float64),
                 T.tensor(rng.standard_normal((3, 2)), dtype=T.float64))
            results.append(getattr(F, name)(_scalar(T), (x, w), v))
    _compare(*results)


def test_single_tensor_in_and_out_and_create_graph():
    for T in (tg, torch):
        x = T.tensor([0.3, -1.2], dtype=T.float64, requires_grad=True)
        J = T.autograd.functional.jacobian(lambda t: t.exp() * t, x)
        assert tuple(J.shape) == (2, 2) and not J.requires_grad
        H = T.autograd.functional.hessian(lambda t: (t ** 3).sum(), x, create_graph=True)
        assert H.requires_grad
        (H * T.eye(2, dtype=T.float64)).sum().backward()  # the trace
        np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0], **TOL)
    xn = np.array([0.3, -1.2])
    np.testing.assert_allclose(J.detach().numpy(), np.diag(np.exp(xn) * (1 + xn)), **TOL)


def test_vjp_needs_v_for_a_non_scalar_output():
    with pytest.raises(RuntimeError, match="can only be None"):
        tg.autograd.functional.vjp(lambda t: t * 2, tg.ones(3, dtype=tg.float64))
