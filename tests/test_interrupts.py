"""Ctrl-C during long kernels: a child process busy in one long kernel call (or in a training
loop) gets SIGINT at a random moment and must raise KeyboardInterrupt within a second, with
the process still usable afterwards (the thread pool included)."""
import os
import random
import signal
import time

import pytest

from child import popen_python

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals to a child are POSIX")

# argv: workload, threads. Prints "ready" just before the long call, then "interrupted" from
# the KeyboardInterrupt handler and "usable" once the process has computed correctly again.
_CHILD = r'''
import math, sys, time
import numpy as np
import tapegrad as tg
from tapegrad import _C, nn, optim

kind, threads = sys.argv[1], int(sys.argv[2])
tg.set_num_threads(threads)
C = _C.cpu
rng = np.random.default_rng(0)

# Recomputed after the interrupt: a product that uses the thread pool, equal bit for bit.
pa, pb = rng.standard_normal((384, 384)), rng.standard_normal((384, 384))
def probe():
    out = np.empty((384, 384))
    C.matmul(pa, pb, out)
    return out
before = probe()

def seconds(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t

# One call of each workload is sized to take about TARGET seconds here (the parent signals
# within half a second of "ready"). Broadcast (stride-0) operands make long calls without
# the memory a dense input would need.
TARGET = 2.5

def linear(make, n0):
    """make(n) -> the call; its work grows linearly with n."""
    t = min(seconds(make(n0)) for _ in range(2))
    return make(max(n0, int(n0 * TARGET / max(t, 1e-6))))

if kind == "gemm":
    # float64 a @ b, square, at least 4096 (and as large as needed to last TARGET, to 6144).
    a1, b1, o1 = rng.standard_normal((1024, 1024)), rng.standard_normal((1024, 1024)), np.empty((1024, 1024))
    t = min(seconds(lambda: C.matmul(a1, b1, o1)) for _ in range(2))
    n = min(6144, max(4096, math.ceil(1024 * (TARGET / t) ** (1 / 3) / 64) * 64))
    a, b, out = rng.standard_normal((n, n)), rng.standard_normal((n, n)), np.empty((n, n))
    call = lambda: C.matmul(a, b, out)
elif kind == "reduce":
    def make(rows):
        x = np.broadcast_to(np.float32(0.5), (rows, 1 << 16))
        out = np.empty(rows, np.float32)
        return lambda: C.reduce("sum", x, [1], out)
    call = linear(make, 1 << 12)
elif kind == "unary":
    def make(n):  # exp into a stride-0 output: elementwise work without an n-element buffer
        x = np.broadcast_to(np.float64(0.5), (n,))
        out = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(n,), strides=(0,))
        return lambda: C.unary("exp", x, out)
    call = linear(make, 1 << 24)
elif kind == "cross_entropy":
    def make(rows):
        logits = np.broadcast_to(np.float32(0.1), (rows, 1 << 14))
        target = np.zeros(rows, np.int64)
        loss, lse = np.empty(rows, np.float32), np.empty(rows, np.float32)
        return lambda: C.cross_entropy_forward(logits, target, loss, lse)
    call = linear(make, 1 << 12)
elif kind == "train":
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                          nn.Linear(1024, 10))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = tg.randn(512, 256), tg.randint(0, 10, (512,))
    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    step()
    def call():
        while True:
            step()
else:
    raise SystemExit(f"unknown workload {kind}")

print("ready", flush=True)
try:
    call()
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    assert np.array_equal(probe(), before)
    if kind == "train":
        assert math.isfinite(step())
    print("usable", flush=True)
'''


def _interrupt(kind, threads, moment):
    """Seconds from SIGINT to the child's KeyboardInterrupt handler."""
    proc = popen_python(_CHILD, kind, threads)
    try:
        assert proc.stdout.readline() == "ready\n"
        time.sleep(moment)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline()
        latency = time.monotonic() - sent
        rest = proc.stdout.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert line == "interrupted\n", f"{kind}: the child printed {line!r} instead of being interrupted"
    assert rest == "usable\n" and proc.returncode == 0
    return latency


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["gemm", "train"])
def test_ctrl_c_stops_a_long_gemm_or_training_within_a_second(kind, threads):
    moment = random.Random(f"{kind}/{threads}").uniform(0.05, 0.5)  # seeded: reproducible
    assert _interrupt(kind, threads, moment) < 1.0


@pytest.mark.parametrize("kind", ["reduce", "unary", "cross_entropy"])
def test_ctrl_c_stops_every_kernel_family_built_on_parallel_for(kind):
    moment = random.Random(kind).uniform(0.05, 0.5)
    assert _interrupt(kind, 2, moment) < 1.0
