"""CPU arrays: numpy.ndarray is the array type; its memory, views and transfers.

Views (reshape, transpose, broadcast, slicing) are numpy metadata changes; the math on these
arrays is in ``arrays/ops.py``, which calls the C++ kernels in ``_C.cpu`` (``kernels`` below).
"""
from __future__ import annotations

import numpy as np

from .._C import cpu as kernels

name = "cpu"


# --- memory ----------------------------------------------------------------------------------

def empty(shape, dtype, device=None) -> np.ndarray:
    return kernels.empty(shape, dtype)


# new(shape, dtype, like=a): an uninitialised array on a's device. kernels.empty is numpy.empty
# with a cache of large blocks (csrc/cpu/allocator.cpp: an eager step allocates the same sizes
# again, and fresh pages cost a fault each); called directly, it spares the ops a Python call
# per result.
new = kernels.empty


def scalar(value, dtype, like: np.ndarray) -> np.ndarray:
    """A 0-d array holding a Python number, to broadcast (stride 0) against an array."""
    return np.array(value, dtype=dtype)


def asarray(x, dtype=None, device=None) -> np.ndarray:
    """Host data (numpy array, nested lists, scalars) as a CPU array (no copy when it is one)."""
    return np.asarray(x, dtype=dtype)


def from_host(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A host array on like's device: host arrays already are CPU arrays."""
    return x


def to_numpy(x: np.ndarray) -> np.ndarray:
    return x


def arange(start, stop, step, dtype, device=None) -> np.ndarray:
    return np.arange(start, stop, step, dtype=dtype)


def memory(x: np.ndarray):
    """(owner, address, bytes) of the allocation x views: the array that owns it, for graph
    mode's memory planning."""
    while isinstance(x.base, np.ndarray):
        x = x.base
    return x, x.__array_interface__["data"][0], x.nbytes


def owns_memory(x: np.ndarray) -> bool:
    """True when x is not a view of another array (its memory is reachable only through x)."""
    return x.base is None or kernels.owns_memory(x)


def put_(dst: np.ndarray, positions: np.ndarray, src: np.ndarray) -> np.ndarray:
    """dst[positions] = src (dst 1-D, src broadcast to positions' shape); of duplicate
    positions the last wins, as numpy assigns."""
    from ..compile import recorder

    recorder.unsupported("an indexed assignment (done by numpy, not by a kernel)")
    dst[positions] = broadcast_to(src, positions.shape)
    return dst


# --- views (metadata only) -------------------------------------------------------------------

def reshape(x: np.ndarray, shape) -> np.ndarray:
    """A view when the strides allow one, else a contiguous copy made by the copy kernel."""
    v = x.view()
    try:
        v.shape = shape
        return v
    except AttributeError:
        c = np.empty(x.shape, dtype=x.dtype)
        kernels.copy(x, c)
        return c.reshape(shape)


def can_view(x: np.ndarray, shape) -> bool:
    try:
        x.view().shape = shape
        return True
    except AttributeError:
        return False


def broadcast_to(x: np.ndarray, shape) -> np.ndarray:
    """A read-only view of x broadcast to `shape` (stride 0 along the broadcast dims)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    if not x.flags.c_contiguous or x.ndim > len(shape):
        return np.broadcast_to(x, shape)  # numpy's own checks and messages for the rare cases
    lead = len(shape) - x.ndim
    strides = [0] * lead
    for n, s, st in zip(shape[lead:], x.shape, x.strides):
        if s == n:
            strides.append(st)
        elif s == 1:
            strides.append(0)
        else:
            return np.broadcast_to(x, shape)
    # np.broadcast_to builds the same view but costs ~10x more per call; on the hot path of
    # small ops that is most of the op.
    out = np.ndarray(shape, x.dtype, x, 0, strides)
    out.flags.writeable = False
    return out


def permute(x: np.ndarray, dims) -> np.ndarray:
    return x.transpose(dims)


def moveaxis(x: np.ndarray, src, dst) -> np.ndarray:
    return np.moveaxis(x, src, dst)


def view_index(x: np.ndarray, key) -> np.ndarray:
    """x[key] for a basic key (ints, slices, None, Ellipsis): always a view (an Ellipsis
    keeps numpy from returning a scalar copy when every dim is indexed by an int)."""
    if not any(k is Ellipsis for k in key):
        key = key + (Ellipsis,)
    return x[key]
