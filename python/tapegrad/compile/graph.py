"""Graph mode: ``tapegrad.compile`` records a function's kernel calls once and replays them from
C++, with no Python between them.

The first call with a given signature (input shapes, dtypes, devices and requires_grad, grad mode,
the modules' training flags) runs eagerly and records every kernel call with the memory it
reads and writes (csrc/graph.h). Later calls with that signature point the recording at their
tensor inputs (or copy them into its buffers; see ``Graph._set_inputs``), check that the
parameters, gradients and optimizer state are still the recorded arrays, and replay: one C++ loop runs the kernels, stopping only for the host steps
(the Python the recording kept because it changes from step to step: schedulers, step counts,
random draws; see ``compile/recorder.py``). Intermediate buffers whose lifetimes do not overlap
share one arena. Outputs are returned as fresh tensors.

What a replay cannot reproduce (reading values on the host: ``.item()``, printing, Python
``if`` on a tensor; creating a Parameter) makes the function run eagerly from then on, with one
warning; ``fullgraph=True`` raises instead. Other Python values the function reads (globals,
closure variables, optimizer options other than the learning rate) are frozen at recording.
"""
from __future__ import annotations

import functools
import itertools
import threading
import warnings
import weakref
from collections import OrderedDict

import numpy as np

from .. import _C, arrays
from ..arrays import cpu as _cpu, cuda as _cuda
from ..autograd.node import Node
from ..autograd.grad_mode import _state as _grad_state
from ..tensor import Tensor
from . import recorder as _recorder


CACHE_SIZE = 8  # recordings kept per compiled function (one per signature)
_ALIGN = 256    # arena offsets: a cache line on the CPU, a full transaction on the GPU


class CompiledFunction(_C.DirectCall):
    """A function with its recordings, one per signature (at most CACHE_SIZE, the oldest dropped
    first). Calling it replays the recording of the arguments' signature, recording it first
    when there is none. A call that the recording used last can check for itself goes straight
    to it in C++ (_C.DirectCall, _C.Replay); every other call is `_call`."""

    def __init__(self, fn, fullgraph: bool = False, modules=()):
        super().__init__(_recorder)
        self._fn = fn
        self._fullgraph = fullgraph
        self._modules = list(modules)  # whose training flags are part of the signature
        self._graphs: OrderedDict = OrderedDict()
        self._eager_cause = None
        self._evicted = False

    def __get__(self, obj, objtype=None):  # as a method: bind like a function
        return self if obj is None else functools.partial(self, obj)

    def _call(self, *args, **kwargs):
        self._fast = None
        if self._eager_cause is not None or _recorder.active is not None:
            return self._fn(*args, **kwargs)  # eager for good, or inside another recording
        tensors = []
        key = (_grad_state.enabled, tuple([m.training for m in self._modules]),
               tuple([_signature(a, tensors) for a in args]),
               _signature(kwargs, tensors) if kwargs else None)
        try:
            graph = self._graphs.get(key)  # (hashing the key checks that it is hashable)
        except TypeError as e:
            return self._go_eager(f"an argument that cannot be part of a signature ({e})",
                                  args, kwargs)
        if graph is not None:
            if graph.ready():
                try:
                    out = graph.replay(tensors)
                except BaseException:
                    del self._graphs[key]  # the next call records afresh
                    raise
                self._fast = graph.fast
                return out
            del self._graphs[key]  # its state was replaced: record again
        return self._record(key, args, kwargs, tensors)

    def _forget(self, fast) -> None:
        """Drops the recording whose replay raised (the next call records afresh)."""
        self._fast = None
        for key, graph in list(self._graphs.items()):
            if graph.fast is fast:
                del self._graphs[key]

    def _stay_eager(self, cause) -> None:
        """From now on the function runs eagerly; one warning says why."""
        self._eager_cause = cause
        warnings.warn(f"tapegrad.compile: {_name(self._fn)} runs eagerly: cannot capture {cause}",
                      stacklevel=4)

    def _go_eager(self, cause, args, kwargs):
        self._stay_eager(cause)
        return self._fn(*args, **kwargs)

    def _record(self, key, args, kwargs, tensors):
        if any(t._requires_grad and t.grad_fn is not None for t in tensors):
            # Its graph would need the caller's nodes, which a replay cannot reach.
            return self._go_eager("an input that is the result of an op requiring grad", args,
                                  kwargs)
        graph = Graph(self._fn, self._fullgraph)
        result = graph.record(args, kwargs, tensors, self._modules)
        if graph.cause is not None:
            self._stay_eager(graph.cause)
            return result
        for m in graph.modules:
            if not any(m is k for k in self._modules):
                self._modules.append(m)
        key = key[:1] + (tuple([m.training for m in self._modules]),) + key[2:]
        if len(self._graphs) >= CACHE_SIZE:
            self._graphs.popitem(last=False)
            if not self._evicted:
                self._evicted = True
                warnings.warn(f"tapegrad.compile: {_name(self._fn)} has been called with more "
                              f"than {CACHE_SIZE} signatures; the oldest recordings are dropped "
                              "and recorded again when needed", stacklevel=3)
        self._graphs[key] = graph
        graph.fast = graph.fast_replay(args, kwargs, self._modules)
        self._fast = graph.fast
        return result

    def explain(self) -> str:
        """The recordings: each one's kernel calls and host steps in order, and its buffers."""
        if self._eager_cause is not None:
            return f"{_name(self._fn)}: eager (cannot capture {self._eager_cause})"
        if not self._graphs:
            return f"{_name(self._fn)}: nothing recorded yet"
        return "\n\n".join(g.explain() for g in self._graphs.values())


