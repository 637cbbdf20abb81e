"""tapegrad.save / tapegrad.load: safetensors checkpoints that round-trip nested state, reject
damaged or foreign files with ValueError (never unpickling), and are replaced atomically."""
import collections
import io
import json
import os
import pickle
import random
import signal
import struct
import subprocess
import time

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.serialization import load, save

from child import popen_python

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _np(t):
    return t.detach().numpy() if isinstance(t, tg.Tensor) else np.asarray(t)


def _assert_same_tensor(got, want):
    assert isinstance(got, tg.Tensor)
    assert got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(_np(got), _np(want))


# --- round trips ------------------------------------------------------------------------------

def test_nested_state_round_trips(tmp_path):
    weight = tg.randn(4, 3)
    state = {
        "model": collections.OrderedDict([
            ("fc.weight", weight),
            ("fc.bias", tg.zeros(4, dtype=tg.float64)),
            ("steps", tg.tensor([2**62, -(2**62), 0])),
            ("mask", tg.tensor([[True, False], [False, True]])),
            ("scalar", tg.tensor(3.25)),
            ("empty", tg.zeros(0, 5)),
            ("view", tg.arange(12, dtype=tg.float32).reshape(3, 4).t()),  # non-contiguous
        ]),
        "optimizer": {
            "state": {0: {"step": 10, "exp_avg": tg.ones(4, 3)}, 1: {"step": 10, "exp_avg": tg.full((4,), 0.5)}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False,
                              "params": [0, 1], "foreach": None}],
        },
        "epoch": 7, "best": float("inf"), "worst": float("-inf"), "unset": float("nan"),
        "big": 2**70, "name": "run-ünïcode ✓", "nothing": None, "flags": [True, False],
        "pairs": [(1, "a"), (2, "b")], "keyed": {(1, 2): "tuple key", 3.5: "float key", None: 0, True: 1},
        "array": np.arange(6, dtype=np.uint8).reshape(2, 3),
    }
    save(state, tmp_path / "ckpt.safetensors")
    got = load(tmp_path / "ckpt.safetensors")

    assert type(got["model"]) is collections.OrderedDict and list(got["model"]) == list(state["model"])
    for key, t in state["model"].items():
        _assert_same_tensor(got["model"][key], t)
    assert got["model"]["view"].is_contiguous()
    opt = got["optimizer"]
    assert list(opt["state"]) == [0, 1] and opt["state"][0]["step"] == 10
    _assert_same_tensor(opt["state"][1]["exp_avg"], state["optimizer"]["state"][1]["exp_avg"])
    assert opt["param_groups"] == state["optimizer"]["param_groups"]
    assert isinstance(opt["param_groups"][0]["betas"], tuple)
    assert got["epoch"] == 7 and type(got["epoch"]) is int
    assert got["best"] == float("inf") and got["worst"] == float("-inf") and np.isnan(got["unset"])
    assert got["big"] == 2**70 and got["name"] == state["name"] and got["nothing"] is None
    assert got["flags"] == [True, False] and all(type(f) is bool for f in got["flags"])
    assert got["pairs"] == [(1, "a"), (2, "b")]
    assert got["keyed"] == state["keyed"] and list(got["keyed"]) == list(state["keyed"])
    assert got["array"].dtype == np.uint8
    np.testing.assert_array_equal(got["array"], state["array"])


def test_tied_tensors_stay_tied_and_requires_grad_survives(tmp_path):
    w = tg.randn(2, 2, requires_grad=True)
    save({"encoder": w, "decoder": w, "other": tg.ones(2)}, tmp_path / "t.st")
    got = load(tmp_path / "t.st")
    assert got["encoder"] is got["decoder"]
    assert got["encoder"].requires_grad and got["encoder"].is_leaf and not got["other"].requires_grad
    _assert_same_tensor(got["encoder"], w.detach())
    header_len = struct.unpack("<Q", (tmp_path / "t.st").read_bytes()[:8])[0]
    header = json.loads((tmp_path / "t.st").read_bytes()[8:8 + header_len])
    assert sorted(k for k in header if k != "__metadata__") == ["encoder", "other"]  # stored once


def test_loaded_tensors_are_writable_and_independent(tmp_path):
    save({"a": tg.zeros(3)}, tmp_path / "w.st")
    first, second = load(tmp_path / "w.st")["a"], load(tmp_path / "w.st")["a"]
    first += 1
    assert _np(first).tolist() == [1, 1, 1] and _np(second).tolist() == [0, 0, 0]


@pytest.mark.parametrize("obj", [tg.arange(5), [tg.ones(2), 3, "x"], {}, (), 4.5, None],
                         ids=["tensor", "list", "empty-dict", "empty-tuple", "float", "none"])
def test_top_level_values(tmp_path, obj):
    save(obj, tmp_path / "x.st")
    got = load(str(tmp_path / "x.st"))
    if isinstance(obj, tg.Tensor):
        _assert_same_tensor(got, obj)
    elif isinstance(obj, list):
        _assert_same_tensor(got[0], obj[0])
        assert got[1:] == [3, "x"]
    else:
        assert got == obj and type(got) is type(obj)


