"""Parity with PyTorch (CPU): the same computation in torch and tapegrad from the same numpy
inputs, comparing forward values, result dtypes and the gradients of every input.

Each row of CASES is (name, fn, input specs): fn(T, *inputs) is written once against the shared
API and run with T = tapegrad and T = torch (torch_fn overrides it where the APIs differ).
Inputs are float64 so that the comparison can be tight: rtol 1e-10 / atol 1e-12, where the
math is the same and only rounding order differs."""
import warnings
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

TOL = dict(rtol=1e-10, atol=1e-12)


# --- input specs -----------------------------------------------------------------------------

class Spec:
    """An input: a float64 array drawn from the case's rng (or given), with or without grad."""

    def __init__(self, shape=(), kind="normal", lo=None, hi=None, values=None, grad=True):
        self.shape, self.kind, self.lo, self.hi = tuple(shape), kind, lo, hi
        self.values, self.grad = values, grad

    def array(self, rng):
        if self.values is not None:
            return np.array(self.values)
        if self.kind == "normal":
            return rng.standard_normal(self.shape)
        return rng.uniform(self.lo, self.hi, self.shape)


def R(*shape):
    """standard normal float64, requires grad"""
    return Spec(shape)


def P(*shape):
    """positive float64 in [0.5, 2), requires grad (log, sqrt, pow bases, divisors)"""
    return Spec(shape, "uniform", 0.5, 2.0)


def U(lo, hi, *shape, grad=True):
    return Spec(shape, "uniform", lo, hi, grad=grad)


def A(values, grad=True):
    """given float64 values"""
    return Spec(values=np.asarray(values, dtype=np.float64), grad=grad)


def C(values):
    """a constant of the given numpy dtype (int64 targets and indices, bool masks), no grad"""
    return Spec(values=np.asarray(values), grad=False)


def F(T):
    return T.nn.functional


def _case_rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def _make(T, a, spec):
    if T is torch:
        t = torch.tensor(a)
    else:
        t = tg.tensor(a)
    if spec.grad:
        t.requires_grad_(True)
    return t


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [o for x in out for o in _flat(x)]
    return [out]


def _np_dtype_name(t):
    return str(t.dtype).replace("torch.", "") if isinstance(t, torch.Tensor) else t.dtype.name


def _numpy(t):
    return t.detach().numpy()


def run(T, fn, specs, arrays):
    """inputs, flat outputs; backward with fixed pseudo-random upstream gradients."""
    ins = [_make(T, a, s) if isinstance(s, Spec) else s for a, s in zip(arrays, specs)]
    outs = _flat(fn(T, *ins))
    diff = [o for o in outs if o.requires_grad]
    if diff:
        ups = []
        for k, o in enumerate(diff):
            g = np.random.default_rng(1000 + k).standard_normal(tuple(o.shape))
            ups.append(T.tensor(np.asarray(g, dtype=_numpy(o).dtype)))
        T.autograd.backward(diff, ups)
    return ins, outs


def compare(name, fn, specs, torch_fn=None, tol=None):
    tol = tol or TOL
    rng = _case_rng(name)
    arrays = [s.array(rng) if isinstance(s, Spec) else None for s in specs]
    with warnings.catch_warnings():
        # torch's own deprecation/advice warnings (e.g. kl_div reduction='mean') are not
        # what is tested here; tapegrad runs under the project's filterwarnings=error.
        warnings.simplefilter("ignore")
        t_ins, t_outs = run(torch, torch_fn or fn, specs, arrays)
    g_ins, g_outs = run(tg, fn, specs, arrays)

    assert len(g_outs) == len(t_outs), f"{name}: {len(g_outs)} outputs, torch gives {len(t_outs)}"
    for k, (g, t) in enumerate(zip(g_outs, t_outs)):
        assert isinstance(g, tg.Tensor), f"{name}: output {k} is {type(g).__name__}"
        assert tuple(g.shape) == tuple(t.shape), f"{name}: output {k} shape {tuple(g.shape)} vs torch {tuple(t.shape)}"
        assert _np_dtype_name(g) == _np_dtype_name(t), f"{name}: output {k} dtype {g.dtype} vs torch {t.dtype}"
        assert g.requires_grad == t.requires_grad, f"{name}: output {k} requires_grad"
        np.testing.assert_allclose(_numpy(g), _numpy(t), equal_nan=True, err_msg=f"{name}: output {k}", **tol)
    for k, (s, g, t) in enumerate(zip(specs, g_ins, t_ins)):
        if not (isinstance(s, Spec) and s.grad):
            continue
        if t.grad is None:
            assert g.grad is None, f"{name}: input {k} has a gradient, torch has none"
            continue
        assert g.grad is not None, f"{name}: input {k} got no gradient"
        assert _np_dtype_name(g.grad) == _np_dtype_name(t.grad), f"{name}: input {k} grad dtype"
        np.testing.assert_allclose(_numpy(g.grad), _numpy(t.grad), equal_nan=True,
                                   err_msg=f"{name}: gradient of input {k}", **tol)


# --- the op table ----------------------------------------------------------------------------

CASES = []


def case(name, fn, *specs, torch_fn=None, tol=None):
    CASES.append(pytest.param(fn, specs, torch_fn, tol, id=name))


