"""Normalization: batch_norm and layer_norm, each ONE Node.

Forward and backward are composed of array ops (keepdim reductions and broadcasting
binaries); the backward is the closed form

    dx = invstd * (dy' - mean(dy') - xhat * mean(dy' * xhat)),   dy' = dy * weight

over the normalized axes, so a layer costs one graph node instead of the dozen a composite
(mean, sub, var, rsqrt, mul, ...) would record and keep alive. The statistics are two-pass
(mean, then the mean of squared deviations) as PyTorch's CPU kernels compute them.
"""
from __future__ import annotations

from ..autograd.grad_mode import _state as _grad_state
from ..autograd.node import Node
from .. import arrays
from ..tensor import Tensor
from .elementwise import _float_input


def _mean(x, axes, n):
    return arrays.div(arrays.sum(x, axes, keepdim=True), n)


def _normalize(x, axes, n, eps):
    """(xhat, mean, biased var, invstd) of x over `axes`; the statistics keep x's rank."""
    mean = _mean(x, axes, n)
    xc = arrays.sub(x, mean)
    var = _mean(arrays.square(xc), axes, n)
    invstd = arrays.rsqrt(arrays.add(var, eps))
    return arrays.mul(xc, invstd), mean, var, invstd


def _affine(xhat, w, b):
    y = xhat if w is None else arrays.mul(xhat, w)
    return y if b is None else arrays.add(y, b)


def _input_grad(g, xhat, invstd, w, axes, n, batch_stats):
    """d loss / d x. With fixed statistics (eval-mode batch norm) x only enters through
    (x - mean) * invstd, so the gradient is dy' * invstd."""
    gy = g if w is None else arrays.mul(g, w)
    if not batch_stats:
        return arrays.mul(gy, invstd)
    mean_gy = _mean(gy, axes, n)
    mean_gyx = _mean(arrays.mul(gy, xhat), axes, n)
    centred = arrays.sub(arrays.sub(gy, mean_gy), arrays.mul(xhat, mean_gyx))
    return arrays.mul(centred, invstd)


class _Normalization(Node):
    """Shared backward: stats over `self.axes`, weight/bias reduced over `self.param_axes`;
    the weight broadcasts against x once reshaped to `self.weight_view` (when set)."""
    weight_view = None

    def _save(self, x, xhat, invstd, weight, has_b, eps, fixed_mean=None):
        # the weight array itself is saved (not a reshaped view of it), so that changing the
        # parameter in place before backward is caught by its version counter. x is saved for
        # create_graph, which recomputes xhat and invstd from it (fixed_mean: the running mean
        # that eval-mode batch norm subtracts).
        self.has_w, self.has_b = weight is not None, has_b
        self.eps, self.fixed_mean = eps, fixed_mean
        self.save_for_backward(xhat, invstd, weight, x)

    def backward(self, g):
        xhat, invstd, w, x = self.saved_arrays
        if _grad_state.create_graph:
            # xhat and invstd as functions of x, so that their dependence on it is differentiated
            if self.batch_stats:
                xhat, _, _, invstd = _normalize(x, self.axes, self.n, self.eps)
            else:
                xhat = arrays.mul(arrays.sub(x, self.fixed_mean), invstd)
        needs = self.needs_input_grad  # x, then weight and bias where they were given
        grads = [None] * len(needs)
        if needs[0]:
            if w is not None and self.weight_view is not None:
                w = arrays.reshape(w, self.weight_view)
            grads[0] = _input_grad(g, xhat, invstd, w, self.axes, self.n, self.batch_stats)
        k = 1
        if self.has_w:
            if needs[k]:
                grads[k] = self._param_grad(arrays.mul(g, xhat))
            k += 1
        if self.has_b and needs[k]:
            grads[k] = self._param_grad(g)
        return tuple(grads)

    def _param_grad(self, t):
        summed = arrays.sum(t, self.param_axes) if self.param_axes else t
        return arrays.reshape(summed, self.param_shape)


