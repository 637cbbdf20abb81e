"""NAdam, as torch.optim.NAdam (momentum decay, coupled or decoupled weight decay, maximize).
Each group's step is one `nadam_step` kernel call per distinct step count."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_betas, check_non_negative


class NAdam(Optimizer):
    """torch.optim.NAdam: Adam with Nesterov momentum. mu_t = beta1 (1 - 0.5 * 0.96^(t
    momentum_decay)); p += -lr (1 - mu_t) / (1 - prod mu) g / denom - lr mu_{t+1} /
    (1 - prod mu * mu_{t+1}) m / denom, denom = sqrt(v / (1 - beta2^t)) + eps."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False, fused=None):
        check_non_negative(lr=lr, eps=eps)
        check_betas(betas)
        check_non_negative(weight_decay=weight_decay, momentum_decay=momentum_decay)
        _check_impl_flags(type(self).__name__, foreach, fused, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _update_group(self, group):
        def gather(p, state):
            if len(state) == 0:
                state["step"] = self._new_step()
                state["mu_product"] = self._new_scalar(1.0)
                state["exp_avg"] = self._zeros_like(p)
                state["exp_avg_sq"] = self._zeros_like(p)
            return self._step_count(state), (state["exp_avg"]._data, state["exp_avg_sq"]._data,
                                             state["mu_product"]._data)

        beta1, beta2 = group["betas"]

        def call(kernels, count, hyper, steps, params, grads, exp_avgs, exp_avg_sqs, mu_products):
            # mu_products are host arrays on every device (the kernel's host side updates them)
            kernels.nadam_step(params, grads, exp_avgs, exp_avg_sqs, mu_products=mu_products, step=count + 1,
                               lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                               weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
                               decoupled=bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]),
                               hyper=hyper, steps=steps)

        self._fused_update(group, gather, call)