# arithmetic with broadcasting and Python scalars on both sides
case("add", lambda T, a, b: a + b, R(3, 4), R(3, 4))
case("add_bcast", lambda T, a, b: a + b, R(3, 1, 2), R(1, 4, 2))
case("add_bcast_lead", lambda T, a, b: a + b, R(4,), R(2, 3, 4))
case("add_0d", lambda T, a, b: a + b, R(2, 3), R())
case("add_alpha", lambda T, a, b: T.add(a, b, alpha=2.5), R(3,), R(3,))
case("radd_scalar", lambda T, a: 2 + a, R(3,))
case("add_scalar", lambda T, a: a + 2.5, R(3,))
case("sub", lambda T, a, b: a - b, R(2, 3), R(3,))
case("rsub_scalar", lambda T, a: 1.5 - a, R(3,))
case("sub_scalar", lambda T, a: a - 1.5, R(3,))
case("mul", lambda T, a, b: a * b, R(4, 1), R(1, 5))
case("rmul_scalar", lambda T, a: 3 * a, R(3,))
case("div", lambda T, a, b: a / b, R(3, 4), P(4,))
case("rdiv_scalar", lambda T, a: 2.0 / a, P(5,))
case("div_scalar", lambda T, a: a / 4, R(5,))
case("pow_tensor", lambda T, a, b: a ** b, P(3, 4), R(3, 4))
case("pow_scalar_exp", lambda T, a: a ** 3, R(5,))
case("pow_half", lambda T, a: a ** 0.5, P(5,))
case("rpow_scalar", lambda T, a: 2 ** a, R(5,))
case("pow_bcast", lambda T, a, b: T.pow(a, b), P(2, 3), R(3,))
case("neg", lambda T, a: -a, R(3,))
case("remainder", lambda T, a, b: a % b, U(0.1, 5.0, 6), U(0.6, 0.9, 6))
# torch defines no derivative for floor_divide, so its inputs do not require grad here
case("floor_divide", lambda T, a, b: a // b, U(0.1, 5.0, 6, grad=False), U(0.6, 0.9, 6, grad=False))
case("maximum", lambda T, a, b: T.maximum(a, b), R(3, 4), R(4,))
case("minimum", lambda T, a, b: T.minimum(a, b), R(3, 4), R(3, 1))
case("where", lambda T, c, a, b: T.where(c, a, b), C([[True, False, True], [False, False, True]]), R(2, 3), R(3,))
case("where_scalar", lambda T, c, a: T.where(c, a, 0.5), C([True, False, True]), R(3,))

# unary math
case("exp", lambda T, x: x.exp(), R(3, 4))
case("log", lambda T, x: x.log(), P(3, 4))
case("log1p", lambda T, x: T.log1p(x), P(5,))
case("expm1", lambda T, x: T.expm1(x), R(5,))
case("sqrt", lambda T, x: x.sqrt(), P(5,))
case("rsqrt", lambda T, x: x.rsqrt(), P(5,))
case("reciprocal", lambda T, x: x.reciprocal(), P(5,))
case("square", lambda T, x: x.square(), R(5,))
case("abs", lambda T, x: x.abs(), R(5,))
case("sin", lambda T, x: x.sin(), R(5,))
case("cos", lambda T, x: x.cos(), R(5,))
case("log2", lambda T, x: x.log2(), P(5,))
case("log10", lambda T, x: T.log10(x), P(5,))
case("exp2", lambda T, x: T.exp2(x), R(5,))
case("tan", lambda T, x: x.tan(), U(-1.2, 1.2, 5))
case("asin", lambda T, x: x.asin(), U(-0.9, 0.9, 5))
case("acos", lambda T, x: T.acos(x), U(-0.9, 0.9, 5))
case("atan", lambda T, x: x.atan(), R(5,))
case("sinh", lambda T, x: x.sinh(), R(5,))
case("cosh", lambda T, x: T.cosh(x), R(5,))
case("asinh", lambda T, x: x.asinh(), R(5,))
case("acosh", lambda T, x: x.acosh(), U(1.2, 4.0, 5))
case("atanh", lambda T, x: T.atanh(x), U(-0.9, 0.9, 5))
case("erf", lambda T, x: x.erf(), R(5,))
case("erfc", lambda T, x: T.erfc(x), R(5,))
case("erfinv", lambda T, x: x.erfinv(), U(-0.95, 0.95, 5))
case("frac", lambda T, x: (x * 3).frac(), R(5,))
case("fmod", lambda T, a, b: T.fmod(a, b), U(-5.0, 5.0, 6), U(0.6, 0.9, 6))
case("hypot", lambda T, a, b: T.hypot(a, b), R(3, 4), R(4,))
case("atan2", lambda T, a, b: T.atan2(a, b), R(3, 4), R(3, 4))
case("logaddexp", lambda T, a, b: T.logaddexp(a, b), R(3, 1), R(1, 4))
case("arc_aliases", lambda T, x, y: T.arcsin(x) + x.arccos() + T.arctan(x) + x.arcsinh() + T.arctanh(x)
     + (x + 2).arccosh() + T.arctan2(x, y), U(-0.9, 0.9, 5), U(0.2, 1.0, 5))
case("sign", lambda T, x: x.sign(), R(5,))
case("round", lambda T, x: (x * 3).round(), R(5,))
case("floor", lambda T, x: x.floor(), R(5,))
case("ceil", lambda T, x: x.ceil(), R(5,))
case("trunc", lambda T, x: x.trunc(), R(5,))
case("clamp", lambda T, x: x.clamp(-0.5, 0.5), R(3, 4))
case("clamp_min", lambda T, x: T.clamp(x, min=0.1), R(3, 4))
case("clamp_max", lambda T, x: x.clamp(max=-0.2), R(3, 4))
case("clamp_tensor_bounds", lambda T, x, lo, hi: x.clamp(lo, hi), R(3, 4), U(-1.0, -0.1, 4), U(0.1, 1.0, 3, 1))
case("exp_0d", lambda T, x: x.exp(), R())
case("exp_empty", lambda T, x: x.exp(), R(0, 3))

# activations
case("relu", lambda T, x: T.relu(x), R(3, 4))
case("F_relu", lambda T, x: F(T).relu(x), R(3, 4))
case("sigmoid", lambda T, x: x.sigmoid(), R(3, 4))
case("sigmoid_big", lambda T, x: T.sigmoid(x), A([-1000.0, -40.0, 0.0, 40.0, 1000.0]))
case("tanh", lambda T, x: x.tanh(), R(3, 4))
case("leaky_relu", lambda T, x: F(T).leaky_relu(x), R(3, 4))
case("leaky_relu_0.2", lambda T, x: F(T).leaky_relu(x, 0.2), R(3, 4))
case("elu", lambda T, x: F(T).elu(x), R(3, 4))
case("elu_alpha", lambda T, x: F(T).elu(x, alpha=0.5), R(3, 4))
case("gelu", lambda T, x: F(T).gelu(x), R(3, 4))
case("gelu_tanh", lambda T, x: F(T).gelu(x, approximate="tanh"), R(3, 4))
case("softplus", lambda T, x: F(T).softplus(x), R(3, 4))
case("softplus_beta_threshold", lambda T, x: F(T).softplus(x, beta=2.0, threshold=1.0), R(3, 4))
case("softplus_beta_half", lambda T, x: F(T).softplus(x, beta=0.5, threshold=3.0), U(-10.0, 10.0, 12))
case("softplus_large", lambda T, x: F(T).softplus(x), A([-120.0, -30.0, 19.0, 21.0, 120.0]))
case("silu", lambda T, x: F(T).silu(x), R(3, 4))
case("F_sigmoid_tanh", lambda T, x: F(T).tanh(F(T).sigmoid(x)), R(3, 4))

# reductions
case("sum", lambda T, x: x.sum(), R(3, 4, 5))
case("sum_dim", lambda T, x: x.sum(1), R(3, 4, 5))
case("sum_dim_keepdim", lambda T, x: x.sum(-1, keepdim=True), R(3, 4, 5))
case("sum_dims", lambda T, x: T.sum(x, (0, 2)), R(3, 4, 5))
case("sum_empty", lambda T, x: x.sum(0), R(0, 3))
case("sum_0d", lambda T, x: x.sum(), R())
case("mean", lambda T, x: x.mean(), R(3, 4, 5))
case("mean_dim", lambda T, x: x.mean(1), R(3, 4, 5))
case("mean_dims_keepdim", lambda T, x: x.mean((0, -1), keepdim=True), R(3, 4, 5))
case("prod", lambda T, x: x.prod(), U(0.5, 1.5, 3, 4))
case("prod_dim", lambda T, x: x.prod(1), R(3, 4))
case("prod_dim_keepdim", lambda T, x: x.prod(0, keepdim=True), R(3, 4))
case("prod_zeros", lambda T, x: x.prod(1), A([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -0.5]]))
case("prod_zero_all", lambda T, x: x.prod(), A([1.5, 0.0, 2.0, -3.0]))
case("max_all", lambda T, x: x.max(), R(3, 4))
case("min_all", lambda T, x: x.min(), R(3, 4))
case("max_dim", lambda T, x: x.max(1), R(3, 4, 5))
case("max_dim_keepdim", lambda T, x: x.max(dim=0, keepdim=True), R(3, 4))
case("min_dim", lambda T, x: T.min(x, -1), R(3, 4))
case("min_dim_keepdim", lambda T, x: x.min(2, keepdim=True), R(3, 4, 5))
case("max_binary", lambda T, a, b: T.max(a, b), R(3, 4), R(4,))
case("amax", lambda T, x: x.amax(1), R(3, 4, 5))
case("amax_dims", lambda T, x: T.amax(x, (0, 2), keepdim=True), R(3, 4, 5))
case("amin", lambda T, x: x.amin(-1), R(3, 4))
case("amax_ties", lambda T, x: x.amax(1), A([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]))
case("argmax", lambda T, x: x.argmax(), R(3, 4))
case("argmax_dim", lambda T, x: x.argmax(1), R(3, 4))
case("argmin_dim_keepdim", lambda T, x: x.argmin(0, keepdim=True), R(3, 4))
case("var", lambda T, x: x.var(), R(3, 4))
case("var_dim", lambda T, x: x.var(1), R(3, 4, 5))
case("var_biased", lambda T, x: x.var(1, unbiased=False), R(3, 4))
case("var_correction0_keepdim", lambda T, x: T.var(x, 0, keepdim=True, correction=0), R(3, 4))
case("std", lambda T, x: x.std(), R(3, 4))
case("std_dim_keepdim", lambda T, x: x.std(dim=(0, 2), keepdim=True), R(3, 4, 5))
case("std_biased", lambda T, x: x.std(-1, unbiased=False), R(3, 4))
case("logsumexp", lambda T, x: x.logsumexp(1), R(3, 4))
case("logsumexp_dims_keepdim", lambda T, x: T.logsumexp(x, (0, 2), keepdim=True), R(3, 4, 5))
case("logsumexp_large", lambda T, x: x.logsumexp(0), A([1000.0, 999.0, -5.0]))
case("all_any", lambda T, x: (x.all(), x.any(1), (x > 0).all(0)), R(3, 4))

