"""ASGD, as torch.optim.ASGD (averaged SGD: lambd, alpha, t0, weight decay, maximize). Each
group's step is one `asgd_step` kernel call per distinct step count."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_non_negative


class ASGD(Optimizer):
    """torch.optim.ASGD: p *= 1 - lambd eta, p -= eta g, then the average ax += (p - ax) mu
    (ax = p while mu is 1), with eta = lr / (1 + lambd lr t)^alpha and mu = 1 / max(1, t - t0)
    for the next step. The average is state["ax"]."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False, fused=None):
        check_non_negative(lr=lr, weight_decay=weight_decay)
        _check_impl_flags(type(self).__name__, foreach, fused, differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update_group(self, group):
        def gather(p, state):
            if len(state) == 0:
                state["step"] = self._new_step()
                state["eta"] = self._new_scalar(group["lr"])
                state["mu"] = self._new_scalar(1.0)
                state["ax"] = self._zeros_like(p)
            return self._step_count(state), (state["ax"]._data, state["eta"]._data, state["mu"]._data)

        def call(kernels, count, hyper, steps, params, grads, axs, etas, mus):
            # etas and mus are host arrays on every device (the kernel's host side updates them)
            kernels.asgd_step(params, grads, axs, etas=etas, mus=mus, step=count + 1, lr=group["lr"],
                              lambd=group["lambd"], alpha=group["alpha"], t0=group["t0"],
                              weight_decay=group["weight_decay"], maximize=bool(group["maximize"]),
                              hyper=hyper, steps=steps)

        self._fused_update(group, gather, call)
