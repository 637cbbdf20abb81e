"""Linear (y = x W^T + b, the bias added inside the GEMM), Identity, Flatten and Unflatten."""
from __future__ import annotations

import math

from .. import dtypes as _dt
from ..creation import empty
from ..ops.matmul import linear as _linear
from ..ops.shape import flatten as _flatten, unflatten as _unflatten
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _factory(device, dtype) -> dict:
    """Keyword arguments for a layer's tensor factories."""
    return {"dtype": dtype, "device": _dt.to_device(device)}


def _add_weight_and_bias(layer, weight_shape: tuple, bias: bool, kw: dict) -> None:
    """A layer's `weight` and, if `bias`, its `bias` of weight_shape[0] (else a None parameter),
    initialised by its reset_parameters()."""
    layer.weight = Parameter(empty(weight_shape, **kw))
    if bias:
        layer.bias = Parameter(empty(weight_shape[0], **kw))
    else:
        layer.register_parameter("bias", None)
    layer.reset_parameters()


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments, as PyTorch's does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):  # noqa: A002
        return input


class Linear(Module):
    """y = x W^T + b, W of shape (out_features, in_features).

    W is kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), and b is
    U(-1/sqrt(in), 1/sqrt(in)): PyTorch's default, so the same seed-independent statistics."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        kw = _factory(device, dtype)
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        _add_weight_and_bias(self, (out_features, in_features), bias, kw)

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):  # noqa: A002
        return self.forward_with_activation(input, "none")

    def forward_with_activation(self, input, act: str):  # noqa: A002
        """act(self(input)) in one kernel call, for act in ops.matmul.FUSABLE_ACTIVATIONS
        (how nn.Sequential runs a Linear followed by ReLU, Sigmoid or Tanh)."""
        p = self._parameters  # one dict read instead of two __getattr__ fallbacks
        try:
            w, b = p["weight"], p["bias"]
        except KeyError:  # weight or bias replaced by a plain attribute
            w, b = self.weight, self.bias
        return _linear(input, w, b, act)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x1^T A x2 + b, A of shape (out_features, in1_features, in2_features); A and b are
    U(-1/sqrt(in1), 1/sqrt(in1)), as PyTorch's."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        kw = _factory(device, dtype)
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        _add_weight_and_bias(self, (out_features, in1_features, in2_features), bias, kw)

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1]) if self.weight.shape[1] > 0 else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims start_dim..end_dim (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):  # noqa: A002
        return _flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim `dim` into `unflattened_size`."""

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"unflattened_size must be a tuple of ints, but found type {type(unflattened_size).__name__}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input):  # noqa: A002
        return _unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
