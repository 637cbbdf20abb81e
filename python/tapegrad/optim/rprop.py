"""Rprop, as torch.optim.Rprop (etas, step size bounds, maximize). Each group's step is one
`rprop_step` kernel call."""
from __future__ import annotations

from .optimizer import Optimizer, _check_impl_flags, check_non_negative


class Rprop(Optimizer):
    """torch.optim.Rprop: each element's step size grows by etaplus while its gradient keeps
    its sign and shrinks by etaminus when it flips (that step then skipped), within step_sizes;
    p -= sign(g) step_size. Step sizes start at lr."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
                 foreach=None, maximize=False, differentiable=False, fused=None):
        check_non_negative(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _check_impl_flags(type(self).__name__, foreach, fused, differentiable)
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update_group(self, group):
        def gather(p, state):
            if len(state) == 0:
                state["step"] = self._new_step()
                state["prev"] = self._zeros_like(p)
                state["step_size"] = self._full_like(p, group["lr"])
            return None, (state["prev"]._data, state["step_size"]._data)

        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]

        def call(kernels, _, hyper, steps, params, grads, prevs, step_sizes):
            kernels.rprop_step(params, grads, prevs, step_sizes, etaminus, etaplus, step_size_min, step_size_max,
                               bool(group["maximize"]), steps=steps)

        self._fused_update(group, gather, call)
