"""Indexing (kernels: csrc/cpu/index.cpp): basic keys (ints, slices, None, Ellipsis) give views;
advanced keys (integer / boolean index tensors, lists) gather through C-order flat positions,
and their backward scatter-adds into those positions. __setitem__ is an in-place write."""
from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from .._checks import tensor_arg
from ..autograd.node import Node
from .. import arrays
from ..arrays import device_of, to_device
from ..tensor import Tensor


def _key_item(k):
    """One key component as something numpy indexing understands; (item, is_advanced)."""
    if isinstance(k, Tensor):
        if k.dtype.is_floating_point:
            raise IndexError(f"tensors used as indices must be long or bool tensors, got {k.dtype.name}")
        a = arrays.to_numpy(k._data)
        if a.ndim == 0 and a.dtype != np.bool_:
            return int(a), False
        return a, True
    if isinstance(k, (bool, np.bool_)):
        return np.array(k), True
    if isinstance(k, (int, np.integer)):
        if not -(2**63) <= k < 2**63:
            raise IndexError(f"index {k} is out of bounds (it does not fit int64)")
        return int(k), False
    if k is None or k is Ellipsis:
        return k, False
    if isinstance(k, slice):
        parts = [None if v is None else _as_index(v) for v in (k.start, k.stop, k.step)]
        if parts[2] is not None and parts[2] <= 0:
            raise ValueError(f"slice step must be positive, got {parts[2]}")
        return slice(*parts), False
    if isinstance(k, (list, np.ndarray)):
        a = np.asarray([_as_index(v) if isinstance(v, Tensor) else v for v in k] if isinstance(k, list) else k)
        if a.dtype.kind == "f" or (a.size and a.dtype.kind not in "iub"):
            raise IndexError(f"index arrays must hold integers or bools, got dtype {a.dtype}")
        return a.astype(np.int64) if a.dtype.kind in "iu" or a.size == 0 else a, True
    raise IndexError(
        f"only integers, slices, None, Ellipsis, and integer or boolean tensors are valid indices (got {type(k).__name__})"
    )


def _as_index(v) -> int:
    try:
        return v.__index__()
    except AttributeError:
        raise TypeError(f"slice indices must be integers or None, got {type(v).__name__}") from None


def normalize_key(key):
    """(numpy key tuple, whether any component is advanced)."""
    items = key if isinstance(key, tuple) else (key,)
    out, advanced = [], False
    for k in items:
        item, adv = _key_item(k)
        out.append(item)
        advanced |= adv
    return tuple(out), advanced


class BasicIndex(Node):
    is_view = True

    def forward(self, x, key):
        self.shape, self.dtype, self.key = x.shape, x.dtype, key
        return arrays.view_index(x, key)

    def backward(self, g):
        return arrays.scatter_view(g, self.shape, self.key)

    def view(self, a):
        return arrays.view_index(a, self.key)


def _positions(x, key):
    """C-order flat positions of x[key] in x, on x's device (numpy does the index bookkeeping
    on the host and raises IndexError for out-of-range indices)."""
    n = 1
    for s in x.shape:
        n *= s
    flat = np.arange(0, n, 1, np.int64).reshape(x.shape)
    return to_device(np.asarray(flat[key]), device_of(x))


class AdvancedIndex(Node):
    def forward(self, x, key):
        self.shape, self.dtype = x.shape, x.dtype
        self.positions = _positions(x, key)
        return arrays.take(x, self.positions)

    def backward(self, g):
        return arrays.scatter_add(g, self.shape, self.positions)


class IndexSelect(Node):
    """x[..., idx, ...] for one integer index array on one axis: a gather of whole slices."""

    def forward(self, x, axis, index):
        index = to_device(index, device_of(x))
        self.shape, self.dtype, self.axis, self.index = x.shape, x.dtype, axis, index
        return arrays.index_select(x, axis, index)

    def backward(self, g):
        flat = arrays.reshape(g, self.shape[:self.axis] + (self.index.size,) + self.shape[self.axis + 1:])
        return arrays.index_scatter_add(flat, self.shape, self.axis, arrays.reshape(self.index, (-1,)))


