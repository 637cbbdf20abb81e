"""Adagrad, as torch.optim.Adagrad (lr_decay, weight decay, initial accumulator, maximize).
Each group's step is one `adagrad_step` kernel call per distinct step count."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_non_negative


class Adagrad(Optimizer):
    """torch.optim.Adagrad: sum += g^2, p -= clr * g / (sqrt(sum) + eps) with
    clr = lr / (1 + (t - 1) * lr_decay) and g = grad (+ weight_decay * p). The accumulator
    starts at initial_accumulator_value; state is created at construction, as PyTorch does."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        _check_impl_flags("Adagrad", foreach, fused, differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group):
        state = self.state[p]
        state["step"] = self._new_step()
        state["sum"] = self._full_like(p, group["initial_accumulator_value"])

    def _update_group(self, group):
        def gather(p, state):
            if len(state) == 0:  # a parameter of a group added after construction
                self._init_state(p, group)
            return self._step_count(state), (state["sum"]._data,)

        def call(kernels, count, hyper, steps, params, grads, sums):
            kernels.adagrad_step(params, grads, sums, count + 1, group["lr"], group["lr_decay"],
                                 group["weight_decay"], group["eps"], bool(group["maximize"]),
                                 hyper=hyper, steps=steps)

        self._fused_update(group, gather, call)