class CompiledModule:
    """What tapegrad.compile(module) returns: calls replay the module's forward as one graph
    node whose backward replays the recorded backward; everything else (parameters, train(),
    state_dict(), ...) is the module's own. An eager optimizer over its parameters works as
    before."""

    def __init__(self, module, fullgraph: bool = False):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "forward", CompiledFunction(module.forward, fullgraph,
                                                             modules=list(module.modules())))

    def __call__(self, *args, **kwargs):
        _register_module(self._orig_mod)
        return self.forward(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def explain(self) -> str:
        return self.forward.explain()

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"


def _register_module(m) -> None:
    rec = _recorder.current()
    if rec is not None:
        rec.saw_module(m)


# --- one recording ---------------------------------------------------------------------------

class Graph:
    """One recording of a function for one signature, and how to replay it."""

    def __init__(self, fn, fullgraph: bool):
        self.fn = fn
        self.fullgraph = fullgraph
        self.rec = _C.Recording()
        self.cause = None
        self.fast = None
        self.modules = []
        self.generation = 0       # forward replays so far (a backward must follow its forward)
        self.pending = None       # weakref to the node of the last replay whose backward is due

    # -- recording --
    def record(self, args, kwargs, tensors, modules=()):
        recorder = _recorder.Recorder(self.rec, self.fullgraph)
        # The recording runs on copies of the inputs (C-contiguous on the CPU: see _set_inputs
        # for what becomes of them).
        self.inputs = [arrays.astype(t._data, t._data.dtype) for t in tensors]
        self.copy_in = [_copier(b) for b in self.inputs]
        leaves = [Tensor._wrap(b) for b in self.inputs]
        for leaf, t in zip(leaves, tensors):
            if t._requires_grad:  # its gradient reaches the caller's tensor through _InputNode
                node = _InputNode()
                node.next_edges = (t.grad_fn or t,)
                leaf._requires_grad, leaf.grad_fn = True, node
        swap = iter(leaves)
        args = _rebuild(args, swap)
        kwargs = _rebuild(kwargs, swap)
        # The arguments' structure, for the calls that run eagerly (tensors left out: kept, the
        # leaves would keep the input buffers).
        self.spec = (_rebuild(args, itertools.repeat(_INPUT)),
                     _rebuild(kwargs, itertools.repeat(_INPUT)))
        news = {dev: dev.new for dev in (_cpu, _cuda)}

        def tracking(new):
            def tracked_new(shape, dtype, like=None):
                a = new(shape, dtype, like=like)
                if threading.get_ident() == recorder.thread:
                    recorder.allocated.append(a)
                return a
            return tracked_new

        for dev, new in news.items():
            dev.new = tracking(new)
        _recorder.active = recorder
        from ..nn.module import Module

        # The modules whose own parameters the function may use directly, without calling them:
        # a compiled module's, a compiled method's.
        for m in list(modules) + [a for a in args if isinstance(a, Module)]:
            recorder.saw_module(m)
        self.rec.start()
        try:
            result = self.fn(*args, **kwargs)
            self.n_forward = len(self.rec)
            outs = []
            _flatten(result, outs)
            diff = [o for o in outs if o._requires_grad and o.grad_fn is not None]
            self.differentiable = bool(diff) and not recorder.backward_ran and _grad_state.enabled
            if self.differentiable and len(diff) == 1:
                self._record_backward(diff[0], leaves, tensors)
            elif self.differentiable:
                recorder.unsupported("a function returning several tensors that require grad")
        finally:
            self.rec.stop()
            _recorder.active = None
            for dev, new in news.items():
                dev.new = new
        self.cause = recorder.cause
        self.modules = list(recorder.modules.values())
        if self.cause is not None:
            self.rec = None
            return result
        self.out_spec = result
        self.outputs = [o._data for o in outs]
        self._plan(recorder, self._note_state(recorder, tensors, leaves))
        self._set_inputs(tensors)
        # Replays write the outputs' buffers: this call returns copies too (a differentiable
        # output through an eager clone, so its backward runs the eager graph of this call).
        return _rebuild(result, iter([o.clone() if self.differentiable else
                                      Tensor._wrap(arrays.astype(o._data, o._data.dtype))
                                      for o in outs]))

    def _record_backward(self, out, leaves, tensors):
        """Records the backward of `out` now, into its gradient buffers, for the node that the
        replayed forward returns (see _ReplayNode)."""
        from ..autograd import grad as autograd_grad

        inputs = {leaf.grad_fn: i for i, leaf in enumerate(leaves) if leaf.grad_fn is not None}
        wrt, self.edge_spec = [], []  # what autograd.grad differentiates by; ("input", i) / leaf
        seen, stack = set(), [out.grad_fn]
        while stack:  # out's graph down to its leaves and inputs, in a fixed order
            node = stack.pop()
            for e in node.next_edges:
                if e is None or id(e) in seen:
                    continue
                seen.add(id(e))
                if e in inputs:
                    wrt.append(leaves[inputs[e]])
                    self.edge_spec.append(("input", inputs[e]))
                elif isinstance(e, Node):
                    stack.append(e)
                else:
                    wrt.append(e)
                    self.edge_spec.append(("leaf", e))
        with _recorder.setup():
            self.grad_out = arrays.zeros_like(out._data)
        # retain_graph: this call's own output still gets its backward through the eager graph.
        grads = autograd_grad([out], wrt, [Tensor._wrap(self.grad_out)], retain_graph=True,
                              allow_unused=True)
        self.leaf_grads = [None if g is None else g._data for g in grads]

    def _note_state(self, recorder, tensors, leaves):
        """What a replay must find unchanged (the guards) and what it restores afterwards."""
        params, seen = [], set()

        def add(t):
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                params.append(t)

        for m in self.modules:
            for p in m.parameters():
                add(p)
            for b in m.buffers():
                add(b)
        optimizers = list(recorder.optimizers.values())
        for opt in optimizers:
            for group in opt.param_groups:
                for p in group["params"]:
                    add(p)
        opt_entries = [v for opt in optimizers for st in opt.state.values() if isinstance(st, dict)
                       for v in st.values() if isinstance(v, Tensor)]
        guards = self.guards = _C.Guards()
        # The tensors' arrays (parameters, buffers, optimizer state) are still the recorded ones.
        for t in params + opt_entries:
            guards.expect(t, "_data", t._data)
        # Each module's parameters, buffers and submodules, and each param group's tensors, are
        # still the same objects.
        for m in self.modules:
            for d in (m._parameters, m._buffers, m._modules):
                guards.expect_items(d, list(d.values()))
        for opt in optimizers:
            guards.expect(opt, "state", opt.state)
            guards.expect_items(opt.param_groups, list(opt.param_groups))
            for group in opt.param_groups:
                guards.expect_items(group["params"], list(group["params"]))
        # .grad, where the function uses it (a backward, zero_grad, or kernels reading or
        # writing it; not a compiled module's forward): a replay leaves each one as the
        # recording ended; it starts from any .grad when the function resets it (zero_grad) and
        # from the one the recording started from otherwise.
        start = recorder.grads_at_start
        for t in params:
            first = start[id(t)][1] if id(t) in start else t._grad
            if self.differentiable or not (
                    recorder.backward_ran or id(t) in recorder.reset_grads or
                    any(g is not None and self.rec.references(g._data) for g in (first, t._grad))):
                continue
            if id(t) not in recorder.reset_grads:
                guards.expect(t, "_grad", first)
            guards.restore(t, "_grad", t._grad)
        external = list(self.inputs) + self.outputs + list(recorder.external)
        for t in params:
            external.append(t._data)
            if t._grad is not None:
                external.append(t._grad._data)
        external.extend(t._data for t in opt_entries)
        if self.differentiable:
            external.append(self.grad_out)
            external.extend(g for g in self.leaf_grads if g is not None)
        return external

    def _plan(self, recorder, external):
        """Gives the intermediate buffers of the recording places in one arena per device,
        shared by buffers whose lifetimes do not overlap, and drops the buffers themselves.
        `external` are the arrays that live on outside the recording."""
        external = {id(arrays.for_array(a).memory(a)[0]) for a in external}
        by_device: dict = {}
        for a in recorder.allocated:
            dev = arrays.for_array(a)
            owner, address, nbytes = dev.memory(a)
            if id(owner) not in external and nbytes:
                by_device.setdefault(dev, {})[id(owner)] = (owner, address, nbytes)
        self.intermediate_bytes = self.arena_bytes = 0
        self.arenas = []
        dropped = set()
        for dev, owners in by_device.items():
            owners = list(owners.values())
            ranges = [(address, nbytes) for _, address, nbytes in owners]
            life = self.rec.lifetimes(ranges)
            chosen = [i for i, (first, _, overwrites) in enumerate(life) if first >= 0 and overwrites]
            offsets, total = _place([(ranges[i][1], life[i][0], life[i][1]) for i in chosen])
            if not chosen:
                continue
            arena = dev.new((total,), np.bool_, like=owners[chosen[0]][0]) if dev is _cpu else \
                _cuda.empty((total,), np.bool_, owners[chosen[0]][0].device)
            base = dev.memory(arena)[1]
            self.rec.remap([ranges[i] for i in chosen], [base + o for o in offsets])
            self.arenas.append(arena)
            self.intermediate_bytes += sum(ranges[i][1] for i in chosen)
            self.arena_bytes += total
            dropped.update(id(owners[i][0]) for i in chosen)
        kept = self.rec.kept
        self.rec.kept = [a for a in kept if id(arrays.for_array(a).memory(a)[0]) not in dropped]
        recorder.allocated.clear()

    def _set_inputs(self, tensors) -> None:
        """A CPU input is read from the caller's array itself where it can be (see
        Recording.bind), and its own buffer goes; inputs that require grad (they may be
        parameters the step updates), inputs the function writes and device arrays keep theirs,
        copied into at each call."""
        self.rec.set_inputs([None if t._requires_grad else b for t, b in zip(tensors, self.inputs)])
        dropped = set()
        for i, bindable in enumerate(self.rec.bindable()):
            if bindable:
                dropped.add(id(_cpu.memory(self.inputs[i])[0]))
                self.inputs[i] = None
        if dropped:
            self.rec.kept = [a for a in self.rec.kept
                             if id(arrays.for_array(a).memory(a)[0]) not in dropped]
        self.bound = self._bind([t._data for t in tensors])

    def _bind(self, given: list) -> list:
        """Points the recording at this call's input arrays, or copies of them: the bindable
        ones read in place, or from a C-contiguous copy where the layout differs; the others
        copied into the recording's buffers. Returns the arrays the recording now reads, which
        must live until the next call."""
        missed = self.rec.bind(given)
        if missed:
            copies = False
            for i in missed:
                if self.inputs[i] is None:
                    given[i] = np.array(given[i], order="C")
                    copies = True
                else:
                    self.copy_in[i](self.inputs[i], given[i])
            if copies:
                self.rec.bind(given)
        return given

    def fast_replay(self, args, kwargs, modules):
        """A _C.Replay for calls like this one, where its checks can cover the signature: no
        keyword arguments; positional ones that are CPU tensors not requiring grad (whose
        arrays bind() can read in place) or plain values; a CPU tensor or a tuple of them
        returned; no backward of its own to replay. Otherwise None."""
        if kwargs or self.differentiable or not all(self.rec.bindable()):
            return None
        tensors, values = [], []
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                if type(a._data) is not np.ndarray or a._requires_grad:
                    return None
                tensors.append(i)
            elif type(a) in (int, float, bool, str, type(None)):
                values.append((i, a))
            else:
                return None
        if not all(type(a) is np.ndarray for a in self.outputs):
            return None
        out = self.out_spec
        if isinstance(out, Tensor):
            single = True
        elif type(out) is tuple and all(isinstance(o, Tensor) for o in out):
            single = False
        else:
            return None
        return _C.Replay(self.rec, self.guards, Tensor, Tensor._wrap, len(args), tensors, values,
                         _grad_state, _grad_state.enabled, list(modules),
                         [m.training for m in modules], self.outputs, single, self.bound)

    # -- replay --
    def ready(self) -> bool:
        """The guards: the parameters, buffers, gradients and optimizer state are the arrays
        the recording used (a replaced parameter or a reloaded optimizer means recording
        again)."""
        return self.guards.check()

    def replay(self, tensors):
        if self.differentiable and self.pending is not None and self.pending() is not None:
            # The buffers still hold what that backward needs: run this call eagerly.
            swap = iter(tensors)
            args, kwargs = self.spec
            return self.fn(*_rebuild(args, swap), **_rebuild(kwargs, swap))
        given = self.bound = self._bind([t._data for t in tensors])
        self.rec.run(0, self.n_forward)
        self.guards.apply()
        outs = iter([Tensor._wrap(_clone(a)) for a in self.outputs])
        if self.differentiable:
            self.generation += 1
            node = _ReplayNode()
            node.graph, node.generation = self, self.generation
            # The recorded backward may read the caller's input arrays: they stay alive, and
            # must stay unchanged, until it runs (as for any op's saved inputs).
            node._saved = tuple(given)
            node._saved_versions = tuple((t._version, t._version[0]) for t in tensors)
            edges = [tensors[x] if kind == "input" else x for kind, x in self.edge_spec]
            node.next_edges = tuple((e.grad_fn or e) if e._requires_grad else None for e in edges)
            node.needs_input_grad = tuple(e is not None for e in node.next_edges)
            self.pending = weakref.ref(node)
            out = next(outs)
            out._requires_grad = True
            out.grad_fn = node
            return _rebuild(self.out_spec, iter([out]))
        return _rebuild(self.out_spec, outs)

    def explain(self) -> str:
        steps = self.rec.steps()
        lines = [f"{_name(self.fn)}: {len(steps)} steps "
                 f"({sum(1 for _, d in steps if d is not None)} kernel calls)"]
        for i, (what, device) in enumerate(steps):
            if i == self.n_forward and self.differentiable:
                lines.append("  -- backward --")
            where = "" if device is None else ("  cpu" if device < 0 else f"  cuda:{device}")
            lines.append(f"  {i:4d}  {what if device is not None else 'host: ' + _name(what)}{where}")
        lines.append(f"  buffers: {_bytes(self.intermediate_bytes)} of intermediates in "
                     f"{_bytes(self.arena_bytes)} of arena; inputs "
                     f"{_bytes(sum(a.nbytes for a in self.inputs if a is not None))} (inputs "
                     f"read in place: {sum(a is None for a in self.inputs)}), outputs "
                     f"{_bytes(sum(a.nbytes for a in self.outputs))}")
        return "\n".join(lines)


class _InputNode(Node):
    """Between a recording's input buffer and the caller's tensor that requires grad: the
    gradient passes through unchanged."""

    def backward(self, grad):
        return grad


class _ReplayNode(Node):
    """The graph node of a replayed forward: its backward replays the recorded backward."""

    @classmethod
    def name(cls) -> str:
        return "CompiledFunctionBackward"

    def backward(self, grad):
        graph = self.graph
        if graph.generation != self.generation:
            raise RuntimeError("tapegrad.compile: this output's forward buffers were reused by a "
                               "later call of the compiled function; call backward before the "
                               "next forward")
        self.saved_arrays  # raises if an input was changed in place since the forward
        arrays.copy_(grad, graph.grad_out)
        graph.rec.run(graph.n_forward, len(graph.rec))
        graph.pending = None
        return tuple(None if g is None else arrays.astype(g, g.dtype) for g in graph.leaf_grads)


def _copier(dst):
    """copy(dst, src): dst[...] = src for arrays of dst's shape, dtype and device (numpy's own
    copy on the CPU)."""
    if type(dst) is np.ndarray:
        return np.copyto
    kernels = arrays.for_array(dst).kernels
    return lambda d, s: kernels.copy(s, d)


def _clone(a):
    return a.copy() if type(a) is np.ndarray else arrays.astype(a, a.dtype)


# --- argument and result structures ----------------------------------------------------------

def _signature(obj, tensors):
    """A hashable description of an argument: tensors by shape, dtype, device and
    requires_grad (and collected into `tensors`), containers by their items, other values by
    value."""
    if isinstance(obj, Tensor):
        tensors.append(obj)
        data = obj._data
        return (Tensor, data.shape, data.dtype, type(data), getattr(data, "device", None),
                obj._requires_grad)
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(_signature(v, tensors) for v in obj))
    if isinstance(obj, dict):
        return (dict, tuple((k, _signature(v, tensors)) for k, v in obj.items()))
    return (type(obj), obj)


