"""Reading files written by torch.save (PyTorch's zip format, and its legacy format) without
executing anything.

Such a file is a zip archive: `<name>/data.pkl`, a pickle of the saved object, and one entry
`<name>/data/<key>` of raw bytes per storage. The pickle is read by a restricted unpickler that
follows PyTorch's weights_only rules: it resolves only the globals that rebuild tensors,
parameters and storages, OrderedDict and plain Python types. Any other global raises
UnsafeCheckpointError, which names it, before anything could be called; pickle itself never
imports a module here.

Tensors come back as tapegrad tensors (float16, bfloat16 and the small integer types are widened
to the dtype tapegrad holds them in, as tapegrad.load does for safetensors files).
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile

import numpy as np

from .serialization import _TORCH_LEGACY_MAGIC as LEGACY_MAGIC


class UnsafeCheckpointError(ValueError, pickle.UnpicklingError):
    """A torch.save file that needs more than tensors, storages and plain types to unpickle."""


# storage class -> numpy dtype (PyTorch's typed storages, as torch.save names them)
_STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "BFloat16Storage": np.uint16,  # the top half of a float32's bits
}


class _StorageType:
    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(_STORAGES[name])

    def decode(self, raw: bytes) -> np.ndarray:
        """The elements of a storage's little-endian bytes (bfloat16 widened to float32, exactly)."""
        arr = np.frombuffer(raw, dtype=self.dtype.newbyteorder("<"))
        if self.name == "BFloat16Storage":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr


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
    """The restricted unpickler. `storage(kind, key, numel)` gives the array behind a storage
    persistent id."""

    def __init__(self, stream, name: str, storage):
        super().__init__(stream)
        self.name, self.storage = name, storage

    def find_class(self, module, name):
        if module == "__builtin__":  # protocol 2 (the legacy format) names builtins so
            module = "builtins"
        found = _GLOBALS.get((module, name))
        if found is None:
            raise UnsafeCheckpointError(
                f"load: {self.name} needs the global {module}.{name} to unpickle; tapegrad reads "
                "only tensors, storages, OrderedDict and plain Python values from PyTorch files "
                "(as torch.load(weights_only=True)), and never runs code from a file")
        return found

    def persistent_load(self, pid):
        # zip files: ('storage', type, key, location, numel); the legacy format adds view
        # metadata: None, or (view key, offset, numel) of a slice of the root storage.
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[4], int)):
            raise UnsafeCheckpointError(f"load: {self.name}: unexpected persistent id {pid!r:.80}")
        root = self.storage(pid[1], pid[2], pid[4])
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3 and all(isinstance(v, int) for v in view[1:])
                and 0 <= view[1] and view[1] + view[2] <= root.size):
            raise UnsafeCheckpointError(f"load: {self.name}: a storage view {view!r:.80} outside its storage")
        return root[view[1]:view[1] + view[2]]


def _unpickle(read, name: str):
    """read(), turning what a damaged or hostile pickle raises into UnsafeCheckpointError."""
    try:
        return read()
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, IndexError, KeyError,
            AttributeError, RecursionError) as e:
        raise UnsafeCheckpointError(f"load: {name}: its pickle could not be read ({type(e).__name__}: {e})") from None


def load(data: bytes, name: str):
    """The object a torch.save file holds: the zip format, or the legacy one (see below)."""
    if data.startswith(LEGACY_MAGIC):
        return _load_legacy(data, name)
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
    storages: dict = {}

    def storage(kind, key, numel):
        if key not in storages:
            try:
                raw = archive.read(f"{prefix}/data/{key}")
            except KeyError:
                raise UnsafeCheckpointError(f"load: {name} has no storage {key!r}") from None
            arr = kind.decode(raw)
            if arr.size < numel:
                raise UnsafeCheckpointError(f"load: {name}: storage {key!r} holds {arr.size} "
                                            f"elements, not {numel}")
            storages[key] = arr
        return storages[key]

    return _unpickle(_Unpickler(io.BytesIO(archive.read(pickles[0])), name, storage).load, name)


# The legacy format (torch.save(..., _use_new_zipfile_serialization=False)) is one stream of
# pickles: a magic number, the protocol version (1001), a dict of system facts, the object
# (storages as persistent ids), then the list of storage keys; after them, each storage's raw
# data in that order, as an 8-byte little-endian element count and the elements.
_LEGACY_PROTOCOL = 1001


def _load_legacy(data: bytes, name: str):
    stream = io.BytesIO(data)

    def plain():  # the header pickles and the key list hold plain values only
        return _unpickle(_Unpickler(stream, name, None).load, name)

    plain()  # the magic number
    if plain() != _LEGACY_PROTOCOL:
        raise ValueError(f"load: {name} is a legacy torch.save file of an unknown protocol version")
    facts = plain()
    if not isinstance(facts, dict) or facts.get("little_endian") is not True:
        raise ValueError(f"load: {name} was written on a big-endian machine, which tapegrad does not read")
    # First pass over the object: which storages it uses (their contents come after it).
    kinds: dict = {}

    def note(kind, key, numel):
        kinds[key] = (kind, numel)
        return kind.decode(bytes(numel * kind.dtype.itemsize))

    start = stream.tell()
    _unpickle(_Unpickler(stream, name, note).load, name)
    end = stream.tell()
    keys = plain()
    if not isinstance(keys, list) or set(keys) != set(kinds):
        raise UnsafeCheckpointError(f"load: {name}: its storage list does not match the storages it uses")
    storages = {}
    for key in keys:
        kind, numel = kinds[key]
        head = stream.read(8)
        count = int.from_bytes(head, "little", signed=True) if len(head) == 8 else -1
        raw = stream.read(count * kind.dtype.itemsize) if count >= numel else b""
        if count < numel or len(raw) != count * kind.dtype.itemsize:
            raise ValueError(f"load: {name} is truncated or damaged (storage {key!r})")
        storages[key] = kind.decode(raw)
    # Second pass, with the storages filled.
    return _unpickle(_Unpickler(io.BytesIO(data[start:end]), name, lambda kind, key, numel: storages[key]).load, name)
