"""tapegrad.optim against torch.optim (CPU): the same small model trained by both libraries from
the same numpy weights, optimizers fed the same gradients, every scheduler's learning rates,
state_dict round trips (including torch's state dicts), zero_grad, param groups, argument
validation, and the Optimizer base class's bookkeeping."""
import copy
import math
import re

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.optim as optim
from tapegrad.optim import lr_scheduler

try:
    import torch
except ImportError:  # the parity tests skip; the others still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

# Trajectory tolerances. float64: both libraries evaluate the same formulas, so 50 steps of
# training agree to rounding (observed differences are ~1e-14 relative). float32: the model's
# forward and backward differ from torch's by a few float32 ulps per step (matmul summation
# order, torch's vectorised optimizer ops fusing multiply-adds); 50 steps compound these to
# observed differences below 3e-6 in parameters of size ~1 and 3e-7 relative in losses. The
# bounds below are a few times those: well under any real formula difference (a missing bias
# correction, a misplaced eps or weight decay move parameters by 1e-3 and more).
TRAIN_TOL = {
    np.float64: dict(loss=dict(rtol=1e-10, atol=0), param=dict(rtol=1e-9, atol=1e-12)),
    np.float32: dict(loss=dict(rtol=2e-6, atol=0), param=dict(rtol=1e-5, atol=1e-5)),
}
# Optimizers fed identical gradients: float64 to rounding, float32 within a few ulps.
# Fed the same gradients, the two libraries differ only in rounding: PyTorch fuses some
# multiply-adds (one rounding) that tapegrad's kernels round twice (they are compiled without
# FMA contraction so results do not depend on the thread split). In float32 that is a few ulp of
# the operands (|p| <= ~5 here: ulp 4.8e-7), which a result near 0 shows as an absolute error.
FED_TOL = {np.float64: dict(rtol=1e-13, atol=1e-15), np.float32: dict(rtol=1e-6, atol=1e-6)}
STEPS = 50


# --- the model: a 2-layer tanh MLP with an MSE loss, written once for both libraries -----------

def initial_arrays(seed=0):
    r = np.random.default_rng(seed)
    return dict(x=r.standard_normal((32, 5)), t=r.standard_normal((32, 3)),
                w1=r.standard_normal((5, 16)) * 0.5, b1=r.standard_normal(16) * 0.1,
                w2=r.standard_normal((16, 3)) * 0.5, b2=r.standard_normal(3) * 0.1)


class Model:
    """The MLP's parameters and data as tensors of library T (tapegrad or torch)."""

    def __init__(self, T, dtype, seed=0):
        self.T = T
        a = initial_arrays(seed)
        self.x = T.tensor(a["x"].astype(dtype))
        self.t = T.tensor(a["t"].astype(dtype))
        self.params = [T.tensor(a[k].astype(dtype), requires_grad=True) for k in ("w1", "b1", "w2", "b2")]

    def loss(self, sign=1.0):
        w1, b1, w2, b2 = self.params
        y = self.T.tanh(self.x @ w1 + b1) @ w2 + b2
        return ((y - self.t) * (y - self.t)).mean() * sign

    def numpy_params(self):
        return [p.detach().numpy().astype(np.float64) for p in self.params]


def train(T, opt_cls, kwargs, dtype, steps=STEPS, groups=None):
    """Losses and final parameters of `steps` steps. maximize runs ascend the negated loss,
    so that they converge too."""
    model = Model(T, dtype)
    params = model.params if groups is None else groups(model.params)
    opt = opt_cls(params, **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = model.loss(sign)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), model.numpy_params()


def assert_same_training(name, kwargs, dtype, groups=None):
    got_l, got_p = train(tg, getattr(optim, name), kwargs, dtype, groups=groups)
    want_l, want_p = train(torch, getattr(torch.optim, name), kwargs, dtype, groups=groups)
    tol = TRAIN_TOL[dtype]
    # the run must actually train (a silently skipped update would still "match" a bad run)
    assert abs(want_l[-1] - want_l[0]) > 0.05 * abs(want_l[0])
    np.testing.assert_allclose(got_l, want_l, err_msg=f"{name} {kwargs} losses", **tol["loss"])
    for i, (a, b) in enumerate(zip(got_p, want_p)):
        np.testing.assert_allclose(a, b, err_msg=f"{name} {kwargs} param {i}", **tol["param"])


# Cases where training is well conditioned: torch itself, rerun with one weight changed by one
# ulp, ends within the tolerances. (Some settings are chaotic on this model, e.g. RMSprop with
# alpha=0.9 and momentum: the one-ulp rerun of torch moves float32 losses by 1%. Their update
# rules are checked by test_fed_gradients_match_torch_including_state instead.)
TRAIN_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.005, momentum=0.5, maximize=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01, maximize=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.01, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=10, weight_decay=0.01, maximize=True)),
    ("Rprop", dict(lr=0.01)),
    ("Rprop", dict(lr=0.005, etas=(0.3, 1.5), step_sizes=(1e-4, 0.1), maximize=True)),
]


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", TRAIN_CASES, ids=[f"{n}-{k}" for n, k in TRAIN_CASES])
def test_training_matches_torch(name, kwargs, dtype):
    assert_same_training(name, kwargs, dtype)


@needs_torch
@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)),
])
def test_param_groups_with_their_own_options_match_torch(name, kwargs):
    # weights and biases in separate groups, with different lrs and one more option each
    extra = {"SGD": dict(momentum=0.0), "Adam": dict(amsgrad=True), "RMSprop": dict(centered=True),
             "Adagrad": dict(lr_decay=0.1)}[name]

    def groups(params):
        return [{"params": [params[0], params[2]]},
                {"params": [params[1], params[3]], "lr": kwargs["lr"] * 0.3, **extra}]

    assert_same_training(name, kwargs, np.float64, groups=groups)


