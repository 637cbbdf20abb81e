# Kernel-level tests of the fused optimizer steps in _C.cpu (sgd_step, adam_step, rmsprop_step,
# adagrad_step) against float64 numpy implementations of torch.optim's update rules: every
# option combination, several steps, groups mixing shapes (0-d, empty, large enough to be split
# across threads) and dtypes, thread-count independence, and the argument errors.
import itertools
import re

import numpy as np
import pytest

from tapegrad._C import cpu as K

# float64 kernels follow the reference's operations one for one; the AVX2 build may fuse a
# multiply-add, so allow a few ulps. float32 kernels round every operation to float32 (and their
# coefficients, e.g. lr, to float32): a handful of float32 ulps of the values involved.
TOL = {np.float64: dict(rtol=1e-13, atol=1e-15), np.float32: dict(rtol=2e-6, atol=1e-7)}

# A group: shapes of its tensors, including a 0-d and an empty one.
SHAPES = [(7,), (3, 4), (), (0,), (2, 1, 5)]
LARGE = (70_000,)  # more than one thread's grain: the flat range is split inside this tensor


# --- float64 references (torch.optim's single-tensor formulas) --------------------------------

def lerp(a, b, w):
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)


def sgd_ref(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first_step):
    d = -g if maximize else g
    if weight_decay != 0:
        d = d + weight_decay * p
    if momentum != 0:
        buf = d.copy() if first_step else momentum * buf + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    return p - lr * d, buf


def adam_ref(p, g, m, v, vmax, step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
             maximize):
    d = -g if maximize else g
    if weight_decay != 0:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            d = d + weight_decay * p
    m = lerp(m, d, 1 - beta1)
    v = beta2 * v + (1 - beta2) * d * d
    if amsgrad:
        vmax = np.maximum(vmax, v)
    bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
    denom = np.sqrt(vmax if amsgrad else v) / bc2 ** 0.5 + eps
    return p - lr / bc1 * m / denom, m, v, vmax


def rmsprop_ref(p, g, s, buf, ga, lr, alpha, eps, weight_decay, momentum, centered, maximize):
    d = -g if maximize else g
    if weight_decay != 0:
        d = d + weight_decay * p
    s = alpha * s + (1 - alpha) * d * d
    if centered:
        ga = lerp(ga, d, 1 - alpha)
        avg = np.sqrt(s - ga * ga) + eps
    else:
        avg = np.sqrt(s) + eps
    if momentum > 0:
        buf = momentum * buf + d / avg
        return p - lr * buf, s, buf, ga
    return p - lr * d / avg, s, buf, ga


def adagrad_ref(p, g, s, step, lr, lr_decay, weight_decay, eps, maximize):
    d = -g if maximize else g
    if weight_decay != 0:
        d = d + weight_decay * p
    s = s + d * d
    clr = lr / (1 + (step - 1) * lr_decay)
    return p - clr * d / (np.sqrt(s) + eps), s


# --- helpers -----------------------------------------------------------------------------------

def arrays(rng, shapes, dtype, lo=None, hi=None):
    if lo is None:
        return [rng.standard_normal(s).astype(dtype) for s in shapes]
    return [rng.uniform(lo, hi, s).astype(dtype) for s in shapes]


def wide(xs):
    return [x.astype(np.float64) for x in xs]


def assert_close(got, want, dtype, what):
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, err_msg=f"{what}[{i}]", **TOL[dtype])


DTYPES = [np.float32, np.float64]


# --- SGD -----------------------------------------------------------------------------------------