# matmul and linear
case("matmul_1d_1d", lambda T, a, b: a @ b, R(4,), R(4,))
case("matmul_1d_2d", lambda T, a, b: a @ b, R(4,), R(4, 3))
case("matmul_2d_1d", lambda T, a, b: a @ b, R(3, 4), R(4,))
case("matmul_2d_2d", lambda T, a, b: T.matmul(a, b), R(3, 4), R(4, 5))
case("matmul_batched", lambda T, a, b: a @ b, R(2, 3, 4), R(2, 4, 5))
case("matmul_batched_2d", lambda T, a, b: a @ b, R(2, 3, 4), R(4, 5))
case("matmul_2d_batched", lambda T, a, b: a @ b, R(3, 4), R(2, 4, 5))
case("matmul_bcast_batch", lambda T, a, b: a @ b, R(2, 1, 3, 4), R(5, 4, 2))
case("matmul_1d_batched", lambda T, a, b: a @ b, R(4,), R(2, 4, 3))
case("matmul_batched_1d", lambda T, a, b: a @ b, R(2, 3, 4), R(4,))
case("matmul_transposed", lambda T, a, b: a.T @ b.mT, R(4, 3), R(5, 4))
case("mm", lambda T, a, b: T.mm(a, b), R(3, 4), R(4, 2))
case("linear", lambda T, x, w, b: F(T).linear(x, w, b), R(5, 4), R(3, 4), R(3,))
case("linear_nobias", lambda T, x, w: F(T).linear(x, w), R(5, 4), R(3, 4))
case("linear_3d", lambda T, x, w, b: F(T).linear(x, w, b), R(2, 5, 4), R(3, 4), R(3,))
case("linear_1d", lambda T, x, w, b: F(T).linear(x, w, b), R(4,), R(3, 4), R(3,))

# shape ops (some on non-contiguous views)
case("reshape", lambda T, x: x.reshape(4, 3) * 2, R(3, 4))
case("reshape_infer", lambda T, x: x.reshape(-1, 2).exp(), R(3, 4))
case("view", lambda T, x: x.view(2, 6).sin(), R(3, 4))
case("reshape_noncontig", lambda T, x: x.T.reshape(-1).exp(), R(3, 4))
case("flatten", lambda T, x: x.flatten().exp(), R(2, 3, 4))
case("flatten_1", lambda T, x: T.flatten(x, 1).exp(), R(2, 3, 4))
case("unflatten", lambda T, x: x.unflatten(1, (2, 2)).exp(), R(3, 4))
case("squeeze", lambda T, x: x.squeeze().exp(), R(3, 1, 4, 1))
case("squeeze_dim", lambda T, x: x.squeeze(1).exp(), R(3, 1, 4, 1))
case("unsqueeze", lambda T, x: x.unsqueeze(1) * T.arange(2, dtype=T.float64).reshape(2, 1), R(3, 4))
case("permute", lambda T, x: x.permute(2, 0, 1).exp(), R(2, 3, 4))
case("transpose", lambda T, x: x.transpose(0, 2).sin(), R(2, 3, 4))
case("t", lambda T, x: x.t().exp(), R(3, 4))
case("T_2d", lambda T, x: x.T * T.arange(3, dtype=T.float64), R(3, 4))
case("mT", lambda T, x: x.mT.exp(), R(2, 3, 4))
case("movedim", lambda T, x: x.movedim(0, -1).exp(), R(2, 3, 4))
case("expand", lambda T, x: x.expand(2, 3, 4).sin(), R(3, 1))
case("expand_neg1", lambda T, x: x.expand(-1, 5) * T.arange(5, dtype=T.float64), R(3, 1))
case("broadcast_to", lambda T, x: T.broadcast_to(x, (2, 3)).exp(), R(3,))
case("cat", lambda T, a, b: T.cat([a, b], 1).exp(), R(2, 3), R(2, 2))
case("cat_dim0", lambda T, a, b, c: T.cat([a, b, c]), R(1, 3), R(2, 3), R(3, 3))
case("stack", lambda T, a, b: T.stack([a, b], 1).exp(), R(2, 3), R(2, 3))
case("split_int", lambda T, x: x.split(2, 1), R(3, 5))
case("split_sizes", lambda T, x: T.split(x, [1, 2], 0), R(3, 5))
case("chunk", lambda T, x: x.chunk(3, 1), R(2, 7))
case("unbind", lambda T, x: x.unbind(1), R(2, 3))
case("narrow", lambda T, x: x.narrow(1, 1, 2).exp(), R(3, 4))
case("contiguous", lambda T, x: x.T.contiguous().exp(), R(3, 4))
case("clone", lambda T, x: x.clone() * 3, R(3, 4))
case("index_select", lambda T, x, i: x.index_select(1, i), R(3, 4), C([3, 0, 3]))

