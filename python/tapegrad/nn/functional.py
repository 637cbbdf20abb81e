"""tapegrad.nn.functional: PyTorch's functional API. Fused ops come from tapegrad.ops; the
losses below that have no kernel of their own are composites, so autograd derives their
backward from the primitives."""
from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np

from .. import dtypes as _dt
from .._checks import int_arg, number_arg, tensor_arg
from .. import arrays
from .. import creation as _creation
from ..compile.recorder import host_step
from ..ops import elementwise
from ..ops import reduce as reductions
from ..ops import activations as _act
from ..ops.activations import (  # noqa: F401
    gelu, glu, hardshrink, logsigmoid, prelu, sigmoid, softplus, softshrink, softsign, tanh, tanhshrink,
)
from ..ops.matmul import linear  # noqa: F401
from ..ops.random import bernoulli_into
from ..ops.normalization import batch_norm, layer_norm  # noqa: F401
from ..ops.softmax import BinaryCrossEntropy, log_softmax, softmax  # noqa: F401
from ..ops.softmax import cross_entropy as _fused_cross_entropy
from ..tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _resolve_reduction(size_average, reduce, reduction: str) -> str:
    """`reduction`, or the string the deprecated size_average / reduce flags stand for."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
        UserWarning,
        stacklevel=3,
    )
    return ret


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,  # noqa: A002
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """PyTorch's cross_entropy; without class weights it is one fused kernel forward and back."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    if weight is None:
        return _fused_cross_entropy(input, target, ignore_index=ignore_index, reduction=reduction,
                                    label_smoothing=label_smoothing)
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, class_dim)
    if target.dtype.is_floating_point:
        return _weighted_soft_cross_entropy(logp, target, weight, class_dim, reduction, label_smoothing)
    return _weighted_nll(logp, target, weight, ignore_index, reduction, label_smoothing, op="cross_entropy")


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return reductions.mean(loss)
    if reduction == "sum":
        return reductions.sum(loss)
    raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; expected one of {_REDUCTIONS}")


def _check_pair(input, target, op: str):  # noqa: A002
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{op}: expected Tensors, got {type(input).__name__} and {type(target).__name__}")
    arrays.broadcast_shapes(op, input.shape, target.shape)  # names the op, not its parts
    if input.shape != target.shape:
        warnings.warn(
            f"{op}: using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}); this will likely lead to incorrect results due to broadcasting.",
            UserWarning,
            stacklevel=3,
        )


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    reduction = _resolve_reduction(size_average, reduce, reduction)
    _check_pair(input, target, "mse_loss")
    d = elementwise.sub(input, target)
    return _reduce(elementwise.mul(d, d), reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    reduction = _resolve_reduction(size_average, reduce, reduction)
    _check_pair(input, target, "l1_loss")
    return _reduce(elementwise.abs(elementwise.sub(input, target)), reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    reduction = _resolve_reduction(size_average, reduce, reduction)
    _check_pair(input, target, "smooth_l1_loss")
    beta = number_arg(beta, "smooth_l1_loss", "beta")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    ad = elementwise.abs(elementwise.sub(input, target))
    if beta == 0:
        return _reduce(ad, reduction, "smooth_l1_loss")
    quad = elementwise.div(elementwise.mul(elementwise.mul(ad, ad), 0.5), beta)
    loss = elementwise.where(elementwise.compare("lt", ad, beta), quad, elementwise.sub(ad, 0.5 * beta))
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002
    _check_pair(input, target, "huber_loss")
    delta = number_arg(delta, "huber_loss", "delta")
    ad = elementwise.abs(elementwise.sub(input, target))
    quad = elementwise.mul(elementwise.mul(ad, ad), 0.5)
    lin = elementwise.mul(elementwise.sub(ad, 0.5 * delta), delta)
    return _reduce(elementwise.where(elementwise.compare("le", ad, delta), quad, lin), reduction, "huber_loss")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    reduction = _resolve_reduction(size_average, reduce, reduction)
    tensor_arg(input, "binary_cross_entropy")
    tensor_arg(target, "binary_cross_entropy", "target")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"binary_cross_entropy: target size ({tuple(target.shape)}) must be the same as input size "
            f"({tuple(input.shape)})"
        )
    values = input.detach()
    if bool(reductions.any(elementwise.logical_or(elementwise.compare("lt", values, 0.0), elementwise.compare("gt", values, 1.0)))):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    dt = elementwise.result_type(input, target)
    loss = BinaryCrossEntropy.apply(elementwise.as_operand(input, dt, "binary_cross_entropy"),
                                    elementwise.as_operand(target, dt, "binary_cross_entropy"))
    if weight is not None:
        loss = elementwise.mul(loss, weight)
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,  # noqa: A002
                                     reduce=None, reduction="mean", pos_weight=None):
    reduction = _resolve_reduction(size_average, reduce, reduction)
    input = elementwise._float_input(input, "binary_cross_entropy_with_logits")
    tensor_arg(target, "binary_cross_entropy_with_logits", "target")
    if input.shape != target.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target size ({tuple(target.shape)}) must be the same "
            f"as input size ({tuple(input.shape)})"
        )
    # (1 - t) x + (1 + (pw - 1) t) softplus(-x): softplus is evaluated stably by its kernel, so
    # logits of +-120 give finite losses and gradients.
    sp = softplus(elementwise.neg(input))
    if pos_weight is not None:
        sp = elementwise.mul(sp, elementwise.add(elementwise.mul(elementwise.sub(pos_weight, 1.0), target), 1.0))
    loss = elementwise.add(elementwise.mul(elementwise.sub(1.0, target), input), sp)
    if weight is not None:
        loss = elementwise.mul(loss, weight)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):  # noqa: A002
    reduction = _resolve_reduction(size_average, reduce, reduction)
    _check_pair(input, target, "kl_div")
    if log_target:
        loss = elementwise.mul(elementwise.exp(target), elementwise.sub(target, input))
    else:
        # target * (log target - input), with 0 * log 0 = 0
        pos = elementwise.compare("gt", target, 0.0)
        safe = elementwise.where(pos, target, elementwise.as_operand(1.0, target.dtype, "kl_div"))
        loss = elementwise.where(pos, elementwise.mul(target, elementwise.sub(elementwise.log(safe), input)),
                        elementwise.mul(elementwise.mul(target, input), -1.0))
    if reduction == "batchmean":
        total = reductions.sum(loss)
        return elementwise.div(total, input.shape[0]) if input.ndim else total
    return _reduce(loss, reduction, "kl_div")


