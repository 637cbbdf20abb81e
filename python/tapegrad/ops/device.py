"""Moving tensors between devices (differentiably), and the rule that an op's tensors share
one device: a number or a 0-d CPU tensor joins the other operand's device, anything else on
two devices raises, naming both."""
from __future__ import annotations

import numpy as np

from ..autograd.node import Node
from ..arrays import device_of, to_device
from ..tensor import Tensor


class ToDevice(Node):
    """A copy on another device; the gradient goes back to the source's device."""

    def forward(self, x, device):
        self.src = device_of(x)
        return to_device(x, device)

    def backward(self, g):
        return to_device(g, self.src)


def move(x: Tensor, device) -> Tensor:
    """x on `device` (a tapegrad.device): x itself when it is there already."""
    if x.device == device:
        return x
    return ToDevice.apply(x, device)


def same_device(a: Tensor, b: Tensor, op: str):
    """(a, b) on one device. A number (or a 0-d CPU tensor, as PyTorch allows) joins the other
    operand's device; tensors on two devices otherwise raise, naming both."""
    da, db = a._data, b._data
    if type(da) is type(db) and (type(da) is np.ndarray or da.device == db.device):
        return a, b
    if a.ndim == 0 and a.device.type == "cpu":
        return move(a, b.device), b
    if b.ndim == 0 and b.device.type == "cpu":
        return a, move(b, a.device)
    raise RuntimeError(f"{op}: expected all tensors on one device, got {a.device} and {b.device}")
