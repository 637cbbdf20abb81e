"""PyTorch's public autograd.Function: an op written by the user on Tensors, as

    class Softsign(tapegrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x / (1 + x.abs())

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad / (1 + x.abs()) ** 2

    Softsign.apply(x)

or with forward(*args) and setup_context(ctx, inputs, output). ctx is the graph node (the
outputs' grad_fn), as in PyTorch. forward runs without recording; backward gets one gradient
per output and returns one per argument of apply (None where there is none). Under
create_graph backward runs with grad mode on, so what it computes is recorded and can be
differentiated again.
"""
from __future__ import annotations

import functools
import inspect

from .grad_mode import _state as _grad_state, no_grad, set_grad_enabled
from .node import Node, _OutputNode
from .. import tensor as _tensor  # Tensor itself is defined after this module loads
from .. import arrays


class _SavedOutput:
    """An output saved for backward, kept as its data (a Tensor would hold its own grad_fn,
    this node: a reference cycle) and made a Tensor again when unpacked."""
    __slots__ = ("data", "version", "index")

    def __init__(self, t, index):
        self.data, self.version, self.index = t._data, t._version, index


class FunctionCtx(Node):
    """The ctx of a custom Function, and the graph node of its outputs."""
    _function = None  # the Function subclass (set on each subclass's node class)
    materialize_grads = True
    _saved_objects: tuple = ()
    _dirty: tuple = ()
    _non_differentiable: tuple = ()
    _outputs_meta: tuple = ()  # (shape, dtype array, like-array) per output, for zero gradients
    _input_meta: tuple = ()  # (shape, dtype) per argument (None for non-tensors)

    @classmethod
    def name(cls) -> str:
        return f"{cls._function.__name__}Backward" if cls._function is not None else "FunctionCtx"

    # --- what forward / setup_context call ---------------------------------------------------
    def save_for_backward(self, *tensors) -> None:
        Tensor = _tensor.Tensor
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument "
                                f"{tensors.index(t)} is of type {type(t).__name__}")
        self._saved_objects = tensors

    def mark_dirty(self, *tensors) -> None:
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self) -> tuple:
        """What forward saved, checked: not freed by an earlier backward, and unchanged in
        place since."""
        if self._released:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward."
            )
        Tensor = _tensor.Tensor
        out = []
        for obj, (box, version) in zip(self._saved_objects, self._saved_versions):
            if obj is None:
                out.append(None)
                continue
            if box[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: it is at version {box[0]}, expected version {version} "
                    f"(saved by {self.name()})."
                )
            if isinstance(obj, _SavedOutput):
                t = Tensor._wrap(obj.data)
                t._version = obj.version
                fn = self._output_fns[obj.index] if self._output_fns else None
                if fn is not None:
                    t._requires_grad, t.grad_fn = True, fn
                obj = t
            out.append(obj)
        return tuple(out)

    saved_variables = saved_tensors
    _output_fns: tuple = ()

    def release(self) -> None:
        if self._saved_objects:
            self._saved_objects = ()
            self._released = True

    # --- the engine's call -------------------------------------------------------------------
    def backward(self, grad):
        Tensor = _tensor.Tensor
        create = _grad_state.create_graph
        grads = grad if self.n_outputs > 1 else [grad]
        given = []
        for g, meta in zip(grads, self._outputs_meta):
            if g is None:
                if self.materialize_grads and meta is not None:
                    shape, dtype, like = meta
                    g = arrays.zeros(shape, dtype, like)
                else:
                    given.append(None)
                    continue
            given.append(g if isinstance(g, Tensor) else Tensor._wrap(g))
        with set_grad_enabled(create):
            result = self._function.backward(self, *given)
        if not isinstance(result, tuple):
            result = (result,)
        n = len(self._input_meta)
        if len(result) != n:
            if len(result) > n and all(r is None for r in result[n:]):
                result = result[:n]
            else:
                raise RuntimeError(f"function {self.name()} returned an incorrect number of "
                                   f"gradients (expected {n}, got {len(result)})")
        out = []
        for i, (r, meta) in enumerate(zip(result, self._input_meta)):
            if r is None or meta is None or self.next_edges[i] is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(f"function {self.name()} returned a gradient of type "
                                f"{type(r).__name__} at index {i}; expected a Tensor or None")
            shape, dtype = meta
            if tuple(r.shape) != shape:
                raise RuntimeError(f"Function {self.name()} returned an invalid gradient at index "
                                   f"{i} - got {list(r.shape)} but expected shape compatible with "
                                   f"{list(shape)}")
            if r.dtype is not dtype:
                r = r.to(dtype)
            out.append(r if create else r._data)
        return tuple(out)


