"""Checkpoints: tapegrad.save / tapegrad.load, in the safetensors format; load also reads
PyTorch's torch.save files, through a restricted unpickler (torch_files.py).

save(obj, f) stores nested dicts / lists / tuples of tensors, numpy arrays and plain values
(int, float, bool, str, None). Each tensor becomes one safetensors entry under a path-like key
("model.fc1.weight", "optimizer.state.0.exp_avg"); the rest of the structure is a JSON string
in the safetensors metadata under "tapegrad.structure". Loading a file therefore runs no code:
it parses a length, a JSON header and raw little-endian arrays, and a file that is damaged or
is not a safetensors file (a plain pickle, say) raises ValueError before anything else. A
torch.save zip file is read by an unpickler that resolves only what rebuilds tensors and plain
values (PyTorch's weights_only rules), so it runs no code either.
A safetensors file written by another tool loads as a flat dict of tensors.

Writes to a path are atomic: the data goes to a temporary file in the same directory, which
is flushed and fsync'ed, then renamed over the destination (os.replace), and the directory is
fsync'ed. A crash or kill at any moment leaves either the old file or the new one complete;
at worst a stray ".<name>.*.tmp" file stays behind.
"""
from __future__ import annotations

import collections
import json
import math
import os
import tempfile

import numpy as np

from . import dtypes as _dt
from .tensor import Tensor

FORMAT = "tapegrad"
# The checkpoint format's version, in the metadata under "tapegrad.version" (the key predates
# the package writing its own version beside it, under "tapegrad.written_by"). A reader refuses
# a newer format than its own with a clear error; a format change that older readers could
# misread raises it (see CHANGELOG.md).
FORMAT_VERSION = 1
_FORMAT_KEY = "tapegrad.version"
_STRUCTURE = "tapegrad.structure"
_MAX_HEADER = 100 * 1024 * 1024  # the limit the safetensors library itself enforces

# safetensors dtype names -> numpy dtypes (little-endian). The tapegrad dtypes round-trip; the
# others, which files written elsewhere may hold, widen to the tapegrad dtype that holds them.
_ST_DTYPES = {
    "F32": "<f4", "F64": "<f8", "I64": "<i8", "BOOL": "|b1",
    "F16": "<f2", "I32": "<i4", "I16": "<i2", "I8": "|i1", "U8": "|u1", "U16": "<u2", "U32": "<u4",
}


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:  # pragma: no cover - a declared dependency
        raise ImportError("tapegrad.save/load need the 'safetensors' package: pip install safetensors") from None
    return safetensors.numpy


# --- structure <-> JSON ------------------------------------------------------------------------
# Every node is a JSON scalar (int, finite float, str, bool, null) or an object with one tag:
#   {"tensor": key, "requires_grad": bool}  {"ndarray": key}  {"float": "nan"|"inf"|"-inf"}
#   {"list": [...]}  {"tuple": [...]}  {"dict": [[key, value], ...]}  {"odict": [[key, value], ...]}
# Dicts are pairs so that keys keep their types (optimizer state is keyed by int).

