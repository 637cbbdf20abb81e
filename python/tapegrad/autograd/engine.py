"""The backward pass: an iterative topological walk of the graph from the roots.

Dependencies are counted first (how many edges from nodes in this graph reach each node), then
nodes run once all their incoming gradients have arrived (Kahn's algorithm), so depth is limited
only by memory, never by Python's recursion limit.
"""
from __future__ import annotations

from sys import getrefcount

from .function import Function
from .. import tensor as _tensor  # Tensor itself is defined after this module loads
from .. import arrays
from ..compile import recorder as _graph


def _add(a, b):
    return arrays.add(a, b)


def _check_grad(node, i, g, expected_shape):
    if g.shape != expected_shape:
        raise RuntimeError(
            f"Function {node.name()} returned an invalid gradient at index {i} - got shape "
            f"{g.shape} but expected shape {tuple(expected_shape)}"
        )


def run_backward(roots, retain_graph: bool, capture=None):
    """Propagate gradients from `roots`, a list of (edge, grad array) where an edge is a node
    (Function) or a leaf Tensor.

    With `capture` None, gradients reaching leaf tensors accumulate into their ``.grad``.
    Otherwise `capture` maps id(tensor) -> None for the inputs of ``autograd.grad``; their
    gradients are collected there and no ``.grad`` is touched.
    """
    recording = _graph.current()
    if recording is not None:
        recording.backward_ran = True
    deps: dict = {}
    stack = [e for e, _ in roots if isinstance(e, Function)]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for e in node.next_edges:
            if isinstance(e, Function):
                deps[e] = deps.get(e, 0) + 1
                if e not in seen:
                    seen.add(e)
                    stack.append(e)

    # Non-leaf tensors whose gradient is wanted by autograd.grad, by the node that made them.
    capture_nodes = {}
    if capture is not None:
        for t in capture.values():
            if t.grad_fn is not None:
                capture_nodes[t.grad_fn] = t
    captured = {}

    pending: dict = {}
    for edge, g in roots:
        if isinstance(edge, Function):
            pending[edge] = _add(pending[edge], g) if edge in pending else g
        else:
            _deliver_leaf(edge, g, capture, captured)
    ready = [n for n in pending if deps.get(n, 0) == 0]

    while ready:
        node = ready.pop()
        g = pending.pop(node, None)
        grads = ()
        if g is not None:
            if node in capture_nodes:
                t = capture_nodes[node]
                captured[id(t)] = _add(captured[id(t)], g) if id(t) in captured else g
            if node._retained is not None:
                t = node._retained()
                if t is not None:
                    _accumulate_grad(t, g)
            grads = node.backward(g)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if not retain_graph:
                node.release()
        for i, e in enumerate(node.next_edges):
            if e is None:
                continue
            gi = grads[i] if i < len(grads) else None
            if isinstance(e, Function):
                if gi is not None:
                    pending[e] = _add(pending[e], gi) if e in pending else gi
                deps[e] -= 1
                if deps[e] == 0:
                    ready.append(e)
            elif gi is not None:
                _check_grad(node, i, gi, e._data.shape)
                if capture is None and e._grad is None and getrefcount(gi) == _SOLE_OWNER_REFS + (
                        0 if _graph.active is None else _graph.references(gi)) \
                        and arrays.owns_memory(gi) and gi.dtype == e._data.dtype:
                    # Nothing but this loop holds the gradient (not the node, not another
                    # edge, not a view's base): the leaf takes it as .grad without a copy.
                    e._grad = _tensor.Tensor._wrap(gi)
                else:
                    _deliver_leaf(e, gi, capture, captured)
    return captured


# getrefcount(gi) in run_backward when only the `grads` tuple and `gi` hold the array (the
# call's own argument is the third reference). While graph mode records, the recording's own
# references come on top (Recorder.references), so that it records what eager runs.
_SOLE_OWNER_REFS = 3


def _deliver_leaf(t, g, capture, captured):
    if capture is None:
        _accumulate_grad(t, g)
    elif id(t) in capture:
        captured[id(t)] = _add(captured[id(t)], g) if id(t) in captured else g


def _accumulate_grad(t, g):
    """t.grad += g, in place once t owns a gradient buffer (as PyTorch accumulates)."""
    if t._grad is None:
        # Always a fresh buffer: g may be shared with other gradients (add hands its incoming
        # gradient to both operands), and later in-place updates of .grad must not leak.
        t._grad = _tensor.Tensor._wrap(arrays.astype(g, t._data.dtype))
    else:
        buf = t._grad._data
        if g.dtype != buf.dtype:
            g = arrays.astype(g, buf.dtype)
        arrays.add(buf, g, out=buf)
        t._grad._version[0] += 1