# indexing
case("idx_int", lambda T, x: x[1], R(3, 4))
case("idx_neg_int", lambda T, x: x[-1, -2], R(3, 4))
case("idx_slice", lambda T, x: x[1:3], R(4, 3))
case("idx_slice_step", lambda T, x: x[::2, 1::2], R(5, 6))
case("idx_none", lambda T, x: x[None, :, None], R(3, 4))
case("idx_ellipsis", lambda T, x: x[..., 1], R(2, 3, 4))
case("idx_ellipsis_none", lambda T, x: x[0, ..., None], R(2, 3, 4))
case("idx_mixed_basic", lambda T, x: x[:, None, 1:], R(3, 4))
case("idx_int_tensor", lambda T, x, i: x[i], R(4, 3), C([2, 0, 2, 3]))
case("idx_int_tensor_2d", lambda T, x, i: x[i], R(4, 3), C([[1, 3], [0, 1]]))
case("idx_int_tensor_neg", lambda T, x, i: x[i], R(4,), C([-1, 0, -1]))
case("idx_list", lambda T, x: x[[0, 2]], R(4, 3))
case("idx_two_tensors", lambda T, x, i, j: x[i, j], R(4, 3), C([0, 3, 3]), C([2, 1, 1]))
case("idx_slice_then_tensor", lambda T, x, i: x[1:, i], R(4, 3), C([2, 2, 0]))
case("idx_tensor_then_slice", lambda T, x, i: x[i, 1:], R(4, 3), C([3, 0]))
case("idx_bool_mask", lambda T, x, m: x[m], R(2, 3), C([[True, False, True], [False, True, True]]))
case("idx_bool_rows", lambda T, x, m: x[m], R(3, 2), C([True, False, True]))
case("idx_bool_computed", lambda T, x: x[x > 0], R(4, 5))
case("idx_0d_int_tensor", lambda T, x, i: x[i], R(4, 3), C(2))
case("idx_adv_separated", lambda T, x, i, j: x[i, :, j], R(3, 4, 5), C([0, 2, 2]), C([4, 1, 4]))
case("idx_adv_adjacent", lambda T, x, i, j: x[:, i, j], R(3, 4, 5), C([0, 3]), C([4, 1]))
case("idx_bool_mask_3d", lambda T, x, m: x[m], R(2, 3, 4), C([[True, False, True], [False, True, True]]))
case("idx_0d_none_ellipsis", lambda T, x: x[None][...] * 2, R())

# softmax
case("softmax_dim1", lambda T, x: F(T).softmax(x, dim=1), R(3, 5))
case("softmax_dim0", lambda T, x: x.softmax(0), R(3, 5))
case("softmax_3d", lambda T, x: T.softmax(x, 1), R(2, 3, 4))
case("log_softmax_dim1", lambda T, x: F(T).log_softmax(x, dim=1), R(3, 5))
case("log_softmax_neg", lambda T, x: x.log_softmax(-1), R(2, 3, 4))
case("log_softmax_large", lambda T, x: F(T).log_softmax(x, dim=0), A([1000.0, 0.0, -1000.0]))

# losses
_CE_T = C([0, 3, 1, 1, 2])
_PROBS = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 1.0, 0.0]])
_KL_T = np.array([[0.2, 0.3, 0.5], [0.0, 0.6, 0.4]])  # a zero: 0 * log 0 = 0
_KL_TP = np.array([[0.2, 0.3, 0.5], [0.1, 0.5, 0.4]])
for red in ("none", "mean", "sum"):
    case(f"mse_{red}", lambda T, x, t, r=red: F(T).mse_loss(x, t, reduction=r), R(3, 4), R(3, 4))
    case(f"l1_{red}", lambda T, x, t, r=red: F(T).l1_loss(x, t, reduction=r), R(3, 4), R(3, 4))
    case(f"smooth_l1_{red}", lambda T, x, t, r=red: F(T).smooth_l1_loss(x, t, reduction=r), R(4, 5), R(4, 5))
    case(f"smooth_l1_beta_{red}", lambda T, x, t, r=red: F(T).smooth_l1_loss(x, t, reduction=r, beta=0.5),
         R(4, 5), R(4, 5))
    case(f"huber_{red}", lambda T, x, t, r=red: F(T).huber_loss(x, t, reduction=r), R(4, 5), R(4, 5))
    case(f"huber_delta_{red}", lambda T, x, t, r=red: F(T).huber_loss(x, t, reduction=r, delta=0.5),
         R(4, 5), R(4, 5))
    case(f"bce_{red}", lambda T, x, t, r=red: F(T).binary_cross_entropy(x, t, reduction=r),
         U(0.05, 0.95, 3, 4), U(0.0, 1.0, 3, 4))
    case(f"bce_weight_{red}", lambda T, x, t, w, r=red: F(T).binary_cross_entropy(x, t, weight=w, reduction=r),
         U(0.05, 0.95, 3, 4), U(0.0, 1.0, 3, 4, grad=False), U(0.5, 2.0, 4, grad=False))
    case(f"bce_logits_{red}", lambda T, x, t, r=red: F(T).binary_cross_entropy_with_logits(x, t, reduction=r),
         R(3, 4), U(0.0, 1.0, 3, 4))
    case(f"bce_logits_weights_{red}",
         lambda T, x, t, w, pw, r=red: F(T).binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=r),
         R(3, 4), U(0.0, 1.0, 3, 4, grad=False), U(0.5, 2.0, 3, 1, grad=False), U(0.5, 3.0, 4, grad=False))
    case(f"ce_{red}", lambda T, x, t, r=red: F(T).cross_entropy(x, t, reduction=r), R(5, 4), _CE_T)
    case(f"ce_ignore_{red}", lambda T, x, t, r=red: F(T).cross_entropy(x, t, reduction=r),
         R(5, 4), C([0, -100, 1, 3, -100]))
    case(f"ce_ignore_index_{red}", lambda T, x, t, r=red: F(T).cross_entropy(x, t, ignore_index=1, reduction=r),
         R(5, 4), _CE_T)
    case(f"ce_smooth_{red}", lambda T, x, t, r=red: F(T).cross_entropy(x, t, label_smoothing=0.1, reduction=r),
         R(5, 4), _CE_T)
    case(f"ce_smooth_ignore_{red}",
         lambda T, x, t, r=red: F(T).cross_entropy(x, t, ignore_index=3, label_smoothing=0.2, reduction=r),
         R(5, 4), _CE_T)
    case(f"ce_NCd_{red}", lambda T, x, t, r=red: F(T).cross_entropy(x, t, reduction=r),
         R(3, 4, 5), C([[0, 1, 2, 3, 0], [3, 3, 1, 0, 2], [1, 1, 1, 2, 0]]))
    case(f"ce_NCdd_{red}", lambda T, x, t, r=red: F(T).cross_entropy(x, t, reduction=r, label_smoothing=0.05),
         R(2, 3, 2, 2), C([[[0, 1], [2, 2]], [[1, 0], [0, 2]]]))
    case(f"ce_1d_{red}", lambda T, x, t, r=red: F(T).cross_entropy(x, t, reduction=r), R(4,), C(2))
    case(f"ce_probs_{red}", lambda T, x, t, r=red: F(T).cross_entropy(x, t, reduction=r), R(3, 4), A(_PROBS))
    case(f"ce_probs_smooth_{red}",
         lambda T, x, t, r=red: F(T).cross_entropy(x, t, reduction=r, label_smoothing=0.1), R(3, 4), A(_PROBS))
    case(f"nll_{red}", lambda T, x, t, r=red: F(T).nll_loss(F(T).log_softmax(x, 1), t, reduction=r), R(5, 4), _CE_T)
    case(f"nll_raw_{red}", lambda T, x, t, r=red: F(T).nll_loss(x, t, reduction=r), R(5, 4), _CE_T)
    case(f"nll_ignore_{red}", lambda T, x, t, r=red: F(T).nll_loss(x, t, ignore_index=1, reduction=r), R(5, 4), _CE_T)
    case(f"nll_NCd_{red}", lambda T, x, t, r=red: F(T).nll_loss(x, t, reduction=r),
         R(2, 3, 4), C([[0, 1, 2, 2], [2, 1, 0, -100]]))
    # d/dt at t = 0 is -inf (torch gives nan): the target with a zero gets no gradient
    case(f"kl_div_{red}", lambda T, x, t, r=red: F(T).kl_div(F(T).log_softmax(x, 1), t, reduction=r),
         R(2, 3), A(_KL_T, grad=False))
    case(f"kl_div_target_grad_{red}", lambda T, x, t, r=red: F(T).kl_div(F(T).log_softmax(x, 1), t, reduction=r),
         R(2, 3), A(_KL_TP))
    case(f"kl_div_log_target_{red}",
         lambda T, x, t, r=red: F(T).kl_div(F(T).log_softmax(x, 1), F(T).log_softmax(t, 1), reduction=r, log_target=True),
         R(2, 3), R(2, 3))
