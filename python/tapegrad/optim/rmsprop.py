"""RMSprop, as torch.optim.RMSprop (momentum, centered, weight decay, maximize). Each group's
step is one `rmsprop_step` kernel call."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_non_negative


class RMSprop(Optimizer):
    """torch.optim.RMSprop: s = alpha s + (1 - alpha) g^2, avg = sqrt(s) + eps (centered:
    sqrt(s - ga^2) + eps with ga the running mean of g), then p -= lr * g / avg, or with
    momentum buf = momentum buf + g / avg, p -= lr * buf. g = grad (+ weight_decay * p)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False, fused=None):
        check_non_negative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        _check_impl_flags("RMSprop", foreach, fused, differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _update_group(self, group):
        use_momentum = group["momentum"] > 0
        centered = bool(group["centered"])

        def gather(p, state):
            if len(state) == 0:
                state["step"] = self._new_step()
                state["square_avg"] = self._zeros_like(p)
            if use_momentum and "momentum_buffer" not in state:
                state["momentum_buffer"] = self._zeros_like(p)
            if centered and "grad_avg" not in state:
                state["grad_avg"] = self._zeros_like(p)
            # the step count is kept for PyTorch's state layout (the kernel advances it); the
            # rule ignores it
            return None, (state["square_avg"]._data,
                          state["momentum_buffer"]._data if use_momentum else None,
                          state["grad_avg"]._data if centered else None)

        def call(kernels, _, hyper, steps, params, grads, square_avgs, bufs, grad_avgs):
            kernels.rmsprop_step(params, grads, square_avgs, bufs, grad_avgs, group["lr"],
                                 group["alpha"], group["eps"], group["weight_decay"],
                                 group["momentum"], centered, bool(group["maximize"]),
                                 hyper=hyper, steps=steps)

        self._fused_update(group, gather, call)
