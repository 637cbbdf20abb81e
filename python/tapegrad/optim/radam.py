"""RAdam, as torch.optim.RAdam (coupled or decoupled weight decay, maximize). Each group's step
is one `radam_step` kernel call per distinct step count."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_betas, check_non_negative


class RAdam(Optimizer):
    """torch.optim.RAdam: Adam whose adaptive step is rectified by the variance of its second
    moment estimate, rho_t; while rho_t <= 5 the step is plain momentum, p -= lr m / (1 -
    beta1^t)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None):
        check_non_negative(lr=lr, eps=eps)
        check_betas(betas)
        check_non_negative(weight_decay=weight_decay)
        _check_impl_flags(type(self).__name__, foreach, fused, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _update_group(self, group):
        def gather(p, state):
            if len(state) == 0:
                state["step"] = self._new_step()
                state["exp_avg"] = self._zeros_like(p)
                state["exp_avg_sq"] = self._zeros_like(p)
            return self._step_count(state), (state["exp_avg"]._data, state["exp_avg_sq"]._data)

        beta1, beta2 = group["betas"]

        def call(kernels, count, hyper, steps, params, grads, exp_avgs, exp_avg_sqs):
            kernels.radam_step(params, grads, exp_avgs, exp_avg_sqs, count + 1, group["lr"], beta1, beta2,
                               group["eps"], group["weight_decay"], bool(group["decoupled_weight_decay"]),
                               bool(group["maximize"]), hyper=hyper, steps=steps)

        self._fused_update(group, gather, call)