# --- optimizers fed the same gradients: parameters and every state tensor ------------------------

FED_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9))),  # beta1 < 0.5: lerp's other form
    ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.4, centered=True)),  # lerp's other form again
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.5, maximize=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, betas=(0.3, 0.9), weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),  # rho_t > 5 from step 6 on: both branches
    ("RAdam", dict(lr=0.01, betas=(0.3, 0.99), decoupled_weight_decay=True, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, betas=(0.2, 0.9), maximize=True)),
    ("Adadelta", dict(lr=1.0, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, rho=0.3, maximize=True)),
    ("ASGD", dict(lr=0.05, weight_decay=0.1, t0=5)),  # the average starts after t0 steps
    ("ASGD", dict(lr=0.05, lambd=0.1, alpha=0.5, maximize=True)),
    ("Rprop", dict(lr=0.01)),
    ("Rprop", dict(lr=0.01, etas=(0.4, 1.6), step_sizes=(1e-3, 0.05), maximize=True)),
]


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", FED_CASES, ids=[f"{n}-{k}" for n, k in FED_CASES])
def test_fed_gradients_match_torch_including_state(name, kwargs, dtype):
    rng = np.random.default_rng(7)
    shapes = [(4, 3), (5,), (), (2, 1, 2)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    a = [tg.tensor(x, requires_grad=True) for x in init]
    b = [torch.tensor(x, requires_grad=True) for x in init]
    oa = getattr(optim, name)(a, **kwargs)
    ob = getattr(torch.optim, name)(b, **kwargs)
    for step in range(12):
        for i, s in enumerate(shapes):
            # parameter 1 gets no gradient on some steps: it is skipped, its step count lags
            # behind the others' (several kernel calls per group), as in torch
            if i == 1 and step % 3 == 1:
                a[i].grad, b[i].grad = None, None
                continue
            g = rng.standard_normal(s).astype(dtype)
            a[i].grad, b[i].grad = tg.tensor(g), torch.tensor(g)
        oa.step()
        ob.step()
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), **FED_TOL[dtype])
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for k in sb:
        assert sa[k].keys() == sb[k].keys()
        for key, want in sb[k].items():
            got = sa[k][key]
            if key in ("step", "mu_product", "eta", "mu"):  # float32 scalars, as torch's
                assert got.dtype == tg.float32 and got.item() == want.item(), (k, key)
            else:
                assert got.dtype == (tg.float32 if dtype == np.float32 else tg.float64)
                np.testing.assert_allclose(got.numpy(), want.numpy(), err_msg=f"{k} {key}",
                                           **FED_TOL[dtype])
    if "step" in sb[0]:
        assert sa[1]["step"].item() == 8 and sa[0]["step"].item() == 12


@needs_torch
def test_group_mixing_float32_and_float64_params_matches_torch():
    rng = np.random.default_rng(3)
    init = [rng.standard_normal(6).astype(np.float32), rng.standard_normal((2, 3))]
    a = [tg.tensor(x, requires_grad=True) for x in init]
    b = [torch.tensor(x, requires_grad=True) for x in init]
    oa, ob = optim.Adam(a, lr=0.1), torch.optim.Adam(b, lr=0.1)
    for _ in range(5):
        for x, y in zip(a, b):
            g = rng.standard_normal(tuple(x.shape)).astype(
                np.float32 if x.dtype == tg.float32 else np.float64)
            x.grad, y.grad = tg.tensor(g), torch.tensor(g)
        oa.step()
        ob.step()
    assert a[0].dtype == tg.float32 and a[1].dtype == tg.float64
    assert oa.state[a[0]]["exp_avg"].dtype == tg.float32
    assert oa.state[a[1]]["exp_avg"].dtype == tg.float64
    np.testing.assert_allclose(a[0].detach().numpy(), b[0].detach().numpy(), **FED_TOL[np.float32])
    np.testing.assert_allclose(a[1].detach().numpy(), b[1].detach().numpy(), **FED_TOL[np.float64])


def test_non_contiguous_parameter_is_updated_in_place():
    base = tg.tensor(np.arange(12.0).reshape(3, 4))
    p = base.t().detach().requires_grad_()  # a transposed view of base's memory
    assert not p.is_contiguous()
    p0 = np.arange(12.0).reshape(3, 4).T
    g = np.arange(12.0).reshape(4, 3) * 0.25
    p.grad = tg.tensor(g)
    opt = optim.SGD([p], lr=0.5, momentum=0.5)  # powers of two: every value below is exact
    opt.step()
    np.testing.assert_array_equal(p.detach().numpy(), p0 - 0.5 * g)
    np.testing.assert_array_equal(base.numpy(), (p0 - 0.5 * g).T)
    # the momentum buffer lines up with the parameter's elements, not with its memory order
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].numpy(), 1.5 * g)
    np.testing.assert_array_equal(p.detach().numpy(), p0 - 0.5 * g - 0.75 * g)


def test_non_contiguous_gradient():
    p = tg.zeros(3, 2, dtype=tg.float64, requires_grad=True)
    p.grad = tg.tensor(np.arange(6.0).reshape(2, 3)).t()
    optim.SGD([p], lr=1.0).step()
    np.testing.assert_array_equal(p.detach().numpy(), -np.arange(6.0).reshape(2, 3).T)


# --- step(), versions, grad mode -----------------------------------------------------------------

def test_step_skips_params_without_grad_and_bumps_versions():
    p = tg.ones(3, requires_grad=True)
    q = tg.ones(2, requires_grad=True)
    opt = optim.Adam([p, q], lr=0.1)
    p.grad = tg.ones(3)
    v_p, v_q = p._version[0], q._version[0]
    opt.step()
    assert p._version[0] == v_p + 1 and q._version[0] == v_q
    np.testing.assert_array_equal(q.detach().numpy(), 1.0)
    assert q not in opt.state and len(opt.state[p]) == 3
    assert not np.allclose(p.detach().numpy(), 1.0)