def test_file_objects(tmp_path):
    buf = io.BytesIO()
    save({"w": tg.eye(3), "k": 1}, buf)
    buf.seek(0)
    got = load(buf)
    _assert_same_tensor(got["w"], tg.eye(3))
    assert got["k"] == 1
    with open(tmp_path / "f.st", "wb") as f:
        save([tg.ones(1)], f)
    with open(tmp_path / "f.st", "rb") as f:
        assert _np(load(f)[0]).tolist() == [1.0]


def test_the_file_is_plain_safetensors(tmp_path):
    """Other safetensors readers see the tensors; tapegrad reads safetensors files from others."""
    save({"layer": {"weight": tg.full((2, 3), 2.0)}}, tmp_path / "ours.st")
    theirs = safetensors_numpy.load_file(tmp_path / "ours.st")
    assert list(theirs) == ["layer.weight"] and theirs["layer.weight"].dtype == np.float32
    np.testing.assert_array_equal(theirs["layer.weight"], np.full((2, 3), 2.0, np.float32))

    safetensors_numpy.save_file({"h": np.arange(4, dtype=np.float16), "u": np.arange(3, dtype=np.uint8),
                                 "d": np.ones(2)}, tmp_path / "foreign.st")
    got = load(tmp_path / "foreign.st")
    assert set(got) == {"h", "u", "d"}
    assert got["h"].dtype == tg.float32 and _np(got["h"]).tolist() == [0, 1, 2, 3]  # widened
    assert got["u"].dtype == tg.int64 and got["d"].dtype == tg.float64


