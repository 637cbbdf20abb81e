"""Grad mode: no_grad / enable_grad / set_grad_enabled, as context managers and decorators.

The flag is per thread, as in PyTorch.
"""
from __future__ import annotations

import functools
import threading

class _GradState(threading.local):
    enabled = True  # every thread starts with grad mode on
    # True while a backward with create_graph=True runs: saved arrays come back as Tensors.
    create_graph = False


_state = _GradState()


def is_grad_enabled() -> bool:
    return _state.enabled


def _set(mode: bool) -> None:
    _state.enabled = bool(mode)


class _GradModeContext:
    """A context manager that is also a decorator; each call of the decorated function enters
    a fresh context, so nesting and recursion restore the right mode."""
    _mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self._mode)
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def _fresh(self):
        return type(self)()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)
        return wrapper


class _NoParamContext(_GradModeContext):
    """Also usable bare as a decorator: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if fn is not None:
            return self(fn)
        return self

    def __init__(self, fn=None):
        pass


class no_grad(_NoParamContext):
    _mode = False


class enable_grad(_NoParamContext):
    _mode = True


class set_grad_enabled(_GradModeContext):
    """Sets grad mode at construction (as PyTorch does) and restores it on exit."""

    def __init__(self, mode: bool):
        self._prev = is_grad_enabled()
        self._mode = bool(mode)
        _set(mode)

    def __enter__(self):
        return self

    def _fresh(self):
        return set_grad_enabled(self._mode)

    def __call__(self, fn):
        _set(self._prev)  # as a decorator, the constructor's switch must not persist
        return super().__call__(fn)