class Function:
    """Subclass with static forward and backward (see the module's docstring)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError("tapegrad computes gradients in reverse mode only: "
                                  "autograd.Function.jvp is not supported")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._node_class = type(f"{cls.__name__}Backward", (FunctionCtx,), {"_function": cls})
        if "vjp" in cls.__dict__ and "backward" not in cls.__dict__:
            cls.backward = cls.__dict__["vjp"]

    def __init__(self, *args, **kwargs):
        raise RuntimeError("autograd.Function is not instantiated: call its static apply, "
                           f"{type(self).__name__}.apply(...)")

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = _tensor.Tensor
        if cls is Function:
            raise RuntimeError("apply is called on a subclass of autograd.Function")
        if kwargs:  # bound to their parameters' positions, as PyTorch does
            params = inspect.signature(cls.forward).parameters
            skip = 0 if _has_setup_context(cls) else 1
            bound = inspect.Signature(list(params.values())[skip:]).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        ctx = cls._node_class()
        recording = _grad_state.enabled and any(
            isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad and recording
                                     for a in args)
        with no_grad():
            if _has_setup_context(cls):
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(out, tuple)
        outputs = [out] if single else list(out)
        dirty = {id(t) for t in ctx._dirty}
        non_diff = {id(t) for t in ctx._non_differentiable}
        inputs = {id(a) for a in args if isinstance(a, Tensor)}
        for i, o in enumerate(outputs):
            if isinstance(o, Tensor) and id(o) in inputs and id(o) not in dirty:
                alias = Tensor._wrap(o._data)  # an input returned as it is: a view of it
                alias._version = o._version
                alias._base = o if o._base is None else o._base
                outputs[i] = alias
        if recording:
            _connect(ctx, args, outputs, dirty, non_diff)
        ctx._saved_versions = tuple(
            (None, None) if t is None else (t._version, t._version[0]) for t in ctx._saved_objects)
        if recording:
            ids = {id(o): i for i, o in enumerate(outputs) if isinstance(o, Tensor)}
            ctx._saved_objects = tuple(
                _SavedOutput(t, ids[id(t)]) if t is not None and id(t) in ids and id(t) not in inputs
                else t for t in ctx._saved_objects)
        return outputs[0] if single else tuple(outputs)


def _has_setup_context(cls) -> bool:
    return cls.setup_context is not Function.setup_context


def _connect(ctx, args, outputs, dirty, non_diff):
    """Make ctx the node of the outputs: its edges go to the arguments' nodes, each float
    output that is not marked non-differentiable gets ctx (or, for several outputs, an
    _OutputNode of ctx) as grad_fn."""
    Tensor = _tensor.Tensor
    for a in args:
        if isinstance(a, Tensor) and id(a) in dirty and a.grad_fn is None and a._requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
    ctx.next_edges = tuple((a.grad_fn or a) if isinstance(a, Tensor) and a._requires_grad else None
                           for a in args)
    ctx._input_meta = tuple((tuple(a.shape), a.dtype) if isinstance(a, Tensor) else None for a in args)
    ctx._outputs_meta = tuple((o._data.shape, o._data.dtype, o._data) if isinstance(o, Tensor) else None
                              for o in outputs)
    if len(outputs) > 1:
        ctx.n_outputs = len(outputs)
    fns = []
    for i, o in enumerate(outputs):
        if not isinstance(o, Tensor) or id(o) in non_diff or o._data.dtype.kind != "f":
            fns.append(None)
            continue
        fn = ctx if len(outputs) == 1 else _OutputNode(ctx, i)
        o._requires_grad = True
        o.grad_fn = fn
        fns.append(fn)
    ctx._output_fns = tuple(fns)


class _OnceDifferentiable(Node):
    """Stands in for the graph of a backward marked @once_differentiable: differentiating it
    raises."""

    def forward(self, out, *grads):
        return out

    def backward(self, grad):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")


def once_differentiable(backward):
    """Marks a custom Function's backward as not differentiable itself: it runs without
    recording, and differentiating its result again (create_graph) raises."""
    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        Tensor = _tensor.Tensor
        with no_grad():
            result = backward(ctx, *grads)
        if not _grad_state.enabled:
            return result
        inputs = [g for g in grads if isinstance(g, Tensor) and g.requires_grad]
        if not inputs:
            return result
        single = not isinstance(result, tuple)
        wrapped = tuple(_OnceDifferentiable.apply(r, *inputs) if isinstance(r, Tensor) else r
                        for r in ((result,) if single else result))
        return wrapped[0] if single else wrapped
    return wrapper