# --- the other losses: composites, each with PyTorch's formula and checks ------------------------

def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):  # noqa: A002
    """0.5 (log var + (input - target)^2 / var), var clamped to eps without changing its
    gradient; var may be a float, the input's shape, or that shape with one dimension of 1 or
    the last one missing (one variance shared along it)."""
    tensor_arg(input, "gaussian_nll_loss")
    tensor_arg(target, "gaussian_nll_loss", "target")
    arrays.broadcast_shapes("gaussian_nll_loss", input.shape, target.shape)
    if not isinstance(var, Tensor):
        v = number_arg(var, "gaussian_nll_loss", "var")
        if v < 0:
            raise ValueError("gaussian_nll_loss: var has negative entry/entries")
        var = elementwise.mul(_creation.ones_like(input), v)
    elif bool(reductions.any(elementwise.lt(var.detach(), 0))):
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (var.ndim == input.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"gaussian_nll_loss: var is of incorrect size: {tuple(var.shape)} for input "
                             f"{tuple(input.shape)}")
    # PyTorch clamps a copy of var in place under no_grad: the values are clamped, the gradient
    # flows as if they were not
    clamped = var.detach().clamp(min=number_arg(eps, "gaussian_nll_loss", "eps"))
    var = elementwise.add(var, elementwise.sub(clamped, var.detach()))
    loss = ((var.log() + (input - target).square() / var)) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,  # noqa: A002
                     reduce=None, reduction="mean"):
    """exp(input) - target input (log_input), else input - target log(input + eps); with full,
    Stirling's target log target - target + log(2 pi target) / 2 where target > 1."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    _check_pair(input, target, "poisson_nll_loss")
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + number_arg(eps, "poisson_nll_loss", "eps")).log()
    if full:
        t = target.detach()
        safe = elementwise.where(elementwise.gt(t, 1), t, 2.0)  # no log of 0 on the masked side
        stirling = safe * safe.log() - safe + (safe * (2 * math.pi)).log() * 0.5
        loss = loss + elementwise.where(elementwise.gt(t, 1), stirling, 0.0)
    return _reduce(loss, reduction, "poisson_nll_loss")


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target (input1 - input2) + margin)"""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    for name, t in (("input1", input1), ("input2", input2), ("target", target)):
        tensor_arg(t, "margin_ranking_loss", name)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss: all input tensors should have the same number of dimensions but got "
            f"sizes: input1 {tuple(input1.shape)}, input2 {tuple(input2.shape)}, target {tuple(target.shape)}")
    arrays.broadcast_shapes("margin_ranking_loss", arrays.broadcast_shapes(
        "margin_ranking_loss", input1.shape, input2.shape), target.shape)
    # -target (input1 - input2), as (input1 - input2) target -1 (the same bits; a bool target too)
    loss = ((input1 - input2) * target * -1 + number_arg(margin, "margin_ranking_loss", "margin")).clamp(min=0)
    return _reduce(loss, reduction, "margin_ranking_loss")


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    """input where target is 1, max(0, margin - input) where it is -1 (other targets add both)."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    _check_pair(input, target, "hinge_embedding_loss")
    m = number_arg(margin, "hinge_embedding_loss", "margin")
    below = elementwise.where(elementwise.ne(target, 1), (m - input).clamp(min=0), 0.0)
    above = elementwise.where(elementwise.ne(target, -1), input, 0.0)
    return _reduce(below + above, reduction, "hinge_embedding_loss")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """log(1 + exp(-target input))"""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    _check_pair(input, target, "soft_margin_loss")
    input = elementwise._float_input(input, "soft_margin_loss")  # noqa: A001
    return _reduce((input * target * -1).exp().log1p(), reduction, "soft_margin_loss")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                reduction="mean"):
    """Binary cross-entropy of each class's logit, averaged over the classes (the last dim)."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    _check_pair(input, target, "multilabel_soft_margin_loss")
    input = elementwise._float_input(input, "multilabel_soft_margin_loss")  # noqa: A001
    loss = -(target * _act.logsigmoid(input) + (1 - target) * _act.logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    c = input.shape[-1] if input.ndim else 1
    return _reduce(reductions.sum(loss, -1) / c if input.ndim else loss, reduction, "multilabel_soft_margin_loss")


def _class_rows(input, target, op: str):
    """(input as (N, C), target as (N,) or (N, C), whether input was 1-d), checked."""
    tensor_arg(input, op)
    tensor_arg(target, op, "target")
    if target.dtype is not _dt.int64:
        raise RuntimeError(f"{op}: expected target of dtype int64, got {target.dtype.name}")
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise RuntimeError(f"{op}: expected a non-empty 1-d or 2-d input, got shape {tuple(input.shape)}")
    one = input.ndim == 1
    return (input.unsqueeze(0) if one else input), one


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """For each class j listed in a row's target (up to its first -1) and each class i not
    listed: max(0, 1 - (x[j] - x[i])), summed and divided by the number of classes."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    x, one = _class_rows(input, target, "multilabel_margin_loss")
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"multilabel_margin_loss: inconsistent target size: {tuple(target.shape)} for input "
                           f"of size {tuple(input.shape)}")
    n, c = x.shape
    t = target.cpu().numpy().reshape(n, c)
    listed = np.zeros((n, c), np.int64)  # how often each class is listed before the first -1
    for r in range(n):
        for j in t[r]:
            if j == -1:
                break
            if not 0 <= j < c:
                raise IndexError(f"multilabel_margin_loss: target {j} is out of bounds for {c} classes")
            listed[r, j] += 1
    dt = x.dtype
    count = _creation.tensor(listed.astype(dt.np), device=x.device)
    others = _creation.tensor((listed == 0).astype(dt.np), device=x.device)
    # z[r, j, i] = 1 - x[r, j] + x[r, i]
    z = (1 - x.unsqueeze(2) + x.unsqueeze(1)).clamp(min=0)
    per_row = reductions.sum(z * count.unsqueeze(2) * others.unsqueeze(1), (1, 2)) / c
    return _reduce(per_row.squeeze(0) if one else per_row, reduction, "multilabel_margin_loss")


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,  # noqa: A002
                      reduce=None, reduction="mean"):
    """Multi-class hinge: for each class i other than the target y, max(0, margin - x[y] + x[i])
    to the power p (1 or 2), times weight[y], summed and divided by the number of classes."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 supported, got {p}")
    if weight is not None and weight.ndim != 1:
        raise ValueError(f"multi_margin_loss: weight must be one-dimensional, got shape {tuple(weight.shape)}")
    x, one = _class_rows(input, target, "multi_margin_loss")
    y = target.reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise RuntimeError(f"multi_margin_loss: inconsistent target size: {tuple(target.shape)} for input of "
                           f"size {tuple(input.shape)}")
    n, c = x.shape
    rows = _creation.arange(n, device=x.device)
    picked = x[rows, y].unsqueeze(1)
    h = (number_arg(margin, "multi_margin_loss", "margin") - picked + x).clamp(min=0)
    if p == 2:
        h = h * h
    h = elementwise.where(elementwise.eq(_creation.arange(c, device=x.device).unsqueeze(0), y.unsqueeze(1)), 0.0, h)
    if weight is not None:
        h = h * weight[y].unsqueeze(1)
    per_row = reductions.sum(h, 1) / c
    return _reduce(per_row.squeeze(0) if one else per_row, reduction, "multi_margin_loss")


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    for name, t in (("input1", input1), ("input2", input2), ("target", target)):
        tensor_arg(t, "cosine_embedding_loss", name)
    if input1.ndim not in (1, 2) or target.ndim != input1.ndim - 1 or input1.shape != input2.shape:
        raise RuntimeError(
            f"cosine_embedding_loss: expected 1-d inputs with a 0-d target or 2-d inputs with a 1-d target of "
            f"the same sizes, got input1 {tuple(input1.shape)}, input2 {tuple(input2.shape)}, target "
            f"{tuple(target.shape)}")
    d = input1.ndim - 1
    if tuple(target.shape) != tuple(input1.shape[:d]):
        raise RuntimeError(f"cosine_embedding_loss: target shape {tuple(target.shape)} does not match the inputs' "
                           f"{tuple(input1.shape)} (expected {tuple(input1.shape[:d])})")
    eps = 1e-12  # PyTorch's, added to each squared magnitude
    prod = reductions.sum(input1 * input2, d)
    mag = ((reductions.sum(input1 * input1, d) + eps) * (reductions.sum(input2 * input2, d) + eps)).sqrt()
    cos = prod / mag
    pos = elementwise.where(elementwise.eq(target, 1), 1 - cos, 0.0)
    neg = elementwise.where(elementwise.eq(target, -1),
                            (cos - number_arg(margin, "cosine_embedding_loss", "margin")).clamp(min=0), 0.0)
    return _reduce(pos + neg, reduction, "cosine_embedding_loss")


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps along the last dimension."""
    tensor_arg(x1, "pairwise_distance", "x1")
    tensor_arg(x2, "pairwise_distance", "x2")
    diff = x1 - x2 + number_arg(eps, "pairwise_distance", "eps")
    if diff.ndim == 0:
        raise RuntimeError("pairwise_distance: expected inputs of at least 1 dimension, got 0-d tensors")
    return reductions.norm(diff, p, -1, keepdim)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, margin + d(anchor, positive) - d(anchor, negative)), d the pairwise distance; with
    swap, d(anchor, negative) is replaced by d(positive, negative) where that is smaller."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    margin = number_arg(margin, "triplet_margin_loss", "margin")
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        tensor_arg(t, "triplet_margin_loss", name)
    if not anchor.ndim == positive.ndim == negative.ndim or anchor.ndim == 0:
        raise RuntimeError(
            f"triplet_margin_loss: the anchor, positive and negative tensors must have the same number of "
            f"dimensions (at least 1), got {tuple(anchor.shape)}, {tuple(positive.shape)} and "
            f"{tuple(negative.shape)}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = elementwise.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp(min=0), reduction, "triplet_margin_loss")


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along dim, the inputs broadcast."""
    tensor_arg(x1, "cosine_similarity", "x1")
    tensor_arg(x2, "cosine_similarity", "x2")
    shape = arrays.broadcast_shapes("cosine_similarity", x1.shape, x2.shape)
    a, b = x1.expand(shape), x2.expand(shape)
    eps = number_arg(eps, "cosine_similarity", "eps")
    na = reductions.norm(a, 2, dim, keepdim=True).clamp(min=eps)
    nb = reductions.norm(b, 2, dim, keepdim=True).clamp(min=eps)
    return reductions.sum((a / na) * (b / nb), dim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):  # noqa: A002
    """input divided by its p-norm along dim (at least eps)."""
    tensor_arg(input, "normalize")
    if out is not None:
        raise TypeError("normalize: out= is not supported; use the returned tensor")
    denom = reductions.norm(input, p, dim, keepdim=True).clamp(min=number_arg(eps, "normalize", "eps"))
    return input / denom


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] (+ bias[o]): one GEMM of
    input1 with the weight laid out as (in1, out * in2), then a product with input2 summed."""
    tensor_arg(input1, "bilinear", "input1")
    tensor_arg(input2, "bilinear", "input2")
    tensor_arg(weight, "bilinear", "weight")
    if weight.ndim != 3 or input1.ndim == 0 or input2.ndim == 0:
        raise RuntimeError(f"bilinear: expected a 3-d weight and inputs of at least 1 dimension, got weight "
                           f"{tuple(weight.shape)}, input1 {tuple(input1.shape)}, input2 {tuple(input2.shape)}")
    out, in1, in2 = weight.shape
    if input1.shape[:-1] != input2.shape[:-1] or input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise RuntimeError(f"bilinear: input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} do not fit "
                           f"weight {tuple(weight.shape)} (expected (..., {in1}) and (..., {in2}) with the same "
                           f"leading dimensions)")
    dtypes = {input1.dtype, input2.dtype, weight.dtype}
    if len(dtypes) > 1 or not weight.dtype.is_floating_point:
        raise RuntimeError(f"bilinear: expected input1, input2 and weight of one floating-point dtype, got "
                           f"{input1.dtype.name}, {input2.dtype.name} and {weight.dtype.name}")
    lead = tuple(input1.shape[:-1])
    n = math.prod(lead)
    x1 = input1.reshape(n, in1)
    x2 = input2.reshape(n, in2)
    t = (x1 @ weight.permute(1, 0, 2).reshape(in1, out * in2)).reshape(n, out, in2)
    y = reductions.sum(t * x2.unsqueeze(1), -1)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (out,))


def pad(input, pad, mode="constant", value=None):  # noqa: A002
    """Pads the last len(pad) // 2 dimensions: pad = (left of the last, right of the last, left of
    the one before, ...). mode 'constant' fills with value (0 by default; negative amounts crop);
    'reflect' mirrors without repeating the edge, 'replicate' repeats the edge, 'circular' wraps."""
    from ..ops.index import index_select
    from ..ops.shape import cat

    tensor_arg(input, "pad")
    if not isinstance(pad, (tuple, list)):
        raise TypeError(f"pad(): argument 'pad' must be a sequence of ints, got {type(pad).__name__}")
    amounts = [int_arg(v, "pad", "pad") for v in pad]
    if len(amounts) % 2:
        raise ValueError(f"pad: padding length must be divisible by 2, got {len(amounts)}")
    if len(amounts) // 2 > input.ndim:
        raise ValueError(f"pad: padding length {len(amounts)} is too large for an input of {input.ndim} dimensions "
                         f"(shape {tuple(input.shape)})")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not one of 'constant', 'reflect', 'replicate', 'circular'")
    if mode != "constant" and value is not None:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    x = input
    for k in range(len(amounts) // 2):
        dim = x.ndim - 1 - k
        left, right = amounts[2 * k], amounts[2 * k + 1]
        n = x.shape[dim]
        if mode == "constant":
            if left < 0 or right < 0:
                start, stop = max(-left, 0), n - max(-right, 0)
                if stop < start:
                    raise RuntimeError(f"pad: the cropping ({left}, {right}) removes more than dimension {dim} "
                                       f"of size {n} (input shape {tuple(input.shape)})")
                x = x.narrow(dim, start, stop - start)
            parts = []
            for amount in (max(left, 0), max(right, 0)):
                shape = tuple(amount if d == dim else s for d, s in enumerate(x.shape))
                parts.append(_creation.full(shape, 0.0 if value is None else value, dtype=x.dtype, device=x.device))
            x = cat([parts[0], x, parts[1]], dim) if left > 0 or right > 0 else x
            continue
        too_far = {"reflect": max(left, right) >= n, "replicate": n == 0 and (left > 0 or right > 0),
                   "circular": max(left, right) > n}[mode]
        if too_far:
            raise RuntimeError(
                f"pad: padding ({left}, {right}) in {mode} mode must be {'less than' if mode == 'reflect' else 'at most'} "
                f"the size {n} of dimension {dim} (input shape {tuple(input.shape)})")
        i = np.arange(-left, n + right)
        if mode == "reflect":
            i = np.where(i < 0, -i, np.where(i >= n, 2 * (n - 1) - i, i))
        elif mode == "replicate":
            i = np.clip(i, 0, n - 1)
        else:
            i = i % n
        x = index_select(x, dim, _creation.tensor(i, device=x.device))
    return x


# --- activations with PyTorch's `inplace` argument ---------------------------------------------
# inplace=True writes the result into the input (elementwise.inplace_unary: version counter and
# autograd as PyTorch's in-place ops); the trailing-underscore forms are the same.

def _maybe_inplace(fn, input, inplace: bool, op: str):  # noqa: A002
    return elementwise.inplace_unary(fn, input, op) if inplace else fn(input)


def relu(input, inplace=False):  # noqa: A002
    return _maybe_inplace(_act.relu, input, inplace, "relu_")


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    return _maybe_inplace(lambda t: _act.leaky_relu(t, negative_slope), input, inplace, "leaky_relu_")


def elu(input, alpha=1.0, inplace=False):  # noqa: A002
    return _maybe_inplace(lambda t: _act.elu(t, alpha), input, inplace, "elu_")


def silu(input, inplace=False):  # noqa: A002
    return _maybe_inplace(_act.silu, input, inplace, "silu_")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):  # noqa: A002
    return _maybe_inplace(lambda t: _act.hardtanh(t, min_val, max_val), input, inplace, "hardtanh_")


def relu6(input, inplace=False):  # noqa: A002
    return _maybe_inplace(_act.relu6, input, inplace, "relu6_")


def hardsigmoid(input, inplace=False):  # noqa: A002
    return _maybe_inplace(_act.hardsigmoid, input, inplace, "hardsigmoid_")


def hardswish(input, inplace=False):  # noqa: A002
    return _maybe_inplace(_act.hardswish, input, inplace, "hardswish_")


def mish(input, inplace=False):  # noqa: A002
    return _maybe_inplace(_act.mish, input, inplace, "mish_")


def selu(input, inplace=False):  # noqa: A002
    return _maybe_inplace(_act.selu, input, inplace, "selu_")


def celu(input, alpha=1.0, inplace=False):  # noqa: A002
    return _maybe_inplace(lambda t: _act.celu(t, alpha), input, inplace, "celu_")


def threshold(input, threshold, value, inplace=False):  # noqa: A002
    return _maybe_inplace(lambda t: _act.threshold(t, threshold, value), input, inplace, "threshold_")


def relu_(input):  # noqa: A002
    return relu(input, inplace=True)


def leaky_relu_(input, negative_slope=0.01):  # noqa: A002
    return leaky_relu(input, negative_slope, inplace=True)


def elu_(input, alpha=1.0):  # noqa: A002
    return elu(input, alpha, inplace=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):  # noqa: A002
    return hardtanh(input, min_val, max_val, inplace=True)


def selu_(input):  # noqa: A002
    return selu(input, inplace=True)


def celu_(input, alpha=1.0):  # noqa: A002
    return celu(input, alpha, inplace=True)


def threshold_(input, threshold, value):  # noqa: A002
    return _maybe_inplace(lambda t: _act.threshold(t, threshold, value), input, True, "threshold_")


def _implicit_dim(name: str, ndim: int) -> int:
    """PyTorch's (deprecated) choice of dim when softmax, softmin or log_softmax get none."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=4,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """softmax(-input) along dim."""
    tensor_arg(input, "softmin")
    if dim is None:
        dim = _implicit_dim("softmin", input.ndim)
    return softmax(elementwise.neg(elementwise._float_input(input, "softmin")), dim, dtype=dtype)


