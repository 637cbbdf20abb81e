"""scripts/gpu_check.sh's command line: step names choose what runs (checked with --dry-run,
which runs nothing)."""
import os
import shutil
import subprocess

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "gpu_check.sh")
STEPS = ["build", "tests", "memcheck", "racecheck", "graphs", "train", "bench"]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def gpu_check(*args):
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=60)


def planned(out: str) -> list:
    """The log names a dry run lists, in order."""
    return [line.split(":", 1)[0] for line in out.splitlines()]


def test_no_step_names_run_every_step_in_order():
    res = gpu_check("--dry-run")
    assert res.returncode == 0, res.stderr
    assert planned(res.stdout) == ["build", "info", "tests", "memcheck", "racecheck", "graphs",
                                   "graphs-off", "graphs-memcheck", "train-cuda", "train-cpu",
                                   "bench-mlp", "wheel-build", "wheel-run"]


def test_named_steps_run_alone():
    res = gpu_check("--dry-run", "racecheck", "train")
    assert res.returncode == 0, res.stderr
    assert planned(res.stdout) == ["racecheck", "train-cuda", "train-cpu"]
    race = res.stdout.splitlines()[0]
    assert "compute-sanitizer --tool racecheck" in race
    assert all(f in race for f in ("softmax", "matmul", "sum", "cuda and not standin"))


def test_unknown_step_exits_2_naming_it_and_the_steps():
    res = gpu_check("--dry-run", "tests", "nonsense")
    assert res.returncode == 2 and res.stdout == ""
    assert "unknown step 'nonsense'" in res.stderr
    assert all(s in res.stderr for s in STEPS)


def _fake_sanitizer(tmp_path, output: str, rc: int) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "compute-sanitizer"
    fake.write_text(f"#!/bin/sh\necho '{output}'\nexit {rc}\n")
    fake.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", OUT=str(tmp_path / "out"))


@pytest.mark.parametrize("output, summary", [
    ("========= Error: Target device is not supported", "memcheck: sanitizer unavailable"),
    ("========= ERROR SUMMARY: 1 error\n1 failed, 3 passed in 2.0s", "memcheck: exit 1"),
    ("3 passed in 2.0s", "memcheck: exit 0"),
], ids=["refused", "errors-found", "clean"])
def test_a_refused_sanitizer_is_recorded_as_unavailable(tmp_path, output, summary):
    env = _fake_sanitizer(tmp_path, output, 0 if summary.endswith("exit 0") else 1)
    res = subprocess.run(["bash", SCRIPT, "memcheck"], capture_output=True, text=True, timeout=60, env=env)
    lines = (tmp_path / "out" / "summary.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(summary), lines
    assert (tmp_path / "out" / "memcheck.log").exists()
    assert res.returncode == 0
