"""Datasets with PyTorch's names: Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset,
ChainDataset, StackDataset, and random_split.

A map-style dataset may also offer ``_gather_fn()``, returning a function (or None) that maps a
1-D int64 index array to exactly what ``default_collate([ds[i] for i in idx])`` would build, with
one gather per tensor. The DataLoader uses it with its default collate: a training loop over a
TensorDataset then costs one index_select per tensor per batch instead of a Python loop of
per-sample views and a stack.
"""
from __future__ import annotations

import bisect
import math
import warnings
from itertools import accumulate

import numpy as np

from ...autograd.grad_mode import is_grad_enabled
from ... import arrays
from ...tensor import Tensor


class Dataset:
    """A map-style dataset: ``__getitem__(i)`` and (usually) ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: ``__iter__`` yields samples (no indexing, no sampler)."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other: "Dataset") -> "ChainDataset":
        return ChainDataset([self, other])


def gather_fn_of(dataset):
    """The dataset's whole-batch gather function, or None when it has none."""
    fn = getattr(dataset, "_gather_fn", None)
    return fn() if callable(fn) else None


def take_rows(t: Tensor, idx: np.ndarray) -> Tensor:
    """t[idx] along dim 0 for a 1-D int64 index array: one index_select kernel call."""
    if t._requires_grad and is_grad_enabled():
        # Recorded through the indexing op so that gradients reach the dataset's tensor.
        return t[Tensor._wrap(idx)]
    return Tensor._wrap(arrays.index_select(t._data, 0, idx))


class TensorDataset(Dataset):
    """Samples are the i-th rows of the given tensors, which share their first dimension."""

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, expected a Tensor")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a 0-d tensor; samples are rows along dim 0")
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if t.shape[0] != n:
                raise ValueError(
                    f"Size mismatch between tensors: tensor 0 has {n} rows (shape {tuple(tensors[0].shape)}) "
                    f"but tensor {i} has {t.shape[0]} (shape {tuple(t.shape)})"
                )
        self.tensors = tuple(tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _gather_fn(self):
        if type(self).__getitem__ is not TensorDataset.__getitem__:
            return None  # a subclass that changes samples must be asked one sample at a time
        tensors = self.tensors
        # default_collate turns a batch of tuples into a list, one stacked tensor per field.
        return lambda idx: [take_rows(t, idx) for t in tensors]


class Subset(Dataset):
    """The samples of `dataset` at positions `indices`, in that order."""

    def __init__(self, dataset: Dataset, indices):
        self.dataset = dataset
        self.indices = indices

    @property
    def indices(self):
        return self._indices

    @indices.setter
    def indices(self, value) -> None:
        self._indices = value
        self._index_array = None

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self._indices[i] for i in idx]]
        return self.dataset[self._indices[idx]]

    def __getitems__(self, indices: list) -> list:
        inner = getattr(self.dataset, "__getitems__", None)
        if callable(inner):
            return inner([self._indices[i] for i in indices])
        return [self.dataset[self._indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self._indices)

    def _gather_fn(self):
        cls = type(self)
        if cls.__getitem__ is not Subset.__getitem__ or cls.__getitems__ is not Subset.__getitems__:
            return None
        inner = gather_fn_of(self.dataset)
        if inner is None:
            return None
        if self._index_array is None:
            arr = np.asarray(self._indices, dtype=np.int64).reshape(-1)
            n = len(self.dataset)
            # Python-style negative positions, resolved once instead of per batch.
            self._index_array = np.where(arr < 0, arr + n, arr)
        arr = self._index_array
        return lambda idx: inner(arr[idx])


class ConcatDataset(Dataset):
    """The samples of several map-style datasets, one after another."""

    @staticmethod
    def cumsum(sequence) -> list:
        return list(accumulate(len(d) for d in sequence))

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError(f"ConcatDataset: absolute value of index {idx} exceeds the dataset length {n}")
            idx += n
        if idx >= n:
            raise IndexError(f"ConcatDataset: index {idx} is out of range for a dataset of length {n}")
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


class StackDataset(Dataset):
    """Several map-style datasets of one length side by side: sample i is the tuple of their i-th
    samples (datasets given positionally) or the dict of them (given by keyword)."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset: give the datasets either positionally (tuple samples) or by keyword "
                             "(dict samples), not both")
        if not args and not kwargs:
            raise ValueError("StackDataset: at least one dataset should be passed")
        parts = list(args) if args else list(kwargs.values())
        lengths = [len(d) for d in parts]
        if any(n != lengths[0] for n in lengths):
            raise ValueError(f"StackDataset: size mismatch between datasets: lengths {lengths}")
        self._length = lengths[0]
        self.datasets = args if args else kwargs

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices):
        """The samples at `indices`, each part fetched in one call where it offers __getitems__."""
        named = isinstance(self.datasets, dict)
        parts = self.datasets.items() if named else enumerate(self.datasets)
        columns = {}
        for key, d in parts:
            fetch = getattr(d, "__getitems__", None)
            items = fetch(indices) if callable(fetch) else [d[i] for i in indices]
            if len(items) != len(indices):
                raise ValueError(f"StackDataset: dataset {key!r} returned {len(items)} samples for {len(indices)} "
                                 "indices")
            columns[key] = items
        if named:
            return [{k: col[j] for k, col in columns.items()} for j in range(len(indices))]
        return [tuple(col[j] for col in columns.values()) for j in range(len(indices))]


class ChainDataset(IterableDataset):
    """Several iterable datasets, streamed one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def random_split(dataset: Dataset, lengths, generator=None) -> list:
    """Split `dataset` into non-overlapping Subsets of the given lengths, or of the given fractions
    of its length (fractions summing to 1; the rows left by rounding down go one each to the
    first splits, round robin). The permutation is drawn from `generator` or from the global
    generator that tapegrad.manual_seed seeds."""
    from ...creation import randperm

    lengths = list(lengths)
    n = len(dataset)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
        for i, size in enumerate(lengths):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              UserWarning, stacklevel=2)
    for i, size in enumerate(lengths):
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
            raise ValueError(
                f"random_split: lengths must be non-negative ints or fractions summing to 1; got {size!r} at index {i}"
            )
    if sum(lengths) != n:
        raise ValueError(
            f"Sum of input lengths does not equal the length of the input dataset! ({sum(lengths)} vs {n})"
        )
    perm = randperm(n, generator=generator).tolist()
    return [Subset(dataset, perm[end - size:end]) for end, size in zip(accumulate(lengths), lengths)]
