"""default_collate and default_convert: how a DataLoader turns samples into batches, by
PyTorch's rules.

default_collate, by the type of the first sample:
  Tensor                 -> stacked along a new dim 0
  numpy array            -> as a tensor, then stacked (dtypes a tensor cannot hold widen:
                            uint8/int32 -> int64, float16 -> float32)
  numpy scalar           -> a 1-D tensor of the scalars' dtype
  float                  -> float64 tensor;  int -> int64 tensor;  bool -> bool tensor
  str / bytes            -> the batch unchanged
  dict (Mapping)         -> a dict of the same keys, each collated
  namedtuple             -> the same namedtuple of collated fields
  tuple / list           -> transposed, each position collated (a tuple gives a list)
"""
from __future__ import annotations

import collections.abc

import numpy as np

from ...autograd.grad_mode import is_grad_enabled
from ... import arrays
from ...creation import as_tensor, tensor
from ...dtypes import float64
from ...ops.shape import stack
from ...tensor import Tensor

_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _stack(batch) -> Tensor:
    """stack(batch, 0). When autograd has nothing to record and the samples agree in shape and
    dtype, it is one allocation plus one copy-kernel call per sample: tapegrad.stack records an
    unsqueeze node per sample, which costs ten times as much for a batch of small tensors."""
    first = batch[0]._data
    shape, dtype = first.shape, first.dtype
    if ((is_grad_enabled() and any(t._requires_grad for t in batch))
            or any(not isinstance(t, Tensor) or t._data.shape != shape or t._data.dtype != dtype for t in batch)):
        return stack(batch, 0)  # records the graph, promotes dtypes, or raises naming the shapes
    out = arrays.empty((len(batch),) + shape, dtype, first)
    for i, t in enumerate(batch):
        arrays.copy_(t._data, arrays.view_index(out, (i,)))
    return Tensor._wrap(out)


def default_collate(batch):
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if isinstance(elem, np.ndarray):
        if elem.dtype.char in "SaUO":
            raise TypeError(_ERR.format(elem.dtype))
        return default_collate([as_tensor(b) for b in batch])
    if isinstance(elem, (np.bool_, np.number)):
        return as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=float64)
    if isinstance(elem, int):  # bool included: tensor() infers bool for bools
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return out if type(elem) is dict else type(elem)(out)
        except TypeError:  # a mapping type that cannot be built from a dict
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(col) for col in zip(*batch)]  # tuples, as PyTorch passes them
        if isinstance(elem, (tuple, list)):
            return columns
        try:
            return type(elem)(columns)
        except TypeError:
            return columns
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """One sample made tensor-friendly without batching (DataLoader with batch_size=None): numpy
    arrays and scalars become tensors, containers are converted item by item."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if data.dtype.char in "SaUO" else as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return as_tensor(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        out = {key: default_convert(data[key]) for key in data}
        try:
            return out if type(data) is dict else type(data)(out)
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        items = [default_convert(d) for d in data]
        try:
            return items if type(data) is list else type(data)(items)
        except TypeError:
            return items
    return data