# --- layers' functional forms: dropout, normalization, embedding, one_hot --------------------


def _dropout_p(input, p, training: bool, op: str):  # noqa: A002
    """p, checked; None where the dropout is the identity (not training, p = 0, no elements)."""
    tensor_arg(input, op)
    p = number_arg(p, op, "p")
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return None if not training or p == 0 or input.numel() == 0 else p


def _bernoulli_draws(input, keep_p: float, dt):  # noqa: A002
    """An array of input's shape and device, 1 with probability keep_p and 0 otherwise, in dtype
    dt: PyTorch's bernoulli_(keep_p) draws on the CPU, the GPU's own counter-based stream
    (tapegrad.cuda.manual_seed) on CUDA. The draws are a host step: graph mode draws afresh at
    every replay, advancing the generator as this call does."""
    if input.is_cuda:
        from ..cuda import _draw

        draws = arrays.empty(tuple(input.shape), dt.np, input._data)
        host_step(partial(_draw, "uniform", draws), draws)
        return arrays.where(arrays.lt(draws, keep_p), arrays.scalar(dt.np.type(1), draws), 0.0)
    keep = np.empty(tuple(input.shape), dt.np)
    host_step(partial(bernoulli_into, keep, keep_p), keep)
    return keep


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero each element with probability p and scale the kept ones by 1 / (1 - p), so the
    expectation is unchanged; the mask comes from tapegrad's seeded generator (on a GPU, from
    that GPU's stream)."""
    p = _dropout_p(input, p, training, "dropout")
    if p is None:
        return input
    dt = input.dtype if input.dtype.is_floating_point else _dt.get_default_dtype()
    if p == 1:  # input * 0, as PyTorch: every element dropped, gradients zero
        mask = elementwise.as_operand(0.0, dt, "dropout")
    else:
        # PyTorch's mask: bernoulli(1 - p) draws divided by (1 - p) in the input's dtype
        keep = _bernoulli_draws(input, 1.0 - p, dt)
        mask = Tensor._wrap(arrays.mul(keep, arrays.scalar(dt.np.type(1) / dt.np.type(1.0 - p), keep)))
    if inplace:
        return input.mul_(mask)
    return elementwise.mul(input, mask)


