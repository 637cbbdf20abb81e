"""DataLoader worker processes (num_workers > 0), as PyTorch's: each worker is a process started
by fork (or the loader's multiprocessing_context), seeded with base_seed + its id (Python's
random, tapegrad's generator, and numpy's global one as PyTorch seeds it), running one kernel
thread; it receives batches of indices (map-style) or requests for its next batch
(IterableDataset, each worker iterating its own copy, shardable through get_worker_info()) and
sends the collated batches back. Batches come out in the sampler's order (in_order=False: as
they arrive). An exception in a worker is raised in the main process, naming the worker; a
worker that dies is reported instead of waited for.

The thread pool of the C++ kernels restarts in a forked child (csrc/cpu/runtime.cpp), so
workers may run kernels even when the parent's pool was running. The CUDA runtime does not
survive fork: a forked worker's CUDA raises a RuntimeError saying so at its first use.
Tensors cross between processes as numpy arrays (tapegrad tensors themselves are not pickled).
"""
from __future__ import annotations

import multiprocessing
import queue
import random
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

from ...arrays import cuda as cuda_arrays
from ...tensor import Tensor

_POLL_S = 0.1  # how often the main process checks that its workers are alive while it waits


@dataclass(frozen=True)
class WorkerInfo:
    """What get_worker_info() returns inside a worker: its id, the number of workers, its seed
    and its copy of the dataset."""
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info():
    """This process's WorkerInfo inside a DataLoader worker, None in the main process."""
    return _worker_info


# --- tensors across processes ---------------------------------------------------------------

class _Packed:
    """A tensor on its way between processes: its values and requires_grad."""
    __slots__ = ("array", "requires_grad")

    def __init__(self, t: Tensor):
        self.array, self.requires_grad = t.detach().cpu().numpy(), t.requires_grad

    def __getstate__(self):
        return self.array, self.requires_grad

    def __setstate__(self, state):
        self.array, self.requires_grad = state


def _pack(obj):
    if isinstance(obj, Tensor):
        return _Packed(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*(_pack(o) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_pack(o) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _pack(v)) for k, v in obj.items())
    return obj


def _unpack(obj):
    if isinstance(obj, _Packed):
        t = Tensor._wrap(obj.array)
        return t.requires_grad_(True) if obj.requires_grad else t
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_unpack(o) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unpack(o) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _unpack(v)) for k, v in obj.items())
    return obj


class _WorkerError:
    """An exception raised in a worker, re-raised in the main process with the worker's
    traceback in its message."""

    def __init__(self, worker_id: int, exc: BaseException):
        self.exc_type = type(exc)
        self.text = (f"Caught {type(exc).__name__} in DataLoader worker process {worker_id}.\n"
                     f"Original {traceback.format_exc()}")

    def reraise(self):
        try:
            err = self.exc_type(self.text)
        except Exception:  # an exception type that does not take one message
            err = RuntimeError(self.text)
        raise err


class _NoCudaAfterFork:
    """What a forked worker sees instead of the CUDA kernels: the CUDA runtime does not survive
    fork, so using it there would fail in the driver (or hang); the first use says why at once.
    is_available() and device_count() keep the parent's answers, as the GPUs are there
    (PyTorch's answer the same)."""

    def __init__(self, device_count: int):
        self._device_count = device_count

    def is_available(self):
        return True

    def device_count(self):
        return self._device_count

    def __getattr__(self, name):
        raise RuntimeError(
            "CUDA cannot be used in a DataLoader worker process started by fork (the CUDA runtime does not "
            "survive fork); load CPU tensors and move the batches in the main process, or give the "
            "DataLoader multiprocessing_context='spawn'")


class _Exhausted:
    """A worker's answer when its IterableDataset copy has no more batches."""


def _worker_loop(fetch_batch, dataset, iterable, tasks, results, worker_id, num_workers, seed,
                 worker_init_fn, cuda_devices):
    global _worker_info
    import signal

    import tapegrad

    if cuda_devices is not None:  # forked from a process with CUDA
        cuda_arrays.kernels = _NoCudaAfterFork(cuda_devices)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle

    tapegrad.manual_seed(seed)
    random.seed(seed)
    # numpy's global generator from PyTorch's state for it: numpy's SeedSequence hash of
    # (worker id, the base seed's two 32-bit halves, 0)
    np.random.seed(np.random.SeedSequence([worker_id, (seed - worker_id) & 0xFFFFFFFF,
                                           (seed - worker_id) >> 32, 0]).generate_state(4))
    tapegrad.set_num_threads(1)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    stream = None
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
        if iterable:
            stream = fetch_batch(iter(dataset))
    except Exception as e:  # reported with the first task
        init_error = _WorkerError(worker_id, e)
    else:
        init_error = None
    while True:
        task = tasks.get()
        if task is None:
            break
        task_id, indices = task
        if init_error is not None:
            results.put((task_id, init_error))
            continue
        try:
            data = next(stream) if iterable else fetch_batch(indices)
            results.put((task_id, _pack(data)))
        except StopIteration:
            results.put((task_id, _Exhausted()))
        except Exception as e:
            results.put((task_id, _WorkerError(worker_id, e)))