class _Input:
    """The place of a tensor argument in a recorded call's argument structure."""


_INPUT = _Input()


def _rebuild(obj, tensors):
    """obj with each Tensor (or _INPUT) in it replaced by the next of `tensors`, in _signature's
    order."""
    if obj is _INPUT or isinstance(obj, Tensor):
        return next(tensors)
    if isinstance(obj, (tuple, list)):
        items = [_rebuild(v, tensors) for v in obj]
        return type(obj)(items) if type(obj) in (tuple, list) else type(obj)(*items)
    if isinstance(obj, dict):
        return {k: _rebuild(v, tensors) for k, v in obj.items()}
    return obj


def _flatten(obj, out):
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            _flatten(v, out)
    elif isinstance(obj, dict):
        for v in obj.values():
            _flatten(v, out)


def _place(buffers):
    """Offsets in one arena for buffers given as (bytes, first step, last step), such that
    buffers alive at the same time do not overlap: largest first, each at the lowest offset
    free for its lifetime. Returns (offsets in the given order, arena bytes)."""
    placed = []  # (offset, size, first, last)
    offsets = [0] * len(buffers)
    for i in sorted(range(len(buffers)), key=lambda i: -buffers[i][0]):
        nbytes, first, last = buffers[i]
        size = -(-nbytes // _ALIGN) * _ALIGN
        offset = 0
        for lo, hi in sorted((o, o + s) for o, s, f, l in placed if f <= last and first <= l):
            if offset + size <= lo:
                break
            offset = max(offset, hi)
        placed.append((offset, size, first, last))
        offsets[i] = offset
    return offsets, max((o + s for o, s, _, _ in placed), default=0)


def _name(fn) -> str:
    if isinstance(fn, str):  # a host step in C++, by its name
        return fn
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
