"""_C.cpu softmax / softmax_backward / cross_entropy_forward / cross_entropy_backward against
float64 numpy references and finite differences."""
import numpy as np
import pytest

from tapegrad._C import cpu as K

DTYPES = [np.float32, np.float64]
# float32: exp and the row sums are accurate to a few ulp; float64: a few ulp of libm's exp/log
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}

# (rows, n): empty both ways, single elements, odd lengths, rows longer than the 512-element
# blocks the kernels sum in, and enough rows to be split across threads
SHAPES = [(0, 5), (3, 0), (1, 1), (1, 7), (5, 13), (4, 1000), (2, 1025), (64, 33), (300, 100),
          (3, 4099)]


def _logits(shape, dtype, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)


# ---- float64 references -------------------------------------------------------------------

def ref_log_softmax(x):
    x = np.asarray(x, np.float64)
    if x.shape[1] == 0:
        return x.copy()
    m = x.max(axis=1, keepdims=True)
    return (x - m) - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def ref_softmax(x):
    return np.exp(ref_log_softmax(x))


def ref_lse(x):
    x = np.asarray(x, np.float64)
    if x.shape[1] == 0:
        return np.full(x.shape[0], -np.inf)
    m = x.max(axis=1)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))


def ref_ce(x, t, ignore_index=-100, eps=0.0):
    x = np.asarray(x, np.float64)
    n, c = x.shape
    lse = ref_lse(x)
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    xt = x[np.arange(n), tt] if c else np.zeros(n)
    loss = (1 - eps) * (lse - xt)
    if eps:
        loss = loss + eps * (lse - x.mean(axis=1))
    return np.where(keep, loss, 0.0), lse


def ref_ce_grad(x, t, lse, g, ignore_index=-100, eps=0.0):
    x = np.asarray(x, np.float64)
    n, c = x.shape
    p = np.exp(x - np.asarray(lse, np.float64)[:, None])
    onehot = np.zeros_like(x)
    keep = t != ignore_index
    onehot[np.arange(n)[keep], t[keep]] = 1.0
    out = np.asarray(g, np.float64)[:, None] * (p - (1 - eps) * onehot - eps / c)
    out[~keep] = 0.0
    return out


# ---- kernel wrappers ----------------------------------------------------------------------

def softmax(x, log=False, out=None):
    out = np.empty(x.shape, x.dtype) if out is None else out
    K.softmax(x, out, log)
    return out


def softmax_backward(y, g, log=False, out=None):
    out = np.empty(y.shape, y.dtype) if out is None else out
    K.softmax_backward(y, g, out, log)
    return out


def ce_forward(x, t, ignore_index=-100, eps=0.0):
    loss = np.empty(x.shape[0], x.dtype)
    lse = np.empty(x.shape[0], x.dtype)
    counted = K.cross_entropy_forward(x, t, loss, lse, ignore_index, eps)
    assert counted == int(np.count_nonzero(t != ignore_index))  # rows a mean divides by
    return loss, lse


def ce_backward(x, t, lse, g, ignore_index=-100, eps=0.0, out=None):
    out = np.empty(x.shape, x.dtype) if out is None else out
    K.cross_entropy_backward(x, t, lse, g, out, ignore_index, eps)
    return out


def _strided_views(x):
    """The same values as x in other memory layouts."""
    r, n = x.shape
    col_major = np.ascontiguousarray(x.T).T
    padded = np.zeros((r, 2 * n + 1), x.dtype)
    padded[:, 1::2] = x
    flipped = np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1]
    return {"transposed": col_major, "column_step": padded[:, 1::2], "reversed": flipped}


