"""The backward pass: an iterative topological walk of the graph from the roots.

Dependencies are counted first (how many edges from nodes in this graph reach each node), then
nodes run once all their incoming gradients have arrived (Kahn's algorithm), so depth is limited
only by memory, never by Python's recursion limit.

Gradients are backend arrays, or Tensors when the backward is itself differentiated
(create_graph=True): then every node's formulas run on Tensors with grad mode on, and record
the graph of the backward as they go.
"""
from __future__ import annotations

from sys import getrefcount

import numpy as np

from .node import Node
from .grad_mode import _anomaly, _state as _grad_state
from .. import tensor as _tensor  # Tensor itself is defined after this module loads
from .. import arrays
from ..compile import recorder as _graph


def _add(a, b):
    return arrays.add(a, b)


def _check_grad(node, i, g, expected_shape):
    if tuple(g.shape) != tuple(expected_shape):
        raise RuntimeError(
            f"Function {node.name()} returned an invalid gradient at index {i} - got shape "
            f"{tuple(g.shape)} but expected shape {tuple(expected_shape)}"
        )


def _run_hooks(hooks, g, create_graph):
    """Tensor.register_hook hooks, in registration order: each sees the gradient as a Tensor
    and may return a replacement."""
    Tensor = _tensor.Tensor
    t = g if create_graph else Tensor._wrap(g)
    for hook in list(hooks.values()):
        new = hook(t)
        if new is not None:
            if not isinstance(new, Tensor):
                raise TypeError(f"hook {getattr(hook, '__name__', hook)!r} returned a "
                                f"{type(new).__name__}; expected a Tensor or None")
            if tuple(new.shape) != tuple(t.shape):
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} changed the gradient's "
                                   f"shape from {tuple(t.shape)} to {tuple(new.shape)}")
            t = new
    return t if create_graph else t._data


def run_backward(roots, retain_graph: bool, capture=None, create_graph: bool = False):
    """Propagate gradients from `roots`, a list of (edge, grad) where an edge is a node or a
    leaf Tensor, and grad an array (a Tensor with create_graph).

    With `capture` None, gradients reaching leaf tensors accumulate into their ``.grad``.
    Otherwise `capture` maps id(tensor) -> tensor for the inputs of ``autograd.grad``; their
    gradients are collected there and no ``.grad`` is touched.
    """
    if not create_graph:
        return _walk(roots, retain_graph, capture, False)
    state = _grad_state
    before = (state.enabled, state.create_graph)
    state.enabled, state.create_graph = True, True
    try:
        return _walk(roots, retain_graph, capture, True)
    finally:
        state.enabled, state.create_graph = before


def _walk(roots, retain_graph, capture, create_graph):
    recording = _graph.current()
    if recording is not None:
        recording.backward_ran = True
    deps: dict = {}
    stack = [e for e, _ in roots if isinstance(e, Node)]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for e in node.next_edges:
            if isinstance(e, Node):
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
    # Leaves with hooks get their gradients summed first and delivered once, at the end.
    deferred: dict = {}

    pending: dict = {}
    for edge, g in roots:
        if isinstance(edge, Node):
            _pend(pending, edge, None, g)
        else:
            _deliver_leaf(edge, g, capture, captured, deferred, create_graph)
    ready = [n for n in pending if deps.get(n, 0) == 0]

    while ready:
        node = ready.pop()
        g = pending.pop(node, None)
        grads = ()
        if g is not None:
            if node.n_outputs == 1:
                if node._hooks:
                    g = _run_hooks(node._hooks, g, create_graph)
                if node in capture_nodes:
                    t = capture_nodes[node]
                    captured[id(t)] = _add(captured[id(t)], g) if id(t) in captured else g
                if node._retained is not None:
                    t = node._retained()
                    if t is not None:
                        _accumulate_grad(t, g, create_graph)
            grads = node.backward(g)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if _anomaly.enabled and _anomaly.check_nan:
                _check_nan(node, grads)
            if not retain_graph:
                node.release()
        for i, e in enumerate(node.next_edges):
            if e is None:
                continue
            gi = grads[i] if i < len(grads) else None
            if isinstance(e, Node):
                if gi is not None:
                    _pend(pending, e, node, gi)
                deps[e] -= 1
                if deps[e] == 0:
                    ready.append(e)
            elif gi is not None:
                _check_grad(node, i, gi, e._data.shape)
                if not create_graph and capture is None and e._grad is None and getrefcount(gi) == (
                        _SOLE_OWNER_REFS + (0 if _graph.active is None else _graph.references(gi))) \
                        and arrays.owns_memory(gi) and gi.dtype == e._data.dtype \
                        and e._hooks is None:
                    # Nothing but this loop holds the gradient (not the node, not another
                    # edge, not a view's base): the leaf takes it as .grad without a copy.
                    e._grad = _tensor.Tensor._wrap(gi)
                else:
                    _deliver_leaf(e, gi, capture, captured, deferred, create_graph)
    for t, g in deferred.values():
        _finish_leaf(t, g, create_graph)
    if capture is not None:  # autograd.grad's leaves see their hooks too
        for key, t in capture.items():
            if key in captured and t.grad_fn is None and t._hooks is not None and t._hooks.pre:
                captured[key] = _run_hooks(t._hooks.pre, captured[key], create_graph)
    return captured


