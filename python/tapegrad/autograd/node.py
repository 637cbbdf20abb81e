"""Node: one differentiable op, forward and backward side by side (the base of every op in
tapegrad.ops; PyTorch's public ``autograd.Function`` is in function.py).

A subclass implements ``forward(self, *arrays, **options) -> array`` and
``backward(self, grad) -> grad or tuple of grads``; the instance created by ``apply`` is the graph
node (the tensor's ``grad_fn``). ``backward`` returns one gradient per Tensor argument of
``apply``, in order, or None for an argument that needs none (``self.needs_input_grad`` says
which are wanted).

``backward`` is written with the named array ops of tapegrad.arrays, which also take Tensors. For
``create_graph=True`` the engine passes it a Tensor gradient and ``saved_arrays`` gives Tensors
(the op's own inputs and output, joined to the graph), so the same formulas record a
differentiable graph of the backward.
"""
from __future__ import annotations

import traceback

import numpy as np

from .grad_mode import _anomaly, _state as _grad_state
from .. import _C
from .. import tensor as _tensor  # Tensor itself is defined after this module loads


class Node:
    # Class attribute: True for ops whose output may share memory with their first input
    # (reshape, transpose, slicing, ...); such outputs share the input's version counter.
    is_view = False

    next_edges: tuple = ()
    needs_input_grad: tuple = ()
    _saved: tuple | None = ()
    _saved_versions: tuple = ()
    # Per saved array: the input Tensor it is the data of, _OUTPUT for the op's result, or None
    # (a value forward computed); what saved_arrays gives under create_graph.
    _saved_sources: tuple = ()
    _retained = None
    _released = False
    _forward_stack = None  # where forward was called, kept under anomaly detection
    # Tensor.register_hook of this node's output: {handle id: hook}, run on its gradient.
    _hooks = None
    # view(a): for ops that make views (is_view), the same view of any array or Tensor of the
    # input's shape; in-place ops on a view rewrite its base through it (None: not writable)
    view = None
    # A node of several outputs (a custom autograd.Function's) receives one gradient per
    # output, as a list; each output's grad_fn is an _OutputNode that feeds it.
    n_outputs = 1

    # --- writing an op ------------------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def save_for_backward(self, *arrays) -> None:
        self._saved = arrays

    @property
    def saved_arrays(self) -> tuple:
        """The arrays forward saved (save_for_backward), checked: still there (not freed by an
        earlier backward) and unchanged in place since."""
        if self._released:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or directly access saved "
                f"tensors of {self.name()} after they have already been freed). Saved "
                "intermediate values of the graph are freed when you call .backward() or "
                "autograd.grad(). Specify retain_graph=True if you need to backward through "
                "the graph a second time."
            )
        for box, version in self._saved_versions:
            if box[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: it is at version {box[0]}, expected version {version} "
                    f"(saved by {self.name()})."
                )
        if _grad_state.create_graph:
            return self._saved_tensors()
        return self._saved

    def _saved_tensors(self) -> tuple:
        """The saved arrays as Tensors for a differentiable backward: an input as the input
        Tensor itself, the output as a Tensor whose grad_fn is this node, anything else as a
        constant."""
        Tensor = _tensor.Tensor
        sources = self._saved_sources or (None,) * len(self._saved)
        out = []
        for arr, src in zip(self._saved, sources):
            if arr is None or isinstance(src, Tensor):
                out.append(src if arr is not None else None)
                continue
            t = Tensor._wrap(arr)
            if src is _OUTPUT:
                t._requires_grad = True
                t.grad_fn = self
            out.append(t)
        return tuple(out)


    # --- graph plumbing -----------------------------------------------------------------
    @classmethod
    def name(cls) -> str:
        return f"{cls.__name__}Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    @property
    def next_functions(self) -> tuple:
        return tuple((e, 0) for e in self.next_edges)

    def release(self) -> None:
        """Free what forward saved; a later backward through this node raises."""
        if self._saved:
            self._saved = None
            self._saved_sources = ()
            self._released = True

    # Node.apply(*args, **kwargs): runs the op and records it (csrc/autograd.cpp, in C because
    # this bookkeeping cost more than small ops' kernels). Step by step:
    #  1. each Tensor argument is replaced by its array (all of one device, else RuntimeError);
    #  2. node = cls(); when grad mode is on and a Tensor argument requires grad, the op is
    #     recorded, and node.needs_input_grad says which (known before forward, so forward
    #     saves only what the wanted gradients need);
    #  3. out = node.forward(*arrays, **kwargs), returned as a new Tensor; an is_view op whose
    #     output shares the first input's memory links it to its base (_link_view);
    #  4. recorded: node.next_edges holds, per Tensor argument, its grad_fn (or the tensor
    #     itself for a leaf, None where no gradient is wanted), the versions of what forward
    #     saved are noted (_versions_of), and the result requires grad with grad_fn = node.
    apply = classmethod(_C.autograd.apply)


