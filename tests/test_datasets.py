"""tapegrad.datasets: the bundled digits and sensors sets, the seeded 2-D generators, IDX files,
and MNIST / FashionMNIST (read from small IDX files made here; downloads served from a local
HTTP server). No test reaches the network: a fixture refuses any connection off this machine."""
import gzip
import hashlib
import http.server
import importlib.resources
import os
import socket
import struct
import threading

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.datasets import MNIST, FashionMNIST, digits, moons, read_idx, sensors, spirals, triangle, write_idx, xor
from tapegrad.datasets import download as dl
from tapegrad.datasets import synthetic
from tapegrad.utils.data import DataLoader, default_collate

DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
# Class counts of the 1797-image UCI test set (optdigits.tes), as published with the data.
DIGITS_LABEL_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    real_connect = socket.socket.connect

    def local_only(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"a test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")


def _np(t):
    return t.detach().numpy() if isinstance(t, tg.Tensor) else np.asarray(t)


# --- digits and sensors -----------------------------------------------------------------------

def test_digits_file_is_the_published_one():
    data = importlib.resources.files("tapegrad.datasets").joinpath("data", "digits.csv.gz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == DIGITS_SHA256


def test_digits_shapes_dtypes_and_label_counts():
    x, y = digits()
    assert isinstance(x, tg.Tensor) and isinstance(y, tg.Tensor)
    assert tuple(x.shape) == (1797, 64) and x.dtype == tg.float32
    assert tuple(y.shape) == (1797,) and y.dtype == tg.int64
    assert np.bincount(_np(y), minlength=10).tolist() == DIGITS_LABEL_COUNTS
    xa = _np(x)
    assert xa.min() == 0 and xa.max() == 16 and np.all(xa == np.round(xa))
    # the first image is a 0 (its top row reads 0 0 5 13 9 1 0 0)
    assert int(y[0]) == 0 and xa[0, :8].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]


def test_digits_returns_fresh_arrays():
    x, y = digits()
    x += 100
    y[0] = 7
    x2, y2 = digits()
    assert float(x2.max()) == 16 and int(y2[0]) == 0
    xn, yn = digits(as_tensors=False)
    assert isinstance(xn, np.ndarray) and xn.dtype == np.float32 and yn.dtype == np.int64
    np.testing.assert_array_equal(xn, _np(x2))


