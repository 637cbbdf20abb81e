"""Adamax, as torch.optim.Adamax (weight decay, maximize). Each group's step is one
`adamax_step` kernel call per distinct step count."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_betas, check_non_negative


class Adamax(Optimizer):
    """torch.optim.Adamax: Adam with the infinity norm, u = max(beta2 u, |g| + eps),
    p -= lr / (1 - beta1^t) m / u."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False, fused=None):
        check_non_negative(lr=lr, eps=eps)
        check_betas(betas)
        check_non_negative(weight_decay=weight_decay)
        _check_impl_flags(type(self).__name__, foreach, fused, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update_group(self, group):
        def gather(p, state):
            if len(state) == 0:
                state["step"] = self._new_step()
                state["exp_avg"] = self._zeros_like(p)
                state["exp_inf"] = self._zeros_like(p)
            return self._step_count(state), (state["exp_avg"]._data, state["exp_inf"]._data)

        beta1, beta2 = group["betas"]

        def call(kernels, count, hyper, steps, params, grads, exp_avgs, exp_infs):
            kernels.adamax_step(params, grads, exp_avgs, exp_infs, count + 1, group["lr"], beta1, beta2,
                                group["eps"], group["weight_decay"], bool(group["maximize"]),
                                hyper=hyper, steps=steps)

        self._fused_update(group, gather, call)