case("kl_div_batchmean", lambda T, x, t: F(T).kl_div(F(T).log_softmax(x, 1), t, reduction="batchmean"),
     R(2, 3), A(_KL_T, grad=False))
case("kl_div_batchmean_target_grad", lambda T, x, t: F(T).kl_div(x, t, reduction="batchmean"), R(2, 3), A(_KL_TP))
case("kl_div_batchmean_log_target",
     lambda T, x, t: F(T).kl_div(x, t, reduction="batchmean", log_target=True), R(4, 3), R(4, 3))
case("kl_div_default", lambda T, x, t: F(T).kl_div(x, t), R(2, 3), A(_KL_T, grad=False))
case("bce_extremes", lambda T, x, t: F(T).binary_cross_entropy(x, t), A([0.0, 1.0, 0.5]), A([1.0, 0.0, 0.5], grad=False))
case("bce_logits_large", lambda T, x, t: F(T).binary_cross_entropy_with_logits(x, t, reduction="none"),
     A([-120.0, -30.0, 0.0, 30.0, 120.0]), A([1.0, 0.0, 0.5, 1.0, 0.0], grad=False))
case("mse_0d", lambda T, x, t: F(T).mse_loss(x, t), R(), R())
case("ce_probs_NCd", lambda T, x, t: F(T).cross_entropy(x, t), R(2, 3, 4),
     A(np.full((2, 3, 4), 1.0 / 3), grad=False))
case("ce_large_logits", lambda T, x, t: F(T).cross_entropy(x, t, reduction="none"),
     A([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 0.0]]), C([2, 1]))
case("ce_all_ignored_sum", lambda T, x, t: F(T).cross_entropy(x, t, reduction="sum"), R(2, 3), C([-100, -100]))
case("gelu_large", lambda T, x: F(T).gelu(x), A([-40.0, -8.0, 8.0, 40.0]))
# the composite activations, with their kinks, bounds and NaN hit exactly (PyTorch's gradient
# there is a convention each composite must follow)
_EDGES = [-7.0, -3.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 3.0, 6.0, 7.0, 25.0, -25.0, np.nan]
case("hardtanh", lambda T, x: F(T).hardtanh(x), A(_EDGES))
case("hardtanh_bounds", lambda T, x: F(T).hardtanh(x, -0.5, 3.0), A(_EDGES))
case("relu6", lambda T, x: F(T).relu6(x), A(_EDGES))
# PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32, in float64 too: its
# gradients are 3e-8 off the exact ones that tapegrad gives
case("hardsigmoid", lambda T, x: F(T).hardsigmoid(x), A(_EDGES), tol=dict(rtol=1e-7, atol=1e-12))
case("hardswish", lambda T, x: F(T).hardswish(x), A(_EDGES))
case("softsign", lambda T, x: F(T).softsign(x), A(_EDGES))
case("tanhshrink", lambda T, x: F(T).tanhshrink(x), A(_EDGES))
case("logsigmoid", lambda T, x: F(T).logsigmoid(x), A(_EDGES + [-800.0, 800.0]))
case("mish", lambda T, x: F(T).mish(x), A(_EDGES + [-800.0, 800.0]))
case("selu", lambda T, x: F(T).selu(x), A(_EDGES))
case("celu", lambda T, x: F(T).celu(x, alpha=0.5), A(_EDGES))
case("threshold", lambda T, x: F(T).threshold(x, 0.5, -3.0), A(_EDGES))
case("softshrink", lambda T, x: F(T).softshrink(x), A(_EDGES))
case("softshrink_lambd", lambda T, x: F(T).softshrink(x, 3.0), A(_EDGES))
case("hardshrink", lambda T, x: F(T).hardshrink(x), A(_EDGES))
case("hardshrink_lambd", lambda T, x: F(T).hardshrink(x, lambd=3.0), A(_EDGES))
case("glu", lambda T, x: F(T).glu(x), R(3, 4))
case("glu_dim", lambda T, x: F(T).glu(x, dim=0), R(4, 3, 2))
case("prelu_channels", lambda T, x, w: F(T).prelu(x, w), R(2, 3, 4), R(3))
case("prelu_shared", lambda T, x, w: F(T).prelu(x, w), R(5, 2), R(1))
case("prelu_1d", lambda T, x, w: F(T).prelu(x, w), R(4), R(1))
case("prelu_0d", lambda T, x, w: F(T).prelu(x, w), R(), R(1))
case("softmin", lambda T, x: F(T).softmin(x, dim=1), R(3, 4))
# the other losses and distances (composites)
_PM = C([1.0, -1.0, 1.0, -1.0, -1.0])   # +-1 targets
for _red in ("mean", "sum", "none"):
    case(f"gaussian_nll_{_red}", lambda T, x, t, v, r=_red: F(T).gaussian_nll_loss(x, t, v, reduction=r),
         R(4, 3), R(4, 3), P(4, 3))
    case(f"poisson_nll_{_red}", lambda T, x, t, r=_red: F(T).poisson_nll_loss(x, t, reduction=r),
         R(4, 3), A(np.array([[0.0, 1.0, 3.0]] * 4), grad=False))
    case(f"margin_ranking_{_red}", lambda T, a, b, t, r=_red: F(T).margin_ranking_loss(a, b, t, 0.3, reduction=r),
         R(5), R(5), _PM)
    case(f"hinge_embedding_{_red}", lambda T, x, t, r=_red: F(T).hinge_embedding_loss(x, t, reduction=r),
         R(5), _PM)
    case(f"soft_margin_{_red}", lambda T, x, t, r=_red: F(T).soft_margin_loss(x, t, reduction=r), R(5), _PM)
    case(f"multilabel_soft_margin_{_red}",
         lambda T, x, t, r=_red: F(T).multilabel_soft_margin_loss(x, t, reduction=r),
         R(3, 4), C([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]]))
    case(f"multilabel_margin_{_red}", lambda T, x, t, r=_red: F(T).multilabel_margin_loss(x, t, reduction=r),
         R(3, 4), C([[3, 0, -1, 1], [1, 2, 3, 0], [2, 2, -1, -1]]))
    case(f"multi_margin_{_red}", lambda T, x, t, r=_red: F(T).multi_margin_loss(x, t, reduction=r),
         R(4, 5), C([0, 3, 4, 3]))
    case(f"cosine_embedding_{_red}",
         lambda T, a, b, t, r=_red: F(T).cosine_embedding_loss(a, b, t, margin=0.2, reduction=r),
         R(5, 3), R(5, 3), _PM)
    case(f"triplet_margin_{_red}", lambda T, a, p, n, r=_red: F(T).triplet_margin_loss(a, p, n, reduction=r),
         R(4, 3), R(4, 3), R(4, 3))