# ---- softmax ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_reference(kernels, shape, dtype, log):
    x = _logits(shape, dtype)
    out = softmax(x, log)
    ref = ref_log_softmax(x) if log else ref_softmax(x)
    np.testing.assert_allclose(out, ref, **TOL[dtype])
    if not log and shape[1]:
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=TOL[dtype]["rtol"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_layouts_and_in_place(dtype, log):
    x = _logits((37, 21), dtype, seed=1)
    ref = ref_log_softmax(x) if log else ref_softmax(x)
    for name, xv in _strided_views(x).items():
        np.testing.assert_allclose(softmax(xv, log), ref, **TOL[dtype], err_msg=name)
        for oname, ov in _strided_views(np.zeros_like(x)).items():
            softmax(xv, log, out=ov)
            np.testing.assert_allclose(ov, ref, **TOL[dtype], err_msg=f"{name} -> {oname}")
        softmax(xv, log, out=xv)  # in place, in the view's own layout (xv is a fresh copy)
        np.testing.assert_allclose(xv, ref, **TOL[dtype], err_msg=f"{name} in place")
    # stride-0 inputs: one row repeated, and a column broadcast along the row
    row = _logits((9,), dtype, seed=2)
    xb = np.broadcast_to(row, (4, 9))
    refb = ref_log_softmax(xb) if log else ref_softmax(xb)
    np.testing.assert_allclose(softmax(xb, log), refb, **TOL[dtype])
    xc = np.broadcast_to(row[:, None], (9, 5))
    refc = np.full((9, 5), -np.log(5.0) if log else 0.2)
    np.testing.assert_allclose(softmax(xc, log), refc, **TOL[dtype])


@pytest.mark.parametrize("log", [False, True])
def test_softmax_shift_invariant(kernels, log):
    # float64: any values; float32: values on a 1/1024 grid, so that x + 1000 is exact and only
    # the kernel's own rounding could tell the two apart
    x64 = _logits((16, 300), np.float64, seed=3)
    np.testing.assert_allclose(softmax(x64 + 1000.0, log), softmax(x64, log), rtol=0, atol=1e-6)
    x32 = (np.round(_logits((16, 300), np.float64, seed=3) * 1024) / 1024).astype(np.float32)
    np.testing.assert_allclose(softmax(x32 + np.float32(1000), log), softmax(x32, log),
                               rtol=0, atol=1e-6)
    big = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    ref = ref_log_softmax(np.array([[0.0, 1.0, 2.0], [0.0, -1.0, -2.0]]))
    np.testing.assert_allclose(softmax(big, log), ref if log else np.exp(ref), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_infinities_follow_torch(kernels, dtype):
    inf, nan = np.inf, np.nan
    x = np.array([[0.0, -inf, 1.0, -inf],      # masked entries: probability 0
                  [-inf, -inf, -inf, -inf],    # nothing left: nan, as torch
                  [0.0, inf, 1.0, 2.0],        # +inf: nan, as torch
                  [0.0, nan, 1.0, 2.0]], dtype)
    p = softmax(x)
    e = np.exp(np.array([0.0, 1.0]))
    np.testing.assert_allclose(p[0], [e[0] / e.sum(), 0.0, e[1] / e.sum(), 0.0], **TOL[dtype])
    assert np.isnan(p[1:]).all()
    lp = softmax(x, log=True)
    np.testing.assert_allclose(lp[0, [0, 2]], np.log(e / e.sum()), **TOL[dtype])
    assert lp[0, 1] == -inf and lp[0, 3] == -inf
    assert np.isnan(lp[1:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_extreme_spread(kernels, dtype):
    # probabilities far below the largest one keep their relative accuracy instead of flushing
    # early; in float32 the last two are subnormal, good to one subnormal step (1.4e-45)
    x = np.array([[0.0, -20.0, -80.0, -95.0, -101.0]], dtype)
    ref = ref_softmax(x)
    out = softmax(x)
    assert np.all(out > 0)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1.5e-45 if dtype == np.float32 else 0)
    lp = softmax(x, log=True)
    np.testing.assert_allclose(lp, ref_log_softmax(x), **TOL[dtype])


# ---- softmax_backward ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_matches_reference(kernels, shape, dtype, log):
    x = _logits(shape, dtype, seed=4)
    g = _logits(shape, dtype, seed=5, scale=1.0)
    y = softmax(x, log)
    yd, gd = y.astype(np.float64), g.astype(np.float64)
    if log:
        ref = gd - np.exp(yd) * gd.sum(axis=1, keepdims=True)
    else:
        ref = yd * (gd - (gd * yd).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax_backward(y, g, log), ref, **TOL[dtype])


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_matches_finite_differences(log):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 7)) * 2
    g = rng.standard_normal((4, 7))
    y = softmax(x, log)
    out = softmax_backward(y, g, log)
    h = 1e-6
    fd = np.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            xp, xm = x.copy(), x.copy()
            xp[i, j] += h
            xm[i, j] -= h
            fd[i, j] = (np.sum(g * softmax(xp, log)) - np.sum(g * softmax(xm, log))) / (2 * h)
    np.testing.assert_allclose(out, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_layouts_and_in_place(dtype, log):
    x = _logits((23, 19), dtype, seed=7)
    g = _logits((23, 19), dtype, seed=8, scale=1.0)
    y = softmax(x, log)
    ref = softmax_backward(y, g, log)
    for yname, yv in _strided_views(y).items():
        for gname, gv in _strided_views(g).items():
            out = np.empty((19, 23), dtype).T
            softmax_backward(yv, gv, log, out=out)
            np.testing.assert_allclose(out, ref, **TOL[dtype], err_msg=f"{yname}, {gname}")
    gi = g.copy()
    softmax_backward(y, gi, log, out=gi)  # in place into the gradient
    np.testing.assert_allclose(gi, ref, **TOL[dtype])
    yi = y.copy()
    softmax_backward(yi, g, log, out=yi)  # in place into the saved output
    np.testing.assert_allclose(yi, ref, **TOL[dtype])
    # upstream gradient broadcast from a scalar (sum().backward())
    ones = np.broadcast_to(np.asarray(1.0, dtype), y.shape)
    np.testing.assert_allclose(softmax_backward(y, ones, log),
                               softmax_backward(y, np.ones_like(y), log), **TOL[dtype])


def test_log_softmax_backward_exp_over_full_range():
    # with g = e_last, log_softmax backward returns -exp(y): a sweep of the float32 exp the
    # kernels use, through overflow, underflow into the subnormals and the special values
    y = np.concatenate([np.linspace(-110, 95, 40_001),
                        [-np.inf, np.inf, np.nan, 0.0, -0.0, 88.72, 88.7228, -87.3, -103.9, 1e-30]])
    for dtype in DTYPES:
        yy = np.append(y, 0.0).astype(dtype)[None, :]
        g = np.zeros_like(yy)
        g[0, -1] = 1.0
        e = -softmax_backward(yy, g, log=True)[0, :-1]
        with np.errstate(over="ignore"):
            ref = np.exp(yy[0, :-1].astype(np.float64))
            refc = ref.astype(dtype)
        special = ~np.isfinite(refc) | (refc == 0)
        np.testing.assert_array_equal(e[special], refc[special])
        # error in units in the last place (absolute in the subnormal range). float32: measured
        # 0.86 with FMA and 1.09 without; float64 is libm's exp against numpy's, two
        # approximations of about one ulp each
        ulps = np.abs(e[~special] - ref[~special]) / np.spacing(refc[~special]).astype(np.float64)
        assert ulps.max() <= 1.5, (dtype, ulps.max())


# ---- cross_entropy ------------------------------------------------------------------------

CE_SHAPES = [(0, 10), (1, 1), (1, 2), (7, 10), (33, 1000), (5, 1025), (300, 100),
             # short rows (<= 32 classes) run a block of rows at a time; 5000 x 7 spans
             # several blocks and threads
             (5000, 7), (700, 32), (9, 33)]


def _targets(n, c, seed=0, ignore_every=0, ignore_index=-100):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, max(c, 1), n).astype(np.int64)
    if ignore_every:
        t[1::ignore_every] = ignore_index
    return t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_cross_entropy_matches_reference(kernels, shape, dtype, eps):
    n, c = shape
    x = _logits(shape, dtype, seed=9)
    t = _targets(n, c, seed=10, ignore_every=3)
    loss, lse = ce_forward(x, t, eps=eps)
    ref_loss, ref_l = ref_ce(x, t, eps=eps)
    np.testing.assert_allclose(lse, ref_l, **TOL[dtype])
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    assert np.all(loss[t == -100] == 0)
    g = _logits((n,), dtype, seed=11, scale=1.0)
    out = ce_backward(x, t, lse, g, eps=eps)
    np.testing.assert_allclose(out, ref_ce_grad(x, t, lse, g, eps=eps), **TOL[dtype])
    assert np.all(out[t == -100] == 0)


@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_cross_entropy_backward_matches_finite_differences(eps):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5, 6)) * 2
    t = np.array([0, 5, -100, 2, 3], np.int64)
    g = rng.standard_normal(5)
    _, lse = ce_forward(x, t, eps=eps)
    out = ce_backward(x, t, lse, g, eps=eps)
    h = 1e-6
    fd = np.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            xp, xm = x.copy(), x.copy()
            xp[i, j] += h
            xm[i, j] -= h
            up, down = ce_forward(xp, t, eps=eps)[0], ce_forward(xm, t, eps=eps)[0]
            fd[i, j] = (g @ up - g @ down) / (2 * h)
    np.testing.assert_allclose(out, fd, rtol=1e-6, atol=1e-8)
    assert np.all(out[2] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_ignore_index(kernels, dtype):
    x = _logits((6, 4), dtype, seed=13)
    # a custom ignore_index, even one that is a valid class, only skips the rows that carry it
    t = np.array([3, 1, 3, 0, 2, 3], np.int64)
    loss, lse = ce_forward(x, t, ignore_index=3)
    ref_loss, ref_l = ref_ce(x, t, ignore_index=3)
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    np.testing.assert_allclose(lse, ref_l, **TOL[dtype])  # lse is written for ignored rows too
    assert np.all(loss[t == 3] == 0)
    g = np.ones(6, dtype)
    out = ce_backward(x, t, lse, g, ignore_index=3, eps=0.2)
    ref_grad = ref_ce_grad(x, t, lse, g, ignore_index=3, eps=0.2)
    np.testing.assert_allclose(out, ref_grad, **TOL[dtype])
    assert np.all(out[t == 3] == 0)
    # an out-of-range target is fine on an ignored row only if it equals ignore_index
    t2 = np.array([-1, -1, 0, 1, 2, 3], np.int64)
    loss2, _ = ce_forward(x, t2, ignore_index=-1)
    assert loss2[0] == 0 and loss2[1] == 0
    # no classes at all: fine while every row is ignored
    x0 = np.empty((3, 0), dtype)
    t0 = np.full(3, -100, np.int64)
    loss0, lse0 = ce_forward(x0, t0)
    assert np.all(loss0 == 0) and np.all(lse0 == -np.inf)
    assert ce_backward(x0, t0, lse0, np.ones(3, dtype)).shape == (3, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_layouts_and_in_place(dtype):
    n, c = 29, 11
    x = _logits((n, c), dtype, seed=14)
    t = _targets(n, c, seed=15, ignore_every=4)
    g = _logits((n,), dtype, seed=16, scale=1.0)
    ref_loss, ref_l = ref_ce(x, t, eps=0.1)
    _, lse = ce_forward(x, t, eps=0.1)
    ref_grad = ref_ce_grad(x, t, lse, g, eps=0.1)
    t_strided = np.repeat(t, 2)[::2]
    for name, xv in _strided_views(x).items():
        loss = np.empty(2 * n, dtype)[::2]
        lse_v = np.empty(3 * n, dtype)[::-3]
        K.cross_entropy_forward(xv, t_strided, loss, lse_v, -100, 0.1)
        np.testing.assert_allclose(loss, ref_loss, **TOL[dtype], err_msg=name)
        np.testing.assert_allclose(lse_v, ref_l, **TOL[dtype], err_msg=name)
        for oname, ov in _strided_views(np.zeros_like(x)).items():
            ce_backward(xv, t_strided, lse_v, g[::-1].copy()[::-1], eps=0.1, out=ov)
            np.testing.assert_allclose(ov, ref_grad, **TOL[dtype], err_msg=f"{name} -> {oname}")
        ce_backward(xv, t, lse, g, eps=0.1, out=xv)  # in place over the logits (a fresh copy)
        np.testing.assert_allclose(xv, ref_grad, **TOL[dtype], err_msg=f"{name} in place")
    # grad_loss broadcast from one value, as the mean reduction gives
    gb = np.broadcast_to(np.asarray(1.0 / n, dtype), (n,))
    np.testing.assert_allclose(ce_backward(x, t, lse, gb, eps=0.1),
                               ref_ce_grad(x, t, lse, np.full(n, 1.0 / n), eps=0.1), **TOL[dtype])


def test_cross_entropy_shift_invariant(kernels):
    x = _logits((64, 100), np.float64, seed=17)
    t = _targets(64, 100, seed=18)
    g = np.full(64, 1 / 64)
    loss, lse = ce_forward(x, t, eps=0.1)
    loss_s, lse_s = ce_forward(x + 1000.0, t, eps=0.1)
    np.testing.assert_allclose(loss_s, loss, rtol=0, atol=1e-10)
    np.testing.assert_allclose(lse_s, lse + 1000.0, rtol=1e-13)
    grad = ce_backward(x, t, lse, g, eps=0.1)
    grad_s = ce_backward(x + 1000.0, t, lse_s, g, eps=0.1)
    np.testing.assert_allclose(grad_s, grad, rtol=0, atol=1e-12)
    # float32 on a 1/1024 grid (x + 1000 exact). The loss is exact to float32 rounding; the
    # gradient reads lse back in float32, whose rounding at |lse| ~ 1000 (up to 3e-5) scales
    # every probability, so it is only as close as that (gradient entries are <= 1/64 here).
    x32 = (np.round(x * 1024) / 1024).astype(np.float32)
    g32 = g.astype(np.float32)
    loss32, lse32 = ce_forward(x32, t)
    loss32s, lse32s = ce_forward(x32 + np.float32(1000), t)
    np.testing.assert_allclose(loss32s, loss32, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(loss32, ref_ce(x32, t)[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ce_backward(x32 + np.float32(1000), t, lse32s, g32),
                               ce_backward(x32, t, lse32, g32), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_infinities(kernels, dtype):
    inf = np.inf
    x = np.array([[0.0, -inf, 1.0],     # a masked class: finite loss
                  [-inf, -inf, -inf],   # nothing left: lse -inf, loss nan (as torch)
                  [0.0, inf, 1.0]], dtype)
    t = np.array([0, 0, 0], np.int64)
    loss, lse = ce_forward(x, t)
    np.testing.assert_allclose(lse[0], np.log(1 + np.e), **TOL[dtype])
    np.testing.assert_allclose(loss[0], np.log(1 + np.e), **TOL[dtype])
    assert lse[1] == -inf and np.isnan(loss[1])
    assert lse[2] == inf and loss[2] == inf
    g = np.ones(3, dtype)
    out = ce_backward(x, t, lse, g)
    p = np.exp([0.0, 1.0]) / (1 + np.e)
    np.testing.assert_allclose(out[0], [p[0] - 1, 0.0, p[1]], **TOL[dtype])
    # label smoothing puts weight on the masked class: torch gives inf there too
    loss_s, _ = ce_forward(x[:1], t[:1], eps=0.1)
    assert loss_s[0] == inf


# ---- errors -------------------------------------------------------------------------------

def test_cross_entropy_target_errors(kernels):
    x = np.zeros((4, 10), np.float32)
    loss, lse = np.empty(4, np.float32), np.empty(4, np.float32)
    with pytest.raises(IndexError,
                       match="^cross_entropy: target 12 is out of bounds for 10 classes$"):
        K.cross_entropy_forward(x, np.array([1, 12, 0, 0], np.int64), loss, lse)
    with pytest.raises(IndexError,
                       match="cross_entropy: target -1 is out of bounds for 10 classes"):
        K.cross_entropy_forward(x, np.array([1, 2, 0, -1], np.int64), loss, lse)
    with pytest.raises(IndexError,
                       match="cross_entropy: target 10 is out of bounds for 10 classes"):
        K.cross_entropy_backward(x, np.array([10, 1, 0, 0], np.int64), lse,
                                 np.ones(4, np.float32), np.empty_like(x))
    # raised from inside the multi-threaded row loop as well
    big = np.zeros((4000, 50), np.float32)
    tb = np.zeros(4000, np.int64)
    tb[3999] = 50
    with pytest.raises(IndexError,
                       match="target 50 is out of bounds for 50 classes"):
        K.cross_entropy_forward(big, tb, np.empty(4000, np.float32), np.empty(4000, np.float32))
    with pytest.raises(IndexError,
                       match="target 0 is out of bounds for 0 classes"):
        K.cross_entropy_forward(np.empty((2, 0), np.float32), np.array([-100, 0], np.int64),
                                np.empty(2, np.float32), np.empty(2, np.float32))


# ---- memory shared between inputs and outputs ---------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
def test_partial_overlap_reads_inputs_first(dtype, log):
    """An input that shares memory with an output without being it gives the result separate
    arrays give (numpy's rule: as if every input were read before any output is written)."""
    buf = _logits((6, 10), dtype, seed=30)
    x0 = buf.copy()
    softmax(buf[:4], log, out=buf[1:5])  # out one row ahead of x
    np.testing.assert_array_equal(buf[1:5], softmax(x0[:4], log))
    np.testing.assert_array_equal(buf[0], x0[0])
    buf = _logits((9, 10), dtype, seed=31)
    b0 = buf.copy()
    want = softmax_backward(b0[:4], b0[4:8], log)
    softmax_backward(buf[:4], buf[4:8], log, out=buf[2:6])  # over the end of y, start of grad
    np.testing.assert_array_equal(buf[2:6], want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_partial_overlap_reads_inputs_first(dtype):
    flat = _logits((60,), dtype, seed=32)
    f0 = flat.copy()
    t = _targets(4, 10, seed=33)
    want_loss, want_lse = ce_forward(f0[:40].reshape(4, 10), t, eps=0.1)
    loss, lse = flat[3:7], np.empty(4, dtype)  # the loss is written inside the logits' first row
    K.cross_entropy_forward(flat[:40].reshape(4, 10), t, loss, lse, -100, 0.1)
    np.testing.assert_array_equal(loss, want_loss)
    np.testing.assert_array_equal(lse, want_lse)
    # out over the logits shifted by a row, lse and grad_loss inside out as well
    flat = f0.copy()
    g = _logits((4,), dtype, seed=34, scale=1.0)
    flat[41:45], flat[45:49] = want_lse, g
    want = ce_backward(f0[:40].reshape(4, 10), t, want_lse, g, eps=0.1)
    out = flat[10:50].reshape(4, 10)
    K.cross_entropy_backward(flat[:40].reshape(4, 10), t, flat[41:45], flat[45:49], out, -100,
                             0.1)
    np.testing.assert_array_equal(out, want)
    # targets whose memory the loss overwrites: read first
    if dtype == np.float64:
        tbuf = t.copy()
        K.cross_entropy_forward(f0[:40].reshape(4, 10), tbuf, tbuf.view(np.float64),
                                np.empty(4, dtype), -100, 0.1)
        np.testing.assert_array_equal(tbuf.view(np.float64), want_loss)


_F32, _F64, _I64 = np.float32, np.float64, np.int64
_X = np.zeros((4, 10), _F32)
_T = np.zeros(4, _I64)
_V = np.empty(4, _F32)  # a loss / lse / grad_loss vector
_BUF = np.zeros((5, 10), _F32)

ARGUMENT_ERRORS = [
    (lambda: K.softmax(np.zeros(10, _F32), np.zeros(10, _F32)),
     r"softmax: x must be 2-D, got shape \(10,\)"),
    (lambda: K.softmax(_X, np.zeros((10, 4), _F32), True),
     r"log_softmax: x and out shapes \(4, 10\) and \(10, 4\) must match"),
    (lambda: K.softmax(_X, np.zeros((4, 10), _F64)),
     "softmax: x and out dtypes must match, got float32 and float64"),
    (lambda: K.softmax(np.zeros((2, 2), _I64), np.zeros((2, 2), _I64)),
     "softmax: expected a float32 or float64 array, got int64"),
    (lambda: K.softmax(_X, np.broadcast_to(_F32(0), (4, 10))),
     "softmax: output array is read-only"),
    (lambda: K.softmax_backward(_X, np.zeros((4, 9), _F32), np.zeros_like(_X)),
     r"softmax_backward: y and grad shapes \(4, 10\) and \(4, 9\) must match"),
    (lambda: K.softmax_backward(_X, _X, np.zeros((4, 10), _F64), True),
     "log_softmax_backward: y and out dtypes must match, got float32 and float64"),
    (lambda: K.cross_entropy_forward(np.zeros(10, _F32), _T, _V, _V.copy()),
     r"cross_entropy_forward: logits must be 2-D, got shape \(10,\)"),
    (lambda: K.cross_entropy_forward(_X, np.zeros(5, _I64), _V, _V.copy()),
     r"cross_entropy_forward: logits \(4, 10\) and target \(5,\) must have the same number"),
    (lambda: K.cross_entropy_forward(_X, np.zeros(4, _F32), _V, _V.copy()),
     "cross_entropy_forward: target must be int64, got float32"),
    (lambda: K.cross_entropy_forward(_X, np.zeros(4, np.int32), _V, _V.copy()),
     "cross_entropy_forward: unsupported array dtype 'int32'"),
    (lambda: K.cross_entropy_forward(_X, _T, np.empty(4, _F64), _V),
     "cross_entropy_forward: logits and loss dtypes must match, got float32 and float64"),
    (lambda: K.cross_entropy_forward(_X, _T, _V, np.empty(3, _F32)),
     r"cross_entropy_forward: logits \(4, 10\) and lse \(3,\) must have the same number"),
    (lambda: K.cross_entropy_forward(_X, _T, _V, _V.copy(), -100, 1.5),
     "cross_entropy_forward: label_smoothing must be between 0.0 and 1.0, got 1.5"),
    (lambda: K.cross_entropy_forward(_X, _T, _V, _V),
     "cross_entropy_forward: loss and lse must be different arrays"),
    (lambda: K.cross_entropy_forward(_X, _T, _BUF[0, :4], _BUF[0, 2:6]),
     "cross_entropy_forward: loss and lse must be different arrays that do not overlap"),
    (lambda: K.cross_entropy_backward(_X, _T, _V, _V, np.empty((4, 9), _F32)),
     r"cross_entropy_backward: logits and out shapes \(4, 10\) and \(4, 9\) must match"),
    (lambda: K.cross_entropy_backward(_X, _T, _V, np.ones(4, _F64), np.empty_like(_X)),
     "cross_entropy_backward: logits and grad_loss dtypes must match, got float32 and float64"),
    (lambda: K.cross_entropy_backward(_X, _T, _V, np.ones((4, 1), _F32), np.empty_like(_X)),
     r"cross_entropy_backward: grad_loss must be 1-D, got shape \(4, 1\)"),
    (lambda: K.cross_entropy_backward(_X, _T, _V, _V, np.empty_like(_X), -100, -0.1),
     "cross_entropy_backward: label_smoothing must be between 0.0 and 1.0, got -0.1"),
]


@pytest.mark.parametrize("call, match", ARGUMENT_ERRORS, ids=range(len(ARGUMENT_ERRORS)))
def test_argument_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