def test_sensors_follow_their_rule():
    x, y = sensors()
    assert tuple(x.shape) == (12, 2) and tuple(y.shape) == (12, 1)
    assert x.dtype == tg.float32 and y.dtype == tg.float32
    a, b = _np(x)[:, 0].astype(np.float64), _np(x)[:, 1].astype(np.float64)
    np.testing.assert_allclose(_np(y)[:, 0], 1.5 * a - 0.8 * b + 12.0, rtol=1e-6)
    design = np.column_stack([a, b, np.ones(12)])
    coef = np.linalg.lstsq(design, _np(y)[:, 0].astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(coef, [1.5, -0.8, 12.0], atol=1e-5)  # float32 targets: ~1e-6 relative
    x2, _ = sensors()
    np.testing.assert_array_equal(_np(x), _np(x2))


# --- generators ----------------------------------------------------------------------------

GENERATORS = [
    ("spirals", lambda **k: spirals(90, classes=3, **k), 3),
    ("moons", lambda **k: moons(91, **k), 2),
    ("xor", lambda **k: xor(80, **k), 2),
    ("triangle", lambda **k: triangle(80, **k), 2),
]


@pytest.mark.parametrize("name,make,classes", GENERATORS, ids=[g[0] for g in GENERATORS])
def test_generator_shapes_dtypes_and_determinism(name, make, classes):
    x, y = make(seed=3)
    n = len(y)
    assert tuple(x.shape) == (n, 2) and x.dtype == tg.float32
    assert tuple(y.shape) == (n,) and y.dtype == tg.int64
    assert set(_np(y).tolist()) == set(range(classes))
    x2, y2 = make(seed=3)
    np.testing.assert_array_equal(_np(x), _np(x2))
    np.testing.assert_array_equal(_np(y), _np(y2))
    x3, _ = make(seed=4)
    assert not np.array_equal(_np(x), _np(x3))
    tg.manual_seed(11)
    xa, _ = make(seed=None)
    tg.manual_seed(11)
    xb, _ = make(seed=None)
    np.testing.assert_array_equal(_np(xa), _np(xb))
    xn, yn = make(seed=3, as_tensors=False)
    assert isinstance(xn, np.ndarray) and xn.dtype == np.float32 and yn.dtype == np.int64


def test_generators_put_points_where_their_labels_say():
    x, y = moons(200, noise=0.0, seed=0, as_tensors=False)
    assert np.bincount(y).tolist() == [100, 100]
    upper, lower = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert upper[:, 1].min() >= -1e-6 and lower[:, 1].max() <= 0.5 + 1e-6

    x, y = xor(300, noise=0.0, seed=1, as_tensors=False)
    np.testing.assert_array_equal(y, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(np.int64))
    assert np.abs(x).max() <= 1

    x, y = spirals(301, classes=2, noise=0.0, seed=2, as_tensors=False)
    assert np.bincount(y).tolist() == [151, 150]
    r = np.hypot(x[:, 0], x[:, 1])
    assert r.min() >= 0.1 - 1e-6 and r.max() <= 1 + 1e-6

    noisy, _ = moons(200, noise=0.3, seed=0, as_tensors=False)
    assert np.abs(np.hypot(noisy[:, 0], noisy[:, 1]) - 1).max() > 0.2  # noise moves points off the arcs


def test_triangle_labels_match_barycentric_coordinates():
    x, y = triangle(2000, seed=5, as_tensors=False)
    (ax, ay), (bx, by), (cx, cy) = synthetic.TRIANGLE
    p = x.astype(np.float64)
    det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
    l1 = ((by - cy) * (p[:, 0] - cx) + (cx - bx) * (p[:, 1] - cy)) / det
    l2 = ((cy - ay) * (p[:, 0] - cx) + (ax - cx) * (p[:, 1] - cy)) / det
    inside = (l1 >= 0) & (l2 >= 0) & (1 - l1 - l2 >= 0)
    np.testing.assert_array_equal(y, inside.astype(np.int64))
    assert 0.27 < y.mean() < 0.37  # the triangle covers 32% of the square


def test_triangle_is_learnable_by_three_hidden_neurons():
    """A 2-3-1 sigmoid network with one hidden unit per edge (weights from the half-planes)
    classifies the points: the task needs no more than three hidden neurons."""
    x, y = triangle(2000, seed=6)
    k = 200.0  # steepness: the sigmoids act as steps except within ~0.02 of an edge
    w1 = tg.tensor([list(w) for w, _ in synthetic.TRIANGLE_HALF_PLANES]).t() * k  # (2, 3)
    b1 = tg.tensor([b for _, b in synthetic.TRIANGLE_HALF_PLANES]) * k
    hidden = tg.sigmoid(x @ w1 + b1)
    out = tg.sigmoid((hidden.sum(1) - 2.5) * 20.0)
    accuracy = float(((out > 0.5).long() == y).float().mean())
    assert accuracy > 0.98


def test_generator_argument_checks():
    with pytest.raises(ValueError, match="noise"):
        moons(10, noise=-1)
    with pytest.raises(ValueError, match="n must"):
        xor(-5)
    with pytest.raises(ValueError, match="classes"):
        spirals(10, classes=0)


# --- IDX files -----------------------------------------------------------------------------------

def _idx_bytes(array, code):
    a = np.asarray(array)
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def test_read_idx_reads_hand_packed_files(tmp_path):
    rng = np.random.default_rng(0)
    cases = [(rng.integers(0, 256, (4, 3, 2)).astype(np.uint8), 0x08),
             (rng.integers(-100, 100, (5,)).astype(np.int8), 0x09),
             (rng.integers(-3000, 3000, (2, 3)).astype(np.int16), 0x0B),
             (rng.integers(-2**31, 2**31, (7,)).astype(np.int32), 0x0C),
             (rng.standard_normal((3, 2)).astype(np.float32), 0x0D),
             (rng.standard_normal((2, 2, 2)), 0x0E)]
    for i, (a, code) in enumerate(cases):
        raw = tmp_path / f"f{i}"
        raw.write_bytes(_idx_bytes(a, code))
        gz = tmp_path / f"f{i}.gz"
        gz.write_bytes(gzip.compress(_idx_bytes(a, code)))
        for p in (raw, gz):
            got = read_idx(p)
            assert got.dtype == a.dtype and got.shape == a.shape
            np.testing.assert_array_equal(got, a)


def test_write_idx_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
        a = (rng.standard_normal((3, 4)) * 50).astype(dtype)
        for name in ("a.idx", "a.idx.gz"):
            write_idx(tmp_path / name, a)
            np.testing.assert_array_equal(read_idx(tmp_path / name), a)
    write_idx(tmp_path / "u.idx", np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert (tmp_path / "u.idx").read_bytes() == _idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3), 0x08)
    with pytest.raises(TypeError, match="IDX cannot hold"):
        write_idx(tmp_path / "b.idx", np.zeros(3, np.int64))


