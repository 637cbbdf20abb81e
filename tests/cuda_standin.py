"""A host stand-in for the compiled CUDA kernels (_C.cuda), for machines without a GPU.

It tests the Python half of the CUDA backend: CudaArray views and metadata (arrays/cuda.py), the
array ops on CudaArrays (arrays/ops.py), device placement and transfers, device errors, and everything above them (Tensor, nn,
optim, training) on device "cuda". It cannot test the CUDA kernels themselves: every kernel
here is the CPU kernel of the same name, run on host memory that plays the device's part. The
`device` fixture runs tests on it under the id "standin" when no real GPU is present.

It keeps the real module's contract where the Python layer could break it: kernels accept only
CUDA arrays (a numpy array in a kernel's argument is the mistake of passing host memory as
device memory, and raises TypeError as device_view does), the arrays of one call must be on one
device, and host copies demand contiguous, same-size operands. DEVICE_COUNT may be raised to
test placement on a second device.
"""
from __future__ import annotations

import weakref

import numpy as np

import tapegrad as tg
from tapegrad import _C
from tapegrad.arrays.cuda import CudaArray

DEVICE_COUNT = 1
MEMORY = 1 << 30  # the stand-in device's memory: larger requests raise OutOfMemoryError


class Buffer:
    def __init__(self, nbytes: int, device: int):
        self.host = np.empty(max(nbytes, 512) // 8 + 1, np.float64)  # 8-byte aligned
        self.ptr = self.host.ctypes.data
        self.nbytes = nbytes
        self.device = device


class StandIn:
    """Answers like _C.cuda: runtime functions here, kernels by name from _C.cpu."""

    def __init__(self):
        self.allocated = 0
        self.peak = 0
        self.allow_tf32 = False
        self.current = 0

    # --- runtime ---
    def is_available(self):
        return True

    def device_count(self):
        return DEVICE_COUNT

    def current_device(self):
        return self.current

    def set_device(self, index):
        if not 0 <= index < DEVICE_COUNT:
            raise ValueError(f"set_device: device {index} out of range for {DEVICE_COUNT} device(s)")
        self.current = index

    def get_device_name(self, index):
        return "host stand-in"

    def get_device_capability(self, index):
        return (0, 0)

    def synchronize(self, index=-1):
        pass

    def alloc(self, nbytes, device):
        if nbytes < 0 or not 0 <= device < DEVICE_COUNT:
            raise ValueError(f"alloc: bad request ({nbytes} bytes on device {device})")
        if self.allocated + nbytes > MEMORY:
            raise tg.cuda.OutOfMemoryError(f"CUDA out of memory: tried to allocate {nbytes} bytes")
        self.allocated += nbytes
        self.peak = max(self.peak, self.allocated)
        buffer = Buffer(nbytes, device)
        weakref.finalize(buffer, self._free, nbytes)
        return buffer

    def _free(self, nbytes):
        self.allocated -= nbytes

    def memory_allocated(self, index):
        return self.allocated

    def max_memory_allocated(self, index):
        return self.peak

    def memory_reserved(self, index):
        return self.allocated

    def reset_peak_memory_stats(self, index):
        self.peak = self.allocated

    def empty_cache(self):
        pass

    def set_allow_tf32(self, value):
        self.allow_tf32 = bool(value)

    def get_allow_tf32(self):
        return self.allow_tf32

    def build_info(self):
        return {"cuda_version": "stand-in", "archs": "host", "cublas": False,
                "runtime_version": 0, "driver_version": 0}

    def copy_from_host(self, src, dst):
        assert isinstance(src, np.ndarray) and src.flags.c_contiguous, "copy_from_host: host source"
        assert isinstance(dst, CudaArray) and dst.meta.flags.c_contiguous, "copy_from_host: device target"
        assert src.nbytes == dst.nbytes, "copy_from_host: sizes differ"
        dst.meta[...] = src.reshape(dst.shape).view(dst.dtype)

    def copy_to_host(self, src, dst):
        assert isinstance(src, CudaArray) and src.meta.flags.c_contiguous, "copy_to_host: device source"
        assert isinstance(dst, np.ndarray) and dst.flags.c_contiguous, "copy_to_host: host target"
        assert src.nbytes == dst.nbytes, "copy_to_host: sizes differ"
        dst[...] = src.meta.reshape(dst.shape).view(dst.dtype)

    # --- random numbers: a function of (seed, offset, element) as on the GPU ---
    def random_bits_needed(self, n):
        return (n + 3) // 4 * 4

    def _stream(self, out, seed, offset):
        _device_arrays([out], "random")
        return np.random.Generator(np.random.Philox(key=seed % 2**64, counter=offset))

    def random_uniform(self, out, seed, offset):
        out.meta[...] = self._stream(out, seed, offset).random(out.shape, dtype=out.dtype)

    def random_normal(self, out, seed, offset):
        out.meta[...] = self._stream(out, seed, offset).standard_normal(out.shape, dtype=out.dtype)

    def __getattr__(self, name):
        kernel = getattr(_C.cpu, name)  # AttributeError for names neither module has

        def call(*args, **kwargs):
            # The optimizers' `hyper`, `steps` and per-step scalar state are host arrays on
            # both backends (read and written when the step runs).
            host = {k: kwargs.pop(k) for k in ("hyper", "steps", "mu_products", "etas", "mus") if k in kwargs}
            return kernel(*_device_arrays(args, name), **host,
                          **dict(zip(kwargs, _device_arrays(kwargs.values(), name))))

        return call


def _device_arrays(args, op, devices=None):
    """The views of a kernel call's CudaArrays, which must all be on one device (as the real
    module demands: it raises for arrays on two GPUs)."""
    top = devices is None
    devices = set() if top else devices
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            raise TypeError(f"{op}: expected a CUDA array, got numpy.ndarray")
        if isinstance(a, CudaArray):
            devices.add(a.device)
            out.append(a.meta)
        elif isinstance(a, (list, tuple)):
            out.append(type(a)(_device_arrays(a, op, devices)))
        else:
            out.append(a)
    if top and len(devices) > 1:
        first, second = sorted(devices)[:2]
        raise ValueError(f"{op}: expected all arrays on one device, got cuda:{first} and cuda:{second}")
    return out
