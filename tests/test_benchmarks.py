"""Runs each benchmark script in benchmarks/ with --quick in a fresh interpreter and checks that it
finishes and prints its header, its table and a row for every case of the quick subset. The
timings themselves are not checked: the scripts measure, they do not assert."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tapegrad

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"

KERNEL_CASES = [
    "matmul 128x512x512", "linear+bias+relu 64x256->256 (F.linear act=relu)",
    "Sequential(Linear, ReLU) fwd 12x16->16, params require grad", "relu 4M",
    "mul 2048x2048 * (2048,) broadcast", "max 2048x2048 over dim 1 (values, indices)",
    "sigmoid backward 4M (_C.cpu direct)", "relu fwd+bwd 4M (autograd)", "softmax-CE fwd+bwd 128x10",
    "a + b 4x4, requires_grad", "nn.Linear fwd 16->16, batch 12", "Adam step, 784-256-256-10 MLP params (235k)",
    "randn 1M float32",
]
MLP_MODELS = ["2-16-16-2", "784-256-256-10", "tiny 4-8-1 regression (MSE)"]


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    """Runs benchmarks/<args[0]> with this interpreter, importing the same tapegrad as this
    process, whether installed or from the source tree."""
    env = dict(os.environ)
    package_root = str(Path(tapegrad.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(BENCHMARKS / args[0]), *args[1:]], env=env,
                          capture_output=True, text=True, timeout=120)


def table_rows(out: str, header_start: str) -> list:
    """The first cell of each data row of the markdown table whose header starts with
    header_start; every row must have as many cells as the header."""
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(header_start)), None)
    assert start is not None, f"no table header '{header_start}' in output:\n{out}"
    assert re.fullmatch(r"\|(---\|)+", lines[start + 1]), f"header not followed by a separator:\n{out}"
    width = lines[start].count(" | ") + 1
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        cells = line[2:-2].split(" | ")
        assert len(cells) == width and line.endswith(" |"), f"malformed row: {line}"
        rows.append(cells[0])
    return rows


def check_header(out: str) -> None:
    for label in ("machine:", "date:", "commit:", "tapegrad ", "numpy "):
        assert label in out, f"no '{label}' in the header:\n{out}"


def test_bench_kernels_quick():
    proc = run_benchmark("bench_kernels.py", "--quick")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_header(proc.stdout)
    rows = table_rows(proc.stdout, "| case | unit | tapegrad | numpy | torch | numpy/tapegrad | torch/tapegrad |")
    assert rows == KERNEL_CASES
    assert re.search(r"^targets met: \d+ of \d+", proc.stdout, re.MULTILINE)


def test_bench_mlp_quick_with_threads():
    # --threads restarts the script with OPENBLAS_NUM_THREADS set: the header must show it.
    proc = run_benchmark("bench_mlp.py", "--quick", "--threads", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_header(proc.stdout)
    assert re.search(r"^tapegrad \S+ \(1 threads, CPU path (portable|avx2|avx512)\)", proc.stdout, re.MULTILINE), proc.stdout
    assert "BLAS threads: 1" in proc.stdout
    assert table_rows(proc.stdout, "| model | batch | tapegrad us | torch us |") == MLP_MODELS
    if importlib.util.find_spec("torch") is None:
        assert "PyTorch is not installed" in proc.stdout
    else:
        assert re.search(r"torch \S+ \(1 threads\)", proc.stdout), proc.stdout
        loss_header = "| model | first loss | last loss | first-step abs diff | max abs diff |"
        assert table_rows(proc.stdout, loss_header) == MLP_MODELS


def test_bench_mlp_cuda_without_cuda_exits_with_a_message():
    if tapegrad.cuda.is_available():
        pytest.skip("this build has CUDA")
    proc = run_benchmark("bench_mlp.py", "--device", "cuda")
    assert proc.returncode != 0
    assert "tapegrad.cuda.is_available() is False" in proc.stderr
