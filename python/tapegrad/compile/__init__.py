"""Graph mode: ``tapegrad.compile`` records a function's kernel calls once and replays them
from C++ (``compile/graph.py``); ``compile/recorder.py`` is what the rest of tapegrad tells it
while a call is being recorded."""
from __future__ import annotations

import functools

from .recorder import CaptureError

__all__ = ["compile", "CaptureError"]


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor", mode=None,
            options=None, disable: bool = False):
    """torch.compile's signature. `model` is a function (a whole training step, or inference)
    or an nn.Module; without it, a decorator is returned. ``fullgraph=True`` raises
    CaptureError where the default falls back to eager. `dynamic`, `backend`, `mode` and
    `options` are accepted for PyTorch's scripts and change nothing: every signature gets its
    own recording, and there is one backend. ``disable=True`` returns `model` itself."""
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                 mode=mode, options=options, disable=disable)
    if disable:
        return model
    from ..nn.module import Module
    from .graph import CompiledFunction, CompiledModule

    if isinstance(model, Module):
        return CompiledModule(model, fullgraph)
    if not callable(model):
        raise TypeError(f"tapegrad.compile: expected a callable or an nn.Module, got "
                        f"{type(model).__name__}")
    return functools.wraps(model)(CompiledFunction(model, fullgraph))


