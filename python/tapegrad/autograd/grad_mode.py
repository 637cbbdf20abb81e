"""Grad mode: no_grad / enable_grad / set_grad_enabled / inference_mode, as context managers
and decorators, and anomaly detection (detect_anomaly / set_detect_anomaly).

Grad mode is per thread, anomaly detection per process, as in PyTorch.
"""
from __future__ import annotations

import functools
import threading

class _GradState(threading.local):
    enabled = True  # every thread starts with grad mode on
    # True while a backward with create_graph=True runs: saved arrays come back as Tensors.
    create_graph = False
    inference = False  # inside inference_mode


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


class inference_mode(_GradModeContext):
    """PyTorch's inference_mode, as a context manager and as a decorator (bare or called): no
    graph is recorded inside it, as under no_grad (tapegrad has no separate inference tensors;
    what it makes inside is an ordinary tensor that does not require grad).
    inference_mode(False) leaves grad mode as it is."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):  # @inference_mode without parentheses
            self.__init__(True)
            return self(mode)
        return self

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = is_grad_enabled()
        self._prev_inference = _state.inference
        if self.mode:
            _set(False)
            _state.inference = True
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        _state.inference = self._prev_inference
        return False

    def _fresh(self):
        return inference_mode(self.mode)


def is_inference_mode_enabled() -> bool:
    return _state.inference


class _Anomaly:
    """Anomaly detection, process-wide as in PyTorch: `enabled` makes every op keep the stack
    of its forward call, and the engine checks each backward's gradients for NaN (check_nan)."""
    enabled = False
    check_nan = True


_anomaly = _Anomaly()


def is_anomaly_enabled() -> bool:
    return _anomaly.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return _anomaly.check_nan


class detect_anomaly:
    """Context manager and decorator: inside it, a backward that produces NaN raises an error
    that names the op and shows where its forward was called."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = (_anomaly.enabled, _anomaly.check_nan)
        _anomaly.enabled, _anomaly.check_nan = True, self.check_nan
        return self

    def __exit__(self, *exc):
        _anomaly.enabled, _anomaly.check_nan = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly:
    """Turns anomaly detection on or off now (as PyTorch, also usable as a context manager
    that restores the previous setting)."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = (_anomaly.enabled, _anomaly.check_nan)
        _anomaly.enabled, _anomaly.check_nan = bool(mode), check_nan

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _anomaly.enabled, _anomaly.check_nan = self._prev
        return False