case("gaussian_nll_full_shared_var", lambda T, x, t, v: F(T).gaussian_nll_loss(x, t, v, full=True),
     R(4, 3), R(4, 3), P(4))
case("gaussian_nll_one_var_dim", lambda T, x, t, v: F(T).gaussian_nll_loss(x, t, v), R(4, 3), R(4, 3), P(4, 1))
case("gaussian_nll_float_var", lambda T, x, t: F(T).gaussian_nll_loss(x, t, 0.7), R(4, 3), R(4, 3))
case("gaussian_nll_var_below_eps", lambda T, x, t, v: F(T).gaussian_nll_loss(x, t, v, eps=0.05),
     R(2, 2), R(2, 2), A([[0.01, 0.5], [0.02, 1.0]]))
case("poisson_nll_rates_full", lambda T, x, t: F(T).poisson_nll_loss(x, t, log_input=False, full=True),
     P(4, 3), A(np.array([[0.0, 1.0, 3.0], [2.0, 5.0, 0.5]] * 2), grad=False))
case("multilabel_soft_margin_weight", lambda T, x, t, w: F(T).multilabel_soft_margin_loss(x, t, weight=w),
     R(3, 4), C([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]]), P(4))
case("multilabel_margin_1d", lambda T, x, t: F(T).multilabel_margin_loss(x, t), R(5), C([4, 1, -1, 2, 0]))
case("multi_margin_p2_weight", lambda T, x, t, w: F(T).multi_margin_loss(x, t, p=2, margin=0.7, weight=w),
     R(4, 5), C([0, 3, 4, 3]), C([0.5, 1.0, 2.0, 1.5, 0.7]))
case("multi_margin_1d", lambda T, x, t: F(T).multi_margin_loss(x, t), R(5), C(2))
case("cosine_embedding_1d", lambda T, a, b, t: F(T).cosine_embedding_loss(a, b, t), R(4), R(4), C(-1.0))
case("triplet_margin_swap_p1", lambda T, a, p, n: F(T).triplet_margin_loss(a, p, n, margin=0.5, p=1, swap=True),
     R(4, 3), R(4, 3), R(4, 3))
case("pairwise_distance", lambda T, a, b: F(T).pairwise_distance(a, b), R(4, 3), R(4, 3))
case("pairwise_distance_p3_keepdim", lambda T, a, b: F(T).pairwise_distance(a, b, p=3.0, keepdim=True),
     R(2, 4, 3), R(4, 3))
case("cosine_similarity", lambda T, a, b: F(T).cosine_similarity(a, b), R(4, 3), R(4, 3))
case("cosine_similarity_broadcast_dim", lambda T, a, b: F(T).cosine_similarity(a, b, dim=-1), R(2, 1, 3), R(4, 3))
case("normalize", lambda T, x: F(T).normalize(x), R(3, 4))
case("normalize_p1_dim0", lambda T, x: F(T).normalize(x, p=1.0, dim=0), R(3, 4))
case("bilinear", lambda T, a, b, w, c: F(T).bilinear(a, b, w, c), R(4, 2), R(4, 3), R(5, 2, 3), R(5))
case("bilinear_batched_no_bias", lambda T, a, b, w: F(T).bilinear(a, b, w), R(2, 3, 2), R(2, 3, 3), R(4, 2, 3))
case("pad_constant", lambda T, x: F(T).pad(x, (1, 2, 0, 1), value=0.5), R(2, 3, 4))
case("pad_constant_crop", lambda T, x: F(T).pad(x, (-1, 2, 1, -1)), R(3, 4))
case("pad_reflect", lambda T, x: F(T).pad(x, (2, 1), mode="reflect"), R(2, 3, 4))
case("pad_reflect_2d", lambda T, x: F(T).pad(x, (1, 2, 2, 1), mode="reflect"), R(1, 2, 3, 4))
case("pad_replicate", lambda T, x: F(T).pad(x, (3, 1, 1, 0), mode="replicate"), R(1, 2, 3, 4))
case("pad_circular", lambda T, x: F(T).pad(x, (2, 1), mode="circular"), R(2, 3, 4))
# products (composites of matmul) and PyTorch's keyword names
case("dot", lambda T, a, b: T.dot(a, b), R(5), R(5))
case("mv", lambda T, m, v: T.mv(m, v), R(3, 4), R(4))
case("bmm", lambda T, a, b: T.bmm(a, b), R(2, 3, 4), R(2, 4, 5))
case("outer", lambda T, a, b: T.outer(a, b), R(3), R(4))
case("ger_method", lambda T, a, b: a.ger(b), R(3), R(2))
case("addmm", lambda T, c, a, b: T.addmm(c, a, b), R(3, 5), R(3, 4), R(4, 5))
case("addmm_broadcast_beta_alpha", lambda T, c, a, b: T.addmm(c, a, b, beta=0.5, alpha=-2.0), R(5), R(3, 4), R(4, 5))
case("addmm_beta0_ignores_nan", lambda T, c, a, b: T.addmm(c, a, b, beta=0), A([np.nan, 1.0], grad=False),
     R(2, 3), R(3, 2))
