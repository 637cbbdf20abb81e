"""Adadelta, as torch.optim.Adadelta (weight decay, maximize). Each group's step is one
`adadelta_step` kernel call."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_non_negative


class Adadelta(Optimizer):
    """torch.optim.Adadelta: s = rho s + (1 - rho) g^2, delta = sqrt(r + eps) / sqrt(s + eps) g,
    r = rho r + (1 - rho) delta^2, p -= lr delta."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False, fused=None):
        check_non_negative(lr=lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_non_negative(eps=eps, weight_decay=weight_decay)
        _check_impl_flags(type(self).__name__, foreach, fused, differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _update_group(self, group):
        def gather(p, state):
            if len(state) == 0:
                state["step"] = self._new_step()
                state["square_avg"] = self._zeros_like(p)
                state["acc_delta"] = self._zeros_like(p)
            # the step count is kept for PyTorch's state layout (the kernel advances it)
            return None, (state["square_avg"]._data, state["acc_delta"]._data)

        def call(kernels, _, hyper, steps, params, grads, square_avgs, acc_deltas):
            kernels.adadelta_step(params, grads, square_avgs, acc_deltas, group["lr"], group["rho"],
                                  group["eps"], group["weight_decay"], bool(group["maximize"]),
                                  hyper=hyper, steps=steps)

        self._fused_update(group, gather, call)