class WorkerPool:
    """The worker processes of a loader, with their task queues and one result queue."""

    def __init__(self, loader, base_seed: int, fetch_batch):
        ctx = loader.multiprocessing_context
        if ctx is None or isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx or "fork")
        self.num_workers = loader.num_workers
        self.timeout = loader.timeout
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in range(self.num_workers)]
        self.processes = []
        # a forked worker gets a CUDA that refuses to run (what the parent counts, asked here)
        cuda_devices = None
        if ctx.get_start_method() == "fork" and cuda_arrays.kernels is not None:
            from ... import cuda
            cuda_devices = cuda.device_count() if cuda.is_available() else 0
        for i in range(self.num_workers):
            p = ctx.Process(target=_worker_loop, daemon=True,
                            args=(fetch_batch, loader.dataset, loader._iterable, self.tasks[i], self.results, i,
                                  self.num_workers, base_seed + i, loader.worker_init_fn, cuda_devices))
            with warnings.catch_warnings():
                # Python 3.12+ warns about fork() in a process with threads; the kernels'
                # thread pool is the only thread tapegrad starts, and it restarts in the child
                warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
                p.start()
            self.processes.append(p)
        self.next_task = 0
        self.in_flight = 0  # tasks sent and not yet received

    def send(self, worker: int, indices) -> int:
        task_id = self.next_task
        self.next_task += 1
        self.in_flight += 1
        self.tasks[worker].put((task_id, indices))
        return task_id

    def receive(self):
        """(task id, result), raising the worker's exception, or an error for a dead worker or
        an expired timeout."""
        waited = 0.0
        while True:
            try:
                task_id, data = self.results.get(timeout=_POLL_S)
                break
            except queue.Empty:
                waited += _POLL_S
                dead = [p for p in self.processes if not p.is_alive()]
                if dead:
                    self.close(now=True)
                    raise RuntimeError(
                        f"DataLoader worker (pid {dead[0].pid}) exited unexpectedly with exit code "
                        f"{dead[0].exitcode}") from None
                if self.timeout and waited >= self.timeout:
                    self.close(now=True)
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None
        self.in_flight -= 1
        if isinstance(data, _WorkerError):
            self.close(now=True)
            data.reraise()
        return task_id, data if isinstance(data, _Exhausted) else _unpack(data)

    def close(self, now: bool = False) -> None:
        """Stops the workers: each finishes its task in hand and exits, or, `now`, is
        terminated (after an error, when what they are doing is no longer wanted)."""
        for q, p in zip(self.tasks, self.processes):
            if p.is_alive():
                if now:
                    p.terminate()
                else:
                    q.put(None)
        for p in self.processes:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
        self.processes = []

    def __del__(self):
        if self.processes:
            self.close()


def run_map_style(pool: WorkerPool, index_batches, prefetch: int, in_order: bool):
    """The batches of `index_batches` (lists of indices) fetched by the workers in turn, at most
    `prefetch` per worker in flight."""
    batches = iter(index_batches)
    pending, ready = {}, {}
    order = []  # task ids in the sampler's order
    worker = 0

    def submit() -> bool:
        nonlocal worker
        indices = next(batches, None)
        if indices is None:
            return False
        order.append(pool.send(worker, indices))
        pending[order[-1]] = worker
        worker = (worker + 1) % pool.num_workers
        return True

    for _ in range(prefetch * pool.num_workers):
        if not submit():
            break
    position = 0
    while position < len(order):
        want = order[position]
        if in_order and want in ready:
            data = ready.pop(want)
        else:
            task_id, data = pool.receive()
            del pending[task_id]
            if in_order and task_id != want:
                ready[task_id] = data
                continue
        position += 1
        submit()
        yield data


def run_iterable(pool: WorkerPool, prefetch: int):
    """The batches of every worker's dataset copy, taken from the workers in turn until each is
    exhausted."""
    active = list(range(pool.num_workers))
    order = []  # (task id, worker) in request order
    for _ in range(prefetch):
        for w in active:
            order.append((pool.send(w, None), w))
    ready = {}
    while order:
        task_id, w = order.pop(0)
        while task_id not in ready:
            got, data = pool.receive()
            ready[got] = data
        data = ready.pop(task_id)
        if isinstance(data, _Exhausted):  # its requests still in flight answer the same
            if w in active:
                active.remove(w)
            continue
        if w in active:
            order.append((pool.send(w, None), w))
        yield data
