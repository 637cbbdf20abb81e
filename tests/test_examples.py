"""Runs every script in examples/ in a fresh interpreter and checks the numbers it prints
against the claims the example makes (hand gradient == autograd, accuracies, overfitting)."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from child import child_env

EXAMPLES = Path(__file__).parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"
_outputs: dict[str, str] = {}


def run_example(name: str, cwd: Path) -> str:
    """Runs examples/<name> with this interpreter and returns its stdout; the child imports the
    same tapegrad as this process, whether installed or from the source tree."""
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=cwd, env=child_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def output(request, tmp_path):
    """The stdout of one example, run once per test session and shared by the checks."""
    def get(name):
        if name not in _outputs:
            _outputs[name] = run_example(name, tmp_path)
        return _outputs[name]
    return get


def value(out: str, label: str) -> float:
    """The number after 'label:' on the line that starts with label."""
    m = re.search(rf"^{re.escape(label)}:\s*{_NUMBER}", out, re.MULTILINE)
    assert m, f"no line '{label}: <number>' in output:\n{out}"
    return float(m.group(1))


def values(out: str, label: str) -> list:
    """The list after 'label:' on the line that starts with label."""
    m = re.search(rf"^{re.escape(label)}:\s*(\[[^\]]*\])", out, re.MULTILINE)
    assert m, f"no line '{label}: [...]' in output:\n{out}"
    return [float(v) for v in ast.literal_eval(m.group(1))]


def test_every_example_is_documented():
    readme = (EXAMPLES / "README.md").read_text()
    assert len(SCRIPTS) >= 6
    for name in SCRIPTS:
        assert f"`{name}`" in readme, f"{name} is not listed in examples/README.md"
        doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text()))
        assert doc and "What it teaches" in doc, f"{name} does not open by saying what it teaches"
        assert "manual_seed(0)" in (EXAMPLES / name).read_text(), f"{name} is not seeded"


def test_sigmoid_neuron(output):
    out = output("sigmoid_neuron.py")
    hand_w, auto_w = values(out, "hand     dL/dw"), values(out, "autograd dL/dw")
    assert max(abs(a - b) for a, b in zip(hand_w, auto_w)) <= 1e-6
    assert value(out, "max |hand - autograd|") <= 1e-6
    initial, final = value(out, "initial loss"), value(out, "final loss")
    assert final < 0.1 * initial
    # The temperatures follow a linear trend, which a sigmoid of a linear function tracks
    # closely on the [0.1, 0.9] part of its range: an error under a tenth of the span.
    assert value(out, "RMSE in degrees") < 0.1 * value(out, "temperature range")


def test_logistic_regression(output):
    out = output("logistic_regression.py")
    acc, bayes = value(out, "test accuracy"), value(out, "best possible (Bayes) accuracy")
    assert acc >= 0.90
    # 2000 test points: the accuracy's standard error is ~0.006, so 0.03 is a 5-sigma band.
    assert abs(acc - bayes) < 0.03
    # With 2000 training points the maximum-likelihood weights sit within ~0.15 of the truth.
    for w, ideal in zip(values(out, "learned weights"), values(out, "ideal weights")):
        assert abs(w - ideal) < 0.4
    assert abs(value(out, "learned bias")) < 0.2


def test_triangle(output):
    out = output("triangle.py")
    acc = value(out, "test accuracy")
    assert acc >= 0.95
    assert value(out, "train accuracy") >= 0.95
    assert acc > value(out, "no hidden layer, test accuracy") + 0.05
    assert len(re.findall(r"^hidden neuron \d:", out, re.MULTILINE)) == 3


def test_digits_mlp(output):
    out = output("digits_mlp.py")
    assert value(out, "test accuracy") >= 0.95
    assert value(out, "train accuracy") >= value(out, "test accuracy") - 0.02


def test_polynomial_regression(output):
    out = output("polynomial_regression.py")
    overfit = value(out, "validation loss, overfit")
    decay = value(out, "validation loss, weight decay")
    early = value(out, "validation loss, early stopping")
    # Overfitting: the unregularised fit is best on the training set and worst on validation,
    # and its validation loss rose well above the lowest it reached.
    assert value(out, "train loss, overfit") < value(out, "train loss, weight decay")
    assert overfit > 2 * value(out, "lowest validation loss seen without regularisation")
    assert overfit > decay
    assert overfit > early
    # No fit beats the noise: a validation loss below the noise variance would mean a bug.
    floor = value(out, "noise floor (NOISE**2)")
    assert min(decay, early) > 0.5 * floor


def test_least_squares(output):
    out = output("least_squares.py")
    # float32 gradient descent converged for 200 steps vs a float32 solve: both are within a few
    # float32 ulps of the minimiser, so 1e-4 leaves room for summation-order differences.
    assert value(out, "max |normal - gd|") < 1e-4
    assert max(abs(a - b) for a, b in zip(values(out, "normal equation"),
                                          values(out, "gradient descent"))) < 1e-3
    # 500 rows with noise 0.1: the estimate's standard error is ~0.005 per weight.
    assert value(out, "max |normal - true|") < 0.05


def test_graph_mode(output):
    out = output("graph_mode.py")
    assert value(out, "losses identical") == 1  # replayed steps give eager's bits
    assert value(out, "weights identical") == 1
    assert value(out, "last loss") < 0.5 * value(out, "first loss")
    assert "adam_step" in out and "host: " in out  # the explain() listing


def test_custom_function(output, tmp_path):
    out = output("custom_function.py")
    assert value(out, "polynomial final loss") < 0.05 * value(out, "polynomial first loss")
    assert value(out, "network final loss") < 1e-5 * value(out, "network first loss")
    pytest.importorskip("torch")
    # The same script under PyTorch prints the same losses (float32: summation order aside).
    script = (EXAMPLES / "custom_function.py").read_text()
    assert "import tapegrad as torch\n" in script
    (tmp_path / "with_torch.py").write_text(script.replace("import tapegrad as torch\n", "import torch\n"))
    proc = subprocess.run([sys.executable, str(tmp_path / "with_torch.py")], cwd=tmp_path,
                          env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for label in ("polynomial first loss", "polynomial final loss", "network first loss"):
        assert value(out, label) == pytest.approx(value(proc.stdout, label), rel=1e-5)
    assert value(out, "network final loss") == pytest.approx(value(proc.stdout, "network final loss"), rel=1e-2)


def test_tensorboard_run(output, tmp_path):
    pytest.importorskip("tensorboardX")
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    out = output("tensorboard_run.py")
    assert value(out, "validation accuracy") > 0.8
    # (the example ran in this test's tmp_path: no other test asks for it)
    acc = event_accumulator.EventAccumulator(str(tmp_path / "runs" / "tensorboard_example"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/val")] == [1, 2, 3, 4, 5]
    assert acc.Scalars("accuracy/val")[-1].value == pytest.approx(value(out, "validation accuracy"), abs=1e-4)
    assert any(n.op == "Linear" for n in acc.Graph().node)
    assert "graph: " in out


def test_pinn_poisson(output):
    out = output("pinn_poisson.py")
    # u'' = -pi^2 sin(pi x) with u(0) = u(1) = 0 is solved by sin(pi x), peak 1: the network,
    # trained only on the equation and the boundary, is within 1% of it everywhere.
    assert value(out, "max |u - sin(pi x)| on 201 points") < 0.01
    assert abs(value(out, "u(0.5)") - 1) < 0.01
    assert value(out, "final loss") < 1e-2 * value(out, "step    0 loss")


@pytest.mark.parametrize("name", ["sigmoid_neuron.py", "least_squares.py"])
def test_output_is_deterministic(name, output, tmp_path):
    assert run_example(name, tmp_path) == output(name)


def test_seeded_mlp_prints_pytorchs_numbers(output, tmp_path):
    out = output("seeded_mlp.py")
    losses = [float(v) for v in re.findall(r"loss: " + _NUMBER, out)]
    assert len(losses) == 5 and losses[-1] < 0.7 * losses[0]
    pytest.importorskip("torch")
    # The same script under PyTorch: same data, weights, dropout masks and batch order, so the
    # same losses to float32 rounding of the arithmetic, and the same shuffled labels.
    script = (EXAMPLES / "seeded_mlp.py").read_text()
    swaps = {"import tapegrad as torch\n": "import torch\n", "from tapegrad import nn\n": "from torch import nn\n",
             "from tapegrad.utils.data import": "from torch.utils.data import"}
    for ours, theirs in swaps.items():
        assert ours in script
        script = script.replace(ours, theirs)
    (tmp_path / "with_torch.py").write_text(script)
    proc = subprocess.run([sys.executable, str(tmp_path / "with_torch.py")], cwd=tmp_path,
                          env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    theirs = [float(v) for v in re.findall(r"loss: " + _NUMBER, proc.stdout)]
    assert losses == pytest.approx(theirs, rel=1e-5)
    assert value(out, "first weight") == value(proc.stdout, "first weight")
    last = "first batch after training"
    assert out[out.index(last):] == proc.stdout[proc.stdout.index(last):]