class BatchNorm(_Normalization):
    """x (N, C, *): per-channel statistics over N and the trailing dims."""

    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        c = x.shape[1]
        self.axes = self.param_axes = (0,) + tuple(range(2, x.ndim))
        self.param_shape = (c,)
        stat_shape = (1, c) + (1,) * (x.ndim - 2)
        self.n = x.size // c if c else 0
        self.batch_stats = training
        fixed_mean = None
        if training:
            xhat, mean, var, invstd = _normalize(x, self.axes, self.n, eps)
            _update_running(running_mean, running_var, mean, var, self.n, momentum)
        else:
            mean = arrays.reshape(running_mean, stat_shape)
            var = arrays.reshape(running_var, stat_shape)
            if mean.dtype != x.dtype:
                mean, var = arrays.astype(mean, x.dtype), arrays.astype(var, x.dtype)
            invstd = arrays.rsqrt(arrays.add(var, eps))
            xhat = arrays.mul(arrays.sub(x, mean), invstd)
            fixed_mean = mean
        self.weight_view = stat_shape
        w = None if weight is None else arrays.reshape(weight, stat_shape)
        b = None if bias is None else arrays.reshape(bias, stat_shape)
        self._save(x, xhat, invstd, weight, bias is not None, eps, fixed_mean)
        return _affine(xhat, w, b)


def _update_running(running_mean, running_var, mean, var, n, momentum) -> None:
    """running = (1 - momentum) * running + momentum * batch statistic, in place; the variance
    folded in is the unbiased one, n / (n - 1) times the biased."""
    for running, stat, scale in ((running_mean, mean, 1.0), (running_var, var, n / (n - 1))):
        if running is None:
            continue
        stat = arrays.reshape(stat, running.shape)
        if stat.dtype != running.dtype:
            stat = arrays.astype(stat, running.dtype)
        kept = arrays.mul(running, 1.0 - momentum)
        arrays.add(kept, arrays.mul(stat, momentum * scale), out=running)


class LayerNorm(_Normalization):
    """Statistics over the last k dims (normalized_shape) of each row."""

    def forward(self, x, weight, bias, k, eps):
        lead = x.ndim - k
        self.axes = tuple(range(lead, x.ndim))
        self.param_axes = tuple(range(lead))
        self.param_shape = x.shape[lead:]
        n = 1
        for s in self.param_shape:
            n *= s
        self.n, self.batch_stats = n, True
        xhat, _, _, invstd = _normalize(x, self.axes, n, eps)
        self._save(x, xhat, invstd, weight, bias is not None, eps)
        return _affine(xhat, weight, bias)


def _check_param(name: str, t, shape: tuple, x: Tensor, op: str) -> None:
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise RuntimeError(
            f"{op}: {name} of shape {tuple(t.shape)} does not match the input of shape {tuple(x.shape)} "
            f"(expected {shape})"
        )
    if t.device != x.device:
        raise RuntimeError(f"{op}: expected {name} on the input's device, got {name} on {t.device} "
                           f"and input on {x.device}")
    if name in ("weight", "bias") and t.dtype is not x.dtype:
        raise RuntimeError(f"{op}: expected {name} of dtype {x.dtype.name} (the input's), got {t.dtype.name}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5) -> Tensor:
    """PyTorch's F.batch_norm: normalise each channel of x (N, C, *) by the batch's statistics
    (training, which also updates running_mean/running_var in place) or by the running ones."""
    x = _float_input(input, "batch_norm")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got shape {tuple(x.shape)}")
    c = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _check_param(name, t, (c,), x, "batch_norm")
    if training:
        per_channel = x.numel() // c if c else 0
        if per_channel == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {x.shape}")
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be given when training=False")
    rm = None if running_mean is None else running_mean._data
    rv = None if running_var is None else running_var._data
    out = BatchNorm.apply(x, weight, bias, rm, rv, training=bool(training),
                          momentum=float(momentum), eps=float(eps))
    if training:
        for t in (running_mean, running_var):
            if t is not None:
                t._version[0] += 1
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:  # noqa: A002
    """PyTorch's F.layer_norm: normalise over the trailing dims given by normalized_shape."""
    x = _float_input(input, "layer_norm")
    from .._checks import int_arg

    dims = normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
    shape = tuple(int_arg(s, "layer_norm", "normalized_shape") for s in dims)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise RuntimeError(
            f"layer_norm: Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in shape)}], but got input of size{list(x.shape)}"
        )
    _check_param("weight", weight, shape, x, "layer_norm")
    _check_param("bias", bias, shape, x, "layer_norm")
    return LayerNorm.apply(x, weight, bias, k=k, eps=float(eps))
