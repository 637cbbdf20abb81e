"""tapegrad.nn.utils: gradient clipping (clip_grad_norm_, clip_grad_value_, and the two halves
of the former, get_total_norm and clip_grads_with_norm_) and flattening parameters to one
vector and back, with PyTorch's signatures and results."""
from __future__ import annotations

import math

from .. import dtypes as _dt
from ..autograd.grad_mode import no_grad
from ..creation import tensor as _tensor
from ..ops import elementwise
from ..ops import reduce as reductions
from ..ops.shape import cat, stack
from ..tensor import Tensor


def _as_list(tensors) -> list:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(x: Tensor, p: float) -> Tensor:
    """The p-norm of all of x's elements (0-d), as torch.linalg.vector_norm."""
    if p == 2.0:
        return elementwise.sqrt(reductions.sum(elementwise.square(x)))
    if p == 1.0:
        return reductions.sum(elementwise.abs(x))
    if p == math.inf:
        return reductions.amax(elementwise.abs(x)) if x.numel() else elementwise.as_operand(0.0, x.dtype, "vector_norm")
    if p == -math.inf:
        return reductions.amin(elementwise.abs(x))
    if p == 0.0:
        return reductions.sum(elementwise.compare("ne", x, 0.0)).to(x.dtype)
    return elementwise.pow(reductions.sum(elementwise.pow(elementwise.abs(x), p)), 1.0 / p)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The norm of the norms of `tensors` (the norm of all their elements together)."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return _tensor(0.0)
    with no_grad():
        dtype = tensors[0].dtype  # mixed float32 / float64 gradients: the norm in float64
        for t in tensors[1:]:
            dtype = _dt.promote(dtype, t.dtype)
        norms = [_vector_norm(t, norm_type).to(dtype) for t in tensors]
        total = _vector_norm(stack(norms), norm_type)
        if error_if_nonfinite and not bool(elementwise.isfinite(total)):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                "anyway, set `error_if_nonfinite=False`"
            )
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach=None) -> None:
    """Scale the gradients in place by min(1, max_norm / (total_norm + 1e-6))."""
    grads = [p._grad for p in _as_list(parameters) if p._grad is not None]
    if not grads:
        return
    with no_grad():
        coef = elementwise.clamp(elementwise.div(float(max_norm), elementwise.add(total_norm, 1e-6)), max=1.0)
        for g in grads:
            g.mul_(coef.to(g.dtype))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Rescale the gradients so that their total norm is at most max_norm; returns the total
    norm before clipping (a 0-d tensor)."""
    parameters = _as_list(parameters)
    grads = [p._grad for p in parameters if p._grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p._grad is not None:
                p._grad.clamp_(min=-clip_value, max=clip_value)


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated (differentiable, as PyTorch's)."""
    return cat([p.view(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Point each parameter's data at its slice of `vec` (shared memory, as PyTorch does)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        n = param.numel()
        param.data = vec[pointer:pointer + n].view_as(param).data
        pointer += n