def test_step_after_backward_of_a_saved_parameter_is_detected():
    # the step changes the parameter in place, so a graph that saved it cannot be reused
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError):
        loss.backward()


def test_step_with_closure_returns_loss_under_grad_mode():
    model = Model(tg, np.float64)
    opt = optim.SGD(model.params, lr=0.1)
    seen = []

    def closure():
        seen.append(tg.is_grad_enabled())
        opt.zero_grad()
        loss = model.loss()
        loss.backward()
        return loss

    with tg.no_grad():
        loss = opt.step(closure)
    assert seen == [True]
    assert isinstance(loss, tg.Tensor)
    after = model.loss().item()
    assert after < loss.item()
    assert opt.step() is None


def test_step_does_not_record_autograd_history():
    p = tg.ones(2, requires_grad=True)
    p.grad = tg.ones(2)
    optim.SGD([p], lr=0.1, momentum=0.9).step()
    assert p.grad_fn is None and p.requires_grad and p.is_leaf


# --- zero_grad ---------------------------------------------------------------------------------

def test_zero_grad_set_to_none_default():
    p = tg.ones(3, requires_grad=True)
    (p * 2).sum().backward()
    opt = optim.SGD([p])
    opt.zero_grad()
    assert p.grad is None


def test_zero_grad_to_zeros_keeps_the_tensor():
    p = tg.ones(3, requires_grad=True)
    (p * 2).sum().backward()
    g = p.grad
    optim.SGD([p]).zero_grad(set_to_none=False)
    assert p.grad is g
    np.testing.assert_array_equal(g.numpy(), 0.0)
    (p * 3).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), 3.0)


def test_zero_grad_detaches_a_grad_with_history():
    p, q = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    p.grad = q * 2
    assert p.grad.grad_fn is not None
    optim.SGD([p]).zero_grad(set_to_none=False)
    assert p.grad.grad_fn is None and not p.grad.requires_grad
    np.testing.assert_array_equal(p.grad.numpy(), 0.0)


# --- param groups and the Optimizer base ---------------------------------------------------------

def test_param_groups_get_defaults_and_keep_their_options():
    a, b = tg.ones(2, requires_grad=True), tg.ones(3, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.01)
    g0, g1 = opt.param_groups
    assert g0["lr"] == 0.01 and g0["momentum"] == 0 and g0["params"][0] is a
    assert g1["lr"] == 0.5 and g1["momentum"] == 0.9 and g1["params"][0] is b
    a.grad, b.grad = tg.ones(2), tg.ones(3)
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), 1 - 0.01)
    np.testing.assert_allclose(b.detach().numpy(), 1 - 0.5)


def test_add_param_group():
    a, b = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.2})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    a.grad, b.grad = tg.ones(2), tg.ones(2)
    opt.step()
    # Adam's first step moves every element by lr exactly (up to eps)
    np.testing.assert_allclose(a.detach().numpy(), 0.9, rtol=1e-6)
    np.testing.assert_allclose(b.detach().numpy(), 0.8, rtol=1e-6)


def test_adagrad_state_exists_from_construction_and_for_added_groups():
    a, b = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    opt = optim.Adagrad([a], initial_accumulator_value=0.25)
    np.testing.assert_array_equal(opt.state[a]["sum"].numpy(), 0.25)
    assert opt.state[a]["step"].item() == 0
    opt.add_param_group({"params": [b]})
    b.grad = tg.ones(2)
    opt.step()
    np.testing.assert_allclose(opt.state[b]["sum"].numpy(), 1.25)
    assert opt.state[b]["step"].item() == 1 and opt.state[a]["step"].item() == 0


def test_named_parameters():
    a, b = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    opt = optim.SGD([("w", a), ("b", b)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    with pytest.raises(ValueError, match="all optimizer param groups should be with/without names"):
        opt.add_param_group({"params": [tg.ones(1, requires_grad=True)]})


def expect_same_error(exc, fn_tg, fn_torch):
    with pytest.raises(exc) as e_tg:
        fn_tg()
    with pytest.raises(exc) as e_torch:
        fn_torch()
    assert str(e_tg.value) == str(e_torch.value)


@needs_torch
@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=-1)), ("SGD", dict(momentum=-0.5)), ("SGD", dict(weight_decay=-1e-3)),
    ("SGD", dict(nesterov=True)), ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1)),
    ("Adam", dict(lr=-1)), ("Adam", dict(eps=-1e-8)), ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-0.5)),
    ("AdamW", dict(lr=-0.1)), ("AdamW", dict(betas=(0.9, 1.5))),
    ("RMSprop", dict(lr=-1)), ("RMSprop", dict(eps=-1.0)), ("RMSprop", dict(momentum=-1)),
    ("RMSprop", dict(weight_decay=-1)), ("RMSprop", dict(alpha=-0.5)),
    ("Adagrad", dict(lr=-1)), ("Adagrad", dict(lr_decay=-1)), ("Adagrad", dict(weight_decay=-1)),
    ("Adagrad", dict(initial_accumulator_value=-1)), ("Adagrad", dict(eps=-1)),
    ("NAdam", dict(lr=-1)), ("NAdam", dict(betas=(0.9, 1.0))), ("NAdam", dict(momentum_decay=-1)),
    ("RAdam", dict(eps=-1)), ("RAdam", dict(betas=(-0.1, 0.9))), ("Adamax", dict(weight_decay=-1)),
    ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1)), ("ASGD", dict(lr=-1)),
    ("ASGD", dict(weight_decay=-1)), ("Rprop", dict(etas=(1.1, 1.2))), ("Rprop", dict(lr=-0.1)),
])
def test_invalid_arguments_raise_torchs_errors(name, kwargs):
    expect_same_error(ValueError,
                      lambda: getattr(optim, name)([tg.ones(1, requires_grad=True)], **kwargs),
                      lambda: getattr(torch.optim, name)([torch.ones(1, requires_grad=True)], **kwargs))


