"""Kernel and per-call overhead benchmark: tapegrad against numpy and PyTorch (where installed),
side by side in one run, printed as a markdown table with the performance targets.

    python benchmarks/bench_kernels.py [--repeat 15] [--threads N] [--quick] [--no-peers]
                                       [--only TEXT ...]

Ratios are peer_time / tapegrad_time: above 1 means tapegrad is faster. Each case names its
target (from the CPU performance issue) and whether this run met it: a ratio against one peer
("numpy/tg >= 1.00"), or a time ("<= 2.5 us"); elementwise ops and reductions aim at PyTorch's
bandwidth, with numpy's ratio printed beside it. Cases marked "(_C.cpu direct)" call the kernel
binding without the Tensor layer, against PyTorch's own backward kernels (torch.ops.aten).
--threads N re-runs the script with OPENBLAS_NUM_THREADS=N (and OMP/MKL) so that numpy's BLAS
uses N threads too; without it every library keeps its default. --no-peers times tapegrad alone
(benchmarks/compare_builds.py uses it to compare two builds of tapegrad); --only keeps the cases
whose name contains one of the given texts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from _harness import bench, bench_alternating, np_softmax_ce, parse_args, print_header, print_row, print_table_header, ratio, torch

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad import _C

MLP_GEMMS = [(2048, 2048, 2048), (256, 784, 512), (128, 512, 512), (64, 256, 256), (32, 64, 64)]
N_ELEMENTS = 2048 * 2048  # 4M float32: 16 MiB per operand, well past the last-level cache
# --quick runs one case of each kind, enough to show that every code path of the script works.
QUICK_CASES = {
    "matmul 128x512x512", "linear+bias+relu 64x256->256 (F.linear act=relu)",
    "Sequential(Linear, ReLU) fwd 12x16->16, params require grad", "relu 4M",
    "mul 2048x2048 * (2048,) broadcast", "max 2048x2048 over dim 1 (values, indices)",
    "sigmoid backward 4M (_C.cpu direct)", "relu fwd+bwd 4M (autograd)", "softmax-CE fwd+bwd 128x10",
    "a + b 4x4, requires_grad", "nn.Linear fwd 16->16, batch 12", "Adam step, 784-256-256-10 MLP params (235k)",
    "randn 1M float32",
}


@dataclass
class Case:
    name: str
    unit: str  # GFLOP/s or GB/s (work / time, higher is better) or us (time, lower is better)
    work: Optional[float]  # flops or bytes moved per call; None for "us"
    tapegrad: Callable
    numpy: Optional[Callable]
    torch: Optional[Callable]
    target: Optional[tuple] = None  # ("numpy" | "torch", minimum ratio) or ("us", maximum time)


def gemm_cases(rng) -> list:
    out = []
    for m, k, n in MLP_GEMMS:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        ta, tb = tg.from_numpy(a), tg.from_numpy(b)
        pa, pb = (torch.from_numpy(a), torch.from_numpy(b)) if torch else (None, None)
        out.append(Case(f"matmul {m}x{k}x{n}", "GFLOP/s", 2 * m * k * n,
                        lambda ta=ta, tb=tb: ta @ tb, lambda a=a, b=b: a @ b,
                        (lambda pa=pa, pb=pb: pa @ pb) if torch else None,
                        ("numpy", 0.95 if m == 2048 else 1.0)))
    for m, k, n in MLP_GEMMS[1:]:
        x = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((n, k), dtype=np.float32)
        b = rng.standard_normal(n, dtype=np.float32)
        tx, tw, tb = tg.from_numpy(x), tg.from_numpy(w), tg.from_numpy(b)
        px, pw, pb = (torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)) if torch else (None,) * 3
        out.append(Case(
            f"linear+bias+relu {m}x{k}->{n} (F.linear act=relu)", "GFLOP/s", 2 * m * k * n,
            lambda tx=tx, tw=tw, tb=tb: F.linear(tx, tw, tb, act="relu"),
            lambda x=x, w=w, b=b: np.maximum(x @ w.T + b, 0),
            (lambda px=px, pw=pw, pb=pb: torch.relu(torch.nn.functional.linear(px, pw, pb))) if torch else None,
            ("numpy", 1.3)))
    for m, k, n in [(128, 784, 256), (12, 16, 16)]:
        x = rng.standard_normal((m, k), dtype=np.float32)
        tg.manual_seed(0)
        seq = tg.nn.Sequential(tg.nn.Linear(k, n), tg.nn.ReLU())
        w, b = seq[0].weight.detach().numpy(), seq[0].bias.detach().numpy()
        tx = tg.from_numpy(x)
        if torch:
            pseq = torch.nn.Sequential(torch.nn.Linear(k, n), torch.nn.ReLU())
            px = torch.from_numpy(x)
        # At 12x16->16 the call costs microseconds and GFLOP/s would hide it: report the time.
        unit, work = ("us", None) if m < 32 else ("GFLOP/s", 2 * m * k * n)
        out.append(Case(
            f"Sequential(Linear, ReLU) fwd {m}x{k}->{n}, params require grad", unit, work,
            lambda seq=seq, tx=tx: seq(tx), lambda x=x, w=w, b=b: np.maximum(x @ w.T + b, 0),
            (lambda pseq=pseq, px=px: pseq(px)) if torch else None, ("numpy", 1.3)))
    return out


def np_sigmoid(x):
    y = np.negative(x)
    np.exp(y, out=y)
    y += 1
    return np.reciprocal(y, out=y)


def np_gelu_tanh(x):
    """GELU in its tanh form: numpy has no erf, and this is how a numpy user writes GELU."""
    y = x * x
    y *= 0.044715 * x
    y += x
    y *= math.sqrt(2 / math.pi)
    np.tanh(y, out=y)
    y += 1
    y *= x
    y *= 0.5
    return y


def elementwise_cases(rng) -> list:
    n = N_ELEMENTS
    x = rng.standard_normal((2048, 2048), dtype=np.float32)
    y = rng.standard_normal((2048, 2048), dtype=np.float32)
    row = rng.standard_normal(2048, dtype=np.float32)
    g = rng.standard_normal((2048, 2048), dtype=np.float32)
    sig, th = np_sigmoid(x), np.tanh(x)
    tx, ty, trow, tgr = (tg.from_numpy(a) for a in (x, y, row, g))
    if torch:
        px, py, prow, pg, psig, pth = (torch.from_numpy(a) for a in (x, y, row, g, sig, th))
    on_torch = ("torch", 1.0)
    out = [
        Case("relu 4M", "GB/s", 8 * n, lambda: F.relu(tx), lambda: np.maximum(x, 0),
             (lambda: torch.relu(px)) if torch else None, on_torch),
        Case("sigmoid 4M", "GB/s", 8 * n, lambda: tg.sigmoid(tx), lambda: np_sigmoid(x),
             (lambda: torch.sigmoid(px)) if torch else None, on_torch),
        Case("tanh 4M", "GB/s", 8 * n, lambda: tg.tanh(tx), lambda: np.tanh(x),
             (lambda: torch.tanh(px)) if torch else None, on_torch),
        Case("gelu 4M (numpy: tanh form)", "GB/s", 8 * n, lambda: F.gelu(tx), lambda: np_gelu_tanh(x),
             (lambda: torch.nn.functional.gelu(px)) if torch else None, on_torch),
        Case("exp 4M", "GB/s", 8 * n, lambda: tg.exp(tx), lambda: np.exp(x),
             (lambda: torch.exp(px)) if torch else None, on_torch),
        Case("add 4M + 4M", "GB/s", 12 * n, lambda: tx + ty, lambda: x + y,
             (lambda: px + py) if torch else None, on_torch),
        Case("mul 2048x2048 * (2048,) broadcast", "GB/s", 8 * n, lambda: tx * trow, lambda: x * row,
             (lambda: px * prow) if torch else None, on_torch),
        Case("sum 4M (all)", "GB/s", 4 * n, lambda: tx.sum(), lambda: x.sum(),
             (lambda: px.sum()) if torch else None, on_torch),
        Case("mean 2048x2048 over dim 0", "GB/s", 4 * n, lambda: tx.mean(dim=0), lambda: x.mean(axis=0),
             (lambda: px.mean(dim=0)) if torch else None, on_torch),
        Case("max 2048x2048 over dim 1 (values, indices)", "GB/s", 4 * n, lambda: tx.max(dim=1),
             lambda: (x.max(axis=1), x.argmax(axis=1)),
             (lambda: px.max(dim=1)) if torch else None, on_torch),
    ]

    def direct(kind, saved):
        def call():
            o = np.empty_like(g)
            _C.cpu.activation_backward(kind, g, saved, o)
            return o
        return call

    def np_sigmoid_backward():
        o = np.subtract(1, sig)
        o *= sig
        o *= g
        return o

    def np_tanh_backward():
        o = th * th
        np.subtract(1, o, out=o)
        o *= g
        return o

    # numpy's side of relu backward is g * (x > 0): its fastest form here (np.where(x > 0, g, 0)
    # takes about three times as long).
    aten = torch.ops.aten if torch else None
    out += [
        Case("relu backward 4M (_C.cpu direct)", "GB/s", 12 * n, direct("relu", x),
             lambda: g * (x > 0),
             (lambda: aten.threshold_backward(pg, px, 0)) if torch else None, on_torch),
        Case("sigmoid backward 4M (_C.cpu direct)", "GB/s", 12 * n, direct("sigmoid", sig),
             np_sigmoid_backward, (lambda: aten.sigmoid_backward(pg, psig)) if torch else None, on_torch),
        Case("tanh backward 4M (_C.cpu direct)", "GB/s", 12 * n, direct("tanh", th),
             np_tanh_backward, (lambda: aten.tanh_backward(pg, pth)) if torch else None, on_torch),
    ]

    txr = tx.detach().requires_grad_()
    pxr = px.detach().requires_grad_() if torch else None

    def tg_relu_fwd_bwd():
        txr.grad = None
        F.relu(txr).backward(tgr)

    def torch_relu_fwd_bwd():
        pxr.grad = None
        torch.relu(pxr).backward(pg)

    out.append(Case("relu fwd+bwd 4M (autograd)", "GB/s", 20 * n, tg_relu_fwd_bwd,
                    lambda: (np.maximum(x, 0), g * (x > 0)),
                    torch_relu_fwd_bwd if torch else None, on_torch))
    return out


def cross_entropy_cases(rng) -> list:
    out = []
    for rows, classes in [(1024, 1000), (128, 10), (4096, 16)]:
        logits = rng.standard_normal((rows, classes), dtype=np.float32)
        target = rng.integers(0, classes, rows)
        tt = tg.from_numpy(target)
        pt = torch.from_numpy(target) if torch else None

        def tg_ce(logits=logits, tt=tt):
            lt = tg.from_numpy(logits).requires_grad_()
            F.cross_entropy(lt, tt).backward()

        def torch_ce(logits=logits, pt=pt):
            lt = torch.from_numpy(logits).requires_grad_()
            torch.nn.functional.cross_entropy(lt, pt).backward()

        out.append(Case(f"softmax-CE fwd+bwd {rows}x{classes}", "us", None, tg_ce,
                        lambda logits=logits, target=target: np_softmax_ce(logits, target),
                        torch_ce if torch else None, ("numpy", 4.0)))
    return out


def overhead_cases(rng) -> list:
    a4 = tg.randn(4, 4, requires_grad=True)
    b4 = tg.randn(4, 4, requires_grad=True)
    na, nb = np.ones((4, 4), np.float32), np.ones((4, 4), np.float32)
    if torch:
        pa4 = torch.randn(4, 4, requires_grad=True)
        pb4 = torch.randn(4, 4, requires_grad=True)
    out = [Case("a + b 4x4, requires_grad", "us", None, lambda: a4 + b4, lambda: na + nb,
                (lambda: pa4 + pb4) if torch else None, ("us", 2.5))]
    for batch, k, n in [(128, 784, 256), (12, 16, 16)]:
        x = rng.standard_normal((batch, k), dtype=np.float32)
        tg.manual_seed(0)
        lin = tg.nn.Linear(k, n)
        w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
        tx = tg.from_numpy(x)
        if torch:
            plin, px = torch.nn.Linear(k, n), torch.from_numpy(x)
        out.append(Case(f"nn.Linear fwd {k}->{n}, batch {batch}", "us", None,
                        lambda lin=lin, tx=tx: lin(tx), lambda x=x, w=w, b=b: x @ w.T + b,
                        (lambda plin=plin, px=px: plin(px)) if torch else None))

    sizes = [784, 256, 256, 10]
    tg.manual_seed(0)
    tg_params = [p for i in range(3) for p in tg.nn.Linear(sizes[i], sizes[i + 1]).parameters()]
    np_params = [p.detach().numpy().copy() for p in tg_params]
    grads = [rng.standard_normal(p.shape, dtype=np.float32) for p in np_params]
    for p, gr in zip(tg_params, grads):
        p.grad = tg.from_numpy(gr)
    if torch:
        torch_params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in np_params]
        for p, gr in zip(torch_params, grads):
            p.grad = torch.from_numpy(gr)
    np_adam = NumpyAdam(np_params, lr=1e-3)
    # one fused call per group here; PyTorch's CPU default is its per-tensor loop
    for name in ("Adam", "NAdam", "RAdam", "Adamax", "Adadelta", "ASGD", "Rprop"):
        step = getattr(tg.optim, name)(tg_params, lr=1e-3).step
        torch_step = getattr(torch.optim, name)(torch_params, lr=1e-3).step if torch else None
        out.append(Case(f"{name} step, 784-256-256-10 MLP params (235k)", "us", None, step,
                        (lambda: np_adam.step(grads)) if name == "Adam" else None, torch_step))
    return out


def random_cases(rng) -> list:
    """Sampling with PyTorch's CPU streams (MT19937 and PyTorch's transforms) against PyTorch's
    own kernels and numpy's default generator (PCG64, another stream)."""
    n = 1 << 20
    g = np.random.default_rng(0)
    x = tg.ones(n)
    px = torch.ones(n) if torch else None
    return [
        Case("rand 1M float32", "us", None, lambda: tg.rand(n), lambda: g.random(n, dtype=np.float32),
             (lambda: torch.rand(n)) if torch else None),
        Case("randn 1M float32", "us", None, lambda: tg.randn(n), lambda: g.standard_normal(n, dtype=np.float32),
             (lambda: torch.randn(n)) if torch else None),
        Case("dropout 1M p=0.5 (mask and scale)", "us", None, lambda: F.dropout(x, 0.5),
             lambda: (g.random(n, dtype=np.float32) >= 0.5) * np.float32(2.0),
             (lambda: torch.nn.functional.dropout(px, 0.5)) if torch else None),
    ]


