"""Parameter: a Tensor that a Module registers as one of its learnable weights.

It shares memory (and the version counter) with the tensor it is made from, as PyTorch's does,
and requires grad unless told otherwise."""
from __future__ import annotations

import copy

from ..compile import recorder
from ..tensor import Tensor


class Parameter(Tensor):
    # No __slots__ here: instances get a __dict__, so user code may tag parameters with
    # attributes (p.no_decay = True), as it can in PyTorch.

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..creation import empty

            data = empty(0)
        elif not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a Tensor as data, got {type(data).__name__}")
        recorder.unsupported("creating a Parameter")
        p = cls._wrap_shared(data)
        if requires_grad:
            p.requires_grad = True
        return p

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__; Tensor.__init__ would re-read `data`

    @classmethod
    def _wrap_shared(cls, src: Tensor) -> "Parameter":
        p = object.__new__(cls)
        p._data = src._data
        p._grad = None
        p.grad_fn = None
        p._version = src._version  # in-place writes through either are seen by autograd
        p._base = None
        p._view_of = None
        p._retains_grad = False
        p._hooks = None
        p._requires_grad = False
        return p

    @classmethod
    def _wrap(cls, data) -> "Parameter":
        return cls._wrap_shared(Tensor._wrap(data))

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        t = Tensor.__deepcopy__(self, memo)  # copies the data and the grad
        copied = Parameter(t, self._requires_grad)
        copied._grad = t._grad
        memo[id(self)] = copied
        copied.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return copied