class ScatterView(Node):
    """arrays.scatter_view as an op (BasicIndex's gradient, differentiated under
    create_graph): its own gradient reads the view back."""

    def forward(self, g, shape, key):
        self.key = key
        return arrays.scatter_view(g, shape, key)

    def backward(self, gg):
        return arrays.view_index(gg, self.key)


class ScatterAdd(Node):
    """arrays.scatter_add as an op (a gather's gradient, differentiated under create_graph)."""

    def forward(self, g, shape, positions):
        self.positions, self.g_shape = positions, g.shape
        return arrays.scatter_add(g, shape, positions)

    def backward(self, gg):
        return arrays.sum_to_shape(arrays.take(gg, self.positions), self.g_shape)


class IndexScatterAdd(Node):
    """arrays.index_scatter_add as an op (index_select's gradient, differentiated under
    create_graph)."""

    def forward(self, g, shape, axis, index):
        self.axis, self.index = axis, index
        return arrays.index_scatter_add(g, shape, axis, index)

    def backward(self, gg):
        return arrays.index_select(gg, self.axis, self.index)


def _single_axis_index(x: Tensor, nkey):
    """(axis, normalised int64 index) when the key is full slices around one integer array."""
    array_axes = [i for i, k in enumerate(nkey) if isinstance(k, np.ndarray)]
    if len(array_axes) != 1 or len(nkey) > x.ndim:
        return None
    axis = array_axes[0]
    idx = nkey[axis]
    if idx.dtype != np.int64 or any(not (isinstance(k, slice) and k == slice(None)) for i, k in enumerate(nkey) if i != axis):
        return None
    n = x.shape[axis]
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(f"index {int(idx[bad].flat[0])} is out of bounds for axis {axis} with size {n}")
    return axis, np.where(idx < 0, idx + n, idx)


def getitem(x: Tensor, key) -> Tensor:
    nkey, advanced = normalize_key(key)
    try:
        if advanced:
            single = _single_axis_index(x, nkey)
            if single is not None:
                return IndexSelect.apply(x, *single)
            return AdvancedIndex.apply(x, nkey)
        return BasicIndex.apply(x, nkey)
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {tuple(x.shape)}{_index_shapes(key)})") from None


def _index_shapes(key) -> str:
    """The shapes of the tensor indices in `key`, for an error message."""
    parts = key if isinstance(key, tuple) else (key,)
    shapes = [tuple(k.shape) for k in parts if isinstance(k, Tensor)]
    return "".join(f" with an index of shape {s}" for s in shapes)


class IndexPut(Node):
    """x with x[key] = value; x's gradient is zero where it was overwritten."""

    def forward(self, x, value, key, advanced, out=None):
        self.key, self.advanced, self.value_shape = key, advanced, value.shape
        if out is None:
            out = arrays.astype(x, x.dtype)
        if advanced:
            self.positions = _positions(x, key)
            arrays.put_(arrays.reshape(out, (-1,)), self.positions, value)
        else:
            arrays.copy_(value, arrays.view_index(out, key))
        return out

    def backward(self, g):
        gx = gv = None
        if self.needs_input_grad[0]:
            # zero where value was written: a mask made by scattering ones there
            if self.advanced:
                ones = arrays.full(self.positions.shape, 1, g.dtype, g)
                written = arrays.scatter_add(ones, g.shape, self.positions)
            else:
                ones = arrays.full(arrays.view_index(g, self.key).shape, 1, g.dtype, g)
                written = arrays.scatter_view(ones, g.shape, self.key)
            gx = arrays.where(arrays.ne(written, 0), 0, g)
        if self.needs_input_grad[1]:
            part = arrays.take(g, self.positions) if self.advanced else arrays.view_index(g, self.key)
            gv = arrays.sum_to_shape(part, self.value_shape)
        return gx, gv