class NumpyAdam:
    """torch.optim.Adam's update written with in-place numpy operations."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1 ** self.t)
        root_bc2 = math.sqrt(1 - b2 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            denom = np.sqrt(v)
            denom /= root_bc2
            denom += self.eps
            p -= step_size * m / denom


def target_text(target) -> str:
    if target is None:
        return "-"
    kind, value = target
    return f"<= {value} us" if kind == "us" else f"{kind}/tg >= {value:.2f}"


def target_met(target, t_tg, t_np, t_torch) -> str:
    if target is None:
        return "-"
    kind, value = target
    if kind == "us":
        ok = t_tg * 1e6 <= value
    else:
        peer = t_np if kind == "numpy" else t_torch
        if peer is None:
            return "n/a"
        ok = peer / t_tg >= value
    return "pass" if ok else "MISS"


def main() -> None:
    def add_arguments(p):
        p.add_argument("--no-peers", action="store_true", help="time tapegrad only")
        p.add_argument("--only", nargs="+", default=None, metavar="TEXT",
                       help="only the cases whose name contains one of these texts")

    args, settings = parse_args(__doc__.split("\n")[0], add_arguments)
    rng = np.random.default_rng(0)
    cases = (gemm_cases(rng) + elementwise_cases(rng) + cross_entropy_cases(rng) + overhead_cases(rng)
             + random_cases(rng))
    if settings.quick:
        cases = [c for c in cases if c.name in QUICK_CASES]
    if args.only:
        cases = [c for c in cases if any(text in c.name for text in args.only)]
    print_header("tapegrad kernel benchmark", settings)
    columns = ["case", "unit", "tapegrad", "numpy", "torch", "numpy/tapegrad", "torch/tapegrad", "target", "met"]
    print_table_header(columns)
    rows = []
    for case in cases:
        # The libraries' samples alternate, so that the VM's drift in speed weighs on all alike.
        fns = [case.tapegrad] + ([] if args.no_peers else [f for f in (case.numpy, case.torch) if f])
        times = iter(bench_alternating(fns, settings, peers=True) if len(fns) > 1 else [bench(case.tapegrad, settings)])
        t_tg = next(times)
        t_np = next(times) if case.numpy and not args.no_peers else None
        t_torch = next(times) if case.torch and not args.no_peers else None

        def fmt(t, unit=case.unit, work=case.work):
            if t is None:
                return "-"
            return f"{t * 1e6:.2f}" if unit == "us" else f"{work / t / 1e9:.1f}"

        row = [case.name, case.unit, fmt(t_tg), fmt(t_np), fmt(t_torch), ratio(t_np, t_tg),
               ratio(t_torch, t_tg), target_text(case.target), target_met(case.target, t_tg, t_np, t_torch)]
        rows.append(row)
        print_row(row)
    missed = [r[0] for r in rows if r[-1] == "MISS"]
    print()
    print(f"targets met: {sum(r[-1] == 'pass' for r in rows)} of {sum(r[-1] in ('pass', 'MISS') for r in rows)}"
          + (f"; missed: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
