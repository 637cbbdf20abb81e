"""Kernel and overhead benchmark: tapegrad against numpy (and PyTorch where installed), side by
side in one run, printing times and ratios as a markdown table.

    python benchmarks/bench_ops.py [--repeat 20] [--threads N]

Ratios are peer_time / tapegrad_time: above 1 means tapegrad is faster.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time

import numpy as np

import tapegrad as tg
import tapegrad.nn.functional as F

try:
    import torch
except ImportError:  # the benchmark still runs; the PyTorch column stays empty
    torch = None


def bench(fn, repeat: int, min_time: float = 0.05) -> float:
    """Median seconds per call; each sample loops enough calls to last about min_time/repeat."""
    # Let the previous library's worker threads (OpenBLAS and PyTorch spin after a call) go idle
    # so they do not steal the cores from the one being measured.
    time.sleep(0.3)
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / repeat / once))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def np_softmax_ce(x, t):
    """Forward + backward of mean softmax cross-entropy in plain numpy."""
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True)
    logp = x - m - np.log(s)
    loss = -logp[np.arange(len(t)), t].mean()
    g = e / s
    g[np.arange(len(t)), t] -= 1
    g /= len(t)
    return loss, g


def cases(rng):
    """(name, unit, work, tapegrad fn, numpy fn, torch fn or None)."""
    out = []
    for m, k, n in [(2048, 2048, 2048), (256, 784, 512), (128, 512, 512), (64, 256, 256), (32, 64, 64)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        ta, tb = tg.from_numpy(a), tg.from_numpy(b)
        pa, pb = (torch.from_numpy(a), torch.from_numpy(b)) if torch else (None, None)
        out.append((f"matmul {m}x{k}x{n}", "GFLOP/s", 2 * m * k * n,
                    lambda ta=ta, tb=tb: ta @ tb, lambda a=a, b=b: a @ b,
                    (lambda pa=pa, pb=pb: pa @ pb) if torch else None))
    n = 4 * 1024 * 1024
    x = rng.standard_normal(n, dtype=np.float32)
    tx = tg.from_numpy(x)
    px = torch.from_numpy(x) if torch else None
    out.append(("relu 4M", "GB/s", 8 * n, lambda: F.relu(tx), lambda: np.maximum(x, 0),
                (lambda: torch.relu(px)) if torch else None))
    out.append(("sigmoid 4M", "GB/s", 8 * n, lambda: tg.sigmoid(tx), lambda: 1 / (1 + np.exp(-x)),
                (lambda: torch.sigmoid(px)) if torch else None))
    out.append(("sum 4M", "GB/s", 4 * n, lambda: tx.sum(), lambda: x.sum(),
                (lambda: px.sum()) if torch else None))
    logits = rng.standard_normal((1024, 1000), dtype=np.float32)
    target = rng.integers(0, 1000, 1024)

    def tg_ce():
        lt = tg.from_numpy(logits).requires_grad_()
        F.cross_entropy(lt, tg.from_numpy(target)).backward()

    def torch_ce():
        lt = torch.from_numpy(logits).requires_grad_()
        torch.nn.functional.cross_entropy(lt, torch.from_numpy(target)).backward()

    out.append(("softmax-CE fwd+bwd 1024x1000", "GB/s", 2 * 4 * logits.size, tg_ce,
                lambda: np_softmax_ce(logits, target), torch_ce if torch else None))
    a4 = tg.randn(4, 4, requires_grad=True)
    b4 = tg.randn(4, 4, requires_grad=True)
    pa4 = torch.randn(4, 4, requires_grad=True) if torch else None
    pb4 = torch.randn(4, 4, requires_grad=True) if torch else None
    na, nb = np.ones((4, 4), np.float32), np.ones((4, 4), np.float32)
    out.append(("a + b 4x4, requires_grad (overhead)", "us", None, lambda: a4 + b4,
                lambda: na + nb, (lambda: pa4 + pb4) if torch else None))
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {tg.get_num_threads()} tapegrad threads"


def commit() -> str:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        tg.set_num_threads(args.threads)
        if torch:
            torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d')}  commit: {commit()}  numpy {np.__version__}"
          + (f"  torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "  torch: not installed"))
    print()
    print("| case | unit | tapegrad | numpy | torch | numpy/tapegrad | torch/tapegrad |")
    print("|---|---|---|---|---|---|---|")
    for name, unit, work, f_tg, f_np, f_torch in cases(rng):
        t_tg = bench(f_tg, args.repeat)
        t_np = bench(f_np, args.repeat)
        t_torch = bench(f_torch, args.repeat) if f_torch else None

        def fmt(t):
            if t is None:
                return "-"
            return f"{t * 1e6:.2f}" if unit == "us" else f"{work / t / 1e9:.1f}"

        r_np = f"{t_np / t_tg:.2f}x"
        r_torch = f"{t_torch / t_tg:.2f}x" if t_torch else "-"
        print(f"| {name} | {unit} | {fmt(t_tg)} | {fmt(t_np)} | {fmt(t_torch)} | {r_np} | {r_torch} |")


if __name__ == "__main__":
    main()