def test_invalid_arguments_message():
    with pytest.raises(ValueError, match="^Invalid learning rate: -1$"):
        optim.SGD([tg.ones(1, requires_grad=True)], lr=-1)


@needs_torch
def test_params_errors_like_torch():
    t1, t2 = tg.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    expect_same_error(ValueError, lambda: optim.SGD([]), lambda: torch.optim.SGD([]))
    expect_same_error(ValueError, lambda: optim.SGD([t1 * 2]), lambda: torch.optim.SGD([t2 * 2]))
    expect_same_error(ValueError, lambda: optim.SGD([{"params": [t1]}, {"params": [t1]}]),
                      lambda: torch.optim.SGD([{"params": [t2]}, {"params": [t2]}]))
    expect_same_error(TypeError, lambda: optim.SGD([{"params": {t1}}]),
                      lambda: torch.optim.SGD([{"params": {t2}}]))
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got tapegrad.Tensor"):
        optim.SGD(t1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but one of the params is int"):
        optim.SGD([t1, 3])
    with pytest.raises(TypeError, match="param_group must be a dict"):
        optim.SGD([t1]).add_param_group([t1])


def test_duplicate_parameters_in_a_group_are_rejected():
    # torch warns and would update such a parameter twice; one fused call cannot do that safely
    p = tg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="duplicate parameters"):
        optim.SGD([p, p])


def test_unsupported_implementation_switches():
    p = tg.ones(1, requires_grad=True)
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        optim.Adam([p], differentiable=True)
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        optim.SGD([p], foreach=True, fused=True)
    # the others are accepted and recorded, as torch records them
    opt = optim.Adam([p], fused=True)
    assert opt.param_groups[0]["fused"] is True


def test_repr():
    opt = optim.SGD([tg.ones(1, requires_grad=True)], lr=0.5)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.5\n" in text
    assert text.endswith(")")


# --- state_dict ----------------------------------------------------------------------------------

OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)), ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1)),
    ("NAdam", dict(lr=0.01)), ("RAdam", dict(lr=0.01)), ("Adamax", dict(lr=0.01)), ("Adadelta", dict(lr=1.0)),
    ("ASGD", dict(lr=0.01)), ("Rprop", dict(lr=0.01)),
]


@needs_torch
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_state_dict_has_torchs_layout(name, kwargs):
    ma, mb = Model(tg, np.float32), Model(torch, np.float32)
    oa = getattr(optim, name)([{"params": ma.params[:2]}, {"params": ma.params[2:], "lr": 0.05}], **kwargs)
    ob = getattr(torch.optim, name)([{"params": mb.params[:2]}, {"params": mb.params[2:], "lr": 0.05}], **kwargs)
    for m, o in ((ma, oa), (mb, ob)):
        m.loss().backward()
        o.step()
    sa, sb = oa.state_dict(), ob.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys() == {0, 1, 2, 3}
    for k in sb["state"]:
        assert sa["state"][k].keys() == sb["state"][k].keys()


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_state_dict_round_trip_continues_the_run(name, kwargs):
    cls = getattr(optim, name)

    def run(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            model.loss().backward()
            opt.step()

    m1 = Model(tg, np.float32)
    o1 = cls(m1.params, **kwargs)
    run(m1, o1, 5)
    saved = copy.deepcopy(o1.state_dict())
    # a fresh model with the same weights and an optimizer built with other options
    m2 = Model(tg, np.float32)
    for p2, p1 in zip(m2.params, m1.params):
        p2.data = p1.detach().clone()
    o2 = cls(m2.params, lr=123.0)
    o2.load_state_dict(saved)
    assert o2.param_groups[0]["lr"] == kwargs["lr"] and o2.param_groups[0]["params"][0] is m2.params[0]
    run(m1, o1, 5)
    run(m2, o2, 5)
    for a, b in zip(m1.params, m2.params):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # the loaded state is a copy: the saved dict did not change while o2 trained
    key = next(iter(saved["state"][0]))
    assert saved["state"][0][key] is not o2.state[m2.params[0]][key]


def test_load_state_dict_casts_to_the_parameters_dtype():
    p32 = tg.ones(3, requires_grad=True)
    p64 = tg.ones(3, dtype=tg.float64, requires_grad=True)
    o64 = optim.Adam([p64])
    p64.grad = tg.ones(3, dtype=tg.float64)
    o64.step()
    o32 = optim.Adam([p32])
    o32.load_state_dict(o64.state_dict())
    assert o32.state[p32]["exp_avg"].dtype == tg.float32
    assert o32.state[p32]["step"].dtype == tg.float32 and o32.state[p32]["step"].item() == 1
    p32.grad = tg.ones(3)
    o32.step()
    assert o32.state[p32]["step"].item() == 2


@needs_torch
def test_load_a_torch_state_dict():
    # a checkpoint of torch.optim continues in tapegrad exactly as it would in torch
    ma, mb = Model(tg, np.float64), Model(torch, np.float64)
    ob = torch.optim.Adam(mb.params, lr=0.01, amsgrad=True)
    for _ in range(3):
        ob.zero_grad()
        mb.loss().backward()
        ob.step()
    for pa, pb in zip(ma.params, mb.params):
        pa.data = tg.tensor(pb.detach().numpy().copy())
    oa = optim.Adam(ma.params, lr=0.5)
    oa.load_state_dict(ob.state_dict())
    assert isinstance(oa.state[ma.params[0]]["exp_avg"], tg.Tensor)
    for m, o in ((ma, oa), (mb, ob)):
        for _ in range(3):
            o.zero_grad()
            m.loss().backward()
            o.step()
    for a, b in zip(ma.numpy_params(), mb.numpy_params()):
        np.testing.assert_allclose(a, b, **TRAIN_TOL[np.float64]["param"])


def test_load_state_dict_errors():
    a, b = tg.ones(1, requires_grad=True), tg.ones(1, requires_grad=True)
    sd = optim.SGD([a, b]).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD([a]).load_state_dict(sd)


# --- learning-rate schedulers --------------------------------------------------------------------

def two_group_optimizers(opt_name="SGD", **kwargs):
    """The same two-group optimizer (lrs 0.1 and 0.02) in both libraries, and a function
    reading the group values a scheduler changes."""
    ta, tb = tg.ones(2, requires_grad=True), tg.ones(3, requires_grad=True)
    oa = getattr(optim, opt_name)([{"params": [ta]}, {"params": [tb], "lr": 0.02}], lr=0.1, **kwargs)
    if torch is None:
        return oa, None
    xa, xb = torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)
    ob = getattr(torch.optim, opt_name)([{"params": [xa]}, {"params": [xb], "lr": 0.02}], lr=0.1, **kwargs)
    return oa, ob


