"""autograd.Variable, PyTorch's legacy name: every Tensor is a Variable, and Variable(t,
requires_grad) is a leaf on t's memory."""
from __future__ import annotations

from .. import tensor as _tensor  # Tensor itself is defined after this module loads


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, _tensor.Tensor)


class Variable(metaclass=_VariableMeta):
    def __new__(cls, data, requires_grad: bool = False, volatile: bool = False):
        if not isinstance(data, _tensor.Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(requires_grad)
