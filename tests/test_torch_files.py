"""tapegrad.load of files written by torch.save (a restricted unpickler: nothing in a file is
ever run), and tapegrad checkpoints read by PyTorch."""
import io
import pickle
import zipfile

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.torch_files import UnsafeCheckpointError

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_a_state_dict_of_every_kind_of_value(tmp_path, zip_format):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    extra = {"step": torch.tensor(7), "half": torch.ones(2, dtype=torch.float16) / 3,
             "bf16": torch.tensor([1 / 3, -2.5e30], dtype=torch.bfloat16),
             "mask": torch.tensor([True, False]), "i32": torch.arange(3, dtype=torch.int32),
             "scalar": torch.tensor(1.5, dtype=torch.float64), "view": torch.arange(12.0).reshape(3, 4).t()[1:],
             "param": torch.nn.Parameter(torch.ones(2)), "list": [1, 2.5, "x", None, (3, 4)]}
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "extra": extra}, path, _use_new_zipfile_serialization=zip_format)
    got = tg.load(path)
    for k, v in model.state_dict().items():
        assert got["model"][k].dtype is tg.float32
        np.testing.assert_array_equal(got["model"][k].numpy(), v.numpy())
    e = got["extra"]
    assert e["step"].dtype is tg.int64 and e["step"].shape == () and e["step"].item() == 7
    assert e["half"].dtype is tg.float32  # widened, as for safetensors files
    np.testing.assert_array_equal(e["half"].numpy(), extra["half"].float().numpy())
    assert e["bf16"].dtype is tg.float32
    np.testing.assert_array_equal(e["bf16"].numpy(), extra["bf16"].float().numpy())
    assert e["mask"].dtype is tg.bool and e["mask"].tolist() == [True, False]
    assert e["i32"].dtype is tg.int64 and e["i32"].tolist() == [0, 1, 2]
    assert e["scalar"].dtype is tg.float64 and e["scalar"].item() == 1.5
    np.testing.assert_array_equal(e["view"].numpy(), extra["view"].numpy())
    assert isinstance(e["param"], tg.nn.Parameter) and e["param"].requires_grad
    assert e["list"] == [1, 2.5, "x", None, (3, 4)]
    # the model loads into the same tapegrad architecture and computes the same
    ours = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 2))
    ours.load_state_dict(got["model"])
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(tg.tensor(x)).detach().numpy(),
                               model(torch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-6)


def test_map_location_and_file_objects(tmp_path, cuda_standin):
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    got = tg.load(io.BytesIO(buf.getvalue()), map_location="cuda")
    assert got["w"].is_cuda and got["w"].cpu().tolist() == [1.0, 1.0]


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def _zip_with_pickle(tmp_path, payload: bytes):
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", payload)
        z.writestr("evil/byteorder", "little")
    return path


def test_a_malicious_pickle_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "ran"
    payload = pickle.dumps({"w": _Boom()})
    with pytest.raises(UnsafeCheckpointError, match=r"needs the global builtins\.print"):
        tg.load(_zip_with_pickle(tmp_path, payload))
    os_payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    with pytest.raises(UnsafeCheckpointError, match=r"needs the global os\.system") as info:
        tg.load(_zip_with_pickle(tmp_path, os_payload))
    assert isinstance(info.value, ValueError) and isinstance(info.value, pickle.UnpicklingError)
    assert not marker.exists() and "must never run" not in capsys.readouterr().out


def test_damaged_files_raise_clear_errors(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(4)}, path)
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged zip file|could not be read|no storage"):
        tg.load(tmp_path / "cut.pt")
    # a tensor that claims more elements than its storage holds
    storage = object()

    class Tensor100:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (storage, 0, (100,), (1,), False, {})

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 2) if obj is storage else None

    buf = io.BytesIO()
    Writer(buf, protocol=2).dump({"w": Tensor100()})
    path = _zip_with_pickle(tmp_path, buf.getvalue())
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("evil/data/0", np.ones(2, np.float32).tobytes())
    with pytest.raises(UnsafeCheckpointError, match="reaches past its storage of 2 elements"):
        tg.load(path)


def test_legacy_files_hostile_or_damaged(tmp_path, capsys):
    from tapegrad.torch_files import LEGACY_MAGIC

    header = LEGACY_MAGIC + pickle.dumps(1001, protocol=2) + pickle.dumps({"little_endian": True}, protocol=2)
    path = tmp_path / "evil.pt"
    path.write_bytes(header + pickle.dumps({"w": _Boom()}, protocol=2) + pickle.dumps([], protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"needs the global builtins\.print"):
        tg.load(path)
    assert "must never run" not in capsys.readouterr().out
    buf = io.BytesIO()
    torch.save({"w": torch.arange(5.0)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    path.write_bytes(data[:-8])  # the last two elements cut off
    with pytest.raises(ValueError, match="truncated or damaged"):
        tg.load(path)
    path.write_bytes(data)
    assert tg.load(path)["w"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_pytorch_reads_tapegrad_checkpoints_bit_for_bit(tmp_path):
    from safetensors.torch import load_file, save_file

    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.Tanh(), tg.nn.Linear(4, 2))
    path = tmp_path / "ours.safetensors"
    tg.save(model.state_dict(), str(path))
    theirs = load_file(str(path))
    assert set(theirs) == set(model.state_dict())
    for k, v in model.state_dict().items():
        assert theirs[k].dtype == torch.float32
        np.testing.assert_array_equal(theirs[k].numpy(), v.numpy())
    back = tmp_path / "back.safetensors"
    save_file(theirs, str(back))
    again = tg.load(str(back))
    for k, v in model.state_dict().items():
        assert again[k].numpy().tobytes() == v.numpy().tobytes()
