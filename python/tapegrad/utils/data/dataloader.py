"""DataLoader: batches from a dataset, with PyTorch's arguments, defaults and validation.

With num_workers = 0 (the default) batches are loaded in the calling process: the datasets
this library targets live in memory, where a batch is one gather (see dataset.py). With
num_workers > 0, worker processes load them (_workers.py), as PyTorch's do: worker_init_fn,
persistent_workers, prefetch_factor, timeout, get_worker_info() and per-worker seeds.
pin_memory is accepted (CPU batches need no pinning here).
"""
from __future__ import annotations

import os
import warnings
from functools import partial

import numpy as np

from . import _workers
from ._workers import get_worker_info  # noqa: F401
from .collate import default_collate, default_convert
from .dataset import IterableDataset, gather_fn_of
from ...random import draw_seed
from .sampler import BatchSampler, RandomSampler, SequentialSampler, index_batches


def _fetch(dataset, collate, auto_collation: bool, indices):
    """The batch of `indices` (one index without auto-collation)."""
    if not auto_collation:
        return collate(dataset[indices])
    gather = gather_fn_of(dataset) if collate is default_collate else None
    if gather is not None:
        return gather(np.asarray(indices, dtype=np.int64))
    fetch = getattr(dataset, "__getitems__", None)
    return collate(fetch(indices) if callable(fetch) else [dataset[i] for i in indices])


def _stream_batches(collate, batch_size, drop_last: bool, samples):
    """The batches of an iterator of samples."""
    if batch_size is None:
        for sample in samples:
            yield collate(sample)
        return
    batch = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            yield collate(batch)
            batch = []
    if batch and not drop_last:
        yield collate(batch)


def _warn_if_more_workers_than_cpus(num_workers: int) -> None:
    """PyTorch's warning for more workers than the CPUs this process may run on."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count()
    if cpus and num_workers > cpus:
        warnings.warn(
            f"This DataLoader will create {num_workers} worker processes in total. Our suggested max number of "
            f"worker in current system is {cpus}, which is smaller than what this DataLoader is going to create. "
            "Please be aware that excessive worker creation might get DataLoader running slow or even freeze, "
            "lower the worker number to avoid potential slowness/freeze if necessary.", UserWarning, stacklevel=3)


class _InfiniteConstantSampler:
    """The placeholder sampler of a DataLoader over an IterableDataset."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    _frozen = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers: int = 0, collate_fn=None, pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0, worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 to "
                "enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (None, False):
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, but got "
                    f"batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )

        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is not None and iterable and (
                not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")

        auto_collation = batch_sampler is not None or (iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if auto_collation else default_convert

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._iterable = iterable
        self._initialized = True

    def __setattr__(self, name, value):
        if self.__dict__.get("_initialized") and name in self._frozen:
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(name, value)

    def __iter__(self):
        # PyTorch's iterator draws a base seed for its workers from the loader's generator when
        # it is made (once, with persistent workers). Drawing it here too, with or without
        # workers, keeps the generator's stream, and so the shuffling that follows, where
        # PyTorch's is.
        if not (self.persistent_workers and "_base_seed" in self.__dict__):
            self.__dict__["_base_seed"] = draw_seed(self.generator)
        if self.num_workers > 0:
            return self._iter_workers()
        if self._iterable:
            return _stream_batches(self.collate_fn, self.batch_size, self.drop_last, iter(self.dataset))
        if self.batch_sampler is None:
            return (_fetch(self.dataset, self.collate_fn, False, i) for i in self.sampler)
        return self._iter_batches()

    def _iter_batches(self):
        dataset, collate = self.dataset, self.collate_fn
        gather = gather_fn_of(dataset) if collate is default_collate else None
        if gather is not None:  # index arrays straight from the sampler
            for batch in index_batches(self.batch_sampler):
                yield gather(np.asarray(batch, dtype=np.int64))
            return
        for batch in self.batch_sampler:
            yield _fetch(dataset, collate, True, batch)

    def _worker_pool(self):
        pool = self.__dict__.get("_pool")
        if pool is not None and pool.in_flight == 0 and pool.processes:
            return pool
        if pool is not None:  # an epoch left unfinished: its batches are still on their way
            pool.close()
        if self._iterable:
            fetch = partial(_stream_batches, self.collate_fn, self.batch_size, self.drop_last)
        else:
            fetch = partial(_fetch, self.dataset, self.collate_fn, self.batch_sampler is not None)
        pool = _workers.WorkerPool(self, self.__dict__["_base_seed"], fetch)
        if self.persistent_workers:
            self.__dict__["_pool"] = pool
        return pool

    def _iter_workers(self):
        _warn_if_more_workers_than_cpus(self.num_workers)
        pool = self._worker_pool()
        try:
            if self._iterable:
                yield from _workers.run_iterable(pool, self.prefetch_factor)
            else:
                tasks = self.batch_sampler if self.batch_sampler is not None else self.sampler
                yield from _workers.run_map_style(pool, tasks, self.prefetch_factor, self.in_order)
        except BaseException:  # an error, Ctrl-C: what the workers do is no longer wanted
            pool.close(now=True)
            raise
        finally:
            if not self.persistent_workers:
                pool.close()

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError for a stream without __len__, as in PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)
