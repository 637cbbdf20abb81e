"""Tensor: a backend array plus autograd state (requires_grad, grad, grad_fn).

Methods are thin: each forwards to the op in ``tapegrad.ops`` that implements it, so every
op has one home. In-place methods compute into the tensor's own buffer and, when autograd is
recording, re-point ``grad_fn`` at the new node (the tensor's history continues from there).
"""
from __future__ import annotations

import warnings
import weakref

import numpy as np

from . import _C
from . import dtypes as _dt
from .autograd.grad_mode import is_grad_enabled
from . import arrays
from .size import Size


class Tensor:
    __slots__ = ("_data", "_requires_grad", "_grad", "grad_fn", "_version", "_base",
                 "_view_of", "_retains_grad", "_hooks", "__weakref__")

    # Let numpy defer to Tensor's reflected operators (ndarray + Tensor -> Tensor.__radd__).
    __array_priority__ = 1000

    def __init__(self, *args, dtype=None, requires_grad=False):
        """PyTorch's legacy constructor: Tensor(data) copies data as the default dtype (or
        `dtype`); Tensor(2, 3) is an uninitialised tensor of that shape. Prefer tapegrad.tensor."""
        from .creation import _array_from, empty

        d = _dt.get_default_dtype() if dtype is None else dtype
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = _array_from(args[0], d)
        else:
            data = empty(*args, dtype=d)._data
        self._data = data
        self._grad = None
        self.grad_fn = None
        self._version = [0]
        self._base = None
        self._view_of = None
        self._retains_grad = False
        self._requires_grad = False
        self._hooks = None  # a leaf's register_hook hooks (autograd.hooks.LeafHooks)
        if requires_grad:
            self.requires_grad = True

    # Tensor._wrap(data): a tensor around a backend array, with no copy and no autograd history
    # (_data = data, _version = [0], every other slot None or False). In C (csrc/autograd.cpp):
    # ops make one per result. _view_of is (node, parent) when the tensor is a view: what
    # in-place ops on it rewrite.
    _wrap = classmethod(_C.autograd.wrap)

    # --- metadata ---------------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """The same storage, detached from autograd (as PyTorch's .data)."""
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        if value.shape != self.shape or value.dtype is not self.dtype:
            raise ValueError(
                f"data: cannot assign a {value.dtype} tensor of shape {value.shape} to a "
                f"{self.dtype} tensor of shape {self.shape}"
            )
        self._data = value._data
        self._version[0] += 1

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return self.shape
        d = self._dim(dim, op="size")
        if self._data.ndim == 0:
            raise IndexError(f"size(): dimension specified as {dim} but tensor has no dimensions")
        return self._data.shape[d]

    @property
    def dtype(self) -> _dt.dtype:
        return _dt.of_array(self._data)

    @property
    def device(self) -> _dt.device:
        d = self._data
        return _dt.cpu if type(d) is np.ndarray else _dt.cuda_device(d.device)

    @property
    def is_cuda(self) -> bool:
        return type(self._data) is not np.ndarray

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def nelement(self) -> int:
        return self.numel()

    def element_size(self) -> int:
        return self._data.itemsize

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        if dim is not None and self._data.ndim == 0:
            raise IndexError(f"stride(): dimension specified as {dim} but tensor has no dimensions")
        return st if dim is None else st[self._dim(dim, op="stride")]

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def _dim(self, dim: int, ndim: int | None = None, op: str = "dim") -> int:
        """Normalise a possibly negative dim, with PyTorch's IndexError when out of range; the
        errors name `op`, the public function that was given the dim."""
        n = self._data.ndim if ndim is None else ndim
        lo, hi = (-1, 0) if n == 0 else (-n, n - 1)
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
        if not lo <= dim <= hi:
            raise IndexError(
                f"{op}(): Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})"
            )
        return int(dim) % max(n, 1)

    # --- autograd state ---------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach()."
                )
            return
        if value and self._data.dtype.kind != "f":
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients, got {self.dtype}"
            )
        self._requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self):
        if self.grad_fn is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                "the gradient for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: {tuple(value.shape)} vs {tuple(self.shape)}"
                )
            if value.dtype is not self.dtype:
                raise RuntimeError(f"assigned grad has data of type {value.dtype}, expected {self.dtype}")
        self._grad = value

    def register_hook(self, hook):
        """hook(grad) runs on this tensor's gradient each time one is computed, and may return a
        replacement; returns a handle whose remove() takes it away."""
        from .utils.hooks import Hooks, LeafHooks

        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = LeafHooks()
            return self._hooks.pre.add(hook)
        if self.grad_fn._hooks is None:
            self.grad_fn._hooks = Hooks()
        return self.grad_fn._hooks.add(hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) runs after a gradient has been accumulated into this leaf's .grad (an
        optimizer step per parameter during backward, for example)."""
        from .utils.hooks import LeafHooks

        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._hooks is None:
            self._hooks = LeafHooks()
        return self._hooks.post.add(hook)

    def retain_grad(self) -> None:
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        self.grad_fn._retained = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def detach(self) -> "Tensor":
        t = Tensor._wrap(self._data)
        t._version = self._version
        t._base = self if self._base is None else self._base
        return t

    def detach_(self) -> "Tensor":
        if self._base is not None and self._base.requires_grad and is_grad_enabled():
            raise RuntimeError("detach_: cannot detach a view of a tensor that requires grad in place")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        from .autograd import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    @property
    def _version_counter(self) -> int:
        return self._version[0]

    # --- conversion -------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.is_cuda and not force:
            self._data.__array__()  # raises, naming the device and Tensor.cpu()
        return arrays.to_numpy(self._data)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """DLPack export (numpy.from_dlpack(t), torch.from_dlpack(t)): tapegrad.utils.dlpack."""
        from .utils.dlpack import export

        return export(self, stream, max_version, dl_device, copy)

    def __dlpack_device__(self) -> tuple:
        from .utils.dlpack import dlpack_device

        return dlpack_device(self)

    def __array__(self, dtype=None, copy=None):
        if self.is_cuda:
            self._data.__array__()  # raises, naming the device and Tensor.cpu()
        a = arrays.to_numpy(self._data)
        if dtype is not None:
            return a.astype(dtype)
        return np.array(a, copy=True) if copy else a

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"item(): a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return arrays.to_numpy(self._data).reshape(()).item()

    def tolist(self):
        return arrays.to_numpy(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous (shape {tuple(self.shape)})"
            )
        return bool(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "ib" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __hash__(self):
        return id(self)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "tapegrad tensors are not pickled; use tapegrad.save / tensor.numpy() instead"
        )

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user support the deepcopy protocol")
        t = Tensor._wrap(arrays.astype(self._data, self._data.dtype))
        t._requires_grad = self._requires_grad
        if self._grad is not None:
            t._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = t
        return t

    def to(self, *args, **kwargs) -> "Tensor":
        """to(dtype) / to(device) / to(device, dtype) / to(other), PyTorch's overloads."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        copy = kwargs.pop("copy", False)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (_dt.dtype, type)) or (isinstance(a, np.dtype)):
                dtype = a
            elif isinstance(a, (str, _dt.device)) or (isinstance(a, int) and not isinstance(a, bool)):
                device = a
            else:
                raise TypeError(f"to() received an invalid argument {a!r}")
        from .ops.device import move
        from .ops.elementwise import cast

        out = self if device is None else move(self, _dt.to_device(device, "to"))
        out = out if dtype is None else cast(out, _dt.to_dtype(dtype, "to"))
        if copy and out is self:
            out = self.clone()
        return out

    def type(self, dtype=None):
        if dtype is None:
            return {"float32": "tapegrad.FloatTensor", "float64": "tapegrad.DoubleTensor",
                    "int64": "tapegrad.LongTensor", "bool": "tapegrad.BoolTensor"}[self.dtype.name]
        return self.to(dtype)

    def float(self):
        return self.to(_dt.float32)

    def double(self):
        return self.to(_dt.float64)

    def long(self):
        return self.to(_dt.int64)

    def int(self):
        return self.to(_dt.int64)

    def bool(self):
        return self.to(_dt.bool_)

    def cpu(self):
        return self.to(_dt.cpu)

    def cuda(self, device=None):
        dev = _dt.to_device("cuda" if device is None else device, "cuda")
        if dev.type != "cuda":
            raise RuntimeError(f"cuda: expected a CUDA device, got {dev}")
        return self.to(dev)

    def clone(self) -> "Tensor":
        from .ops.shape import clone

        return clone(self)

    def contiguous(self) -> "Tensor":
        from .ops.shape import contiguous

        return contiguous(self)

    # --- repr -------------------------------------------------------------------------
    def __repr__(self) -> str:
        from .printing import tensor_repr

        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self) if not spec else format(repr(self), spec)

    # --- in-place plumbing ------------------------------------------------------------
    def _check_inplace(self, op: str, *others) -> bool:
        """Whether autograd must record this in-place op; raises where PyTorch does."""
        if not is_grad_enabled():
            return False
        if not (self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others)):
            return False
        if self._requires_grad and self.grad_fn is None:
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place operation."
            )
        return True

    def _view_function(self, op: str):
        """The function that makes this view from its base (any array or Tensor of the base's
        shape): the view ops from the base to here, replayed."""
        nodes = []
        t = self
        while t._base is not None:
            if t._view_of is None:
                raise RuntimeError(f"{op}: in-place operation on a view whose making was not recorded")
            node, t = t._view_of
            if node.view is None:
                raise RuntimeError(
                    f"{op}: unsupported operation: more than one element of the written-to tensor "
                    "refers to a single memory location. Please clone() the tensor before "
                    "performing the operation."
                )
            nodes.append(node)
        nodes.reverse()

        def view_of(a):
            for node in nodes:
                a = node.view(a)
            return a
        return view_of

    def _apply_inplace(self, op: str, compute, write, others=()) -> "Tensor":
        """Make self's values compute(self), in place.

        compute(t) returns the new value out of place, recorded by autograd; write() stores it
        straight into self's buffer and runs when nothing needs recording (optimizer steps).
        Recorded, the op runs on a snapshot of self's old values, so what the op saves for
        backward is never the buffer it overwrites; on a view, the base's region is rewritten
        (x[i].mul_(3) changes x's history, as in PyTorch)."""
        if not self._check_inplace(op, *others):
            from .autograd.grad_mode import no_grad

            with no_grad():
                write()
            self._version[0] += 1
            return self
        snapshot = Tensor._wrap(arrays.astype(self._data, self._data.dtype))
        snapshot.grad_fn, snapshot._requires_grad = self.grad_fn, self._requires_grad
        value = compute(snapshot)
        if self._base is not None:
            from .ops.shape import write_view

            view_of = self._view_function(op)
            write_view(self._base, view_of, value)
            history = view_of(self._base).grad_fn
        else:
            arrays.copy_(value._data, self._data)
            self._version[0] += 1
            history = value.grad_fn
        if self._retains_grad and self.grad_fn is not None:
            self.grad_fn._retained = None
        self.grad_fn = history
        self._requires_grad = history is not None
        if self._retains_grad and history is not None:
            history._retained = weakref.ref(self)
        return self


from .autograd import node as _node  # noqa: E402

_node.setup(Tensor)
from .size import Size  # noqa: E402  (re-exported for isinstance checks)
from . import _tensor_methods  # noqa: E402,F401  (attaches operators and op methods)
