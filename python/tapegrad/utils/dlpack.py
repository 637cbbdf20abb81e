"""DLPack: tensors shared with other libraries (numpy, PyTorch, JAX, CuPy) without copying.

`Tensor.__dlpack__` / `__dlpack_device__` make a tapegrad tensor a DLPack producer, so that
`numpy.from_dlpack(t)` and `torch.from_dlpack(t)` see its memory; `from_dlpack(x)` takes any
producer (or a legacy DLPack capsule) and returns a tensor on the same memory. CPU memory is
exchanged through numpy's DLPack support.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor

_CPU, _CUDA = 1, 2  # DLPack device types (kDLCPU, kDLCUDA)
_DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda (pinned host)", 4: "OpenCL", 7: "Vulkan",
                 8: "Metal", 10: "ROCm", 13: "CUDA managed"}


def dlpack_device(t) -> tuple:
    """(device type, index) of a tensor, as DLPack numbers them."""
    return (_CPU, 0) if not t.is_cuda else (_CUDA, t._data.device)


def export(t, stream=None, max_version=None, dl_device=None, copy=None):
    """Tensor.__dlpack__: a DLPack capsule of t's memory."""
    if t.requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    if dl_device is not None and tuple(dl_device) != dlpack_device(t):
        raise BufferError(f"__dlpack__: the tensor is on {t.device}; exporting it to DLPack device "
                          f"{tuple(dl_device)} would need a copy to another device")
    if t.is_cuda:
        raise BufferError("__dlpack__: exporting a CUDA tensor through DLPack is not supported yet; "
                          "move it to the CPU first with .cpu()")
    arr = t._data
    wanted = {"max_version": max_version, "copy": copy}
    try:
        return arr.__dlpack__(stream=stream, **{k: v for k, v in wanted.items() if v is not None})
    except TypeError:
        # a numpy older than the array API's 2023 keywords: what it can do without them
        if copy:
            arr = arr.copy()
        return arr.__dlpack__(stream=stream)


class _Capsule:
    """A legacy DLPack capsule as a producer object, for numpy.from_dlpack."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, stream=None, **_):
        return self.capsule

    def __dlpack_device__(self):
        return _capsule_device(self.capsule)


def _capsule_device(capsule) -> tuple:
    """The device a "dltensor" capsule's DLTensor lives on: its second field, after the data
    pointer (the layout every DLPack version shares). ctypes is imported here, on first use."""
    import ctypes

    class _DLDevice(ctypes.Structure):
        _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    ptr = get(capsule, b"dltensor")
    device = _DLDevice.from_address(ptr + ctypes.sizeof(ctypes.c_void_p))
    return device.device_type, device.device_id


def from_dlpack(ext):
    """A tensor on the memory of `ext`: an object with __dlpack__ (a numpy array, a PyTorch or
    JAX tensor, ...) or a DLPack capsule. No copy is made."""
    if isinstance(ext, Tensor):
        return ext
    if type(ext).__name__ == "PyCapsule":
        ext = _Capsule(ext)
    if not hasattr(ext, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, got "
                        f"{type(ext).__name__}")
    device_type, index = ext.__dlpack_device__() if hasattr(ext, "__dlpack_device__") else (_CPU, 0)
    if device_type != _CPU:
        name = _DEVICE_NAMES.get(int(device_type), f"DLPack device type {int(device_type)}")
        raise BufferError(f"from_dlpack: the data is on {name}:{index}; tapegrad imports CPU memory "
                          "through DLPack (copy it to the CPU first)")
    # A numpy array is taken as it is: the same memory, and writable (numpy before 2.0 marks
    # what its from_dlpack imports read-only, so a tensor of it could not be written to).
    arr = ext if isinstance(ext, np.ndarray) else np.from_dlpack(ext)
    if arr.dtype not in (np.float32, np.float64, np.int64, np.bool_):
        raise TypeError(f"from_dlpack: tapegrad tensors are float32, float64, int64 or bool; the data "
                        f"is {arr.dtype} (convert it first, e.g. with .to(float32) in its library)")
    if not arr.dtype.isnative:
        raise ValueError("from_dlpack: the data has a non-native byte order")
    return Tensor._wrap(arr)


def to_dlpack(t):
    """A DLPack capsule of a tensor's memory (PyTorch's torch.utils.dlpack.to_dlpack)."""
    return export(t)