def alpha_dropout(input, p=0.5, training=False, inplace=False):  # noqa: A002
    """Dropout that keeps a SELU network's mean and variance: dropped elements take SELU's
    negative saturation, then an affine map a x + b restores the statistics (PyTorch's a and b,
    from the same bernoulli(1 - p) draws as dropout)."""
    p = _dropout_p(input, p, training, "alpha_dropout")
    if p is None:
        return input
    if p == 1:
        return input.mul_(0.0) if inplace else elementwise.mul(input, 0.0)
    dt = input.dtype if input.dtype.is_floating_point else _dt.get_default_dtype()
    alpha = 1.7580993408473766  # -SELU's scale times its alpha: its limit for x -> -inf
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    noise = Tensor._wrap(_bernoulli_draws(input, 1.0 - p, dt))
    b = (noise - 1) * (alpha * a) + alpha * a * p
    noise = noise * a
    return input.mul_(noise).add_(b) if inplace else input * noise + b


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,  # noqa: A002
              scale_grad_by_freq=False, sparse=False):
    """Rows of `weight` (num_embeddings, dim) picked by the int64 indices in `input`; the row at
    padding_idx gets no gradient. With max_norm, the picked rows whose norm exceeds it are
    rescaled in place first (PyTorch's renorm)."""
    from ..autograd.grad_mode import is_grad_enabled
    from ..ops.index import getitem
    from ..ops.shape import reshape, unsqueeze

    if not isinstance(input, Tensor) or input.dtype is not _dt.int64:
        got = input.dtype.name if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"embedding: expected indices of dtype int64, got {got}")
    if tensor_arg(weight, "embedding", "weight").ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D, got shape {tuple(weight.shape)}")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are not supported")
    num = weight.shape[0]
    if input.numel():
        lo, hi = int(reductions.min(input)), int(reductions.max(input))
        if lo < 0 or hi >= num:
            raise IndexError(f"embedding: index {lo if lo < 0 else hi} is out of range for {num} embeddings "
                             f"(weight of shape {tuple(weight.shape)})")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings ({num})")
        padding_idx %= num
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    if input.ndim == 0:  # a 0-d index would take a view of the row; gather a copy instead
        return reshape(embedding(reshape(input, (1,)), weight, padding_idx), (weight.shape[1],))
    out = getitem(weight, input)
    if padding_idx is not None and weight.requires_grad and is_grad_enabled():
        # the padding positions read the row's value but pass no gradient back to it
        keep = unsqueeze(elementwise.compare("ne", input, padding_idx), -1)
        out = elementwise.where(keep, out, out.detach())
    return out