def setitem(x: Tensor, key, value) -> None:
    from .elementwise import as_operand

    from .device import move

    nkey, advanced = normalize_key(key)
    value = move(as_operand(value, x.dtype, "setitem"), x.device)  # from any device, as copy_
    if advanced and not x.is_contiguous():
        raise RuntimeError("setitem: advanced-index assignment needs a contiguous tensor; call .contiguous() first")
    try:
        x._apply_inplace(
            "setitem",
            compute=lambda t: IndexPut.apply(t, value, nkey, advanced),
            write=lambda: IndexPut.apply(x, value, nkey, advanced, out=x._data),
            others=(value,),
        )
    except ValueError as e:
        raise RuntimeError(
            f"setitem: value of shape {tuple(value.shape)} cannot be assigned to a region of a tensor "
            f"of shape {tuple(x.shape)}: {e}"
        ) from None
    except IndexError as e:
        raise IndexError(f"setitem: {e} (indexing a tensor of shape {tuple(x.shape)}{_index_shapes(key)})") from None


def nonzero(x: Tensor, as_tuple: bool = False):
    idx = np.nonzero(arrays.to_numpy(x._data))
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in idx)
    return Tensor._wrap(np.stack(idx, axis=1).astype(np.int64) if idx else np.zeros((0, 0), np.int64))


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    from .._checks import tensor_arg

    tensor_arg(x, "index_select")
    tensor_arg(index, "index_select", "index")
    if index.dtype is not _dt.int64 or index.ndim > 1:
        raise IndexError(f"index_select(): index must be a 1-D int64 tensor, got {index.dtype.name} of shape {tuple(index.shape)}")
    d = x._dim(dim, op="index_select")
    n = x.shape[d] if x.ndim else 1
    idx = arrays.to_numpy(index._data)
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(
            f"index_select(): index {int(idx[bad][0])} is out of range for dimension {d} of size {n} "
            f"(tensor of shape {tuple(x.shape)})"
        )
    if x.ndim == 0:  # as PyTorch: a 0-d input gives a 0-d result, for a one-element index
        if index.numel() != 1:
            raise IndexError(f"index_select(): a 0-dim input takes a one-element index, got shape {tuple(index.shape)}")
        return x.clone()
    return getitem(x, (slice(None),) * d + (index.reshape(-1),))


def flip(input, dims) -> Tensor:  # noqa: A002 - PyTorch's names
    """input with the order of its elements reversed along each of `dims` (a copy, as PyTorch's)."""
    from .reduce import normalize_dims

    tensor_arg(input, "flip")
    axes = normalize_dims(input, dims if isinstance(dims, (tuple, list)) else (dims,), "flip", empty_means_all=False)
    out = input
    for axis in axes:
        n = out.shape[axis]
        out = index_select(out, axis, Tensor._wrap(np.arange(n - 1, -1, -1, dtype=np.int64)))
    return out if axes else out.clone()


def masked_fill(input, mask, value) -> Tensor:  # noqa: A002 - PyTorch's names
    """input with `value` where the bool `mask` (broadcast to input's shape) is True."""
    from .elementwise import as_operand, where

    tensor_arg(input, "masked_fill")
    tensor_arg(mask, "masked_fill", "mask")
    if mask.dtype is not _dt.bool_:
        raise RuntimeError(f"masked_fill: only boolean masks are supported, but got mask with dtype {mask.dtype.name}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"masked_fill: only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s) (shape {tuple(value.shape)})")
    shape = arrays.broadcast_shapes("masked_fill", tuple(input.shape), tuple(mask.shape))
    if tuple(shape) != tuple(input.shape):
        raise RuntimeError(f"masked_fill: mask of shape {tuple(mask.shape)} cannot be broadcast to the input's "
                           f"shape {tuple(input.shape)}")
    fill = value.to(input.dtype) if isinstance(value, Tensor) else as_operand(value, input.dtype, "masked_fill")
    return where(mask, fill, input)