def group_values(opt, keys=("lr",)):
    return [tuple(g[k] for k in keys) for g in opt.param_groups]


def run_schedules(make, steps=30, opt_name="SGD", keys=("lr",), **opt_kwargs):
    """lr (and other group values) after construction and after each of `steps` steps."""
    oa, ob = two_group_optimizers(opt_name, **opt_kwargs)
    sa, sb = make(lr_scheduler, oa), make(torch.optim.lr_scheduler, ob)
    got, want = [group_values(oa, keys)], [group_values(ob, keys)]
    last_a, last_b = [sa.get_last_lr()], [sb.get_last_lr()]
    for _ in range(steps):
        oa.step()
        ob.step()
        sa.step()
        sb.step()
        got.append(group_values(oa, keys))
        want.append(group_values(ob, keys))
        last_a.append(sa.get_last_lr())
        last_b.append(sb.get_last_lr())
    return np.array(got, dtype=float), np.array(want, dtype=float), last_a, last_b


def assert_same_schedule(make, **kw):
    got, want, last_a, last_b = run_schedules(make, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.array(last_a), np.array(last_b), rtol=1e-12, atol=0)
    assert len(np.unique(got[:, 0, 0])) > 1  # the schedule does change the lr


SCHEDULES = {
    "StepLR": lambda S, o: S.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda S, o: S.MultiStepLR(o, milestones=[3, 10, 10, 22], gamma=0.3),
    "ExponentialLR": lambda S, o: S.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda S, o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "CosineAnnealingLR-long": lambda S, o: S.CosineAnnealingLR(o, T_max=40),
    "LinearLR": lambda S, o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=12),
    "ConstantLR": lambda S, o: S.ConstantLR(o, factor=0.5, total_iters=4),
    "LambdaLR": lambda S, o: S.LambdaLR(o, lr_lambda=lambda e: 0.95 ** e),
    "LambdaLR-per-group": lambda S, o: S.LambdaLR(o, lr_lambda=[lambda e: 1 / (1 + e), lambda e: e // 4]),
    "SequentialLR": lambda S, o: S.SequentialLR(
        o, schedulers=[S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=25)],
        milestones=[5]),
    "SequentialLR-three": lambda S, o: S.SequentialLR(
        o, schedulers=[S.ConstantLR(o, factor=0.2, total_iters=3), S.ExponentialLR(o, gamma=0.8),
                       S.StepLR(o, step_size=4)], milestones=[6, 15]),
    "OneCycleLR": lambda S, o: S.OneCycleLR(o, max_lr=1.0, total_steps=30),
    "OneCycleLR-linear-3phase": lambda S, o: S.OneCycleLR(
        o, max_lr=[0.5, 2.0], epochs=3, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0),
    "OneCycleLR-no-momentum": lambda S, o: S.OneCycleLR(o, max_lr=0.3, total_steps=31, cycle_momentum=False),
    "MultiplicativeLR": lambda S, o: S.MultiplicativeLR(o, lr_lambda=lambda e: 0.9 if e % 3 else 1.05),
    "PolynomialLR": lambda S, o: S.PolynomialLR(o, total_iters=20, power=2.0),
    "PolynomialLR-linear": lambda S, o: S.PolynomialLR(o, total_iters=8),
    "CosineAnnealingWarmRestarts": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=7, eta_min=0.001),
    "CosineAnnealingWarmRestarts-mult": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "CyclicLR": lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, cycle_momentum=False),
    "CyclicLR-triangular2": lambda S, o: S.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3,
                                                    step_size_down=5, mode="triangular2", cycle_momentum=False),
    "CyclicLR-exp_range": lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range",
                                                  gamma=0.97, cycle_momentum=False),
    "CyclicLR-scale_fn": lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                 scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations",
                                                 cycle_momentum=False),
    "ChainedScheduler": lambda S, o: S.ChainedScheduler([S.ConstantLR(o, factor=0.1, total_iters=4),
                                                         S.ExponentialLR(o, gamma=0.9)]),
}


@needs_torch
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_scheduler_lrs_match_torch(name):
    kw = dict(momentum=0.9) if name.startswith("OneCycleLR") else {}
    assert_same_schedule(SCHEDULES[name], **kw)