def _embedding_renorm_(weight, input, max_norm, norm_type):  # noqa: A002
    import numpy as np

    from ..autograd.grad_mode import no_grad
    from ..ops.index import getitem, setitem

    with no_grad():
        rows = Tensor._wrap(np.unique(np.asarray(input._data)).astype(np.int64))
        picked = getitem(weight, rows)
        norms = reductions.sum(elementwise.pow(elementwise.abs(picked), float(norm_type)), 1) ** (1.0 / norm_type)
        scale = elementwise.where(elementwise.compare("gt", norms, max_norm), elementwise.div(max_norm, elementwise.add(norms, 1e-7)),
                         elementwise.as_operand(1.0, weight.dtype, "embedding"))
        setitem(weight, rows, elementwise.mul(picked, scale.reshape(-1, 1)))


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each class index."""
    from ..creation import arange
    from ..ops.shape import unsqueeze

    if not isinstance(tensor, Tensor) or tensor.dtype is not _dt.int64:
        got = tensor.dtype.name if isinstance(tensor, Tensor) else type(tensor).__name__
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor (int64), got {got}.")
    num_classes = int_arg(num_classes, "one_hot", "num_classes")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor.")
        num_classes = int(reductions.max(tensor)) + 1
    if tensor.numel():
        if int(reductions.min(tensor)) < 0:
            raise RuntimeError("one_hot: Class values must be non-negative.")
        if int(reductions.max(tensor)) >= num_classes:
            raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}).")
    try:
        hot = elementwise.compare("eq", unsqueeze(tensor, -1), arange(num_classes))
    except RuntimeError as e:  # too many classes to allocate
        raise RuntimeError(f"one_hot: cannot make {num_classes} classes for a tensor of shape "
                           f"{tuple(tensor.shape)}: {e}") from e
    return hot.to(_dt.int64)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C, *) / (C,) at int64 class targets."""
    reduction = _resolve_reduction(size_average, reduce, reduction)
    return _weighted_nll(input, target, weight, ignore_index, reduction)