case("dot_method", lambda T, a, b: a.dot(b), R(4), R(4))
case("matmul_keywords", lambda T, a, b: T.matmul(input=a, other=b), R(3, 4), R(4, 2))
case("pow_exponent_keyword", lambda T, x: x.pow(exponent=2), R(3))
case("add_keywords", lambda T, a, b: T.add(input=a, other=b, alpha=2), R(3), R(3))
case("exp_keyword", lambda T, x: T.exp(input=x), R(3))
case("atan2_keywords", lambda T, a, b: T.atan2(input=a, other=b), R(3), R(3))
case("gt_keywords", lambda T, a, b: T.gt(input=a, other=b), R(3), R(3))
case("flip", lambda T, x: T.flip(x, (0, 2)), R(2, 3, 4))
case("flip_method_negative_dim", lambda T, x: x.flip(-1), R(3, 4))
case("masked_fill", lambda T, x, m: x.masked_fill(m, -1.5), R(3, 4), C(np.arange(12).reshape(3, 4) % 3 == 0))
case("masked_fill_broadcast_tensor_value", lambda T, x, m: T.masked_fill(x, m, T.tensor(2.0)), R(3, 4),
     C(np.array([True, False, False, True])))
case("masked_fill__of_clone", lambda T, x, m: (x * 1.0).masked_fill_(m, 0.25), R(2, 3), C(np.array([[True], [False]])))
case("elu_inplace_of_clone", lambda T, x: F(T).elu(x.clone(), 0.5, True), R(3, 4))
case("relu_inplace_of_clone", lambda T, x: F(T).relu(x * 1.0, inplace=True), R(3, 4))
case("hardtanh__of_clone", lambda T, x: F(T).hardtanh_(x * 1.0, -0.5, 0.5), R(3, 4))
case("threshold__of_clone", lambda T, x: F(T).threshold_(x * 1.0, 0.1, 20.0), R(3, 4))
case("selu_inplace_of_clone", lambda T, x: F(T).selu(x * 1.0, inplace=True), R(3, 4))
case("matmul_empty_k", lambda T, a, b: a @ b, R(3, 0), R(0, 4))
case("remainder_negative", lambda T, a, b: a % b, A([-3.7, 2.5, -0.2, 5.1]), A([1.5, -0.7, 0.9, -2.0]))
case("logsumexp_neg_inf", lambda T, x: x.logsumexp(1), A([[0.0, -np.inf], [1.0, 2.0]]))
case("softmax_neg_inf", lambda T, x: x.softmax(1), A([[0.0, -np.inf, 1.0], [1.0, 2.0, 3.0]]))
case("mean_empty_dim", lambda T, x: x.mean(0), R(0, 3))
case("var_single_element_dim", lambda T, x: x.var(0, unbiased=False), R(1, 3))


@pytest.mark.parametrize("fn, specs, torch_fn, tol", CASES)
def test_op_parity(request, fn, specs, torch_fn, tol):
    compare(request.node.callspec.id, fn, specs, torch_fn, tol)


# --- type promotion and result dtypes -------------------------------------------------------

_I = np.array([3, -7, 2, 5], dtype=np.int64)
_IP = np.array([1, 2, 3, 4], dtype=np.int64)      # positive ints (powers, divisors)
_J = np.array([2, 3, -4, 3], dtype=np.int64)
_B = np.array([True, False, True, True])
_B2 = np.array([False, False, True, False])
_F32 = np.array([0.5, -1.25, 2.0, 3.5], dtype=np.float32)
_F64 = np.array([1.5, 2.0, -0.25, 4.0], dtype=np.float64)
_F64_0D = np.array(2.5, dtype=np.float64)
_F32_0D = np.array(-1.5, dtype=np.float32)
_I_0D = np.array(3, dtype=np.int64)

