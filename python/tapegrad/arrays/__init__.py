"""tapegrad.arrays: the arrays under Tensor and the ops on them (not PyTorch's
``tapegrad.backends``, which holds switches).

``cpu`` (numpy arrays) and ``cuda`` (CudaArrays: device memory plus view metadata) hold each
device's memory, views and transfers; ``ops`` holds the array ops, written once for both, and is
re-exported here: ``arrays.mul(g, x)``, ``arrays.reshape(x, shape)``. `for_array` is the one
place that maps an array to its device module; `to_device` moves an array between devices.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from . import cpu, cuda


# The device module of each array type. The ops look an array's type up here first, because a
# dict lookup costs less than a call and the small ops of a training step make dozens of them.
DEVICES = {np.ndarray: cpu, cuda.CudaArray: cuda}


class TensorDevice:
    """Where the array ops send Tensors: the derivative formulas of tapegrad.ops are written
    with the array ops, and under create_graph they run on Tensors, so that the backward is
    recorded as a graph too. tapegrad.ops.on_tensors gives it a Tensor function for each array
    op that makes a new value, and the views of the device interface (reshape, broadcast_to,
    ...), and enters it in DEVICES for the Tensor type."""


TENSORS = TensorDevice()


def for_array(a):
    """The device module (arrays.cpu or arrays.cuda) of an array."""
    dev = DEVICES.get(type(a))
    if dev is not None:
        return dev
    for kind, dev in DEVICES.items():  # a subclass (a numpy subclass, a Parameter)
        if isinstance(a, kind):
            return dev
    raise TypeError(f"no tapegrad device for arrays of type {type(a).__name__}")


def for_device(device):
    """The device module of a tapegrad.device."""
    return cpu if device.type == "cpu" else cuda


def device_of(a):
    """The tapegrad.device an array lives on."""
    from ..dtypes import cpu as cpu_device, cuda_device

    return cpu_device if isinstance(a, np.ndarray) else cuda_device(a.device)


def to_device(a, device):
    """a on `device` (a tapegrad.device): a itself when it is there already, else a copy."""
    if device.type == "cpu":
        return a if isinstance(a, np.ndarray) else cuda.to_numpy(a)
    index = device.index or 0
    if isinstance(a, cuda.CudaArray) and a.device == index:
        return a
    return cuda.asarray(a if isinstance(a, np.ndarray) else cuda.to_numpy(a), device=index)


from . import ops  # noqa: E402 - ops dispatches through for_array, defined above
from .ops import *  # noqa: E402,F401,F403


def define_unary(name: str, kernel: str):
    """Adds the named array op arrays.<name>(x, out=None): the unary kernel `kernel`. The unary
    op table (tapegrad.ops.elementwise.UNARY) adds one for each of its rows, so that a new row
    brings its array op for the derivative formulas to use."""
    globals()[name] = partial(ops.unary, kernel)


def define_binary(name: str, kernel: str):
    """Adds arrays.<name>(a, b, out=None), the binary kernel `kernel`, unless ops has it: the
    binary op table (tapegrad.ops.elementwise.BINARY) calls it for each of its rows."""
    if name not in globals():
        globals()[name] = partial(ops.binary, kernel)
