"""What the rest of tapegrad tells graph mode while a function is being recorded.

`active` is the Recorder of the call being recorded, or None (always None outside
``tapegrad.compile``, so the eager code pays one global lookup for these hooks); `current()` is
that Recorder when the calling thread is the one recording (other threads run eagerly, and the
C++ side records only the recording thread's kernels). The places that do more than launch
kernels report here:

- `host_step(fn)`: Python that must run again at each replay, at this point of the step (a
  learning-rate scheduler, an optimizer's step counts, random draws). It runs now and is kept.
- `setup()`: a block whose kernels run once and are not replayed (creating optimizer state).
- `unsupported(cause)`: something a replay cannot reproduce (reading values on the host,
  creating a Parameter); the call finishes eagerly and the function stays eager, or, with
  ``fullgraph=True``, it raises.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

active = None  # the Recorder of the call being recorded


def current():
    """The active Recorder if this thread is the one recording, else None."""
    rec = active
    return rec if rec is not None and rec.thread == threading.get_ident() else None


class CaptureError(RuntimeError):
    """Raised under ``tapegrad.compile(..., fullgraph=True)`` by what a replay cannot reproduce."""


class Recorder:
    """The Python half of one recording: what the kernels do not show (see the module doc).
    `recording` is the C++ _C.Recording that the kernel calls go to."""

    def __init__(self, recording, fullgraph: bool):
        self.recording = recording
        self.fullgraph = fullgraph
        self.thread = threading.get_ident()
        self.cause = None          # why this call cannot be replayed, or None
        self.modules = {}          # id -> Module called while recording, in call order
        self.optimizers = {}       # id -> Optimizer stepped while recording
        self.reset_grads = set()   # ids of the tensors whose .grad zero_grad set to None
        self.allocated = []        # arrays made by the devices' `new` while recording
        self.external = []         # arrays that host steps read or write
        self.backward_ran = False
        self.in_host_step = False
        self.grads_at_start = {}   # id -> (tensor, its .grad when the recording first saw it)

    def references(self, array) -> int:
        """The references to `array` that this recording holds (so that a check of its
        reference count can discount them)."""
        return self.recording.references(array) + sum(1 for a in self.allocated if a is array)

    def saw_module(self, m) -> None:
        if id(m) not in self.modules:
            self.modules[id(m)] = m
            self._saw(m.parameters())

    def saw_optimizer(self, opt) -> None:
        if id(opt) not in self.optimizers:
            self.optimizers[id(opt)] = opt
            self._saw(p for group in opt.param_groups for p in group["params"])

    def _saw(self, tensors) -> None:
        for t in tensors:
            self.grads_at_start.setdefault(id(t), (t, t._grad))

    def unsupported(self, cause: str) -> None:
        if self.fullgraph:
            raise CaptureError(f"tapegrad.compile(fullgraph=True): cannot capture {cause}")
        if self.cause is None:
            self.cause = cause

    def host_step(self, fn, *arrays):
        """Runs fn() now, without recording its kernels, and appends it to the recording as a
        host step; `arrays` are the arrays it writes or reads (kept out of the arena)."""
        self.external.extend(arrays)
        if self.in_host_step:  # a host step inside another one is part of it
            return fn()
        self.in_host_step = True
        try:
            with self.setup():
                result = fn()
        finally:
            self.in_host_step = False
        self.recording.add_host(fn)
        return result

    def add_host(self, fn, *arrays) -> None:
        """Appends fn as a host step without running it (its caller has just done its work)."""
        self.external.extend(arrays)
        self.recording.add_host(fn)

    def add_lr_refresh(self, group: dict, hypers, tensors) -> None:
        """Appends an optimizer update's host part (see Recording.add_lr_refresh): the
        group's lr of the moment into each of `hypers`, and a new version for each tensor."""
        self.external.extend(hypers)
        self.recording.add_lr_refresh(group, hypers, [t._version for t in tensors])

    @contextmanager
    def setup(self):
        """Kernels launched inside run now and are not recorded."""
        rec = self.recording
        was = rec.paused
        rec.paused = True
        try:
            yield
        finally:
            rec.paused = was


def host_step(fn, *arrays):
    """fn(), kept as a host step when a recording is active (see Recorder.host_step)."""
    rec = current()
    if rec is None:
        return fn()
    return rec.host_step(fn, *arrays)


@contextmanager
def setup():
    """A block whose kernels are one-time set-up: run, never replayed."""
    rec = current()
    if rec is None:
        yield
    else:
        with rec.setup():
            yield


def unsupported(cause: str) -> None:
    rec = current()
    if rec is not None:
        rec.unsupported(cause)


def references(array) -> int:
    """The references to `array` the current recording holds (0 when none records here)."""
    rec = current()
    return 0 if rec is None else rec.references(array)
