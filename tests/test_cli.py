"""The README's example and the command-line demo run and learn."""
import os
import re
import subprocess
import sys

import pytest

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
    assert "tapegrad 0.1.0" in out and "CUDA: no" in out


def test_bad_command_exits_2():
    res = subprocess.run([sys.executable, "-m", "tapegrad", "nonsense"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "invalid choice" in res.stderr
