"""Activation modules: thin wrappers over the fused activation ops (tapegrad.ops.activations)
and softmax, with PyTorch's constructor arguments and reprs. `inplace=True` writes the result
into the input tensor, as PyTorch's does."""
from __future__ import annotations

import warnings

from ..ops import activations as act
from ..ops import elementwise
from ..ops.softmax import log_softmax, softmax
from .module import Module


def _inplace(fn, x, op: str):
    return elementwise.inplace_unary(fn, x, op)


class ReLU(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return _inplace(act.relu, input, "relu_") if self.inplace else act.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        if self.inplace:
            return _inplace(lambda t: act.leaky_relu(t, self.negative_slope), input, "leaky_relu_")
        return act.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        if self.inplace:
            return _inplace(lambda t: act.elu(t, self.alpha), input, "elu_")
        return act.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """GELU(approximate='none'): x * Phi(x); approximate='tanh' uses the tanh formula."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input):  # noqa: A002
        return act.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return _inplace(act.silu, input, "silu_") if self.inplace else act.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    def forward(self, input):  # noqa: A002
        return act.sigmoid(input)


class Tanh(Module):
    def forward(self, input):  # noqa: A002
        return act.tanh(input)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear above x * beta > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):  # noqa: A002
        return act.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


def _implicit_dim(name: str, ndim: int) -> int:
    """PyTorch's (deprecated) choice of dim when Softmax is built without one."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=4,
    )
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    def __init__(self, dim=None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):  # noqa: A002
        dim = self.dim if self.dim is not None else _implicit_dim("softmax", input.ndim)
        return softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim=None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):  # noqa: A002
        dim = self.dim if self.dim is not None else _implicit_dim("log_softmax", input.ndim)
        return log_softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