def test_checkpoints_carry_their_format_version(tmp_path):
    from safetensors import safe_open

    save({"w": tg.ones(2)}, tmp_path / "ckpt.st")
    with safe_open(tmp_path / "ckpt.st", framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "tapegrad" and meta["tapegrad.version"] == "1"
    assert meta["tapegrad.written_by"] == tg.__version__
    # a file of a later format is refused by name, not misread
    structure = meta["tapegrad.structure"]
    for version, message in [("2", "of format 2, written by 9.9.9; this tapegrad reads formats up to 1"),
                             ("x", "format version 'x' is not a number")]:
        safetensors_numpy.save_file({"w": np.ones(2, np.float32)}, tmp_path / "later.st",
                                    metadata={"format": "tapegrad", "tapegrad.version": version,
                                              "tapegrad.written_by": "9.9.9", "tapegrad.structure": structure})
        with pytest.raises(ValueError, match=message):
            load(tmp_path / "later.st")


def test_map_location(tmp_path):
    save({"a": tg.ones(2)}, tmp_path / "m.st")
    for loc in (None, "cpu", tg.device("cpu"), {"cuda:0": "cpu"}):
        _assert_same_tensor(load(tmp_path / "m.st", map_location=loc)["a"], tg.ones(2))
    with pytest.raises(RuntimeError, match="not available"):
        load(tmp_path / "m.st", map_location="cuda")
    with pytest.raises(TypeError, match="map_location"):
        load(tmp_path / "m.st", map_location=lambda storage, loc: storage)


def test_unsupported_objects_raise_and_leave_the_old_file(tmp_path):
    path = tmp_path / "keep.st"
    save({"v": 1}, path)
    before = path.read_bytes()
    for bad in ({"f": lambda: 0}, {"o": object()}, {tg.ones(1): 1}, {"s": {1, 2}}, np.array(["a"])):
        with pytest.raises(TypeError, match="save: cannot store"):
            save(bad, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.st"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "keep.st"
    save({"v": tg.ones(3)}, path)
    before = path.read_bytes()

    def broken(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors_numpy, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save({"v": tg.zeros(3)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["keep.st"]


def test_overwrite_keeps_permissions(tmp_path):
    path = tmp_path / "p.st"
    save({"a": 1}, path)
    os.chmod(path, 0o640)
    save({"a": 2}, path)
    assert load(path)["a"] == 2 and (os.stat(path).st_mode & 0o777) == 0o640
    assert os.listdir(tmp_path) == ["p.st"]


# --- damaged and foreign files ------------------------------------------------------------------

def _good_file(tmp_path):
    path = tmp_path / "good.st"
    save({"w": tg.arange(100, dtype=tg.float32), "meta": {"epoch": 3}}, path)
    return path, path.read_bytes()


def test_truncated_files_raise_value_error(tmp_path):
    _, data = _good_file(tmp_path)
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    for cut in (0, 1, 7, 8, 9, header_end // 2, header_end - 1, header_end, header_end + 3, len(data) - 1):
        p = tmp_path / f"cut{cut}.st"
        p.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated|too short"):
            load(p)


def test_wrong_headers_raise_value_error(tmp_path):
    path, data = _good_file(tmp_path)
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]

    def with_header(h):
        raw = h if isinstance(h, bytes) else json.dumps(h).encode()
        return struct.pack("<Q", len(raw)) + raw + body

    bad_dtype = dict(header, w=dict(header["w"], dtype="C64"))
    bad_offsets = dict(header, w=dict(header["w"], data_offsets=[0, 12]))
    bad_shape = dict(header, w=dict(header["w"], shape=[-1]))
    meta = dict(header["__metadata__"])
    missing = dict(header, __metadata__=dict(meta, **{"tapegrad.structure": json.dumps({"tensor": "nope"})}))
    garbage_structure = dict(header, __metadata__=dict(meta, **{"tapegrad.structure": "{not json"}))
    bad_node = dict(header, __metadata__=dict(meta, **{"tapegrad.structure": json.dumps({"weird": 1})}))
    cases = {
        "not-json": with_header(b"{this is not json}"),
        "not-utf8": with_header(b"\xff\xfe{}"),
        "array": with_header([1, 2, 3]),
        "dtype": with_header(bad_dtype),
        "offsets": with_header(bad_offsets),
        "shape": with_header(bad_shape),
        "missing-tensor": with_header(missing),
        "structure-json": with_header(garbage_structure),
        "structure-node": with_header(bad_node),
        "trailing-bytes": data + b"\x00" * 16,
        "random": bytes(random.Random(0).randrange(256) for _ in range(4096)),
    }
    for name, blob in cases.items():
        p = tmp_path / f"{name}.st"
        p.write_bytes(blob)
        with pytest.raises(ValueError):
            load(p)


def test_a_header_claiming_100_gb_is_rejected_without_allocating(tmp_path):
    p = tmp_path / "huge.st"
    p.write_bytes(struct.pack("<Q", 100 * 2**30) + b'{"__metadata__":{}}')
    start = time.perf_counter()
    with pytest.raises(ValueError, match="claims 107374182400 bytes"):
        load(p)
    assert time.perf_counter() - start < 1.0


class _Payload:
    """Unpickling this writes a marker file: the proof that a loader ran pickled code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).write_text('executed')",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_a_pickle_disguised_as_a_checkpoint_is_never_executed(tmp_path, protocol):
    marker = tmp_path / "marker"
    blob = pickle.dumps({"model": _Payload(str(marker))}, protocol=protocol)
    # the payload really does run when unpickled
    pickle.loads(pickle.dumps(_Payload(str(tmp_path / "control")), protocol=protocol))
    assert (tmp_path / "control").exists()
    path = tmp_path / "model.safetensors"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match="pickle" if protocol >= 2 else "not a safetensors file"):
        load(path)
    with pytest.raises(ValueError):
        load(io.BytesIO(blob))
    assert not marker.exists()


# --- atomic replacement ---------------------------------------------------------------------------

# argv: path, n. Imports, says "ready", then overwrites the checkpoint in a loop once told to go.
_WRITER = """
import sys
import tapegrad as tg
from tapegrad.serialization import save

path, n = sys.argv[1], int(sys.argv[2])
big = tg.arange(n, dtype=tg.float32)
print("ready", flush=True)
sys.stdin.readline()
generation = 0
while True:
    generation += 1
    save({"generation": generation, "w": big, "tail": tg.full((4,), float(generation))}, path)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_killing_the_writer_at_random_moments_never_damages_the_checkpoint(tmp_path):
    """Writers overwrite a 16 MB checkpoint in a loop and are SIGKILLed at random moments, twenty
    times. Every time, the file on disk loads and is one complete generation."""
    n = 4 * 2**20  # 16 MB of float32: a save is tens of milliseconds, most of a writer's loop
    path = tmp_path / "ckpt.safetensors"
    save({"generation": 0, "w": tg.zeros(3), "tail": tg.zeros(4)}, path)
    moments = random.Random(20260101)  # random kill moments, seeded so that a failure reproduces
    kills = 20
    killed_mid_write = 0
    # Writers are started a few ahead, so their imports overlap the kills before theirs.
    writers = collections.deque(popen_python(_WRITER, path, n, stdin=subprocess.PIPE) for _ in range(3))
    try:
        for k in range(kills):
            proc = writers.popleft()
            if k + len(writers) + 1 < kills:
                writers.append(popen_python(_WRITER, path, n, stdin=subprocess.PIPE))
            try:
                assert proc.stdout.readline() == "ready\n"
                proc.stdin.write("go\n")
                proc.stdin.flush()
                time.sleep(moments.uniform(0.0, 0.25))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc.stdin.close()
                proc.stdout.close()
            # A kill inside save() leaves its temporary file(s) behind (ours, and the one the
            # safetensors library writes through); they are the evidence of a mid-write kill.
            temporaries = [f for f in os.listdir(tmp_path) if f != "ckpt.safetensors"]
            killed_mid_write += bool(temporaries)
            for f in temporaries:
                os.unlink(tmp_path / f)
            state = load(path)
            generation = state["generation"]
            assert _np(state["tail"]).tolist() == [float(generation)] * 4
            if generation == 0:
                assert tuple(state["w"].shape) == (3,)
            else:
                w = _np(state["w"])
                assert w.shape == (n,) and w[0] == 0 and w[n // 2] == n // 2 and w[-1] == n - 1
    finally:
        for proc in writers:
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
    # Many kills landed inside a write (13 to 16 of the 20 here), so atomicity was exercised, not
    # just the moments between saves.
    assert killed_mid_write >= kills // 4, killed_mid_write
