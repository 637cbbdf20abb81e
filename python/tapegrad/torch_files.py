"""Reading files written by torch.save (PyTorch's zip format) without executing anything.

Such a file is a zip archive: `<name>/data.pkl`, a pickle of the saved object, and one entry
`<name>/data/<key>` of raw bytes per storage. The pickle is read by a restricted unpickler that
follows PyTorch's weights_only rules: it resolves only the globals that rebuild tensors,
parameters and storages, OrderedDict and plain Python types. Any other global raises
UnsafeCheckpointError, which names it, before anything could be called; pickle itself never
imports a module here.

Tensors come back as tapegrad tensors (float16 and the small integer types are widened to the
dtype tapegrad holds them in, as tapegrad.load does for safetensors files).
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile

import numpy as np


class UnsafeCheckpointError(ValueError, pickle.UnpicklingError):
    """A torch.save file that needs more than tensors, storages and plain types to unpickle."""


# storage class -> numpy dtype (PyTorch's typed storages, as torch.save names them)
_STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(_STORAGES[name])


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None,
                    metadata=None):
    """torch._utils._rebuild_tensor_v2: the view (offset, size, stride) of a storage, copied."""
    from .serialization import _to_tapegrad_array
    from .tensor import Tensor

    size, stride = tuple(size), tuple(stride)
    span = 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
    if offset < 0 or any(s < 0 for s in stride) or offset + span > storage.size:
        raise UnsafeCheckpointError(f"load: a tensor of size {size} and stride {stride} at offset "
                                    f"{offset} reaches past its storage of {storage.size} elements")
    view = np.lib.stride_tricks.as_strided(storage[offset:], size,
                                           tuple(s * storage.itemsize for s in stride))
    t = Tensor._wrap(_to_tapegrad_array(np.array(view, order="C")))  # (a copy; 0-d stays 0-d)
    if requires_grad and t.dtype.is_floating_point:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks):
    from .nn.parameter import Parameter

    return Parameter(data.detach(), requires_grad=requires_grad)


_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
}
_GLOBALS.update({("torch", name): _StorageType(name) for name in _STORAGES})


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, name: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.name = archive, prefix, name
        self.storages: dict = {}

    def find_class(self, module, name):
        found = _GLOBALS.get((module, name))
        if found is None:
            raise UnsafeCheckpointError(
                f"load: {self.name} needs the global {module}.{name} to unpickle; tapegrad reads "
                "only tensors, storages, OrderedDict and plain Python values from PyTorch files "
                "(as torch.load(weights_only=True)), and never runs code from a file")
        return found

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnsafeCheckpointError(f"load: {self.name}: unexpected persistent id {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}/data/{key}")
            except KeyError:
                raise UnsafeCheckpointError(f"load: {self.name} has no storage {key!r}") from None
            arr = np.frombuffer(raw, dtype=kind.dtype.newbyteorder("<"))
            if arr.size < numel:
                raise UnsafeCheckpointError(f"load: {self.name}: storage {key!r} holds {arr.size} "
                                            f"elements, not {numel}")
            self.storages[key] = arr
        return self.storages[key]


def load(data: bytes, name: str):
    """The object a torch.save zip file holds (see the module's docstring)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    except zipfile.BadZipFile as e:
        raise ValueError(f"load: {name} is a damaged zip file ({e})") from None
    if len(pickles) != 1:
        raise ValueError(f"load: {name} is a zip file but not one torch.save wrote (no single data.pkl)")
    prefix = pickles[0][: -len("/data.pkl")]
    byteorder = archive.read(f"{prefix}/byteorder") if f"{prefix}/byteorder" in archive.namelist() else b"little"
    if byteorder.strip() != b"little":
        raise ValueError(f"load: {name} was written on a big-endian machine, which tapegrad does not read")
    unpickler = _Unpickler(archive.read(pickles[0]), archive, prefix, name)
    try:
        return unpickler.load()
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, IndexError, KeyError,
            AttributeError, RecursionError) as e:
        raise UnsafeCheckpointError(f"load: {name}: its pickle could not be read ({type(e).__name__}: {e})") from None
