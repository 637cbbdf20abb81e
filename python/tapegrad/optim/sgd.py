"""SGD: stochastic gradient descent with optional (Nesterov) momentum, dampening, weight decay,
as torch.optim.SGD. Each group's step is one `sgd_step` kernel call."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags


class SGD(Optimizer):
    """torch.optim.SGD: with d = grad (+ weight_decay * p), buf = d on the first step and
    momentum * buf + (1 - dampening) * d afterwards, p -= lr * (d + momentum * buf if nesterov
    else buf); without momentum, p -= lr * d. maximize ascends instead."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_impl_flags("SGD", foreach, fused, differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _update_group(self, group):
        momentum = group["momentum"]
        # Parameters whose buffer is created now take the first-step rule (buf = grad), so they
        # go to a separate call from those that already have one.
        buckets: dict = {}
        updated, writeback = [], []
        for p in group["params"]:
            if p._grad is None:
                continue
            kernels, pa, ga = self._arrays(p, writeback)
            first = False
            buf = None
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = self._zeros_like(p)
                    first = True
            lists = buckets.setdefault((kernels, first), ([], [], []))
            lists[0].append(pa)
            lists[1].append(ga)
            if buf is not None:
                lists[2].append(buf._data)
            updated.append(p)
        for (kernels, first), (params, grads, bufs) in buckets.items():
            kernels.sgd_step(params, grads, bufs, group["lr"], momentum, group["dampening"],
                             group["weight_decay"], bool(group["nesterov"]), bool(group["maximize"]),
                             first)
        self._finish(updated, writeback)
