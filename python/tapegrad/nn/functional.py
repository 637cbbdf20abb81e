"""tapegrad.nn.functional: PyTorch's functional API. Fused ops come from tapegrad.ops; the
losses below that have no kernel of their own are composites, so autograd derives their
backward from the primitives."""
from __future__ import annotations

import warnings

from .. import dtypes as _dt
from ..ops import elementwise as ew
from ..ops import reduce as red
from ..ops.activations import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus, tanh  # noqa: F401
from ..ops.matmul import linear  # noqa: F401
from ..ops.softmax import BinaryCrossEntropy, cross_entropy, log_softmax, softmax  # noqa: F401
from ..tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return red.mean(loss)
    if reduction == "sum":
        return red.sum(loss)
    raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; expected one of {_REDUCTIONS}")


def _check_pair(input, target, op: str):  # noqa: A002
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{op}: expected Tensors, got {type(input).__name__} and {type(target).__name__}")
    if input.shape != target.shape:
        warnings.warn(
            f"{op}: using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}); this will likely lead to incorrect results due to broadcasting.",
            UserWarning,
            stacklevel=3,
        )


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    _check_pair(input, target, "mse_loss")
    d = ew.sub(input, target)
    return _reduce(ew.mul(d, d), reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    _check_pair(input, target, "l1_loss")
    return _reduce(ew.abs(ew.sub(input, target)), reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    _check_pair(input, target, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    ad = ew.abs(ew.sub(input, target))
    if beta == 0:
        return _reduce(ad, reduction, "smooth_l1_loss")
    quad = ew.div(ew.mul(ew.mul(ad, ad), 0.5), beta)
    loss = ew.where(ew.compare("lt", ad, beta), quad, ew.sub(ad, 0.5 * beta))
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002
    _check_pair(input, target, "huber_loss")
    ad = ew.abs(ew.sub(input, target))
    quad = ew.mul(ew.mul(ad, ad), 0.5)
    lin = ew.mul(ew.sub(ad, 0.5 * delta), delta)
    return _reduce(ew.where(ew.compare("le", ad, delta), quad, lin), reduction, "huber_loss")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"binary_cross_entropy: target size ({tuple(target.shape)}) must be the same as input size "
            f"({tuple(input.shape)})"
        )
    values = input.detach()
    if bool(red.any(ew.logical_or(ew.compare("lt", values, 0.0), ew.compare("gt", values, 1.0)))):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    dt = ew.result_type(input, target)
    loss = BinaryCrossEntropy.apply(ew.as_operand(input, dt, "binary_cross_entropy"),
                                    ew.as_operand(target, dt, "binary_cross_entropy"))
    if weight is not None:
        loss = ew.mul(loss, weight)
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,  # noqa: A002
                                     reduce=None, reduction="mean", pos_weight=None):
    if input.shape != target.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target size ({tuple(target.shape)}) must be the same "
            f"as input size ({tuple(input.shape)})"
        )
    # (1 - t) x + (1 + (pw - 1) t) softplus(-x): softplus is evaluated stably by its kernel, so
    # logits of +-120 give finite losses and gradients.
    sp = softplus(ew.neg(input))
    if pos_weight is not None:
        sp = ew.mul(sp, ew.add(ew.mul(ew.sub(pos_weight, 1.0), target), 1.0))
    loss = ew.add(ew.mul(ew.sub(1.0, target), input), sp)
    if weight is not None:
        loss = ew.mul(loss, weight)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):  # noqa: A002
    if log_target:
        loss = ew.mul(ew.exp(target), ew.sub(target, input))
    else:
        # target * (log target - input), with 0 * log 0 = 0
        pos = ew.compare("gt", target, 0.0)
        safe = ew.where(pos, target, ew.as_operand(1.0, target.dtype, "kl_div"))
        loss = ew.where(pos, ew.mul(target, ew.sub(ew.log(safe), input)),
                        ew.mul(ew.mul(target, input), -1.0))
    if reduction == "batchmean":
        total = red.sum(loss)
        return ew.div(total, input.shape[0]) if input.ndim else total
    return _reduce(loss, reduction, "kl_div")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    from ..creation import arange
    from ..ops.index import getitem
    from ..ops.shape import movedim, reshape

    if weight is not None:
        raise NotImplementedError("nll_loss: per-class 'weight' is not supported yet")
    if target.dtype is not _dt.int64:
        raise RuntimeError(f"nll_loss: expected target of dtype int64, got {target.dtype.name}")
    if input.ndim == 1:
        input, target = reshape(input, (1, -1)), reshape(target, (1,))
    if target.shape != input.shape[:1] + input.shape[2:]:
        raise ValueError(
            f"nll_loss: input of shape {tuple(input.shape)} and target of shape {tuple(target.shape)} do not match"
        )
    out_shape = tuple(target.shape)
    if input.ndim > 2:
        input = reshape(movedim(input, 1, -1), (-1, input.shape[1]))
        target = reshape(target, (-1,))
    c = input.shape[1]
    keep = ew.compare("ne", target, ignore_index)
    safe_target = ew.where(keep, target, ew.as_operand(0, _dt.int64, "nll_loss"))
    bad = ew.logical_or(ew.compare("lt", safe_target, 0), ew.compare("ge", safe_target, c))
    if bool(red.any(bad)):
        raise IndexError(f"nll_loss: target {int(red.max(ew.where(bad, target, -1)))} is out of bounds for {c} classes")
    rows = arange(input.shape[0])
    picked = getitem(input, (rows, safe_target))
    loss = ew.neg(ew.where(keep, picked, ew.as_operand(0.0, input.dtype, "nll_loss")))
    if reduction == "none":
        return reshape(loss, out_shape)
    if reduction == "sum":
        return red.sum(loss)
    if reduction == "mean":
        return ew.div(red.sum(loss), red.sum(keep).to(input.dtype))
    raise ValueError(f"nll_loss: {reduction!r} is not a valid value for reduction")
