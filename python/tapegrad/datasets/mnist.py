"""MNIST and Fashion-MNIST read from their IDX files, plus read_idx / write_idx.

The files live in <root>/<ClassName>/raw/ (the layout torchvision uses), either gzipped as
published or decompressed. download=True fetches the missing ones from the standard mirrors,
checking each against its published MD5 before it is kept (see download.py).

IDX format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64), the number of dimensions, each dimension as a big-endian uint32,
then the values in C order, big-endian. Readers here check every one of those and the exact
byte count, so a damaged file raises ValueError naming it instead of giving wrong data.

MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, http://yann.lecun.com/exdb/mnist/
Fashion-MNIST: H. Xiao, K. Rasul, R. Vollgraf (2017), https://github.com/zalandoresearch/fashion-mnist
(MIT license).
"""
from __future__ import annotations

import gzip
import operator
import os
import struct
import zlib

import numpy as np

from ..tensor import Tensor
from ..utils.data.dataset import Dataset
from . import download as _dl

_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(v).newbyteorder("=").str[1:]: k for k, v in _IDX_TYPES.items()}
_MAX_IDX_BYTES = 1 << 34  # 16 GiB: anything larger is a damaged header, not a dataset


def _read_at_most(f, n: int) -> bytes:
    """Up to n bytes, in blocks, so a header that lies about the size cannot make us allocate it."""
    parts, got = [], 0
    while got < n:
        block = f.read(min(1 << 22, n - got))
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


def read_idx(path) -> np.ndarray:
    """The array in an IDX file (raw or gzip, told apart by content), in native byte order."""
    path = os.fspath(path)
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        try:
            head = _read_at_most(f, 4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise ValueError(
                    f"{path}: not an IDX file (magic number {head.hex() or 'missing'}; "
                    "expected 0000 then type and rank)"
                )
            code, ndim = head[2], head[3]
            if code not in _IDX_TYPES:
                raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
            dims_raw = _read_at_most(f, 4 * ndim)
            if len(dims_raw) != 4 * ndim:
                raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions announced)")
            dims = struct.unpack(f">{ndim}I", dims_raw)
            dtype = np.dtype(_IDX_TYPES[code])
            nbytes = dtype.itemsize
            for d in dims:
                nbytes *= d
            if nbytes > _MAX_IDX_BYTES:
                raise ValueError(f"{path}: IDX header announces shape {dims}, {nbytes} bytes; the file is damaged")
            body = _read_at_most(f, nbytes + 1)
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise ValueError(f"{path}: damaged gzip stream ({e})") from None
    if len(body) != nbytes:
        what = "trailing data after" if len(body) > nbytes else f"truncated: {len(body)} bytes of"
        raise ValueError(f"{path}: {what} the {nbytes} data bytes that shape {dims} of {dtype.name} needs")
    return np.frombuffer(body, dtype).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write a numpy array (uint8, int8, int16, int32, float32 or float64) as an IDX file;
    gzip-compressed when the path ends in .gz."""
    a = np.asarray(array)
    key = a.dtype.newbyteorder("=").str[1:]
    if key not in _IDX_CODES:
        raise TypeError(
            f"write_idx: IDX cannot hold dtype {a.dtype}; use uint8, int8, int16, int32, float32 or float64"
        )
    if a.ndim > 255 or any(d >= 2**32 for d in a.shape):
        raise ValueError(f"write_idx: shape {a.shape} does not fit the IDX header")
    code = _IDX_CODES[key]
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    body = a.astype(np.dtype(_IDX_TYPES[code]), copy=False).tobytes()  # tobytes writes C order
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + body)


class MNIST(Dataset):
    """The MNIST handwritten digits: 60000 training and 10000 test images, 28x28.

    MNIST(root=None, train=True, transform=None, target_transform=None, download=False)

    root: the folder holding MNIST/raw/ (default: the cache folder, download.default_root()).
    dataset[i] is (image, label): image a float32 tensor (1, 28, 28) scaled to [0, 1] (or
    transform(image)), label an int (or target_transform(label)). `.data` is an int64 tensor
    (N, 28, 28) of the raw pixels 0..255 and `.targets` an int64 tensor (N,), as in torchvision
    (int64 because tapegrad has no uint8 dtype; `.data` is built on first use).
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "md5:d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "md5:9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "md5:ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False):
        self.root = _dl.default_root() if root is None else os.path.expanduser(os.fspath(root))
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        if download:
            self.download()
        prefix = "train" if train else "t10k"
        images = read_idx(self._find(f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(self._find(f"{prefix}-labels-idx1-ubyte"))
        name = type(self).__name__
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(
                f"{name}: the image file holds {images.dtype} of shape {images.shape}, expected uint8 (N, 28, 28)"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"{name}: the label file holds {labels.dtype} of shape {labels.shape} for {images.shape[0]} images"
            )
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{name}: label {int(labels.max())} is out of range for {len(self.classes)} classes")
        self._images = images
        self._labels = labels.astype(np.int64)
        self._data = None

    # --- files ---------------------------------------------------------------------------
    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    def _find(self, stem: str) -> str:
        for name in (stem, stem + ".gz"):
            path = os.path.join(self.raw_folder, name)
            if os.path.isfile(path):
                return path
        raise RuntimeError(
            f"Dataset not found: no {stem}[.gz] in {self.raw_folder}. You can use download=True to download it"
        )

    def _check_exists(self) -> bool:
        return all(
            any(os.path.isfile(os.path.join(self.raw_folder, n)) for n in (f, f[:-3]))
            for f, _ in self.resources
        )

    def download(self) -> None:
        """Fetch every file that is missing or fails its checksum (a decompressed copy a user
        placed there is trusted as is)."""
        os.makedirs(self.raw_folder, exist_ok=True)
        for filename, checksum in self.resources:
            path = os.path.join(self.raw_folder, filename)
            if os.path.isfile(path[:-3]) and filename.endswith(".gz"):
                continue
            if os.path.isfile(path) and _dl.checksum_matches(path, checksum):
                continue
            _dl.download_url([m + filename for m in self.mirrors], path, checksum)

    # --- samples -------------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        if self._data is None:
            self._data = Tensor._wrap(self._images.astype(np.int64))
        return self._data

    @data.setter
    def data(self, value) -> None:
        a = np.asarray(value)
        if a.ndim != 3 or a.shape[1:] != (28, 28) or (a.size and (a.min() < 0 or a.max() > 255)):
            raise ValueError(
                f"{type(self).__name__}.data: expected pixels 0..255 of shape (N, 28, 28), got shape {a.shape}"
            )
        self._images = a.astype(np.uint8)
        self._data = None

    @property
    def targets(self) -> Tensor:
        return Tensor._wrap(self._labels)

    @targets.setter
    def targets(self, value) -> None:
        self._labels = np.asarray(value).astype(np.int64).reshape(-1)

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index):
        index = operator.index(index)
        # Division by 255 in float32, as torchvision's ToTensor computes it.
        img = Tensor._wrap(self._images[index][None] / np.float32(255))
        label = int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return img, label

    def _gather_fn(self):
        if (type(self).__getitem__ is not MNIST.__getitem__ or self.transform is not None
                or self.target_transform is not None):
            return None
        images, labels = self._images, self._labels
        return lambda idx: [Tensor._wrap(images[idx][:, None] / np.float32(255)), Tensor._wrap(labels[idx])]

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"

    def __repr__(self) -> str:
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    {self.extra_repr()}")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same format and sizes as MNIST, ten kinds of clothing."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
               "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "md5:25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "md5:bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "md5:bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]