class _OutputNode(Node):
    """The grad_fn of output `output_nr` of a node of several outputs: it hands its gradient
    to that node's slot for the output (the engine reads output_nr)."""

    def __init__(self, node, output_nr: int):
        self.node, self.output_nr = node, output_nr
        self.next_edges = (node,)
        self.needs_input_grad = (True,)

    def name(self) -> str:
        return self.node.name()

    def backward(self, grad):
        return grad


def _shares_memory(a, b) -> bool:
    """Whether two arrays of one backend may share memory (CUDA arrays compare their device
    address ranges, which numpy reads off their metadata)."""
    if type(a) is not np.ndarray:
        a, b = getattr(a, "meta", a), getattr(b, "meta", b)
    return np.may_share_memory(a, b)


def _apply_rare(cls, node, tensors):
    """The rare steps of apply: operands of two devices raise; under anomaly detection the
    node keeps the stack of its forward call."""
    kinds = {type(t._data) for t in tensors}
    if len(kinds) > 1:
        _devices_differ(cls, tensors)
    if kinds and kinds != {np.ndarray} and len(tensors) > 1:
        _one_gpu(cls, tensors)
    if _anomaly.enabled:
        node._forward_stack = traceback.format_stack()[:-1]


def _link_view(node, base, first, result):
    """An is_view op's result that shares its input's memory: a view of the input's base,
    sharing its version counter, that in-place ops rewrite through (node, base)."""
    if _shares_memory(result._data, first):
        result._version = base._version
        result._base = base if base._base is None else base._base
        result._view_of = (node, base)


def _devices_differ(cls, tensors):
    devices = list(dict.fromkeys(str(t.device) for t in tensors))
    raise RuntimeError(f"{_op_name(cls)}: expected all tensors on one device, got "
                       f"{' and '.join(devices)}")


def _one_gpu(cls, tensors):
    first = tensors[0]._data.device
    if any(t._data.device != first for t in tensors):
        _devices_differ(cls, tensors)


def _op_name(cls) -> str:
    return cls.__name__.lower()


# The saved source that stands for the op's own result (a Tensor would make a reference cycle).
_OUTPUT = object()


def _versions_of(saved, tensors, result):
    """(version box, version now) for every saved array that is a tensor's data, and each
    saved array's source (see Node._saved_sources)."""
    found = []
    sources = []
    for arr in saved:
        src = None
        if arr is not None:
            for t in tensors:
                if t._data is arr:
                    found.append((t._version, t._version[0]))
                    src = t
                    break
            else:
                if result._data is arr:
                    found.append((result._version, result._version[0]))
                    src = _OUTPUT
        sources.append(src)
    return tuple(found), tuple(sources)


def setup(tensor_type) -> None:
    """Gives the C side of apply and Tensor._wrap the Tensor type and the helpers above (called
    by tensor.py once Tensor is defined)."""
    _C.autograd.setup(tensor_type, _grad_state, _anomaly, _apply_rare, _versions_of, _link_view)