def _check_nan(node, grads):
    """Anomaly detection: a gradient with NaN raises, naming the op and where its forward ran."""
    for i, gi in enumerate(grads):
        if gi is None:
            continue
        values = arrays.to_numpy(gi._data if isinstance(gi, _tensor.Tensor) else gi)
        if values.dtype.kind == "f" and np.isnan(values).any():
            where = ("\nTraceback of the forward call that made it:\n" + "".join(node._forward_stack)
                     if node._forward_stack else "")
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output."
                               + where)


def _pend(pending, node, sender, g):
    """Adds g to what `node` will receive: one gradient, or for a node of several outputs one
    per output, in the slot of the output `sender` (an _OutputNode) stands for."""
    if node.n_outputs == 1:
        pending[node] = _add(pending[node], g) if node in pending else g
        return
    slots = pending.get(node)
    if slots is None:
        slots = pending[node] = [None] * node.n_outputs
    k = 0 if sender is None else sender.output_nr
    slots[k] = g if slots[k] is None else _add(slots[k], g)


# getrefcount(gi) in _walk when only the `grads` tuple and `gi` hold the array (the call's own
# argument is the third reference). While graph mode records, the recording's own references
# come on top (Recorder.references), so that it records what eager runs.
_SOLE_OWNER_REFS = 3


def _deliver_leaf(t, g, capture, captured, deferred, create_graph):
    if capture is not None:
        if id(t) in capture:
            captured[id(t)] = _add(captured[id(t)], g) if id(t) in captured else g
    elif t._hooks is not None:
        key = id(t)
        deferred[key] = (t, g) if key not in deferred else (t, _add(deferred[key][1], g))
    else:
        _accumulate_grad(t, g, create_graph)


def _finish_leaf(t, g, create_graph):
    """A leaf with hooks: its gradient hooks, the accumulation, then its post-accumulate
    hooks (each given the tensor)."""
    hooks = t._hooks
    if hooks.pre:
        g = _run_hooks(hooks.pre, g, create_graph)
    _accumulate_grad(t, g, create_graph)
    for hook in list(hooks.post.values()):
        hook(t)


def _accumulate_grad(t, g, create_graph=False):
    """t.grad += g, in place once t owns a gradient buffer (as PyTorch accumulates); out of
    place, and differentiable, with create_graph."""
    Tensor = _tensor.Tensor
    if create_graph:
        if g.dtype is not t.dtype:
            g = g.to(t.dtype)
        t._grad = g if t._grad is None else t._grad + g
        return
    if t._grad is None:
        # Always a fresh buffer: g may be shared with other gradients (add hands its incoming
        # gradient to both operands), and later in-place updates of .grad must not leak.
        t._grad = Tensor._wrap(arrays.astype(g, t._data.dtype))
    else:
        buf = t._grad._data
        if g.dtype != buf.dtype:
            g = arrays.astype(g, buf.dtype)
        arrays.add(buf, g, out=buf)
        t._grad._version[0] += 1
