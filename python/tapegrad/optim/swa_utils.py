"""Stochastic weight averaging and exponential moving averages, as torch.optim.swa_utils:
AveragedModel keeps a running average of a model's parameters, SWALR anneals each group's lr
to a constant swa_lr, update_bn recomputes batch-norm statistics for the averaged weights.
"""
from __future__ import annotations

import itertools
import math
import warnings
from copy import deepcopy

from .. import dtypes as _dt
from ..autograd.grad_mode import no_grad
from ..creation import tensor
from ..nn.module import Module
from ..nn.normalization import BatchNorm1d
from .lr_scheduler import LRScheduler, _format_param

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
           "get_ema_avg_fn", "get_swa_avg_fn"]


def _lerp_(start, end, weight: float) -> None:
    """start += weight (end - start) in place, in torch.lerp's two forms (exact at both ends)."""
    if abs(weight) < 0.5:
        start.copy_(start + (end - start) * weight)
    else:
        start.copy_(end - (end - start) * (1 - weight))


def _check_decay(decay) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def get_ema_multi_avg_fn(decay=0.999):
    """An update of every averaged tensor at once: the exponential moving average with `decay`."""
    _check_decay(decay)

    def ema_update(ema_params, current_params, num_averaged) -> None:
        with no_grad():
            for e, c in zip(ema_params, current_params):
                if e.dtype.is_floating_point:
                    _lerp_(e, c, 1 - decay)
                else:
                    e.copy_(e * decay + c * (1 - decay))
    return ema_update


def get_swa_multi_avg_fn():
    """An update of every averaged tensor at once: the running mean."""
    def swa_update(averaged_params, current_params, num_averaged) -> None:
        with no_grad():
            for a, c in zip(averaged_params, current_params):
                if a.dtype.is_floating_point:
                    _lerp_(a, c, 1 / (float(num_averaged) + 1))
                else:
                    a.copy_(a + (c - a) / (num_averaged + 1))
    return swa_update


def get_ema_avg_fn(decay=0.999):
    """The new average of one tensor: the exponential moving average with `decay`."""
    _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """The new average of one tensor: the running mean of num_averaged + 1 values."""
    def swa_update(averaged_param, current_param, num_averaged):
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


class AveragedModel(Module):
    """A copy of `model` whose parameters (and, with use_buffers, buffers) are the average of
    the models passed to update_parameters: the running mean by default, or avg_fn(averaged,
    current, n) per tensor, or multi_avg_fn(averaged list, current list, n) for all at once.
    Without use_buffers the buffers are copied from the latest model."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=_dt.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _averaged(self, model) -> tuple:
        if self.use_buffers:
            return (itertools.chain(self.module.parameters(), self.module.buffers()),
                    itertools.chain(model.parameters(), model.buffers()))
        return self.module.parameters(), model.parameters()

    def update_parameters(self, model) -> None:
        with no_grad():
            ours, theirs = self._averaged(model)
            pairs = [(a.detach(), m.detach().to(a.device)) for a, m in zip(ours, theirs)]
            n = self.n_averaged
            if int(n) == 0:
                for a, m in pairs:
                    a.copy_(m)
            elif self.avg_fn is not None:
                for a, m in pairs:
                    a.copy_(self.avg_fn(a, m, n.to(a.device)))
            elif self.multi_avg_fn is not None:
                for device, group in _by_device_and_dtype(pairs).items():
                    self.multi_avg_fn([a for a, _ in group], [m for _, m in group], n.to(device[0]))
            else:
                swa = get_swa_avg_fn()
                for a, m in pairs:
                    a.copy_(swa(a, m, n.to(a.device)))
            if not self.use_buffers:
                for b_ours, b_model in zip(self.module.buffers(), model.buffers()):
                    b_ours.copy_(b_model.detach().to(b_ours.device))
            self.n_averaged.add_(1)


def _by_device_and_dtype(pairs) -> dict:
    groups: dict = {}
    for a, m in pairs:
        groups.setdefault((a.device, a.dtype), []).append((a, m))
    return groups


def update_bn(loader, model, device=None) -> None:
    """One pass over `loader` in training mode with every batch-norm layer's running statistics
    reset and momentum None (a cumulative average), so they describe the averaged weights."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, BatchNorm1d):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each group's lr from its value to swa_lr over anneal_epochs ('cos' or 'linear'),
    then holds it there."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        for lr, group in zip(_format_param("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        # the lr before annealing, recovered from the current one and the last alpha
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, strategy) -> None:
        self._anneal_strategy = strategy
        self.anneal_func = self._cosine_anneal if strategy == "cos" else self._linear_anneal

    def get_lr(self):
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                          UserWarning, stacklevel=2)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in self.optimizer.param_groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(self.optimizer.param_groups, prev_lrs)]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
