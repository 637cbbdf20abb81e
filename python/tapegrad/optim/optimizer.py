"""Optimizer: the base class of tapegrad.optim, with PyTorch's param groups, per-parameter state,
zero_grad, step(closure) and state_dict / load_state_dict in PyTorch's format.

A subclass implements `_update_group(group)` through `_fused_update`: it gathers the group's
parameters that have a gradient, creates their state on first use, and hands the whole group to
ONE fused kernel (`_C.<device>.<name>_step`), which updates the parameters and their state in
place.
"""
from __future__ import annotations

import numbers

import copy
from collections import defaultdict
from itertools import chain

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from .. import arrays
from ..arrays import for_array
from ..compile import recorder as _graph
from ..tensor import Tensor


class _RequiredParameter:
    """Singleton class representing a required parameter for an Optimizer."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj) -> str:
    if isinstance(obj, Tensor):
        return "tapegrad.Tensor"
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


class Optimizer:
    """Base class for all optimizers.

    params: an iterable of Tensors, of (name, Tensor) pairs, or of dicts (param groups: a
    "params" entry plus per-group options that override `defaults`).
    """

    def __init__(self, params, defaults: dict) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + _typename(params)
            )
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"

    # --- param groups ---------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a param group (a dict with "params" and optional per-group options)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"param_group must have a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        tensors, names = [], []
        for param in params:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are missing"
                )
            param_group["param_names"] = names

        for param in tensors:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + _typename(param)
                )
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)

        # Identity, not ==: Tensor equality is elementwise. A parameter listed twice would be
        # updated twice (concurrently, inside one fused call), so it is an error here.
        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # --- gradients and steps --------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors: to None (default) or to zeros."""
        recording = _graph.current()
        if recording is not None:
            recording.saw_optimizer(self)
            if set_to_none:
                recording.reset_grads.update(id(p) for g in self.param_groups for p in g["params"])
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    def step(self, closure=None):
        """One optimization step over every param group. `closure`, when given, re-evaluates
        the model with autograd enabled and returns the loss, which step returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        recording = _graph.current()
        if recording is not None:
            recording.saw_optimizer(self)
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: dict) -> None:
        raise NotImplementedError

    # --- helpers for the subclasses' _update_group ----------------------------------------
    def _fused_update(self, group: dict, gather, call) -> None:
        """The shared body of `_update_group`. For each parameter of `group` that has a
        gradient, gather(p, state) creates what state is missing and returns (bucket key,
        tuple of state arrays; None for one the options leave out). Parameters are bucketed by
        (kernel module, key) and call(kernels, key, hyper, steps, params, grads, *state lists)
        runs once per bucket (normally once per group). `hyper` is [lr, 0.0] (see
        csrc/bind/optim.h), `steps` the params' step counts (state["step"]) or None: the kernel
        reads the one and advances the other when it runs, so that a graph-mode replay of the
        step needs no Python (its host step, Recording.add_lr_refresh, is C++). Arrays are
        C-contiguous, as the kernels take them: a parameter that is a non-contiguous view is
        updated in a copy, written back after."""
        buckets: dict = {}
        updated, writeback = [], []
        state_of = self.state
        recording = _graph.current()
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            a, ga = p._data, g._data
            pa = arrays.contiguous(a)
            if pa is not a:
                writeback.append((pa, a))
            state = state_of[p]
            if recording is None:
                key, arrays_ = gather(p, state)
            else:
                with recording.setup():  # new state is made once, not at every replay
                    key, arrays_ = gather(p, state)
            bucket_key = (for_array(a).kernels, key)
            bucket = buckets.get(bucket_key)
            if bucket is None:
                bucket = buckets[bucket_key] = ([], [[] for _ in range(2 + len(arrays_))])
            count = state.get("step")
            bucket[0].append(None if count is None else count._data)
            lists = bucket[1]
            lists[0].append(pa)
            lists[1].append(arrays.contiguous(ga))
            for target, arr in zip(lists[2:], arrays_):
                if arr is not None:
                    target.append(arr)
            updated.append(p)
        hypers = [np.array([group["lr"], 0.0]) for _ in buckets]
        if recording is not None:
            # Graph mode replays the kernels below; this host step, before them, gives them the
            # group's lr of the moment.
            recording.add_lr_refresh(group, hypers, updated)
        for ((kernels, key), (counts, lists)), hyper in zip(buckets.items(), hypers):
            # `is`, not `in`: `in` compares each step count (a 0-d array) with == elementwise
            steps = None if any(c is None for c in counts) else counts
            call(kernels, key, hyper, steps, *lists)
        for src, dst in writeback:
            arrays.copy_(src, dst)
        for p in updated:
            p._version[0] += 1

    @staticmethod
    def _zeros_like(p: Tensor) -> Tensor:
        """Optimizer state for `p`: zeros of p's shape, dtype and device."""
        return Tensor._wrap(arrays.zeros_like(p._data))

    @staticmethod
    def _full_like(p: Tensor, value) -> Tensor:
        return Tensor._wrap(arrays.full_like(p._data, value))

    @staticmethod
    def _new_step() -> Tensor:
        """The step count: a float32 scalar tensor on the CPU, as PyTorch keeps it."""
        return Tensor._wrap(np.zeros((), np.float32))

    @staticmethod
    def _new_scalar(value: float) -> Tensor:
        """A per-step scalar of the state (NAdam's mu_product, ASGD's eta and mu): a float32
        scalar tensor on the CPU, as PyTorch keeps it; the kernels read and write it."""
        return Tensor._wrap(np.array(value, np.float32))

    @staticmethod
    def _step_count(state: dict) -> int:
        """state["step"] now (the kernel adds one when it runs: see `_fused_update`)."""
        return int(state["step"]._data.item())  # always a CPU array (_new_step, _cast_state)

    # --- state_dict -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {param index: state dict}, "param_groups": [group options with "params"
        as lists of indices]}, indices counting parameters across groups in order. The state
        tensors are the optimizer's own (not copies)."""
        index: dict[int, int] = {}
        start = 0

        def pack_group(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state_dict() of an optimizer over parameters of the same group sizes. State
        tensors are copied, cast to their parameter's dtype (the step count keeps its own);
        numpy arrays and other array-likes (e.g. torch tensors) are accepted too."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = _cast_state(id_map[k], v)
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        self.param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.state = state


# The per-step scalars of the optimizers' state, kept on the CPU in their own dtype.
_HOST_SCALARS = ("step", "mu_product", "eta", "mu")


def _cast_state(param: Tensor, value, key=None):
    """A copy of a loaded state value for `param`: tensors cast to its dtype and device (the
    step count and the other per-step scalars keep their dtype and stay on the CPU)."""
    if isinstance(value, dict):
        return {k: _cast_state(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    if isinstance(value, Tensor):
        host = arrays.to_numpy(value._data)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and key == "step":
        host = np.array(value, dtype=np.float32)  # older checkpoints hold the count as a number
    elif hasattr(value, "__array__") and not isinstance(value, (int, float, complex, bool)):
        host = np.asarray(value)
    else:
        return value
    if key in _HOST_SCALARS:
        return Tensor._wrap(arrays.astype(host, host.dtype))
    dst = param._data
    out = arrays.empty(host.shape, dst.dtype if param.is_floating_point() else host.dtype, dst)
    arrays.copy_(host, out)
    return Tensor._wrap(out)


def _check_impl_flags(name: str, foreach, fused, differentiable) -> None:
    """PyTorch's implementation switches, accepted by every optimizer. Every tapegrad step is
    already one fused call per param group, so foreach / fused change nothing; steps run outside
    autograd, so differentiable=True raises NotImplementedError."""
    if differentiable:
        raise NotImplementedError(
            f"{name}: differentiable=True is not supported (steps run outside autograd)"
        )
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


_HYPER_LABELS = {"lr": "learning rate", "eps": "epsilon value"}


def check_betas(betas) -> None:
    """PyTorch's check of Adam-like betas: each in [0, 1)."""
    for i, beta in enumerate(betas):
        check_number(f"beta parameter at index {i}", beta)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def check_number(name: str, value) -> None:
    """A hyperparameter that must be a real number: TypeError("Invalid learning rate: 'abc' (expected
    a number, got str)") otherwise."""
    if isinstance(value, Tensor) and value.numel() == 1:
        return
    if not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {_HYPER_LABELS.get(name, name + ' value')}: {value!r} "
                        f"(expected a number, got {type(value).__name__})")


def check_non_negative(**values) -> None:
    """PyTorch's constructor checks, in argument order: ValueError("Invalid learning rate: -1")."""
    for name, value in values.items():
        check_number(name, value)
        if not 0.0 <= value:
            raise ValueError(f"Invalid {_HYPER_LABELS.get(name, name + ' value')}: {value}")