def test_read_idx_rejects_damaged_files(tmp_path):
    good = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 0x08)
    cases = {  # name: (bytes, what the error says)
        "magic": (b"\x01\x00" + good[2:], "not an IDX file"),
        "type": (good[:2] + b"\x07" + good[3:], "unknown IDX type code 0x07"),
        "short_header": (good[:10], "truncated IDX header"),
        "truncated": (good[:-1], "truncated: 23 bytes of the 24 data bytes"),
        "trailing": (good + b"\x00", "trailing data"),
        "empty": (b"", "not an IDX file"),
        "huge": (bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 60000, 60000, 60000) + b"\x00" * 16, "damaged"),
    }
    for name, (blob, message) in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(ValueError, match=message):
            read_idx(p)
    gz = gzip.compress(good)
    (tmp_path / "cut.gz").write_bytes(gz[:-12])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(tmp_path / "cut.gz")
    bad_crc = bytearray(gz)
    bad_crc[-8] ^= 0xFF
    (tmp_path / "crc.gz").write_bytes(bytes(bad_crc))
    with pytest.raises(ValueError, match="gzip"):
        read_idx(tmp_path / "crc.gz")


# --- MNIST ----------------------------------------------------------------------------------------

def _fake_split(rng, n):
    return rng.integers(0, 256, (n, 28, 28)).astype(np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def _write_mnist(folder, rng, n_train=6, n_test=4, gz_train=True):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n, gz in (("train", n_train, gz_train), ("t10k", n_test, not gz_train)):
        images, labels = _fake_split(rng, n)
        ext = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        arrays[prefix] = (images, labels)
    return arrays


def test_mnist_reads_idx_files(tmp_path):
    arrays = _write_mnist(tmp_path / "MNIST" / "raw", np.random.default_rng(0))
    for train, key in ((True, "train"), (False, "t10k")):
        ds = MNIST(tmp_path, train=train)
        images, labels = arrays[key]
        assert len(ds) == len(labels)
        img, label = ds[1]
        assert isinstance(img, tg.Tensor) and img.dtype == tg.float32 and tuple(img.shape) == (1, 28, 28)
        np.testing.assert_array_equal(_np(img)[0], images[1].astype(np.float32) / np.float32(255))
        assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
        assert type(label) is int and label == labels[1]
        assert ds.data.dtype == tg.int64 and tuple(ds.data.shape) == images.shape
        np.testing.assert_array_equal(_np(ds.data), images)
        assert ds.targets.dtype == tg.int64
        np.testing.assert_array_equal(_np(ds.targets), labels)
        assert ds[-1][1] == labels[-1]


def test_mnist_transforms_and_loader_fast_path(tmp_path):
    _write_mnist(tmp_path / "MNIST" / "raw", np.random.default_rng(1), n_train=10)
    ds = MNIST(str(tmp_path), transform=lambda im: im.reshape(-1), target_transform=lambda t: t + 100)
    flat, label = ds[0]
    assert tuple(flat.shape) == (784,) and label >= 100
    plain = MNIST(tmp_path)
    fast = list(DataLoader(plain, batch_size=4, shuffle=True, generator=tg.Generator().manual_seed(2)))
    slow = list(DataLoader(plain, batch_size=4, shuffle=True, generator=tg.Generator().manual_seed(2),
                           collate_fn=lambda b: default_collate(b)))
    assert len(fast) == len(slow) == 3
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.dtype == sx.dtype == tg.float32 and tuple(fx.shape) == tuple(sx.shape)
        assert fy.dtype == sy.dtype == tg.int64
        np.testing.assert_array_equal(_np(fx), _np(sx))
        np.testing.assert_array_equal(_np(fy), _np(sy))


def test_fashion_mnist_uses_its_own_folder_and_classes(tmp_path):
    _write_mnist(tmp_path / "FashionMNIST" / "raw", np.random.default_rng(2))
    ds = FashionMNIST(tmp_path, train=False)
    assert len(ds) == 4 and ds.classes[9] == "Ankle boot" and ds.class_to_idx["Bag"] == 8
    with pytest.raises(RuntimeError, match="download=True"):
        MNIST(tmp_path)


def test_mnist_rejects_inconsistent_files(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "MNIST" / "raw"
    _write_mnist(folder, rng)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))  # 6 images, 5 labels
    with pytest.raises(ValueError, match="label file"):
        MNIST(tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(6, 10, np.uint8))
    with pytest.raises(ValueError, match="out of range"):
        MNIST(tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(6, np.uint8))
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((6, 27, 28), np.uint8))
    with pytest.raises(ValueError, match="28, 28"):
        MNIST(tmp_path)
    blob = (folder / "t10k-images-idx3-ubyte").read_bytes()
    (folder / "t10k-images-idx3-ubyte").write_bytes(blob[:-100])
    with pytest.raises(ValueError, match="truncated"):
        MNIST(tmp_path, train=False)


