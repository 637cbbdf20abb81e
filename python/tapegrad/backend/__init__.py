"""Array backends: one function table per device, with the same function names.

``cpu`` computes on numpy arrays, ``cuda`` on CudaArrays (device memory). `for_array` is the one
place that maps an array to the table that computes on it; `to_device` moves an array between
them.
"""
from __future__ import annotations

import numpy as np

from . import cpu, cuda


def for_array(a):
    if type(a) is np.ndarray:
        return cpu
    if type(a) is cuda.CudaArray:
        return cuda
    if isinstance(a, np.ndarray):
        return cpu
    raise TypeError(f"no tapegrad backend for arrays of type {type(a).__name__}")


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