def _weighted_nll(logp, target, weight, ignore_index=-100, reduction="mean",  # noqa: C901
                  label_smoothing=0.0, op="nll_loss"):
    """PyTorch's (weighted) NLL: loss_i = -w[t_i] * logp[i, t_i] (w = 1 without weights); 'mean'
    divides by the sum of the weights of the non-ignored targets. With label_smoothing
    (cross-entropy), the smoothing term is -sum_c w_c logp[i, c], normalised the same way."""
    from ..creation import arange
    from ..ops.index import getitem
    from ..ops.shape import movedim, reshape

    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction")
    tensor_arg(logp, op)
    tensor_arg(target, op, "target")
    ignore_index = int_arg(ignore_index, op, "ignore_index")
    if target.dtype is not _dt.int64:
        raise RuntimeError(f"{op}: expected target of dtype int64, got {target.dtype.name}")
    if not logp.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {logp.dtype.name}")
    if logp.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dim (classes), got shape ()")
    if logp.ndim == 1:
        if target.ndim != 0:
            raise ValueError(
                f"{op}: for 1-D input of shape {tuple(logp.shape)} the target must be 0-d, got shape "
                f"{tuple(target.shape)}"
            )
        logp, target = reshape(logp, (1, -1)), reshape(target, (1,))
        out_shape = ()
    else:
        if tuple(target.shape) != tuple(logp.shape[:1] + logp.shape[2:]):
            raise ValueError(
                f"{op}: input of shape {tuple(logp.shape)} and target of shape {tuple(target.shape)} do not match"
            )
        out_shape = tuple(target.shape)
    c = logp.shape[1]
    if weight is None:
        weight = elementwise.as_operand(1.0, logp.dtype, op).to(logp.device).expand(c)
    if tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} does not match the {c} classes of the input")
    if logp.ndim > 2:
        logp = reshape(movedim(logp, 1, -1), (target.numel(), c))  # explicit rows: c may be 0
        target = reshape(target, (-1,))
    keep = elementwise.compare("ne", target, ignore_index)
    safe = elementwise.where(keep, target, elementwise.as_operand(0, _dt.int64, op))
    bad = elementwise.logical_or(elementwise.compare("lt", safe, 0), elementwise.compare("ge", safe, c))
    if bool(reductions.any(bad)):
        raise IndexError(f"{op}: target {int(reductions.max(elementwise.where(bad, target, -1)))} is out of bounds for {c} classes")
    zero = elementwise.as_operand(0.0, logp.dtype, op)
    w_t = elementwise.where(keep, getitem(weight, safe).to(logp.dtype), zero)
    loss = elementwise.neg(elementwise.mul(getitem(logp, (arange(logp.shape[0]), safe)), w_t))
    smooth = None
    if label_smoothing > 0:
        smooth = elementwise.where(keep, elementwise.neg(reductions.sum(elementwise.mul(logp, weight.to(logp.dtype)), 1)), zero)

    def reduce_(v):
        if reduction == "none":
            return reshape(v, out_shape)
        if reduction == "sum":
            return reductions.sum(v)
        return elementwise.div(reductions.sum(v), reductions.sum(w_t))

    out = reduce_(loss)
    if smooth is None:
        return out
    return elementwise.add(elementwise.mul(out, 1.0 - label_smoothing), elementwise.mul(reduce_(smooth), label_smoothing / c))


def _weighted_soft_cross_entropy(logp, target, weight, class_dim, reduction, label_smoothing):
    """Class-probability targets with per-class weights: -sum_c w_c t_c logp_c per position;
    'mean' averages over positions (the weights do not normalise, as in PyTorch)."""
    if tuple(target.shape) != tuple(logp.shape):
        raise ValueError(
            f"cross_entropy: probability targets must have the logits' shape; got input {tuple(logp.shape)} "
            f"and target {tuple(target.shape)}"
        )
    c = logp.shape[class_dim]
    if label_smoothing:
        target = elementwise.add(elementwise.mul(target, 1.0 - label_smoothing), label_smoothing / c)
    w = weight.reshape((c,) + (1,) * (logp.ndim - class_dim - 1))
    loss = elementwise.neg(reductions.sum(elementwise.mul(elementwise.mul(target.to(logp.dtype), logp), w), class_dim))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return reductions.sum(loss)
    if reduction == "mean":
        return reductions.mean(loss)
    raise ValueError(f"cross_entropy: {reduction!r} is not a valid value for reduction")