PROMOTION = [
    # (id, fn, input arrays)
    ("int+float_scalar", lambda T, i: i + 2.5, [_I]),
    ("float_scalar+int", lambda T, i: 2.5 + i, [_I]),
    ("float_scalar-int", lambda T, i: 2.5 - i, [_I]),
    ("int*float_scalar", lambda T, i: i * 1.5, [_I]),
    ("int+int_scalar", lambda T, i: i + 2, [_I]),
    ("int_scalar-int", lambda T, i: 1 - i, [_I]),
    ("int*bool_scalar", lambda T, i: i * True, [_I]),
    ("bool+int_scalar", lambda T, b: b + 1, [_B]),
    ("bool*float_scalar", lambda T, b: b * 1.5, [_B]),
    ("bool+bool", lambda T, a, b: a + b, [_B, _B2]),
    ("bool*bool", lambda T, a, b: a * b, [_B, _B2]),
    ("int+bool", lambda T, i, b: i + b, [_I, _B]),
    ("int/int", lambda T, i, j: i / j, [_I, _J]),
    ("int/int_scalar", lambda T, i: i / 2, [_I]),
    ("int//int", lambda T, i, j: i // j, [_I, _J]),
    ("int%int", lambda T, i, j: i % j, [_I, _J]),
    ("int%int_scalar", lambda T, i: i % 3, [_I]),
    ("int**2", lambda T, i: i ** 2, [_I]),
    ("2**int", lambda T, i: 2 ** i, [_IP]),
    ("int**0.5", lambda T, i: i ** 0.5, [_IP]),
    ("f32+f64_0d", lambda T, a, b: a + b, [_F32, _F64_0D]),
    ("f64_0d*f32", lambda T, a, b: a * b, [_F64_0D, _F32]),
    ("f32_0d+f64_0d", lambda T, a, b: a + b, [_F32_0D, _F64_0D]),
    ("f32+f64", lambda T, a, b: a + b, [_F32, _F64]),
    ("f32+f64_scalar", lambda T, a: a + 0.1, [_F32]),
    ("f64+int_scalar", lambda T, a: a - 1, [_F64]),
    ("int+f64_0d", lambda T, i, d: i + d, [_I, _F64_0D]),
    ("int+f32", lambda T, i, f: i + f, [_I, _F32]),
    ("int_0d+f32", lambda T, i, f: i * f, [_I_0D, _F32]),
    ("int_0d+float_scalar", lambda T, i: i + 2.5, [_I_0D]),
    ("bool+f64", lambda T, b, f: b + f, [_B, _F64]),
    ("f32_0d*int", lambda T, f, i: f * i, [_F32_0D, _I]),
    ("int<float_scalar", lambda T, i: i < 2.5, [_I]),
    ("f32==f64", lambda T, a, b: a == b, [_F32, _F64]),
    ("int>=int", lambda T, a, b: a >= b, [_I, _J]),
    ("int.sum", lambda T, i: i.sum(), [_I]),
    ("bool.sum", lambda T, b: b.sum(), [_B]),
    ("int.prod", lambda T, i: i.prod(), [_I]),
    ("int.max_dim", lambda T, i: i.reshape(2, 2).max(1), [_I]),
    ("int.exp", lambda T, i: i.exp(), [_IP]),
    ("int.sqrt", lambda T, i: T.sqrt(i), [_IP]),
    ("int.sigmoid", lambda T, i: T.sigmoid(i), [_I]),
    ("int.abs", lambda T, i: i.abs(), [_I]),
    ("int.neg", lambda T, i: -i, [_I]),
    ("int.clamp", lambda T, i: i.clamp(0, 3), [_I]),
    ("int.clamp_float", lambda T, i: i.clamp(min=0.5), [_I]),
    ("int.square", lambda T, i: i.square(), [_I]),
    ("where_int_float", lambda T, b, i: T.where(b, i, 0.5), [_B, _I]),
    ("maximum_int_f32", lambda T, i, f: T.maximum(i, f), [_I, _F32]),
    ("cat_int_f32", lambda T, i, f: T.cat([i, f]), [_I, _F32]),
    ("bool.float", lambda T, b: b.float(), [_B]),
    ("f64.long", lambda T, f: f.long(), [_F64]),
    ("int.double", lambda T, i: i.double() / 3, [_I]),
    ("f32.softmax_dtype", lambda T, f: T.softmax(f, 0, dtype=T.float64), [_F32]),
    ("f32.sum_dtype", lambda T, f: f.sum(dtype=T.float64), [_F32]),
    ("where_scalars", lambda T, b: T.where(b, 1.0, 0.0), [_B]),
    ("where_int_scalar", lambda T, b, i: T.where(b, i, 2), [_B, _I]),
    ("~bool", lambda T, b: ~b, [_B]),
    ("bool&|^bool", lambda T, a, b: (a & b, a | b, a ^ b), [_B, _B2]),
    ("int.sign", lambda T, i: i.sign(), [_I]),
    ("int.floor", lambda T, i: i.floor(), [_I]),
    ("int**f32", lambda T, i, f: i ** f, [_IP, _F32]),
    ("float_scalar**int", lambda T, i: 2.5 ** i, [_I]),
    ("int.sum_keepdim", lambda T, i: i.reshape(2, 2).sum(0, keepdim=True), [_I]),
    ("int.argmax", lambda T, i: i.argmax(), [_I]),
    ("int.amax", lambda T, i: i.amax(), [_I]),
    ("bool.any_all", lambda T, b: (b.any(), b.all()), [_B]),
    ("int_0d>f64_0d", lambda T, i, d: i > d, [_I_0D, _F64_0D]),
    ("f32.maximum_f64_0d", lambda T, f, d: T.maximum(f, d), [_F32, _F64_0D]),
]


@pytest.mark.parametrize("fn, arrays", [pytest.param(f, a, id=n) for n, f, a in PROMOTION])
def test_type_promotion(fn, arrays):
    t_out = _flat(fn(torch, *[torch.tensor(a) for a in arrays]))
    g_out = _flat(fn(tg, *[tg.tensor(a) for a in arrays]))
    assert len(g_out) == len(t_out)
    for g, t in zip(g_out, t_out):
        assert _np_dtype_name(g) == _np_dtype_name(t), f"dtype {g.dtype} vs torch {t.dtype}"
        assert tuple(g.shape) == tuple(t.shape)
        # identical float32 arithmetic on both sides; 1e-6 allows for a differently rounded libm
        np.testing.assert_allclose(_numpy(g), _numpy(t), rtol=1e-6, atol=0)


def test_scalar_types_of_python_numbers():
    # The default dtype is float32 for both, and 0-d results keep it.
    assert tg.tensor(1.5).dtype is tg.float32 and torch.tensor(1.5).dtype is torch.float32
    assert (tg.tensor(2) * 1.5).dtype is tg.float32
    assert (tg.tensor([1, 2]) * tg.tensor(1.5, dtype=tg.float64)).dtype is tg.float64
    assert (torch.tensor([1, 2]) * torch.tensor(1.5, dtype=torch.float64)).dtype is torch.float64


def test_max_dim_returns_values_and_indices():
    a = np.random.default_rng(7).standard_normal((3, 5))
    g = tg.tensor(a).max(1)
    t = torch.tensor(a).max(1)
    assert type(g).__name__ == "max" and len(g) == 2
    np.testing.assert_array_equal(g.values.numpy(), t.values.numpy())
    np.testing.assert_array_equal(g.indices.numpy(), t.indices.numpy())
    assert g.indices.dtype is tg.int64
    values, indices = tg.tensor(a).min(0, keepdim=True)
    tv, ti = torch.tensor(a).min(0, keepdim=True)
    np.testing.assert_array_equal(values.numpy(), tv.numpy())
    np.testing.assert_array_equal(indices.numpy(), ti.numpy())


# --- printing --------------------------------------------------------------------------------

REPR_CASES = [
    # (id, values, dtype name or None for torch's/tapegrad's inference)
    ("f32_1d", [1.0, 2.5], None),
    ("f32_integral", [1.0, 2.0, 3.0], None),
    ("f32_signed", [-1.5, 2.25, 0.0], None),
    ("f32_2d", [[1.5, -2.25], [3.0, 4.0]], None),
    ("f32_sci_small", [1e-5, 1.0], None),
    ("f32_sci_big", [1e9, 1.0], None),
    ("f32_wide", [0.1, 0.25, 123.456], None),
    ("f32_integral_ratio_1000", [1.0, 1000.0], None),
    ("f32_integral_ratio_gt_1000", [1.0, 2000.0], None),   # torch switches to scientific
    ("f32_2d_integral_ratio_gt_1000", [[1.0, 2.0], [3.0, 4000.0]], None),
    ("f32_nan_inf", [1.0, float("nan"), float("inf")], None),
    ("f32_wrapped_1d", list(range(20)), "float32"),
    ("f32_wrapped_2d", [[0.5] * 40] * 3, None),
    ("f32_0d", 3.5, None),
    ("i64_1d", [1, 2, 3], None),
    ("i64_signed", [-1, 10, 100], None),
    ("i64_2d", [[1, 2], [3, 4]], None),
    ("i64_2d_wide", [[10, -2, 3], [4, 5, 600]], None),
    ("i64_wrapped", list(range(30)), None),
    ("i64_summarised", list(range(1500)), None),
    ("i64_0d", 7, None),
]


@pytest.mark.parametrize("values, dtype", [pytest.param(v, d, id=n) for n, v, d in REPR_CASES])
def test_repr_matches_torch(values, dtype):
    g = tg.tensor(values, dtype=None if dtype is None else getattr(tg, dtype))
    t = torch.tensor(values, dtype=None if dtype is None else getattr(torch, dtype))
    assert repr(g) == repr(t).replace("torch.", "tapegrad.")


def test_repr_requires_grad_and_grad_fn_match_torch():
    g = tg.tensor([1.0, 2.5], requires_grad=True)
    t = torch.tensor([1.0, 2.5], requires_grad=True)
    assert repr(g) == repr(t)
    assert repr(g * 2) == repr(t * 2)
    assert repr(g + 1) == repr(t + 1)
    assert repr(g.sum()) == repr(t.sum())
