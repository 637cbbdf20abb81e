"""Activations (kernels: csrc/cpu/activations.cpp): each forward and its backward are one
kernel call. sigmoid and tanh save their output (their derivative is a function of it); the
others save their input.

DERIVATIVES writes each backward kernel's math (csrc/ops/activations.h, act_bwd) with named
array ops: on Tensors it is the differentiable backward that create_graph records.
"""
from __future__ import annotations

import math

from .._checks import number_arg
from ..autograd.node import Node
from .. import arrays
from .elementwise import _float_input

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_BETA = math.sqrt(2.0 / math.pi)  # gelu_tanh's u = beta (x + kappa x^3)
_GELU_KAPPA = 0.044715


def _gelu_tanh_derivative(g, x):
    # 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) beta (1 + 3 kappa x^2)
    x2 = arrays.square(x)
    t = arrays.activation("tanh", arrays.mul(arrays.add(x, arrays.mul(arrays.mul(x2, x), _GELU_KAPPA)), _GELU_BETA))
    du = arrays.mul(arrays.add(arrays.mul(x2, 3 * _GELU_KAPPA), 1), _GELU_BETA)
    right = arrays.mul(arrays.mul(arrays.mul(x, arrays.sub(1, arrays.square(t))), du), 0.5)
    return arrays.mul(g, arrays.add(arrays.mul(arrays.add(t, 1), 0.5), right))


def _silu_derivative(g, x):
    s = arrays.activation("sigmoid", x)
    return arrays.mul(arrays.mul(g, s), arrays.add(arrays.mul(x, arrays.sub(1, s)), 1))


# kind -> grad * act'(saved) as (g, saved, alpha, beta) -> gradient; saved is the output for
# sigmoid and tanh, the input otherwise (as the kernels).
DERIVATIVES = {
    "relu": lambda g, x, alpha, beta: arrays.where(arrays.le(x, 0), 0, g),
    "sigmoid": lambda g, y, alpha, beta: arrays.mul(arrays.mul(g, arrays.sub(1, y)), y),
    "tanh": lambda g, y, alpha, beta: arrays.mul(g, arrays.sub(1, arrays.square(y))),
    "leaky_relu": lambda g, x, alpha, beta: arrays.where(arrays.gt(x, 0), g, arrays.mul(g, alpha)),
    "elu": lambda g, x, alpha, beta: arrays.where(arrays.le(x, 0), arrays.mul(arrays.mul(g, alpha), arrays.exp(x)), g),
    "gelu": lambda g, x, alpha, beta: arrays.mul(g, arrays.add(
        arrays.mul(arrays.add(arrays.erf(arrays.mul(x, _INV_SQRT_2)), 1), 0.5),
        arrays.mul(x, arrays.mul(arrays.exp(arrays.mul(arrays.square(x), -0.5)), _INV_SQRT_2PI)))),
    "gelu_tanh": lambda g, x, alpha, beta: _gelu_tanh_derivative(g, x),
    "softplus": lambda g, x, alpha, beta: arrays.where(
        arrays.gt(arrays.mul(x, alpha), beta), g, arrays.mul(g, arrays.activation("sigmoid", arrays.mul(x, alpha)))),
    "silu": lambda g, x, alpha, beta: _silu_derivative(g, x),
}


class Activation(Node):
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
