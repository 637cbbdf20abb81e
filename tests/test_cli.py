"""The README's example and the command-line demo run and learn."""
import csv
import os
import re
import subprocess
import sys

import pytest

import tapegrad as tg

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_readme_example_trains(capsys):
    with open(README) as f:
        code = re.findall(r"```python\n(.*?)```", f.read(), re.S)[0]
    exec(compile(code, "README.md", "exec"), {})
    loss, acc = map(float, capsys.readouterr().out.split())
    assert loss < 0.3 and acc > 0.9


def test_demo_loss_falls():
    out = subprocess.run([sys.executable, "-m", "tapegrad", "demo", "--steps", "300"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    losses = [float(m) for m in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) >= 3 and losses[-1] < 0.5 * losses[0]
    assert "train accuracy" in out


def test_info_command():
    out = subprocess.run([sys.executable, "-m", "tapegrad", "info"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert "tapegrad 0.1.0" in out and "CUDA: " in out


def test_bad_command_exits_2():
    res = subprocess.run([sys.executable, "-m", "tapegrad", "nonsense"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "invalid choice" in res.stderr


def _run(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "tapegrad", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def test_train_default_digits_accuracy_and_outputs(tmp_path):
    import time

    start = time.perf_counter()
    res = _run("train", "--no-progress", "--out", str(tmp_path / "run"), cwd=tmp_path)
    elapsed = time.perf_counter() - start
    assert res.returncode == 0, res.stderr
    acc = float(re.search(r"test accuracy (\d\.\d+)", res.stdout).group(1))
    assert acc >= 0.97 and elapsed < 60
    for name in ("checkpoint.safetensors", "metrics.csv", "config.json", "curves.png"):
        assert (tmp_path / "run" / name).exists(), name  # (curves.png: matplotlib is in the test extra)
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,train_acc,val_loss,val_acc") and len(rows) >= 3
    ev = _run("eval", "--checkpoint", str(tmp_path / "run" / "checkpoint.safetensors"), cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert f"test accuracy {acc:.4f}" in ev.stdout


def test_curves_count_whole_epochs_and_mark_the_restored_one():
    pytest.importorskip("matplotlib")
    from tapegrad.training import History, history_figure

    h = History()
    for e in range(7):
        h.log(train_loss=1.0 / (e + 1), val_loss=0.5 + abs(e - 3) * 0.1, train_acc=0.1 * e, val_acc=0.05 * e)
    fig = history_figure(h, best_epoch=4)
    for ax in fig.axes:
        ax.figure.canvas.draw()
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 7]
        assert ticks and all(float(t).is_integer() for t in ticks)  # whole epochs only
        marks = [line for line in ax.get_lines() if line.get_label() == "best epoch (4, restored)"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [4, 4]
        assert [line.get_label() for line in ax.get_lines()][:2] in (["train_loss", "val_loss"], ["train_acc", "val_acc"])


@pytest.mark.parametrize("data", ["spirals", "moons", "sensors"])
def test_train_short_runs(tmp_path, data):
    res = _run("train", "--data", data, "--epochs", "2", "--no-progress", "--out", str(tmp_path / data), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "test loss" in res.stdout and (tmp_path / data / "checkpoint.safetensors").exists()


def test_train_seed_reproducible(tmp_path):
    outs = [_run("train", "--epochs", "3", "--seed", "3", "--no-progress", "--patience", "0",
                 "--out", str(tmp_path / f"r{i}"), cwd=tmp_path).stdout for i in range(2)]
    losses = [re.findall(r"train_loss (\d+\.\d+)", o) for o in outs]
    assert losses[0] == losses[1] and len(losses[0]) == 3


@pytest.mark.parametrize("args,needle", [
    (["train", "--hidden", "abc"], "--hidden"),
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--data", "cifar"], "invalid choice"),
    (["train", "--dropout", "1.5"], "--dropout"),
    pytest.param(["train", "--device", "cuda"], "CUDA", marks=pytest.mark.skipif(
        tg.cuda.is_available(), reason="a GPU is present: training on it is tested below")),
    (["eval"], "--checkpoint"),
])
def test_bad_arguments_one_line_exit_2(tmp_path, args, needle):
    res = _run(*args, cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def _test_accuracy(text: str) -> float:
    return float(re.search(r"test accuracy (\d+\.\d+)", text).group(1))


@pytest.mark.skipif(not tg.cuda.is_available(), reason="no GPU")
def test_train_on_the_gpu_reaches_the_cpu_accuracy(tmp_path):
    acc = {}
    for dev in ("cpu", "cuda"):
        res = _run("train", "--device", dev, "--epochs", "8", "--patience", "0", "--no-progress",
                   "--out", str(tmp_path / dev), cwd=tmp_path, timeout=600)
        assert res.returncode == 0, res.stderr
        assert f"device {dev}" in res.stdout
        acc[dev] = _test_accuracy(res.stdout)
    assert acc["cuda"] >= acc["cpu"] - 0.02, acc


def test_train_command_on_device_cuda_through_the_standin(cuda_standin, tmp_path, capsys):
    """The whole command on device "cuda" (the host stand-in where there is no GPU): model,
    batches and optimizer state on the device, the checkpoint written from it."""
    from tapegrad.cli import main

    args = ["--epochs", "3", "--patience", "0", "--no-progress", "--seed", "1"]
    assert main(["train", "--device", "cpu", "--out", str(tmp_path / "cpu"), *args]) == 0
    assert main(["train", "--device", "cuda", "--out", str(tmp_path / "cuda"), *args]) == 0
    out = capsys.readouterr().out
    assert "device cuda:0" in out
    cpu_acc, gpu_acc = re.findall(r"test accuracy (\d+\.\d+)", out)
    assert abs(float(cpu_acc) - float(gpu_acc)) <= 0.01
    assert (tmp_path / "cuda" / "checkpoint.safetensors").exists()


@pytest.mark.parametrize("extra", [[], ["--dropout", "0.2", "--opt", "sgd"]])
def test_train_compiled_and_eager_steps_print_the_same_numbers(tmp_path, capsys, extra):
    """--compile (graph mode, the CPU default) and --no-compile train bit for bit alike."""
    from tapegrad.cli import main

    args = ["--epochs", "3", "--patience", "0", "--no-progress", "--seed", "2", *extra]
    assert main(["train", "--compile", "--out", str(tmp_path / "c"), *args]) == 0
    assert main(["train", "--no-compile", "--out", str(tmp_path / "e"), *args]) == 0
    out = capsys.readouterr().out
    compiled, eager = [re.findall(r"(?:train|val|test)_?\w* \d+\.\d+", part)
                       for part in out.split("tapegrad train:")[1:]]
    assert compiled == eager and len(compiled) > 9

    def metrics(run):  # every column but the timing
        with open(tmp_path / run / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert metrics("c") == metrics("e") and len(metrics("c")) == 3


def test_eval_of_a_corrupt_or_foreign_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    res = _run("eval", "--checkpoint", str(bad), cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("tapegrad eval: error: ")
    assert "is not a checkpoint of tapegrad train" in res.stderr
    foreign = tmp_path / "foreign.safetensors"
    tg.save({"weights": tg.ones(2)}, str(foreign))  # a valid file without a run's config
    res = _run("eval", "--checkpoint", str(foreign), cwd=tmp_path)
    assert res.returncode == 2 and "no 'config' entry" in res.stderr and "Traceback" not in res.stderr


def test_train_writes_tensorboard_logs_and_the_graph(tmp_path):
    pytest.importorskip("tensorboardX")
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    pytest.importorskip("graphviz")
    import shutil

    res = _run("train", "--epochs", "2", "--no-progress", "--tensorboard", "--graph",
               "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    acc = event_accumulator.EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("val_loss")] == [1, 2]
    if shutil.which("dot"):
        assert (tmp_path / "run" / "graph.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert "graph.png not written: rendering needs Graphviz's `dot` program" in res.stdout


def test_progress_bar_stays_hidden_for_quick_epochs():
    pytest.importorskip("tqdm")
    import io

    from tapegrad.training import Progress

    stream = io.StringIO()
    bar = Progress(20, "epoch 1/3", stream=stream)
    for _ in range(20):
        bar.update(1, loss=0.5)
    bar.close()
    assert stream.getvalue() == ""  # no bar for an epoch far shorter than its 0.5 s delay