@needs_torch
@pytest.mark.parametrize("opt_name,keys,kwargs", [
    ("SGD", ("lr", "momentum"), dict(momentum=0.9)),
    ("Adam", ("lr", "betas"), {}),
    ("AdamW", ("lr", "betas"), {}),
])
@pytest.mark.parametrize("strategy,three_phase", [("cos", False), ("linear", False), ("cos", True)])
def test_one_cycle_cycles_momentum_like_torch(opt_name, keys, kwargs, strategy, three_phase):
    def make(S, o):
        return S.OneCycleLR(o, max_lr=[0.1, 0.4], total_steps=30, anneal_strategy=strategy,
                            three_phase=three_phase, base_momentum=0.8, max_momentum=0.9)

    oa, ob = two_group_optimizers(opt_name, **kwargs)
    sa, sb = make(lr_scheduler, oa), make(torch.optim.lr_scheduler, ob)
    momenta = set()
    for step in range(30):
        got = [(g["lr"], g[keys[1]]) for g in oa.param_groups]
        want = [(g["lr"], g[keys[1]]) for g in ob.param_groups]
        momenta.add(str(got[0][1]))
        for (lr_a, m_a), (lr_b, m_b) in zip(got, want):
            assert lr_a == pytest.approx(lr_b, rel=1e-12)
            np.testing.assert_allclose(np.array(m_a, dtype=float), np.array(m_b, dtype=float), rtol=1e-12)
        if step < 29:
            oa.step()
            ob.step()
            sa.step()
            sb.step()
    assert len(momenta) > 5  # the momentum (or beta1) really cycled


@needs_torch
def test_one_cycle_cycled_momentum_trains_like_torch():
    # the scheduler's betas reach the fused Adam kernel each step
    ma, mb = Model(tg, np.float64), Model(torch, np.float64)
    oa, ob = optim.Adam(ma.params), torch.optim.Adam(mb.params)
    sa = lr_scheduler.OneCycleLR(oa, max_lr=0.05, total_steps=20)
    sb = torch.optim.lr_scheduler.OneCycleLR(ob, max_lr=0.05, total_steps=20)
    for m, o, s in ((ma, oa, sa), (mb, ob, sb)):
        for _ in range(20):
            o.zero_grad()
            m.loss().backward()
            o.step()
            s.step()
    for a, b in zip(ma.numpy_params(), mb.numpy_params()):
        np.testing.assert_allclose(a, b, **TRAIN_TOL[np.float64]["param"])


@needs_torch
def test_one_cycle_errors_like_torch():
    oa, ob = two_group_optimizers(momentum=0.9)
    S, T = lr_scheduler, torch.optim.lr_scheduler
    for kwargs in (dict(max_lr=1.0), dict(max_lr=1.0, total_steps=0), dict(max_lr=1.0, epochs=2),
                   dict(max_lr=1.0, total_steps=10, pct_start=1),
                   dict(max_lr=1.0, total_steps=10, anneal_strategy="exp"),
                   dict(max_lr=[1.0], total_steps=10)):
        expect_same_error(ValueError, lambda: S.OneCycleLR(oa, **kwargs), lambda: T.OneCycleLR(ob, **kwargs))
    sa = S.OneCycleLR(oa, max_lr=1.0, total_steps=2)
    oa.step()
    sa.step()
    sa.step()
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total steps is 2"):
        sa.step()


REDUCE_CASES = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(patience=1, threshold=0.1, threshold_mode="abs", cooldown=2),
    dict(mode="max", patience=0, threshold_mode="abs", threshold=0.05, min_lr=[0.01, 0.004]),
    dict(patience=1, factor=0.5, min_lr=0.015, eps=1e-3),
]


@needs_torch
@pytest.mark.parametrize("kwargs", REDUCE_CASES)
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(5)
    # a metric that improves, stalls and fluctuates
    metrics = np.concatenate([np.linspace(1.0, 0.5, 8), 0.5 + 0.05 * rng.standard_normal(40)])
    oa, ob = two_group_optimizers()
    sa = lr_scheduler.ReduceLROnPlateau(oa, **kwargs)
    sb = torch.optim.lr_scheduler.ReduceLROnPlateau(ob, **kwargs)
    got, want = [], []
    for m in metrics:
        oa.step()
        ob.step()
        sa.step(m)
        sb.step(torch.tensor(m))  # a tensor metric, as training loops pass
        got.append(sa.get_last_lr())
        want.append(sb.get_last_lr())
        assert sa.num_bad_epochs == sb.num_bad_epochs and sa.best == sb.best
        assert sa.cooldown_counter == sb.cooldown_counter and sa.last_epoch == sb.last_epoch
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert len(np.unique(np.array(got)[:, 0])) > 1


@needs_torch
def test_reduce_lr_on_plateau_takes_a_tensor_metric_and_validates():
    oa, ob = two_group_optimizers()
    s = lr_scheduler.ReduceLROnPlateau(oa, patience=0)
    s.step(tg.tensor(1.0))
    s.step(tg.tensor(2.0))
    assert s.get_last_lr() == pytest.approx([0.01, 0.002])
    for kwargs in (dict(factor=1.0), dict(mode="up"), dict(threshold_mode="pct"), dict(min_lr=[0.1])):
        expect_same_error(ValueError, lambda: lr_scheduler.ReduceLROnPlateau(oa, **kwargs),
                          lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(ob, **kwargs))


@needs_torch
@pytest.mark.parametrize("opt_name,keys,kwargs", [
    ("SGD", ("lr", "momentum"), dict(momentum=0.9)),
    ("Adam", ("lr", "betas"), {}),
])
def test_cyclic_lr_cycles_momentum_like_torch(opt_name, keys, kwargs):
    def make(S, o):
        return S.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=3, step_size_down=4,
                          base_momentum=0.7, max_momentum=0.95)

    oa, ob = two_group_optimizers(opt_name, **kwargs)
    sa, sb = make(lr_scheduler, oa), make(torch.optim.lr_scheduler, ob)

    def values(o):  # lr and momentum (beta1 for Adam) of each group
        return [(g["lr"], g[keys[1]][0] if keys[1] == "betas" else g[keys[1]]) for g in o.param_groups]

    seen = []
    for _ in range(20):
        np.testing.assert_allclose(values(oa), values(ob), rtol=1e-12, atol=0)
        seen.append(values(oa)[0][1])
        oa.step()
        ob.step()
        sa.step()
        sb.step()
    assert len(set(seen)) > 3  # the momentum (or beta1) cycled
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.CyclicLR(optim.Adagrad([tg.ones(1, requires_grad=True)]), 0.01, 0.1)


