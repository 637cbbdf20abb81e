"""Activations (kernels: csrc/cpu/activations.cpp): each forward and its backward are one
kernel call. sigmoid and tanh save their output (their derivative is a function of it); the
others save their input.

DERIVATIVES writes each backward kernel's math (csrc/ops/activations.h, act_bwd) with named
array ops: on Tensors it is the differentiable backward that create_graph records.
"""
from __future__ import annotations

import math

from .._checks import int_arg, number_arg, tensor_arg
from ..autograd.node import Node
from .. import arrays
from .elementwise import _float_input, where

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


# --- composites ---------------------------------------------------------------------------------
# The rarer activations, written with the ops above and the elementwise ones: autograd derives
# their backward (and double backward) on both backends. Each follows PyTorch's formula in the
# same rounding order, and its comparisons, so that NaN passes through and the gradient at a kink
# or at NaN is PyTorch's (hardtanh's is 0 at either bound; a NaN input gets the gradient of the
# branch PyTorch's comparisons send it to).

def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0):  # noqa: A002
    x = _float_input(input, "hardtanh")
    lo = number_arg(min_val, "hardtanh", "min_val")
    hi = number_arg(max_val, "hardtanh", "max_val")
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) cannot be greater than max_val ({hi})")
    return where(x <= lo, lo, where(x >= hi, hi, x))


def relu6(input):  # noqa: A002
    return hardtanh(_float_input(input, "relu6"), 0.0, 6.0)


def hardsigmoid(input):  # noqa: A002
    x = _float_input(input, "hardsigmoid")
    inside = (x > -3.0).logical_and(x < 3.0)
    return where(inside, (x + 3.0) / 6.0, where(x <= -3.0, 0.0, where(x >= 3.0, 1.0, x * 0.0)))


def hardswish(input):  # noqa: A002
    x = _float_input(input, "hardswish")
    # the product's branch sees 0 where it is not taken: its gradient there is 0 * x, NaN for NaN
    inside = (x > -3.0).logical_and(x < 3.0)
    xi = where(inside, x, 0.0)
    return where(x <= -3.0, x * 0.0, where(inside, xi * (xi + 3.0) / 6.0, x))  # x * 0: -0, NaN at -inf


def softsign(input):  # noqa: A002
    x = _float_input(input, "softsign")
    return x / (x.abs() + 1.0)


def tanhshrink(input):  # noqa: A002
    x = _float_input(input, "tanhshrink")
    return x - tanh(x)


def logsigmoid(input):  # noqa: A002
    # min(x, 0) - log1p(exp(-|x|)) = -softplus(-x) with no threshold; its derivative sigmoid(-x)
    x = _float_input(input, "logsigmoid")
    return -softplus(-x, 1.0, math.inf)


def mish(input):  # noqa: A002
    x = _float_input(input, "mish")
    return x * tanh(softplus(x))


def selu(input):  # noqa: A002
    # scale * elu(x, alpha) with alpha * scale as one constant, as PyTorch's kernel
    x = _float_input(input, "selu")
    return where(x <= 0, elu(x, _SELU_ALPHA * _SELU_SCALE), x * _SELU_SCALE)


def celu(input, alpha: float = 1.0):  # noqa: A002
    x = _float_input(input, "celu")
    a = number_arg(alpha, "celu", "alpha")
    if a == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    # elu's kernel: its derivative is a exp(z), which keeps its accuracy where expm1(z) is -1
    return where(x <= 0, elu(x * (1.0 / a), a), x)


def threshold(input, threshold: float, value: float):  # noqa: A002
    x = _float_input(input, "threshold")
    return where(x <= number_arg(threshold, "threshold", "threshold"), number_arg(value, "threshold", "value"), x)


def softshrink(input, lambd: float = 0.5):  # noqa: A002
    x = _float_input(input, "softshrink")
    lam = number_arg(lambd, "softshrink", "lambd")
    if lam < 0:
        raise ValueError(f"softshrink: lambd must be at least 0, got {lam}")
    inside = (x >= -lam).logical_and(x <= lam)
    return where(inside, x * 0.0, where(x > lam, x - lam, x + lam))


def hardshrink(input, lambd: float = 0.5):  # noqa: A002
    x = _float_input(input, "hardshrink")
    lam = number_arg(lambd, "hardshrink", "lambd")
    return where((x >= -lam).logical_and(x <= lam), 0.0, x)


def glu(input, dim: int = -1):  # noqa: A002
    x = _float_input(input, "glu")
    if x.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = int_arg(dim, "glu", "dim")
    size = x.shape[d % x.ndim] if -x.ndim <= d < x.ndim else None
    if size is None:
        raise IndexError(f"glu: dim {d} is out of range for a tensor of {x.ndim} dimensions")
    if size % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {d % x.ndim} is size {size}")
    half = size // 2
    d %= x.ndim
    return x.narrow(d, 0, half) * sigmoid(x.narrow(d, half, half))


def prelu(input, weight):  # noqa: A002
    """x where x > 0, else weight * x; weight has one value or one per channel (dim 1; an input of
    fewer than 2 dimensions has one channel)."""
    x = _float_input(input, "prelu")
    tensor_arg(weight, "prelu", "weight")
    n = weight.numel()
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: weight must be 0-d or 1-d, got shape {tuple(weight.shape)}")
    if n != 1:
        channels = x.shape[1] if x.ndim >= 2 else 1
        if n != channels:
            raise RuntimeError(
                f"prelu: mismatch of parameter numbers and input channel size. Found parameter numbers = {n} "
                f"and channel size = {channels} (input shape {tuple(x.shape)}, weight shape {tuple(weight.shape)})")
        weight = weight.reshape((n,) + (1,) * (x.ndim - 2))
    elif x.ndim < 2:
        weight = weight.reshape((1,) * x.ndim)
    return where(x > 0, x, weight * x)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
