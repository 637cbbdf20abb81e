"""Adam and AdamW, as torch.optim.Adam / AdamW (amsgrad, maximize, coupled or decoupled weight
decay). Each group's step is one `adam_step` kernel call per distinct step count (parameters
normally share one)."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_betas, check_non_negative


class Adam(Optimizer):
    """torch.optim.Adam: m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with g = grad
    (+ weight_decay * p), or, with decoupled_weight_decay, p *= 1 - lr * weight_decay first.
    amsgrad uses the running maximum of v."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        check_non_negative(lr=lr, eps=eps)
        check_betas(betas)
        check_non_negative(weight_decay=weight_decay)
        _check_impl_flags(type(self).__name__, foreach, fused, differentiable)
        # capturable concerns CUDA-graph capture only; it is kept for PyTorch's group layout.
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update_group(self, group):
        amsgrad = bool(group["amsgrad"])

        def gather(p, state):
            if len(state) == 0:
                state["step"] = self._new_step()
                state["exp_avg"] = self._zeros_like(p)
                state["exp_avg_sq"] = self._zeros_like(p)
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = self._zeros_like(p)
            # bucketed by step count: parameters added to the group later are at other steps
            return self._step_count(state), (
                state["exp_avg"]._data, state["exp_avg_sq"]._data,
                state["max_exp_avg_sq"]._data if amsgrad else None)

        beta1, beta2 = group["betas"]

        def call(kernels, count, hyper, steps, params, grads, exp_avgs, exp_avg_sqs, maxes):
            kernels.adam_step(params, grads, exp_avgs, exp_avg_sqs, maxes, count + 1,
                              group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                              bool(group["decoupled_weight_decay"]), amsgrad,
                              bool(group["maximize"]), hyper=hyper, steps=steps)

        self._fused_update(group, gather, call)


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay (p *= 1 - lr * weight_decay before
    the Adam update), weight_decay 1e-2 by default."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
