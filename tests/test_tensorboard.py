"""tapegrad.utils.tensorboard.SummaryWriter: what it writes, read back with TensorBoard's own
EventAccumulator."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
from tapegrad.utils.tensorboard import SummaryWriter  # noqa: E402


def _read(path):
    acc = event_accumulator.EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0,
                                                                        "tensors": 0})
    acc.Reload()
    return acc


def test_scalars_histograms_and_text(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalar("loss", tg.tensor(1.0 / (step + 1)), step)
        w.add_scalar("lr", 0.01, 0)
        w.add_histogram("weights", tg.arange(100, dtype=tg.float32), 0)
        w.add_text("note", "hello tensorboard", 0)
    acc = _read(tmp_path)
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars("loss")] == [(0, 1.0), (1, 0.5), (2, 0.333333)]
    assert acc.Scalars("lr")[0].value == pytest.approx(0.01)
    hist = acc.Histograms("weights")[0].histogram_value
    assert hist.num == 100 and hist.min == 0 and hist.max == 99 and hist.sum == sum(range(100))
    text = acc.Tensors("note/text_summary")[0]
    assert b"hello tensorboard" in text.tensor_proto.string_val[0]


def test_add_scalars_writes_one_run_per_tag(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalars("curves", {"train": 1.0, "val": tg.tensor(2.0)}, 5)
    for tag, value in (("train", 1.0), ("val", 2.0)):
        acc = _read(tmp_path / "curves" / tag)
        assert [(e.step, e.value) for e in acc.Scalars("curves")] == [(5, value)]


def test_add_hparams(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_hparams({"lr": 0.1, "layers": 3}, {"hparam/accuracy": tg.tensor(0.9)}, run_name="run1")
    acc = _read(tmp_path / "run1")
    assert acc.Scalars("hparam/accuracy")[0].value == pytest.approx(0.9)


def test_add_hparams_with_discrete_domains(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    domains = {"optimizer": ["adam", "sgd"], "layers": [2, 3, 4], "bias": [True, False]}
    with SummaryWriter(tmp_path) as w:
        w.add_hparams({"optimizer": "adam", "layers": 3, "bias": True, "lr": 0.1},
                      {"hparam/loss": 0.25}, hparam_domain_discrete=domains, run_name="run2",
                      global_step=7)
    acc = _read(tmp_path / "run2")
    assert [(e.step, e.value) for e in acc.Scalars("hparam/loss")] == [(7, 0.25)]
    content = acc.PluginTagToContent("hparams")["_hparams_/experiment"]
    infos = {i.name: i for i in plugin_data_pb2.HParamsPluginData.FromString(content).experiment.hparam_infos}
    assert [v.string_value for v in infos["optimizer"].domain_discrete.values] == ["adam", "sgd"]
    assert [v.number_value for v in infos["layers"].domain_discrete.values] == [2, 3, 4]
    assert [v.bool_value for v in infos["bias"].domain_discrete.values] == [True, False]
    assert not infos["lr"].HasField("domain_discrete")


@pytest.mark.parametrize("domains, error, match", [
    (["adam"], TypeError, "must be a dict"),
    ({"momentum": [0.9]}, ValueError, "'momentum', which hparam_dict does not have"),
    ({"optimizer": "adam"}, TypeError, "must be a non-empty list"),
    ({"layers": [2, "3"]}, TypeError, "holds '3', not of the type of its value 3"),
])
def test_add_hparams_rejects_bad_domains(tmp_path, domains, error, match):
    with SummaryWriter(tmp_path) as w, pytest.raises(error, match=match):
        w.add_hparams({"optimizer": "adam", "layers": 3}, {"hparam/loss": 0.25},
                      hparam_domain_discrete=domains)


def test_add_graph_names_ops_and_parameters(tmp_path):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with SummaryWriter(tmp_path) as w:
        w.add_graph(model, tg.randn(5, 3))
    graph = _read(tmp_path).Graph()
    by_name = {n.name: n for n in graph.node}
    assert by_name["parameters/0/weight"].op == "Parameter" and by_name["input/0"].op == "Input"
    assert [n.op for n in graph.node if n.name.startswith("ops/")] == ["Linear", "Linear"]
    assert list(by_name["output/0"].input) == ["ops/Linear_1"]
    dims = [d.size for d in by_name["parameters/2/weight"].attr["_output_shapes"].list.shape[0].dim]
    assert dims == [2, 4]


def test_default_log_dir_is_runs_date_host(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_trial")
    w.close()
    assert w.get_logdir().startswith("runs") and w.get_logdir().endswith("_trial")
    assert (tmp_path / w.get_logdir()).is_dir()
