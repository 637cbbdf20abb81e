"""tapegrad.cuda: GPUs, their memory and their random numbers (PyTorch's torch.cuda).

Everything here answers sensibly in a build without CUDA or on a machine without a GPU:
is_available() is False, device_count() is 0, and the rest raise a RuntimeError saying so.
"""
from __future__ import annotations

import threading

from .arrays import cuda as _arrays


class OutOfMemoryError(RuntimeError):
    """The GPU has no memory left for an allocation, even after the cache was emptied. The
    process stays usable: tensors that exist keep working, and freeing some lets later
    allocations succeed."""


def _point_at_pip_cublas() -> None:
    """Tells the CUDA module where PyPI's cuBLAS package keeps cuBLASLt, when one is installed
    (nvidia-cublas-cu12 lays it out as nvidia/cublas/lib, nvidia-cublas for CUDA 13 as
    nvidia/cu13/lib): the module loads the library at its first GEMM, trying this path first."""
    import glob
    import importlib.util
    import os

    k = _arrays.kernels
    soname = k.cublaslt_soname() if k is not None else None
    if soname is None:
        return
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return
    for root in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(glob.glob(os.path.join(root, "*", "lib", soname)))
        if found:
            k.set_cublaslt_path(found[0])
            return


_point_at_pip_cublas()


def _k():
    k = _arrays.kernels
    if k is None:
        raise RuntimeError("tapegrad.cuda: this tapegrad build has no CUDA backend")
    if not k.is_available():
        raise RuntimeError("tapegrad.cuda: no CUDA GPU was found")
    return k


def _index(device, op: str) -> int:
    """A device argument (None, an int, 'cuda:1', a tapegrad.device) as a GPU index."""
    from .dtypes import to_device

    if device is None:
        return _k().current_device()
    dev = to_device(device, op)
    if dev.type != "cuda":
        raise ValueError(f"{op}: expected a CUDA device, got {dev}")
    return dev.index


def is_available() -> bool:
    k = _arrays.kernels
    return k is not None and bool(k.is_available())


def device_count() -> int:
    k = _arrays.kernels
    return 0 if k is None else int(k.device_count())


def current_device() -> int:
    return _k().current_device()


def set_device(device) -> None:
    _k().set_device(_index(device, "set_device"))


def get_device_name(device=None) -> str:
    return _k().get_device_name(_index(device, "get_device_name"))


def get_device_capability(device=None) -> tuple:
    return tuple(_k().get_device_capability(_index(device, "get_device_capability")))


def synchronize(device=None) -> None:
    """Waits until every kernel queued on the device has finished."""
    _k().synchronize(_index(device, "synchronize"))


def memory_allocated(device=None) -> int:
    """Bytes of device memory held by tensors (rounded up to the allocator's block sizes)."""
    return _k().memory_allocated(_index(device, "memory_allocated"))


def max_memory_allocated(device=None) -> int:
    return _k().max_memory_allocated(_index(device, "max_memory_allocated"))


def reset_peak_memory_stats(device=None) -> None:
    _k().reset_peak_memory_stats(_index(device, "reset_peak_memory_stats"))


def memory_reserved(device=None) -> int:
    """Bytes held by the caching allocator: in use plus cached for reuse."""
    return _k().memory_reserved(_index(device, "memory_reserved"))


def empty_cache() -> None:
    """Returns the cached, unused device memory to the driver."""
    if is_available():
        _arrays.kernels.empty_cache()


# --- random numbers --------------------------------------------------------------------------
# Each GPU has a counter-based (Philox) stream: a seed and an offset. Every draw of n numbers
# reads counters [offset, offset + n) and advances the offset, so a seed fixes every later draw
# and no two draws share a counter.

_seeds: dict = {}
_offsets: dict = {}
_offsets_lock = threading.Lock()
_DEFAULT_SEED = 67280421310721


def manual_seed(seed: int) -> None:
    """Seeds the current GPU's generator (PyTorch's torch.cuda.manual_seed)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
    index = _arrays.kernels.current_device() if is_available() else 0
    with _offsets_lock:
        _seeds[index] = seed % 2**64
        _offsets[index] = 0


def manual_seed_all(seed: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"manual_seed_all expected an int, got {type(seed).__name__}")
    with _offsets_lock:
        for index in range(max(device_count(), 1)):
            _seeds[index] = seed % 2**64
            _offsets[index] = 0


def initial_seed() -> int:
    index = _arrays.kernels.current_device() if is_available() else 0
    return _seeds.get(index, _DEFAULT_SEED)


def _draw(kind: str, out) -> None:
    """Fills the CudaArray `out` with U[0, 1) ('uniform') or N(0, 1) ('normal') numbers from
    its GPU's stream."""
    k = _k()
    index = out.device
    # Reading the offset and advancing it is one step under the lock: two threads drawing at
    # once would otherwise both read one offset and get the same numbers.
    with _offsets_lock:
        seed = _seeds.get(index, _DEFAULT_SEED)
        offset = _offsets.get(index, 0)
        _offsets[index] = offset + k.random_bits_needed(out.size)
    (k.random_uniform if kind == "uniform" else k.random_normal)(out, seed, offset)