# --- downloads --------------------------------------------------------------------------------------

class _Server:
    """A local HTTP server: path -> bytes (missing paths are 404s); counts requests."""

    def __init__(self, files):
        self.files = files
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_mnist_files():
    """The four MNIST files (small), gzipped, and their resources table with real MD5s."""
    rng = np.random.default_rng(4)
    files = {}
    for prefix, n in (("train", 5), ("t10k", 3)):
        images, labels = _fake_split(rng, n)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(_idx_bytes(images, 0x08))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(_idx_bytes(labels, 0x08))
    resources = [(name, "md5:" + hashlib.md5(body).hexdigest()) for name, body in files.items()]
    return files, resources


def test_download_fetches_verifies_and_reuses(tmp_path, monkeypatch, fake_mnist_files):
    files, resources = fake_mnist_files
    server = _Server({f"/mnist/{k}": v for k, v in files.items()})
    try:
        monkeypatch.setattr(MNIST, "mirrors", [server.url + "/missing/", server.url + "/mnist/"])
        monkeypatch.setattr(MNIST, "resources", resources)
        ds = MNIST(tmp_path, train=True, download=True)
        assert len(ds) == 5 and len(MNIST(tmp_path, train=False)) == 3
        raw = tmp_path / "MNIST" / "raw"
        assert sorted(os.listdir(raw)) == sorted(files)  # nothing but the verified files
        for name, body in files.items():
            assert (raw / name).read_bytes() == body
        fetched = len(server.requests)
        assert fetched == 8  # each file: a 404 from the first mirror, then the second
        MNIST(tmp_path, download=True)
        assert len(server.requests) == fetched  # present and verified: nothing fetched again
        (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
        MNIST(tmp_path, train=False, download=True)
        assert (raw / "t10k-labels-idx1-ubyte.gz").read_bytes() == files["t10k-labels-idx1-ubyte.gz"]
    finally:
        server.close()


def test_download_rejects_content_that_fails_the_checksum(tmp_path, monkeypatch, fake_mnist_files):
    files, resources = fake_mnist_files
    tampered = {f"/bad/{k}": v[:-1] + bytes([v[-1] ^ 1]) for k, v in files.items()}
    server = _Server(dict(tampered, **{f"/good/{k}": v for k, v in files.items()}))
    try:
        monkeypatch.setattr(MNIST, "resources", resources)
        monkeypatch.setattr(MNIST, "mirrors", [server.url + "/bad/"])
        with pytest.raises(RuntimeError, match="checksum mismatch"):
            MNIST(tmp_path, download=True)
        assert os.listdir(tmp_path / "MNIST" / "raw") == []  # no partial or unverified file kept
        monkeypatch.setattr(MNIST, "mirrors", [server.url + "/bad/", server.url + "/good/"])
        assert len(MNIST(tmp_path, download=True)) == 5
    finally:
        server.close()


def test_download_through_a_patched_fetch(tmp_path, monkeypatch, fake_mnist_files):
    files, resources = fake_mnist_files
    calls = []

    def fake_fetch(url, out, max_bytes=dl.MAX_DOWNLOAD_BYTES):
        calls.append(url)
        out.write(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(dl, "_fetch", fake_fetch)
    monkeypatch.setattr(FashionMNIST, "resources", resources)
    monkeypatch.setenv("TAPEGRAD_HOME", str(tmp_path / "home"))
    ds = FashionMNIST(download=True)  # root=None: the cache folder
    assert len(ds) == 5 and ds.root == str(tmp_path / "home")
    assert (tmp_path / "home" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    assert len(calls) == 4 and all(c.startswith(FashionMNIST.mirrors[0]) for c in calls)


def test_fetch_refuses_non_http_urls(tmp_path):
    with pytest.raises(RuntimeError, match="only http"):
        dl.download_url(["file:///etc/passwd"], str(tmp_path / "x"), "md5:" + "0" * 32)
    with pytest.raises(ValueError, match="checksum must look like"):
        dl.download_url(["http://127.0.0.1:9/x"], str(tmp_path / "x"), "crc32:1234")