@needs_torch
def test_cosine_warm_restarts_takes_fractional_epochs_like_torch():
    oa, ob = two_group_optimizers()
    sa = lr_scheduler.CosineAnnealingWarmRestarts(oa, T_0=3, T_mult=2, eta_min=0.01)
    sb = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(ob, T_0=3, T_mult=2, eta_min=0.01)
    for epoch in (0.5, 1.25, 2.9, 3.0, 7.5, 20.2, 4.0):
        oa.step()
        ob.step()
        sa.step(epoch)
        sb.step(epoch)
        np.testing.assert_allclose(sa.get_last_lr(), sb.get_last_lr(), rtol=1e-12, atol=0)
        assert sa.last_epoch == sb.last_epoch
    with pytest.raises(ValueError, match="Expected non-negative epoch"):
        sa.step(-1)
    for kwargs in (dict(T_0=0), dict(T_0=2.5), dict(T_0=3, T_mult=0), dict(T_0=3, eta_min="x")):
        expect_same_error(ValueError, lambda: lr_scheduler.CosineAnnealingWarmRestarts(oa, **kwargs),
                          lambda: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(ob, **kwargs))


@needs_torch
@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                  "LinearLR", "ConstantLR", "PolynomialLR"])
def test_step_with_epoch_uses_the_closed_form_like_torch(name):
    oa, ob = two_group_optimizers()
    sa, sb = SCHEDULES[name](lr_scheduler, oa), SCHEDULES[name](torch.optim.lr_scheduler, ob)
    for epoch in (3, 11, 7, 25):
        oa.step()
        ob.step()
        with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)` was not necessary"):
            sa.step(epoch)
        with pytest.warns(UserWarning):
            sb.step(epoch)
        np.testing.assert_allclose(sa.get_last_lr(), sb.get_last_lr(), rtol=1e-12, atol=0)


def test_scheduler_sets_initial_lr_and_base_lrs():
    oa, _ = two_group_optimizers()
    s = lr_scheduler.StepLR(oa, step_size=2)
    assert s.base_lrs == [0.1, 0.02] and s.last_epoch == 0
    assert [g["initial_lr"] for g in oa.param_groups] == [0.1, 0.02]
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD([tg.ones(1, requires_grad=True)]), step_size=2, last_epoch=3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)


@needs_torch
def test_scheduler_call_order_warning_like_torch():
    oa, ob = two_group_optimizers()
    sa, sb = lr_scheduler.StepLR(oa, 3), torch.optim.lr_scheduler.StepLR(ob, 3)
    with pytest.warns(UserWarning, match=re.escape("Detected call of `lr_scheduler.step()` before `optimizer.step()`")):
        sa.step()
    with pytest.warns(UserWarning, match=re.escape("Detected call of `lr_scheduler.step()` before `optimizer.step()`")):
        sb.step()


@needs_torch
def test_get_lr_outside_step_warns_like_torch():
    oa, ob = two_group_optimizers()
    sa, sb = lr_scheduler.ExponentialLR(oa, 0.5), torch.optim.lr_scheduler.ExponentialLR(ob, 0.5)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sa.get_lr()
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sb.get_lr()


@needs_torch
def test_sequential_lr_errors_like_torch():
    oa, ob = two_group_optimizers()
    S, T = lr_scheduler, torch.optim.lr_scheduler
    expect_same_error(ValueError, lambda: S.SequentialLR(oa, [S.StepLR(oa, 2)], milestones=[3]),
                      lambda: T.SequentialLR(ob, [T.StepLR(ob, 2)], milestones=[3]))
    expect_same_error(ValueError, lambda: S.SequentialLR(oa, [], milestones=[]),
                      lambda: T.SequentialLR(ob, [], milestones=[]))
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        S.SequentialLR(oa, [S.StepLR(oa, 2), S.ReduceLROnPlateau(oa)], milestones=[3])
    other, _ = two_group_optimizers()
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        S.SequentialLR(oa, [S.StepLR(oa, 2), S.StepLR(other, 2)], milestones=[3])


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "LambdaLR", "SequentialLR",
                                  "OneCycleLR-linear-3phase", "MultiplicativeLR", "CosineAnnealingWarmRestarts-mult",
                                  "CyclicLR-triangular2", "ChainedScheduler", "PolynomialLR"])
def test_scheduler_state_dict_round_trip(name):
    make = SCHEDULES[name]
    kw = dict(momentum=0.9) if name.startswith("OneCycle") else {}
    o1, _ = two_group_optimizers(**kw)
    s1 = make(lr_scheduler, o1)
    for _ in range(8):
        o1.step()
        s1.step()
    saved_sched = copy.deepcopy(s1.state_dict())
    saved_opt = copy.deepcopy(o1.state_dict())
    assert "optimizer" not in saved_sched
    o2, _ = two_group_optimizers(**kw)
    s2 = make(lr_scheduler, o2)
    s2.load_state_dict(saved_sched)
    o2.load_state_dict(saved_opt)
    for _ in range(12):
        for o, s in ((o1, s1), (o2, s2)):
            o.step()
            s.step()
        assert s2.get_last_lr() == s1.get_last_lr()
        assert group_values(o2) == group_values(o1)


def test_reduce_lr_on_plateau_state_dict_round_trip():
    o1, _ = two_group_optimizers()
    s1 = lr_scheduler.ReduceLROnPlateau(o1, mode="max", patience=1)
    for m in (1.0, 2.0, 1.5, 1.4):
        s1.step(m)
    o2, _ = two_group_optimizers()
    s2 = lr_scheduler.ReduceLROnPlateau(o2)
    s2.load_state_dict(copy.deepcopy(s1.state_dict()))
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    assert s2.mode == "max" and s2.best == 2.0 and s2.mode_worse == -math.inf
    for m in (1.3, 1.2, 2.5, 1.0, 0.9):
        s1.step(m)
        s2.step(m)
        assert s2.get_last_lr() == s1.get_last_lr()


def test_lambda_lr_state_dict_saves_callable_objects_only():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)

    oa, _ = two_group_optimizers()
    s = lr_scheduler.LambdaLR(oa, [Warmup(5), lambda e: 1.0])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"n": 5}, None]
    sd["lr_lambdas"][0]["n"] = 10
    s.load_state_dict(sd)
    assert s.lr_lambdas[0].n == 10


def _lbfgs_run(T, line_search_fn, dtype, steps=5):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5))
    y = (x @ rng.standard_normal((5, 1)) > 0).astype(np.float64)
    w = T.tensor(np.zeros((5, 1)), dtype=dtype, requires_grad=True)
    b = T.tensor(np.zeros(1), dtype=dtype, requires_grad=True)
    xt, yt = T.tensor(x, dtype=dtype), T.tensor(y, dtype=dtype)
    opt = T.optim.LBFGS([w, b], lr=0.5 if line_search_fn is None else 1, max_iter=10, history_size=4,
                        line_search_fn=line_search_fn)

    def closure():
        opt.zero_grad()
        loss = T.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + 0.01 * (w * w).sum()
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    return np.array(losses), w.detach().numpy().ravel(), opt.state[w]["func_evals"], opt.state[w]["n_iter"]


@needs_torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lbfgs_follows_torchs_iterates(line_search_fn, dtype):
    losses, w, evals, iters = _lbfgs_run(tg, line_search_fn, getattr(tg, dtype))
    t_losses, t_w, t_evals, t_iters = _lbfgs_run(torch, line_search_fn, getattr(torch, dtype))
    assert (evals, iters) == (t_evals, t_iters)  # the same line-search decisions
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(losses, t_losses, rtol=tol, atol=tol)
    np.testing.assert_allclose(w, t_w, rtol=tol, atol=tol)
    assert losses[-1] < 0.5 * losses[0]


def test_lbfgs_minimises_rosenbrock():
    xy = tg.tensor([-1.5, 2.0], dtype=tg.float64, requires_grad=True)
    opt = optim.LBFGS([xy], line_search_fn="strong_wolfe", max_iter=100, tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        x, y = xy[0], xy[1]
        loss = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose(xy.detach().numpy(), [1.0, 1.0], atol=1e-6)


def test_lbfgs_argument_errors():
    a, b = tg.ones(2, requires_grad=True), tg.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        optim.LBFGS([a], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.LBFGS([a], lr=-1)


def _swa_run(T, make_avg):
    T.manual_seed(0)
    model = T.nn.Sequential(T.nn.Linear(4, 8), T.nn.BatchNorm1d(8), T.nn.ReLU(), T.nn.Linear(8, 2)).double()
    averaged = make_avg(T, model)
    opt = T.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = T.optim.swa_utils.SWALR(opt, swa_lr=0.02, anneal_epochs=3, anneal_strategy="linear")
    rng = np.random.default_rng(1)
    lrs = []
    for _ in range(8):
        x = T.tensor(rng.standard_normal((16, 4)))
        y = T.tensor(rng.integers(0, 2, 16))
        opt.zero_grad()
        T.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        averaged.update_parameters(model)
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    batches = [T.tensor(rng.standard_normal((16, 4))) for _ in range(3)]
    T.optim.swa_utils.update_bn(batches, averaged)
    state = {k: v.detach().numpy().copy() for k, v in averaged.state_dict().items()}
    out = averaged(batches[0]).detach().numpy()
    return state, out, lrs


@needs_torch
@pytest.mark.parametrize("kind", ["swa", "ema", "ema_buffers", "avg_fn"])
def test_averaged_model_swalr_and_update_bn_match_torch(kind):
    def make(T, model):
        S = T.optim.swa_utils
        if kind == "swa":
            return S.AveragedModel(model)
        if kind == "ema":
            return S.AveragedModel(model, multi_avg_fn=S.get_ema_multi_avg_fn(0.9))
        if kind == "ema_buffers":
            return S.AveragedModel(model, multi_avg_fn=S.get_ema_multi_avg_fn(0.7), use_buffers=True)
        return S.AveragedModel(model, avg_fn=S.get_ema_avg_fn(0.8))

    ours, out, lrs = _swa_run(tg, make)
    theirs, t_out, t_lrs = _swa_run(torch, make)
    assert ours.keys() == theirs.keys()
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(out, t_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lrs, t_lrs, rtol=1e-12)
    assert int(ours["n_averaged"]) == 8


def test_swa_utils_argument_errors():
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid decay value 1.5"):
        optim.swa_utils.get_ema_multi_avg_fn(1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        optim.swa_utils.SWALR(optim.SGD([w], lr=0.1), swa_lr=0.01, anneal_strategy="exp")
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        optim.swa_utils.AveragedModel(tg.nn.Linear(2, 2), avg_fn=optim.swa_utils.get_swa_avg_fn(),
                                      multi_avg_fn=optim.swa_utils.get_swa_multi_avg_fn())


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax",
                                  "Adadelta", "ASGD", "Rprop"])
def test_every_optimizer_accepts_the_implementation_switches(name):
    p = tg.ones(2, requires_grad=True)
    cls = getattr(optim, name)
    for kwargs in (dict(foreach=True), dict(fused=True), dict(foreach=False, fused=False)):
        opt = cls([p], lr=0.1, **kwargs)
        p.grad = tg.ones(2)
        opt.step()  # the same fused step whatever the switches say
    if name not in ("SGD", "Adagrad"):  # PyTorch's SGD and Adagrad have no capturable switch
        cls([p], lr=0.1, capturable=True).step()
    with pytest.raises(NotImplementedError, match=f"{name}: differentiable=True is not supported"):
        cls([p], lr=0.1, differentiable=True)
