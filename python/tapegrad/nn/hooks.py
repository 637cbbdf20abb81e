"""Module hooks (PyTorch's register_forward_pre_hook, register_forward_hook,
register_full_backward_pre_hook, register_full_backward_hook).

A module keeps them in one ModuleHooks, made at the first registration, so that a module
without hooks pays one attribute read per call. The backward hooks wrap the module's tensor
inputs and outputs in two identity autograd Functions: the outputs' one sees the gradients
of the outputs, the inputs' one (which runs after it, as the graph between them is the
module's) the gradients of the inputs, and calls the hooks with both.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from ..utils.hooks import Hooks


class ModuleHooks:
    __slots__ = ("forward_pre", "forward", "backward_pre", "backward")

    def __init__(self):
        self.forward_pre, self.forward = Hooks(), Hooks()  # values: (hook, with_kwargs)
        self.backward_pre, self.backward = Hooks(), Hooks()

    def __bool__(self):
        return bool(self.forward_pre or self.forward or self.backward_pre or self.backward)


def call(module, hooks: ModuleHooks, args, kwargs):
    """module(*args, **kwargs) with its hooks."""
    for hook, with_kwargs in list(hooks.forward_pre.values()):
        if with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, "
                                       f"new_kwargs), but got {result!r}")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    state = None
    if (hooks.backward or hooks.backward_pre) and is_grad_enabled():
        state = _BackwardState(module, hooks, args)
        args = state.wrap_inputs(args)
    out = module.forward(*args, **kwargs)
    for hook, with_kwargs in list(hooks.forward.values()):
        result = hook(module, args, kwargs, out) if with_kwargs else hook(module, args, out)
        if result is not None:
            out = result
    if state is not None:
        out = state.wrap_outputs(out)
    return out


class _BackwardState:
    """One call's backward hooks: the gradients of the outputs wait here for those of the
    inputs."""

    def __init__(self, module, hooks, args):
        self.module, self.hooks = module, hooks
        self.positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.any_input_grad = any(args[i].requires_grad for i in self.positions)
        self.grad_outputs = None

    def wrap_inputs(self, args):
        if not self.any_input_grad:
            return args
        wrapped = _InputsHook.apply(self, *[args[i] for i in self.positions])
        args = list(args)
        for i, t in zip(self.positions, wrapped):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, out):
        single = isinstance(out, Tensor)
        outs = (out,) if single else out
        if not isinstance(outs, tuple) or not any(isinstance(o, Tensor) and o.requires_grad for o in outs):
            return out
        wrapped = _OutputsHook.apply(self, *outs)
        return wrapped[0] if single else wrapped

    def outputs_ready(self, grads):
        """The backward pre-hooks, which may replace the output gradients; with no input that
        requires grad the backward hooks run now, with grad_input all None."""
        for hook in list(self.hooks.backward_pre.values()):
            result = hook(self.module, grads)
            if result is not None:
                grads = tuple(result)
        self.grad_outputs = grads
        if not self.any_input_grad:
            self.inputs_ready((None,) * len(self.positions))
        return grads

    def inputs_ready(self, grads):
        for hook in list(self.hooks.backward.values()):
            result = hook(self.module, grads, self.grad_outputs)
            if result is not None:
                grads = tuple(result)
        return grads


class _InputsHook(Function):
    @staticmethod
    def forward(ctx, state, *inputs):
        ctx.state = state
        ctx.mark_non_differentiable(*[t for t in inputs if not t.requires_grad])
        return tuple(inputs)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) + tuple(ctx.state.inputs_ready(grads))


class _OutputsHook(Function):
    @staticmethod
    def forward(ctx, state, *outputs):
        ctx.state = state
        ctx.mark_non_differentiable(*[t for t in outputs if isinstance(t, Tensor) and not t.requires_grad])
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) + tuple(ctx.state.outputs_ready(grads))