SGD_CASES = [
    dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False),
    dict(momentum=0.0, dampening=0.0, weight_decay=0.1, nesterov=False, maximize=True),
    dict(momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False),
    dict(momentum=0.9, dampening=0.0, weight_decay=0.01, nesterov=True, maximize=False),
    dict(momentum=0.5, dampening=0.3, weight_decay=0.05, nesterov=False, maximize=True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", SGD_CASES)
def test_sgd_steps_match_reference(kernels, rng, dtype, opts):
    lr = 0.05
    p = arrays(rng, SHAPES, dtype)
    ref_p = wide(p)
    use_mom = opts["momentum"] != 0
    bufs = [np.zeros(s, dtype) for s in SHAPES] if use_mom else []
    ref_b = [None] * len(SHAPES)
    for step in range(3):
        g = arrays(rng, SHAPES, dtype)
        K.sgd_step(p, g, bufs, lr, opts["momentum"], opts["dampening"], opts["weight_decay"],
                   opts["nesterov"], opts["maximize"], step == 0)
        for i in range(len(SHAPES)):
            ref_p[i], ref_b[i] = sgd_ref(ref_p[i], g[i].astype(np.float64), ref_b[i], lr,
                                         first_step=step == 0, **opts)
        assert_close(p, ref_p, dtype, "params")
        if use_mom:
            assert_close(bufs, ref_b, dtype, "momentum_buffers")


def test_sgd_first_step_ignores_dampening_and_old_buffer(kernels, rng):
    # torch initialises the buffer to the gradient itself on the first step
    p = np.ones(4)
    buf = np.full(4, 123.0)
    g = np.array([1.0, -2.0, 0.5, 0.0])
    K.sgd_step([p], [g], [buf], 0.1, 0.9, 0.5, 0.0, False, False, True)
    np.testing.assert_array_equal(buf, g)
    np.testing.assert_allclose(p, 1 - 0.1 * g, rtol=1e-15)
    K.sgd_step([p], [g], [buf], 0.1, 0.9, 0.5, 0.0, False, False, False)
    np.testing.assert_allclose(buf, 0.9 * g + 0.5 * g, rtol=1e-15)


# --- Adam / AdamW ------------------------------------------------------------------------------

ADAM_CASES = [
    dict(weight_decay=0.0, decoupled=False, amsgrad=False, maximize=False, betas=(0.9, 0.999)),
    dict(weight_decay=0.1, decoupled=False, amsgrad=False, maximize=False, betas=(0.9, 0.999)),
    dict(weight_decay=0.1, decoupled=True, amsgrad=False, maximize=True, betas=(0.9, 0.999)),
    dict(weight_decay=0.0, decoupled=False, amsgrad=True, maximize=False, betas=(0.8, 0.99)),
    dict(weight_decay=0.01, decoupled=True, amsgrad=True, maximize=False, betas=(0.9, 0.999)),
    # beta1 < 0.5: torch's lerp switches to its other form (weight 1 - beta1 >= 0.5)
    dict(weight_decay=0.0, decoupled=False, amsgrad=False, maximize=False, betas=(0.3, 0.9)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", ADAM_CASES)
def test_adam_steps_match_reference(kernels, rng, dtype, opts):
    lr, eps = 0.01, 1e-8
    beta1, beta2 = opts["betas"]
    n = len(SHAPES)
    p = arrays(rng, SHAPES, dtype)
    m = [np.zeros(s, dtype) for s in SHAPES]
    v = [np.zeros(s, dtype) for s in SHAPES]
    vmax = [np.zeros(s, dtype) for s in SHAPES] if opts["amsgrad"] else []
    ref = [wide(p), wide(m), wide(v), wide(vmax) if vmax else [None] * n]
    for step in range(1, 5):
        # shrinking gradients make v fall, so that amsgrad's maximum matters
        g = [np.asarray(x / step ** 2, dtype) for x in arrays(rng, SHAPES, dtype)]
        K.adam_step(p, g, m, v, vmax, step, lr, beta1, beta2, eps, opts["weight_decay"],
                    opts["decoupled"], opts["amsgrad"], opts["maximize"])
        for i in range(n):
            out = adam_ref(ref[0][i], g[i].astype(np.float64), ref[1][i], ref[2][i], ref[3][i],
                           step, lr, beta1, beta2, eps, opts["weight_decay"], opts["decoupled"],
                           opts["amsgrad"], opts["maximize"])
            for k in range(4):
                ref[k][i] = out[k]
        assert_close(p, ref[0], dtype, "params")
        assert_close(m, ref[1], dtype, "exp_avgs")
        assert_close(v, ref[2], dtype, "exp_avg_sqs")
        if opts["amsgrad"]:
            assert_close(vmax, ref[3], dtype, "max_exp_avg_sqs")
            if step > 1:  # the gradients shrink, so v falls below its running maximum
                assert any(np.any(a > b) for a, b in zip(vmax, v))


def test_adam_amsgrad_max_propagates_nan(kernels):
    p, g = np.zeros(2), np.array([1.0, 1.0])
    m, v, vmax = np.zeros(2), np.zeros(2), np.array([np.nan, 0.0])
    K.adam_step([p], [g], [m], [v], [vmax], 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False, True, False)
    assert np.isnan(vmax[0]) and np.isnan(p[0])
    assert np.isfinite(p[1])


# --- RMSprop -----------------------------------------------------------------------------------

RMSPROP_CASES = [
    dict(weight_decay=0.0, momentum=0.0, centered=False, maximize=False, alpha=0.99),
    dict(weight_decay=0.1, momentum=0.0, centered=False, maximize=True, alpha=0.9),
    dict(weight_decay=0.0, momentum=0.9, centered=False, maximize=False, alpha=0.99),
    dict(weight_decay=0.0, momentum=0.0, centered=True, maximize=False, alpha=0.99),
    dict(weight_decay=0.01, momentum=0.5, centered=True, maximize=True, alpha=0.95),
    # alpha < 0.5: the centered running mean takes lerp's other form
    dict(weight_decay=0.0, momentum=0.0, centered=True, maximize=False, alpha=0.3),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", RMSPROP_CASES)
def test_rmsprop_steps_match_reference(kernels, rng, dtype, opts):
    lr, eps = 0.01, 1e-8
    n = len(SHAPES)
    p = arrays(rng, SHAPES, dtype)
    # a running average well above the squared mean keeps centered's sqrt(s - ga^2) well
    # conditioned, so float32 can be held to a few ulps
    s = arrays(rng, SHAPES, dtype, 0.5, 2.0)
    buf = arrays(rng, SHAPES, dtype) if opts["momentum"] > 0 else []
    ga = arrays(rng, SHAPES, dtype, -0.3, 0.3) if opts["centered"] else []
    ref = [wide(p), wide(s), wide(buf) if buf else [None] * n, wide(ga) if ga else [None] * n]
    for _ in range(3):
        g = arrays(rng, SHAPES, dtype, -0.5, 0.5)
        K.rmsprop_step(p, g, s, buf, ga, lr, opts["alpha"], eps, opts["weight_decay"],
                       opts["momentum"], opts["centered"], opts["maximize"])
        for i in range(n):
            out = rmsprop_ref(ref[0][i], g[i].astype(np.float64), ref[1][i], ref[2][i], ref[3][i],
                              lr, opts["alpha"], eps, opts["weight_decay"], opts["momentum"],
                              opts["centered"], opts["maximize"])
            for k in range(4):
                ref[k][i] = out[k]
        assert_close(p, ref[0], dtype, "params")
        assert_close(s, ref[1], dtype, "square_avgs")
        if buf:
            assert_close(buf, ref[2], dtype, "momentum_buffers")
        if ga:
            assert_close(ga, ref[3], dtype, "grad_avgs")


# --- Adagrad -----------------------------------------------------------------------------------

ADAGRAD_CASES = [
    dict(lr_decay=0.0, weight_decay=0.0, maximize=False, init=0.0),
    dict(lr_decay=0.1, weight_decay=0.0, maximize=False, init=0.1),
    dict(lr_decay=0.0, weight_decay=0.2, maximize=True, init=0.0),
    dict(lr_decay=0.05, weight_decay=0.01, maximize=True, init=1.0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", ADAGRAD_CASES)
def test_adagrad_steps_match_reference(kernels, rng, dtype, opts):
    lr, eps = 0.1, 1e-10
    n = len(SHAPES)
    p = arrays(rng, SHAPES, dtype)
    sums = [np.full(s, opts["init"], dtype) for s in SHAPES]
    ref = [wide(p), wide(sums)]
    for step in range(1, 4):
        g = arrays(rng, SHAPES, dtype)
        K.adagrad_step(p, g, sums, step, lr, opts["lr_decay"], opts["weight_decay"], eps,
                       opts["maximize"])
        for i in range(n):
            ref[0][i], ref[1][i] = adagrad_ref(ref[0][i], g[i].astype(np.float64), ref[1][i],
                                               step, lr, opts["lr_decay"], opts["weight_decay"],
                                               eps, opts["maximize"])
        assert_close(p, ref[0], dtype, "params")
        assert_close(sums, ref[1], dtype, "state_sums")


# --- groups: mixed dtypes, large tensors, threads ------------------------------------------------

def _run_all(arrs, threads):
    """One call of each kernel over `arrs` (a dict of per-operand lists), with `threads`."""
    saved = K.get_num_threads()
    K.set_num_threads(threads)
    try:
        K.sgd_step(arrs["p1"], arrs["g"], arrs["b"], 0.1, 0.9, 0.0, 0.01, True, False, False)
        K.adam_step(arrs["p2"], arrs["g"], arrs["m"], arrs["v"], arrs["vmax"], 3, 0.01, 0.9,
                    0.999, 1e-8, 0.01, True, True, False)
        K.rmsprop_step(arrs["p3"], arrs["g"], arrs["s"], arrs["b2"], arrs["ga"], 0.01, 0.9, 1e-8,
                       0.0, 0.9, True, False)
        K.adagrad_step(arrs["p4"], arrs["g"], arrs["sum"], 2, 0.1, 0.01, 0.0, 1e-10, False)
    finally:
        K.set_num_threads(saved)


def _group(rng):
    # float32 and float64 tensors in one group, small ones around a large one, so that the
    # threads' chunks start and end inside tensors and span several tensors
    specs = [((5,), np.float32), (LARGE, np.float64), ((), np.float32), ((0,), np.float64),
             ((3, 300), np.float32), (LARGE, np.float32), ((17,), np.float64)]
    arrs = {}
    for key in ("p1", "p2", "p3", "p4", "g", "b", "m", "vmax", "b2", "ga"):
        arrs[key] = [rng.standard_normal(s).astype(d) for s, d in specs]
    for key in ("v", "s", "sum"):
        arrs[key] = [rng.uniform(0.5, 1.5, s).astype(d) for s, d in specs]
    arrs["ga"] = [np.asarray(x * 0.1, x.dtype) for x in arrs["ga"]]
    return arrs


def test_group_results_do_not_depend_on_threads(rng):
    arrs = _group(rng)
    one = {k: [x.copy() for x in v] for k, v in arrs.items()}
    _run_all(one, 1)
    _run_all(arrs, 4)
    for key in arrs:
        for a, b in zip(arrs[key], one[key]):
            np.testing.assert_array_equal(a, b, err_msg=key)
    # and the large, split tensors got the same update as a reference computes
    i = 1  # the large float64 tensor
    fresh = _group(np.random.default_rng(1234))
    want, _ = sgd_ref(fresh["p1"][i], fresh["g"][i], fresh["b"][i], 0.1, 0.9, 0.0, 0.01, True,
                      False, False)
    np.testing.assert_allclose(one["p1"][i], want, **TOL[np.float64])


def test_empty_group_is_a_no_op(kernels):
    K.sgd_step([], [], [], 0.1, 0.0, 0.0, 0.0, False, False, False)
    K.adam_step([], [], [], [], [], 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    K.rmsprop_step([], [], [], [], [], 0.1, 0.99, 1e-8, 0.0, 0.0, False, False)
    K.adagrad_step([], [], [], 1, 0.1, 0.0, 0.0, 1e-10, False)


def test_tuples_are_accepted_as_lists(kernels):
    p, g = np.ones(3), np.ones(3)
    K.sgd_step((p,), (g,), (), 0.5, 0.0, 0.0, 0.0, False, False, False)
    np.testing.assert_array_equal(p, 0.5)


# --- errors ------------------------------------------------------------------------------------

def sgd(params, grads, bufs=(), momentum=0.0):
    K.sgd_step(list(params), list(grads), list(bufs), 0.1, momentum, 0.0, 0.0, False, False, False)


def raises(msg):
    return pytest.raises(ValueError, match=re.escape(msg))


def test_error_list_lengths():
    p = [np.zeros(3), np.zeros(2)]
    with raises("sgd_step: got 2 params but 1 grads (one per param expected)"):
        sgd(p, [np.zeros(3)])
    with raises("sgd_step: got 2 params but 1 momentum_buffers"):
        sgd(p, [np.zeros(3), np.zeros(2)], [np.zeros(3)], momentum=0.9)
    with raises("sgd_step: momentum_buffers must be empty when momentum is 0, got 2 arrays"):
        sgd(p, [np.zeros(3), np.zeros(2)], [np.zeros(3), np.zeros(2)])
    with raises("adam_step: max_exp_avg_sqs must be empty when amsgrad is False, got 1 arrays"):
        K.adam_step([np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [np.zeros(1)], 1,
                    0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    with raises("adam_step: got 1 params but 0 max_exp_avg_sqs"):
        K.adam_step([np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [], 1,
                    0.1, 0.9, 0.999, 1e-8, 0.0, False, True, False)
    with raises("rmsprop_step: grad_avgs must be empty when centered is False"):
        K.rmsprop_step([np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [], [np.zeros(1)], 0.1, 0.99,
                       1e-8, 0.0, 0.0, False, False)
    with raises("rmsprop_step: got 1 params but 0 momentum_buffers"):
        K.rmsprop_step([np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [], [], 0.1, 0.99, 1e-8, 0.0,
                       0.9, False, False)


def test_error_shapes_and_dtypes():
    with raises("sgd_step: grads[1] has shape (3,) but params[1] has shape (2, 2)"):
        sgd([np.zeros(3), np.zeros((2, 2))], [np.zeros(3), np.zeros(3)])
    with raises("sgd_step: grads[0] is float32 but params[0] is float64"):
        sgd([np.zeros(3)], [np.zeros(3, np.float32)])
    with raises("adagrad_step: state_sums[0] is float64 but params[0] is float32"):
        K.adagrad_step([np.zeros(2, np.float32)], [np.zeros(2, np.float32)], [np.zeros(2)], 1,
                       0.1, 0.0, 0.0, 1e-10, False)
    with raises("sgd_step: params[0] must be float32 or float64, got int64"):
        sgd([np.zeros(3, np.int64)], [np.zeros(3, np.int64)])
    with pytest.raises(ValueError, match="sgd_step: unsupported array dtype 'int32'"):
        sgd([np.zeros(3, np.int32)], [np.zeros(3, np.int32)])


def test_error_layouts():
    with raises("sgd_step: params[0] must be C-contiguous"):
        sgd([np.zeros((3, 4)).T], [np.zeros((4, 3))])
    with raises("sgd_step: grads[0] must be C-contiguous"):
        sgd([np.zeros(3)], [np.zeros(6)[::2]])
    with raises("sgd_step: grads[0] must be C-contiguous"):
        sgd([np.zeros(3)], [np.broadcast_to(np.zeros(1), (3,))])
    ro = np.zeros(3)
    ro.flags.writeable = False
    with raises("sgd_step: params[0] is read-only"):
        sgd([ro], [np.zeros(3)])
    with raises("sgd_step: momentum_buffers[0] is read-only"):
        sgd([np.zeros(3)], [np.zeros(3)], [ro], momentum=0.9)
    sgd([np.zeros(3)], [ro])  # a read-only gradient is fine
    raw = np.zeros(4 * 8 + 1, np.uint8)[1:].view(np.float64)
    with raises("sgd_step: params[0] is not aligned to its item size"):
        sgd([raw], [np.zeros(4)])
    # a size-1 dimension may carry any stride
    sgd([np.zeros((2, 3))[::2]], [np.zeros((1, 3))])


def test_error_non_arrays():
    with raises("sgd_step: params[0] must be a numpy array, got list"):
        sgd([[1.0, 2.0]], [np.zeros(2)])
    with raises("sgd_step: grads[0] must be a numpy array, got NoneType"):
        sgd([np.zeros(2)], [None])
    with pytest.raises(TypeError, match="sgd_step: params must be a list of arrays, got ndarray"):
        K.sgd_step(np.zeros(2), [np.zeros(2)], [], 0.1, 0.0, 0.0, 0.0, False, False, False)


def test_error_step_count():
    with raises("adam_step: step must be >= 1 (the count after this update), got 0"):
        K.adam_step([np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [], 0, 0.1, 0.9,
                    0.999, 1e-8, 0.0, False, False, False)
    with raises("adagrad_step: step must be >= 1"):
        K.adagrad_step([np.zeros(1)], [np.zeros(1)], [np.zeros(1)], 0, 0.1, 0.0, 0.0, 1e-10, False)


def test_failed_validation_changes_nothing():
    # every operand is checked before any element is updated
    p = [np.ones(3), np.ones(2)]
    with pytest.raises(ValueError):
        sgd(p, [np.ones(3), np.ones(3)])
    for x in p:
        np.testing.assert_array_equal(x, 1.0)


@pytest.mark.parametrize("combo", list(itertools.product([False, True], repeat=2)))
def test_sgd_nesterov_and_weight_decay_combinations_differ(rng, combo):
    # each switch changes the result (guards against a flag being dropped on the way in)
    nesterov, wd = combo
    p0, g, b = rng.standard_normal(8), rng.standard_normal(8), rng.standard_normal(8)
    results = {}
    for n, w in itertools.product([False, True], repeat=2):
        p, buf = p0.copy(), b.copy()
        K.sgd_step([p], [g], [buf], 0.1, 0.9, 0.0, 0.1 if w else 0.0, n, False, False)
        results[(n, w)] = p
    others = [v for k, v in results.items() if k != combo]
    assert all(not np.allclose(results[combo], o) for o in others)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_may_be_the_parameter_itself(rng, dtype):
    # p.grad = p.detach() is legal: each element's gradient is read before it is overwritten
    p = rng.standard_normal(1003).astype(dtype)
    want = p.astype(np.float64) * (1 - 0.25)
    K.sgd_step([p], [p], [], 0.25, 0.0, 0.0, 0.0, False, False, False)
    np.testing.assert_allclose(p, want, **TOL[dtype])
    q = rng.standard_normal(1003).astype(dtype)
    m, v = np.zeros_like(q), np.zeros_like(q)
    want = adam_ref(q.astype(np.float64), q.astype(np.float64), 0.0, 0.0, None, 1, 0.1, 0.9,
                    0.999, 1e-8, 0.0, False, False, False)[0]
    K.adam_step([q], [q], [m], [v], [], 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    np.testing.assert_allclose(q, want, **TOL[dtype])