class _Encoder:
    def __init__(self):
        self.arrays = {}
        self._by_id = {}   # id(tensor) -> key: a tensor stored twice (tied weights) is stored once
        self._alive = []   # keeps encoded objects alive so their ids stay unique

    def _key(self, path) -> str:
        base = ".".join(str(p) for p in path) or "_"
        key, i = base, 1
        while key in self.arrays:
            key, i = f"{base}~{i}", i + 1
        return key

    def _array(self, obj, path, array) -> str:
        key = self._by_id.get(id(obj))
        if key is None:
            key = self._key(path)
            # (np.ascontiguousarray would turn a 0-d array into shape (1,))
            self.arrays[key] = array if array.flags.c_contiguous else array.copy(order="C")
            self._by_id[id(obj)] = key
            self._alive.append(obj)
        return key

    def encode(self, obj, path=()):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return _encode_float(obj)
        if isinstance(obj, Tensor):
            node = {"tensor": self._array(obj, path, obj.detach().cpu().numpy())}
            if obj.requires_grad:
                node["requires_grad"] = True
            return node
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in "biuf" or obj.dtype.newbyteorder("<").str[1:] not in _NP_TO_ST:
                raise TypeError(f"save: cannot store a numpy array of dtype {obj.dtype}")
            return {"ndarray": self._array(obj, path, obj.astype(obj.dtype.newbyteorder("<"), copy=False))}
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
            return self.encode(obj.item(), path)
        if isinstance(obj, dict):
            tag = "odict" if isinstance(obj, collections.OrderedDict) else "dict"
            return {tag: [[_encode_key(k), self.encode(v, path + (k,))] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {"tuple": [self.encode(v, path + (i,)) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return {"list": [self.encode(v, path + (i,)) for i, v in enumerate(obj)]}
        raise TypeError(
            f"save: cannot store an object of type {type(obj).__name__} at {'.'.join(map(str, path)) or 'the top'}; "
            "checkpoints hold tensors, numpy arrays, dicts, lists, tuples, int, float, bool, str and None"
        )


_NP_TO_ST = {np.dtype(v).str[1:]: k for k, v in _ST_DTYPES.items()}


def _encode_float(x: float):
    if math.isfinite(x):
        return x
    return {"float": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _encode_key(k):
    if k is None or isinstance(k, (bool, str)):
        return k
    if isinstance(k, (int, np.integer)):
        return int(k)
    if isinstance(k, (float, np.floating)):
        return _encode_float(float(k))
    if isinstance(k, tuple):
        return {"tuple": [_encode_key(v) for v in k]}
    raise TypeError(
        f"save: cannot store a dict key of type {type(k).__name__}; "
        "keys must be str, int, float, bool, None or tuples of them"
    )


class _Decoder:
    def __init__(self, arrays: dict, name: str):
        self.arrays = arrays
        self.name = name
        self._tensors = {}

    def bad(self, why: str) -> ValueError:
        return ValueError(f"load: {self.name}: damaged checkpoint structure ({why})")

    def _array(self, key):
        if not isinstance(key, str) or key not in self.arrays:
            raise self.bad(f"it refers to a tensor {key!r} the file does not hold")
        return self.arrays[key]

    def decode(self, node):
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list) or not isinstance(node, dict) or len(node) not in (1, 2):
            raise self.bad(f"unexpected node {str(node)[:60]}")
        if "tensor" in node:
            if len(node) == 2 and "requires_grad" not in node:
                raise self.bad(f"unexpected node {str(node)[:60]}")
            key = node["tensor"]
            t = self._tensors.get(key) if isinstance(key, str) else None
            if t is None:
                t = Tensor._wrap(_to_tapegrad_array(self._array(key)))
                if node.get("requires_grad") is True:
                    if not t.is_floating_point():
                        raise self.bad(f"tensor {key!r} of dtype {t.dtype} cannot require grad")
                    t.requires_grad_(True)
                self._tensors[key] = t
            return t
        if len(node) != 1:
            raise self.bad(f"unexpected node {str(node)[:60]}")
        (tag, value), = node.items()
        if tag == "ndarray":
            a = self._array(value)
            return a.astype(a.dtype.newbyteorder("="))  # a copy, in native byte order
        if tag == "float":
            if value not in ("nan", "inf", "-inf"):
                raise self.bad(f"unknown float {value!r}")
            return float(value)
        if not isinstance(value, list):
            raise self.bad(f"{tag!r} holds {type(value).__name__}, expected a list")
        if tag == "list":
            return [self.decode(v) for v in value]
        if tag == "tuple":
            return tuple(self.decode(v) for v in value)
        if tag in ("dict", "odict"):
            out = collections.OrderedDict() if tag == "odict" else {}
            for pair in value:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise self.bad("a dict entry is not a [key, value] pair")
                out[self.key(pair[0])] = self.decode(pair[1])
            return out
        raise self.bad(f"unknown tag {tag!r}")

    def key(self, node):
        if isinstance(node, dict) and set(node) == {"tuple"} and isinstance(node["tuple"], list):
            return tuple(self.key(v) for v in node["tuple"])
        if isinstance(node, dict) and set(node) == {"float"}:
            return self.decode(node)
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        raise self.bad(f"unexpected dict key {str(node)[:60]}")


# --- header validation ---------------------------------------------------------------------------

def _parse_header(data: bytes, name: str) -> dict:
    """The header of a safetensors file held in `data`, after checking everything a damaged or
    foreign file could get wrong, so that only well-formed safetensors data reaches the parser."""
    size = len(data)
    if size < 8:
        raise ValueError(
            f"load: {name} is not a tapegrad checkpoint: {size} bytes is too short for a safetensors header"
        )
    n = int.from_bytes(data[:8], "little")
    if n > size - 8:
        # Name the usual impostor: its first bytes read as a length far beyond the file.
        if data[0] == 0x80 and 2 <= data[1] <= 5:
            raise ValueError(
                f"load: {name} looks like a bare Python pickle, not a safetensors file; tapegrad reads "
                "pickles only inside torch.save files, with a restricted unpickler"
            )
        raise ValueError(
            f"load: {name} is truncated or not a safetensors file: its header claims {n} bytes but only "
            f"{size - 8} follow the length field"
        )
    if n > _MAX_HEADER:
        raise ValueError(f"load: {name}: a {n}-byte header is larger than the {_MAX_HEADER}-byte limit")
    raw = data[8:8 + n]
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"load: {name} has a damaged safetensors header (not JSON: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(
            f"load: {name} has a damaged safetensors header (a JSON {type(header).__name__}, expected an object)"
        )
    data_len = size - 8 - n
    for key, info in header.items():
        if key == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise ValueError(f"load: {name}: the header's __metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"load: {name}: damaged header entry for tensor {key!r}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _ST_DTYPES:
            raise ValueError(f"load: {name}: tensor {key!r} has dtype {dtype!r}, which tapegrad cannot hold")
        if (not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int for o in offsets)):
            raise ValueError(f"load: {name}: damaged header entry for tensor {key!r}")
        begin, end = offsets
        nbytes = np.dtype(_ST_DTYPES[dtype]).itemsize * math.prod(shape)
        if not 0 <= begin <= end or end - begin != nbytes:
            raise ValueError(
                f"load: {name}: tensor {key!r} has offsets {offsets} that do not fit its shape {shape} of {dtype}"
            )
        if end > data_len:
            raise ValueError(
                f"load: {name} is truncated: tensor {key!r} ends at byte {end} of the data, "
                f"but the file holds {data_len}"
            )
    return header


def _to_tapegrad_array(a: np.ndarray) -> np.ndarray:
    """A writable, native-order array of a dtype tapegrad tensors hold (F16 and small ints widen)."""
    target = _dt.from_numpy_dtype(a.dtype.newbyteorder("=")).np
    if a.dtype != target or not a.flags.writeable or not a.flags.c_contiguous:
        a = a.astype(target)
    return a


# --- public API ------------------------------------------------------------------------------------

def save(obj, f) -> None:
    """Write `obj` (a state dict, an optimizer state dict, or any nesting of dicts, lists, tuples,
    tensors, numpy arrays and int/float/bool/str/None) to the path or binary file `f`."""
    st = _safetensors()
    enc = _Encoder()
    structure = json.dumps(enc.encode(obj), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    from . import __version__

    metadata = {"format": FORMAT, _FORMAT_KEY: str(FORMAT_VERSION), "tapegrad.written_by": __version__,
                _STRUCTURE: structure}
    if hasattr(f, "write"):
        f.write(st.save(enc.arrays, metadata=metadata))
        return
    _atomic_write(os.fspath(f), lambda tmp: st.save_file(enc.arrays, tmp, metadata=metadata))


def load(f, map_location=None, *, weights_only=None, mmap=None):
    """Read what save wrote, from a path or a binary file. Tensors come back with their dtypes,
    shapes and requires_grad, on the CPU, or on the device map_location names ("cuda",
    tapegrad.device("cuda:0"), or a dict like {"cpu": "cuda"}; files hold no device, so a dict's
    "cpu" entry, or "cuda:0" as PyTorch files from a GPU name it, decides). weights_only and mmap
    are accepted for PyTorch compatibility: loading never unpickles."""
    device = _check_map_location(map_location)
    loaded = _load(f)
    return loaded if device.type == "cpu" else _move(loaded, device)


def _move(obj, device):
    """obj with every tensor in it moved to `device`; leaves stay leaves."""
    from .autograd.grad_mode import no_grad

    if isinstance(obj, Tensor):
        with no_grad():
            return obj.to(device).requires_grad_(obj.requires_grad)
    if isinstance(obj, dict):
        return type(obj)((k, _move(v, device)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_move(v, device) for v in obj)
    return obj


# The first pickle of a legacy (pre-zip) torch.save file: its magic number, 0x1950a86a20f9469cfc6c.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."


def _load(f):
    st = _safetensors()
    if hasattr(f, "read"):
        data, name = bytes(f.read()), getattr(f, "name", "<file object>")
    else:
        # One read of the whole file: header and tensors then come from the same version of it,
        # even if another process replaces the file meanwhile.
        with open(os.fspath(f), "rb") as fh:
            data, name = fh.read(), repr(os.fspath(f))
    if data[:4] == b"PK\x03\x04" or data[:15] == _TORCH_LEGACY_MAGIC:  # a torch.save file
        from . import torch_files  # (imported on first use)

        return torch_files.load(data, name)
    header = _parse_header(data, name)
    arrays = _call_safetensors(lambda: st.load(data), name)
    metadata = header.get("__metadata__") or {}
    dec = _Decoder(arrays, name)
    _check_format_version(metadata, name)
    if _STRUCTURE not in metadata:
        # A plain safetensors file: its tensors, in the order of their data.
        keys = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
        return {k: dec.decode({"tensor": k}) for k in keys}
    try:
        structure = json.loads(metadata[_STRUCTURE])
    except (ValueError, RecursionError) as e:
        raise dec.bad(f"the structure is not JSON: {e}") from None
    try:
        return dec.decode(structure)
    except RecursionError:
        raise dec.bad("nested too deeply") from None


def _check_format_version(metadata: dict, name) -> None:
    if metadata.get("format") != FORMAT or _FORMAT_KEY not in metadata:
        return  # a plain safetensors file
    version = metadata[_FORMAT_KEY]
    if not version.isdigit():
        raise ValueError(f"load: {name}: its checkpoint format version {version!r} is not a number")
    if int(version) > FORMAT_VERSION:
        writer = metadata.get("tapegrad.written_by", "a newer tapegrad")
        raise ValueError(f"load: {name} is a tapegrad checkpoint of format {version}, written by {writer}; "
                         f"this tapegrad reads formats up to {FORMAT_VERSION}: upgrade tapegrad to read it")


def _call_safetensors(fn, name):
    from safetensors import SafetensorError

    try:
        return fn()
    except SafetensorError as e:
        raise ValueError(f"load: {name} is not a valid safetensors file ({e})") from None


def _check_map_location(map_location):
    """The device that load's tensors go to."""
    if map_location is None or isinstance(map_location, (str, _dt.device)):
        return _dt.to_device(map_location, "load")
    if isinstance(map_location, dict):
        targets = {}
        for k, v in map_location.items():
            src = _dt.device(k)  # a source device need not exist here
            targets["cpu" if src.type == "cpu" else f"cuda:{src.index or 0}"] = _dt.to_device(v, "load")
        return targets.get("cpu") or targets.get("cuda:0") or _dt.cpu
    else:
        raise TypeError(
            f"load: map_location must be None, a device string or tapegrad.device, or a dict of them; "
            f"got {type(map_location).__name__}"
        )


# --- atomic file replacement ---------------------------------------------------------------------

def _atomic_write(path: str, write) -> None:
    """Run write(tmp_path) on a fresh temporary file beside `path`, make it durable, and rename
    it over `path`; on any failure the temporary file is removed and `path` is untouched."""
    path = os.path.realpath(path)  # through a symlink, replace its target rather than the link
    folder, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode(path))
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def _file_mode(path: str) -> int:
    """The permissions the file would get from a plain open(): the old file's, else 0o666 less the
    umask (mkstemp creates 0o600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        pass
    try:  # Linux reports the umask without changing it
        with open("/proc/self/status") as f:
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0)  # elsewhere, read it by setting it (briefly process-wide) and restoring it
        os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable. Platforms and file systems that cannot open or sync a
    directory (Windows, some network mounts) have already made the rename visible; skip them."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["load", "save"]
