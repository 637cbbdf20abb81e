"""Samplers with PyTorch's names: the order in which a DataLoader visits a map-style dataset.

Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler,
BatchSampler. Random samplers draw from the `generator` they are given, or from the global
generator that tapegrad.manual_seed seeds, so a seed fixes the order of every epoch; they draw
what PyTorch's samplers draw, in the same order, so a seed gives PyTorch's order too.

The built-in samplers draw a whole epoch of indices as one int64 array (`_epoch`); iterating
them yields that array's items, and a BatchSampler over one of them can hand the DataLoader
array slices instead of building a Python list per batch. Both routes draw the same numbers.
"""
from __future__ import annotations

import numpy as np

from ... import _C
from ...ops.random import host_fill, multinomial
from ...random import Generator, draw_seed


class Sampler:
    """Yields dataset indices (or, for a batch sampler, lists of them)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError("Subclasses of Sampler should implement __iter__.")


class _ArraySampler(Sampler):
    def _epoch(self) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self):
        return iter(self._epoch().tolist())


def epoch_array(sampler):
    """The sampler's next epoch as an int64 array, or None for a sampler that iterates its own way
    (including a subclass of a built-in one that overrides __iter__)."""
    if isinstance(sampler, _ArraySampler) and type(sampler).__iter__ is _ArraySampler.__iter__:
        return sampler._epoch()
    return None


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} should be a boolean value, but got {name}={value}")


class SequentialSampler(_ArraySampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _epoch(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_ArraySampler):
    """A random permutation each epoch; with replacement=True, `num_samples` independent draws.
    Without replacement, num_samples > len(data_source) chains whole permutations."""

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        _check_bool("replacement", replacement)
        _check_positive_int("num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _epoch(self) -> np.ndarray:
        n, k = len(self.data_source), self.num_samples
        if n == 0:
            raise ValueError(f"RandomSampler: cannot draw {k} samples from an empty dataset")
        # Without a generator, each epoch seeds a new one from the global stream, as PyTorch's does.
        g = self.generator if self.generator is not None else Generator().manual_seed(draw_seed())
        if self.replacement:
            return host_fill((k,), np.int64, _C.cpu.random_integers, 0, n, generator=g)
        # whole permutations, then the first k % n of one more (drawn even when k % n is 0)
        parts = [host_fill((n,), np.int64, _C.cpu.random_permutation, generator=g) for _ in range(k // n + 1)]
        parts[-1] = parts[-1][:k % n]
        return np.concatenate(parts)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_ArraySampler):
    """The given indices, in a random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def _epoch(self) -> np.ndarray:
        idx = np.asarray(self.indices, dtype=np.int64).reshape(-1)
        return idx[host_fill((len(idx),), np.int64, _C.cpu.random_permutation, generator=self.generator)]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_ArraySampler):
    """`num_samples` indices drawn with probabilities proportional to `weights` (for example,
    inverse class frequencies, to balance classes)."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        _check_positive_int("num_samples", num_samples)
        _check_bool("replacement", replacement)
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1-D sequence but given weights have shape {w.shape}")
        if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative, and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(
                f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                f"{np.count_nonzero(w)} non-zero weights"
            )
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def _epoch(self) -> np.ndarray:
        from ...tensor import Tensor

        picks = multinomial(Tensor._wrap(self.weights), self.num_samples, self.replacement,
                            generator=self.generator)
        return picks.numpy()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of `batch_size` (the last one shorter unless
    drop_last)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        _check_positive_int("batch_size", batch_size)
        _check_bool("drop_last", drop_last)
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def index_batches(batch_sampler):
    """The batch sampler's batches, as int64 array slices where the sampler can draw its epoch as
    one array, else as whatever the batch sampler yields."""
    if type(batch_sampler).__iter__ is BatchSampler.__iter__:
        arr = epoch_array(batch_sampler.sampler)
        if arr is not None:
            n, bs = len(arr), batch_sampler.batch_size
            stop = n - n % bs if batch_sampler.drop_last else n
            for lo in range(0, stop, bs):
                yield arr[lo:lo + bs]
            return
    yield from batch_sampler
