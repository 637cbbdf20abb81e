"""What the benchmark scripts share: the command line (--repeat, --threads, --quick), the timer,
the header naming machine, date, commit and thread counts, the markdown table, and the numpy
softmax cross-entropy that both scripts use as numpy's side."""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import tapegrad as tg

try:
    import torch
except ImportError:  # the benchmarks still run; the PyTorch columns stay empty
    torch = None

# Environment variables that size the BLAS / OpenMP pools of numpy and PyTorch. OpenBLAS reads
# them once, when numpy is imported, so they cannot be changed from inside a running process.
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class Settings:
    """How long to measure: `repeat` samples of at least `min_time / repeat` seconds each, after
    a `pause` that lets the previous library's worker threads go idle."""

    def __init__(self, repeat: int, quick: bool) -> None:
        self.quick = quick
        self.repeat = repeat
        self.min_time = 0.005 if quick else 0.05
        self.pause = 0.05 if quick else 0.3
        # Libraries compared in one run take turns in `rounds` blocks each (bench_alternating).
        # Before a block: `settle` seconds of sleep, for the previous library's worker threads
        # to stop spinning (OpenBLAS's poll for about 0.1 s), then `warm` seconds of untimed
        # calls: on a VM a core left idle takes tens of milliseconds to come back to speed.
        self.rounds = 1 if quick else 5
        self.settle = 0.005 if quick else 0.2
        self.warm = 0.005 if quick else 0.1


def parse_args(description: str, add_arguments=None) -> tuple[argparse.Namespace, Settings]:
    """Parses the shared options (and the script's own, added by add_arguments(parser)) and
    applies --threads to every library."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed samples per measurement, the median is reported (default 15, 3 with --quick)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for tapegrad, PyTorch and numpy's BLAS (default: each library's own)")
    parser.add_argument("--quick", action="store_true",
                        help="a small subset with few repeats: checks that the script runs, not a measurement")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be positive, got {args.threads}")
        _reexec_with_blas_threads(args.threads)
        tg.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 15)
    if repeat < 1:
        parser.error(f"--repeat must be positive, got {repeat}")
    return args, Settings(repeat, args.quick)


def _reexec_with_blas_threads(n: int) -> None:
    """Restarts this script with the BLAS thread variables set to n, unless they already are:
    numpy has been imported by now, and OpenBLAS sized its pool from the environment then."""
    if all(os.environ.get(var) == str(n) for var in _THREAD_VARS):
        return
    env = dict(os.environ, **{var: str(n) for var in _THREAD_VARS})
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def bench(fn, settings: Settings) -> float:
    """Median seconds per call of fn(); each sample loops enough calls to last about
    min_time / repeat seconds, so that short calls are not lost in the timer's resolution."""
    # Let the previous library's worker threads (OpenBLAS and PyTorch spin after a call) go idle
    # so that they do not take the cores from the one being measured.
    time.sleep(settings.pause)
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(settings.min_time / settings.repeat / once))
    samples = []
    for _ in range(settings.repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def bench_alternating(fns, settings: Settings, peers: bool = False) -> list:
    """Median seconds per call of each of `fns`, their samples taken in turn, so that a drift in
    the machine's speed during the run weighs on all of them alike: for ratios. Without `peers`
    (ways of doing the same work in tapegrad) one sample of each, then again. With `peers` (fns
    of different libraries, each with thread pools of its own) the turns are blocks of samples,
    settings.rounds per fn, each after a pause and a warm-up (see Settings)."""
    time.sleep(settings.pause)
    inner = []
    for fn in fns:
        fn()
        t0 = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t0, 1e-7)
        inner.append(max(1, int(settings.min_time / settings.repeat / once)))
    rounds = settings.rounds if peers else settings.repeat
    per_turn = -(-settings.repeat // rounds) if peers else 1
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for fn, n, out in zip(fns, inner, samples):
            if peers:
                time.sleep(settings.settle)
                end = time.perf_counter() + settings.warm
                while time.perf_counter() < end:
                    fn()
            for _ in range(per_turn):
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                out.append((time.perf_counter() - t0) / n)
    return [statistics.median(s) for s in samples]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, caches per core {tg._cache_text()}"


def commit() -> str:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def numpy_blas() -> str:
    """numpy's BLAS threads, and its library and version as threadpoolctl reports them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threads = os.environ.get("OPENBLAS_NUM_THREADS", "OpenBLAS default")
        return f"BLAS threads: {threads}; pip install threadpoolctl to name the library"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(f"BLAS threads: {p['num_threads']}, {p['internal_api']} {p.get('version')} "
                     f"{p.get('architecture') or ''}".rstrip() for p in pools) or "no BLAS found"


def print_header(title: str, settings: Settings) -> None:
    peer = f"torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "torch: not installed"
    print(f"# {title}")
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}  commit: {commit()}  python {platform.python_version()}")
    print(f"tapegrad {tg.__version__} ({tg.get_num_threads()} threads, CPU path {tg.backends.cpu.isa})  "
          f"numpy {np.__version__} ({numpy_blas()})  {peer}")
    print(f"median of {settings.repeat} samples; libraries take turns, {settings.rounds} blocks each, every block "
          f"after {settings.settle:g} s idle and {settings.warm:g} s of untimed calls"
          + ("  [--quick: a subset, not a measurement]" if settings.quick else ""))
    print()


def print_table_header(columns: list[str]) -> None:
    print_row(columns)
    print("|" + "---|" * len(columns))


def print_row(cells: list[str]) -> None:
    """One markdown table row, flushed: a long run shows each case as soon as it is measured."""
    print("| " + " | ".join(cells) + " |", flush=True)


def ratio(peer: float | None, ours: float) -> str:
    """peer / tapegrad time: above 1 means tapegrad is faster."""
    return "-" if peer is None else f"{peer / ours:.2f}x"


def np_softmax_ce(x: np.ndarray, t: np.ndarray):
    """Mean softmax cross-entropy of logits x (N, C) and class indices t, and its gradient with
    respect to x, in plain numpy (log-sum-exp shifted, as a careful numpy user writes it)."""
    rows = np.arange(len(t))
    e = x - x.max(axis=1, keepdims=True)
    picked = e[rows, t]
    np.exp(e, out=e)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) - picked)
    e /= s
    e[rows, t] -= 1
    e /= len(t)
    return loss, e
