"""SGD: stochastic gradient descent with optional (Nesterov) momentum, dampening, weight decay,
as torch.optim.SGD. Each group's step is one `sgd_step` kernel call."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_non_negative, check_number


class SGD(Optimizer):
    """torch.optim.SGD: with d = grad (+ weight_decay * p), buf = d on the first step and
    momentum * buf + (1 - dampening) * d afterwards, p -= lr * (d + momentum * buf if nesterov
    else buf); without momentum, p -= lr * d. maximize ascends instead."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        check_non_negative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        check_number("dampening", dampening)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_impl_flags("SGD", foreach, fused, differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _update_group(self, group):
        momentum = group["momentum"]

        def gather(p, state):
            if momentum == 0:
                return False, (None,)
            buf = state.get("momentum_buffer")
            # A buffer created now takes the first-step rule (buf = grad): such parameters go
            # to a separate call from those that already have one.
            first = buf is None
            if first:
                buf = state["momentum_buffer"] = self._zeros_like(p)
            return first, (buf._data,)

        def call(kernels, first, hyper, _, params, grads, bufs):
            hyper[1] = float(first)  # the kernel clears it once the buffers have their first step
            kernels.sgd_step(params, grads, bufs, group["lr"], momentum, group["dampening"],
                             group["weight_decay"], bool(group["nesterov"]),
                             bool(group["maximize"]), first, hyper=hyper)

        self._fused_update(group, gather, call)
