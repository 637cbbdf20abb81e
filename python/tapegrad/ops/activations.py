"""Activations (kernels: csrc/cpu/activations.cpp): each forward and its backward are one
kernel call. sigmoid and tanh save their output (their derivative is a function of it); the
others save their input."""
from __future__ import annotations

from .._checks import number_arg
from ..autograd.function import Function
from .. import arrays
from .elementwise import _float_input


class Activation(Function):
    """alpha and beta are the activation's parameters where it has any (leaky_relu:
    negative_slope; elu: alpha; softplus: beta, threshold)."""
    kind = ""
    saves_output = False

    def forward(self, x, alpha=0.0, beta=0.0):
        y = arrays.activation(self.kind, x, alpha, beta)
        self.params = (alpha, beta)
        self.save_for_backward(y if self.saves_output else x)
        return y

    def backward(self, g):
        (saved,) = self.saved_arrays
        return arrays.activation_backward(self.kind, g, saved, *self.params)


def _activation(name: str, kind: str, saves_output: bool = False):
    """An Activation subclass; `name` gives its grad_fn name (ReluBackward0)."""
    return type(name, (Activation,), {"kind": kind, "saves_output": saves_output})


Relu = _activation("Relu", "relu")
Sigmoid = _activation("Sigmoid", "sigmoid", saves_output=True)
Tanh = _activation("Tanh", "tanh", saves_output=True)
LeakyRelu = _activation("LeakyRelu", "leaky_relu")
Elu = _activation("Elu", "elu")
Gelu = _activation("Gelu", "gelu")
GeluTanh = _activation("Gelu", "gelu_tanh")
Softplus = _activation("Softplus", "softplus")
Silu = _activation("Silu", "silu")


def relu(x):
    return Relu.apply(_float_input(x, "relu"))


def sigmoid(x):
    return Sigmoid.apply(_float_input(x, "sigmoid"))


def tanh(x):
    return Tanh.apply(_float_input(x, "tanh"))


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyRelu.apply(_float_input(x, "leaky_relu"), number_arg(negative_slope, "leaky_relu", "negative_slope"))


def elu(x, alpha: float = 1.0):
    return Elu.apply(_float_input(x, "elu"), number_arg(alpha, "elu", "alpha"))


def gelu(x, approximate: str = "none"):
    if approximate == "none":
        return Gelu.apply(_float_input(x, "gelu"))
    if approximate == "tanh":
        return GeluTanh.apply(_float_input(x, "gelu"))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    return Softplus.apply(_float_input(x, "softplus"), number_arg(beta, "softplus", "beta"),
                          number_arg(threshold, "softplus", "threshold"))


def silu(x):
    return Silu.apply(_float_input(x, "silu"))
