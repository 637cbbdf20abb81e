"""Training-step benchmark: one step (zero_grad, forward, loss, backward, Adam lr 1e-3) of the
same MLPs in tapegrad and PyTorch, and a hand-written numpy MLP (forward, backward and an SGD
update in numpy), side by side in one run; then a check that tapegrad and PyTorch, started from
the same weights and fed the same batches, follow the same loss trajectory.

    python benchmarks/bench_mlp.py [--repeat 15] [--threads N] [--quick] [--device cpu]

Ratios are peer_time / tapegrad_time: above 1 means tapegrad is faster. The FLOP floor of a
model is the time numpy's sgemm would take for the step's GEMMs alone: per layer the forward
GEMM and both backward GEMMs (3 x 2*M*K*N flops, without the input gradient of the first layer,
which nothing needs), each at the GFLOP/s numpy reaches for that layer's shape in this run.
The first step's losses come from identical weights, so they differ by float32 rounding alone.
Later steps can drift further without a bug: Adam divides each gradient element by its running
RMS, so an element whose gradient is near zero (around eps = 1e-8) turns a rounding difference
into a weight difference of up to lr, and the models then see slightly different weights.
--device cuda runs both libraries on the GPU (each step timed up to the end of its kernels);
it exits with a message where tapegrad or PyTorch sees no GPU.
The graph-mode table times the same step under tapegrad.compile and torch.compile (the latter
not with --quick), and the replayed kernels alone.
"""
from __future__ import annotations

import sys
import tracemalloc
from dataclasses import dataclass
from typing import Optional

import numpy as np
from _harness import (bench, bench_alternating, np_softmax_ce, parse_args, print_header, print_row,
                      print_table_header, ratio, torch)

import tapegrad as tg

LOSS_STEPS = 20
QUICK_LOSS_STEPS = 5


@dataclass
class Model:
    name: str
    sizes: list  # layer widths, input first; ReLU between the Linear layers
    batch: int
    loss: str = "ce"  # "ce": cross-entropy over sizes[-1] classes; "mse": regression
    max_us: Optional[float] = None  # target for tapegrad's step time
    max_floor: Optional[float] = None  # target for tapegrad time / FLOP floor
    quick: bool = True  # part of the --quick subset


MODELS = [
    Model("2-16-16-2", [2, 16, 16, 2], 12, max_us=60),
    Model("784-256-256-10", [784, 256, 256, 10], 128, max_us=1300, max_floor=1.4),
    Model("784-512-512-10", [784, 512, 512, 10], 1024, max_us=21000, quick=False),
    Model("64-64-64-64-64-16", [64, 64, 64, 64, 64, 16], 4096, max_us=3000, quick=False),
    Model("wide 1024-2048-10", [1024, 2048, 10], 256, quick=False),
    Model("deep-narrow 10 x Linear(32, 32)", [32] * 11, 64, quick=False),
    Model("tiny 4-8-1 regression (MSE)", [4, 8, 1], 8, loss="mse"),
]


def mlp(lib, sizes):
    """Linear layers of `sizes` with ReLU between them, built by `lib` (tapegrad or torch)."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(lib.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(lib.nn.ReLU())
    return lib.nn.Sequential(*layers)


def initial_weights(model: Model) -> dict:
    """PyTorch's initialisation of the model, as numpy arrays keyed like its state_dict."""
    torch.manual_seed(0)
    return {k: v.detach().numpy().copy() for k, v in mlp(torch, model.sizes).state_dict().items()}


def make_models(model: Model, weights: Optional[dict], device: str):
    """The tapegrad and PyTorch models (PyTorch's None where it is not installed), both holding
    `weights` when given; without PyTorch tapegrad keeps its own initialisation."""
    tmodel = mlp(tg, model.sizes)
    if weights is not None:
        tmodel.load_state_dict({k: tg.from_numpy(v.copy()) for k, v in weights.items()})
    pmodel = None
    if torch is not None:
        pmodel = mlp(torch, model.sizes)
        pmodel.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    if device != "cpu":
        tmodel.to(device)
        if pmodel is not None:
            pmodel.to(device)
    return tmodel, pmodel


def make_batch(model: Model, rng):
    x = rng.standard_normal((model.batch, model.sizes[0]), dtype=np.float32)
    if model.loss == "ce":
        y = rng.integers(0, model.sizes[-1], model.batch)
    else:
        y = rng.standard_normal((model.batch, model.sizes[-1]), dtype=np.float32)
    return x, y


def train_step(lib, net, opt, loss_kind, x, y):
    """One step with PyTorch's API, which tapegrad shares: lib is the tapegrad or torch module."""
    opt.zero_grad()
    out = net(x)
    fn = lib.nn.functional.cross_entropy if loss_kind == "ce" else lib.nn.functional.mse_loss
    loss = fn(out, y)
    loss.backward()
    opt.step()
    return loss


class NumpyMLP:
    """The MLP written by hand in numpy: ReLU hidden layers, softmax cross-entropy or MSE, and a
    plain SGD update, with in-place operations where numpy offers them."""

    def __init__(self, weights: dict, n_layers: int, loss: str, lr: float = 1e-3) -> None:
        self.w = [weights[f"{2 * i}.weight"].copy() for i in range(n_layers)]
        self.b = [weights[f"{2 * i}.bias"].copy() for i in range(n_layers)]
        self.loss, self.lr = loss, lr

    def step(self, x, y) -> float:
        acts = [x]
        last = len(self.w) - 1
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            h = acts[-1] @ w.T
            h += b
            if i < last:
                np.maximum(h, 0, out=h)
            acts.append(h)
        if self.loss == "ce":
            loss, g = np_softmax_ce(acts[-1], y)
        else:
            g = acts[-1] - y
            loss = float(np.mean(g * g))
            g *= 2 / g.size
        for i in range(last, -1, -1):
            gw = g.T @ acts[i]
            gb = g.sum(axis=0)
            if i > 0:
                # acts[i] is the ReLU output of layer i - 1: its gradient passes where it is > 0.
                g = g @ self.w[i]
                g *= acts[i] > 0
            gw *= self.lr
            gb *= self.lr
            self.w[i] -= gw
            self.b[i] -= gb
        return loss


def flop_floor(model: Model, settings, cache: dict) -> float:
    """Seconds numpy's sgemm needs for the step's GEMMs, at its rate for each layer's shape."""
    total = 0.0
    for i in range(len(model.sizes) - 1):
        m, k, n = model.batch, model.sizes[i], model.sizes[i + 1]
        if (m, k, n) not in cache:
            rng = np.random.default_rng(1)
            a = rng.standard_normal((m, k), dtype=np.float32)
            w = rng.standard_normal((n, k), dtype=np.float32)
            cache[m, k, n] = 2 * m * k * n / bench(lambda a=a, w=w: a @ w.T, settings)
        gemms = 2 if i == 0 else 3
        total += gemms * 2 * m * k * n / cache[m, k, n]
    return total


def us(t: Optional[float]) -> str:
    return "-" if t is None else f"{t * 1e6:.1f}"


def targets(model: Model) -> str:
    parts = []
    if model.max_us is not None:
        parts.append(f"<= {model.max_us:g} us")
    if model.max_floor is not None:
        parts.append(f"<= {model.max_floor}x floor")
    return ", ".join(parts) or "-"


def targets_met(model: Model, t_tg: float, floor: Optional[float]) -> str:
    missed = []
    if model.max_us is not None and t_tg * 1e6 > model.max_us:
        missed.append("time")
    if model.max_floor is not None and (floor is None or t_tg / floor > model.max_floor):
        missed.append("floor")
    if model.max_us is None and model.max_floor is None:
        return "-"
    return "MISS (" + ", ".join(missed) + ")" if missed else "pass"


def timing_table(models, settings, device, rng) -> None:
    columns = ["model", "batch", "tapegrad us", "torch us", "numpy-SGD us", "torch/tapegrad",
               "numpy/tapegrad", "floor us", "tapegrad/floor", "target", "met"]
    print("## Training step: zero_grad, forward, loss, backward, Adam (numpy: SGD)")
    print()
    print_table_header(columns)
    # A CUDA step returns before the device finishes: time it up to the end of its kernels.
    tg_sync = tg.cuda.synchronize if device == "cuda" else (lambda: None)
    torch_sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    floors = {}
    for model in models:
        weights = initial_weights(model) if torch else None
        tmodel, pmodel = make_models(model, weights, device)
        x, y = make_batch(model, rng)
        tx, ty = tg.from_numpy(x), tg.from_numpy(y)
        if device != "cpu":
            tx, ty = tx.to(device), ty.to(device)
        topt = tg.optim.Adam(tmodel.parameters(), lr=1e-3)

        def tg_step():
            train_step(tg, tmodel, topt, model.loss, tx, ty)
            tg_sync()

        steps = {"tapegrad": tg_step}
        if pmodel is not None:
            px, py = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            popt = torch.optim.Adam(pmodel.parameters(), lr=1e-3)

            def torch_step():
                train_step(torch, pmodel, popt, model.loss, px, py)
                torch_sync()

            steps["torch"] = torch_step
        floor = None
        if device == "cpu":
            if weights is None:
                weights = {k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()}
            np_mlp = NumpyMLP(weights, len(model.sizes) - 1, model.loss)
            steps["numpy"] = lambda: np_mlp.step(x, y)
            floor = flop_floor(model, settings, floors)
        # The libraries take turns, so that the machine's drift weighs on all alike.
        times = dict(zip(steps, bench_alternating(list(steps.values()), settings, peers=True)))
        t_tg, t_torch, t_np = times["tapegrad"], times.get("torch"), times.get("numpy")
        print_row([model.name, str(model.batch), us(t_tg), us(t_torch), us(t_np), ratio(t_torch, t_tg),
                   ratio(t_np, t_tg), us(floor), "-" if floor is None else f"{t_tg / floor:.2f}x",
                   targets(model), targets_met(model, t_tg, floor)])
    print()


# Graph mode's targets: the replayed step within this factor of the kernels it replays, and the
# 2-16-16-2 step within this many microseconds.
MAX_OVER_KERNELS = 1.5
TINY_MAX_US = 15.0


def traced_bytes(fn) -> tuple:
    """(bytes fn() leaves allocated, the most it had allocated at once), as tracemalloc traces
    them (numpy's arrays included)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()


def kib(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / 1024:.0f}"


def graph_mode_table(models, settings, device, rng) -> None:
    """The same step compiled: tapegrad.compile's replay against tapegrad eager, the kernels the
    replay runs (timed alone: the floor of any replay), PyTorch eager and torch.compile (left
    out of --quick: it compiles for seconds). All of them take their samples in turn
    (bench_alternating)."""
    columns = ["model", "batch", "eager us", "compiled us", "kernels us", "compiled/kernels",
               "eager/compiled", "torch us", "torch.compile us", "torch/compiled",
               "torch.compile/compiled", "eager peak KiB", "compiled KiB", "met"]
    print("## Graph mode: the training step under tapegrad.compile and torch.compile")
    print()
    print(f"Targets: compiled <= {MAX_OVER_KERNELS}x its kernels, no slower than eager, faster "
          f"than torch.compile; 2-16-16-2 <= {TINY_MAX_US:g} us.")
    print("Memory (CPU, traced by tracemalloc, after a first step made the gradients and Adam's "
          "state): eager peak = the most a step allocates at once; compiled = what its recording "
          "keeps (arena, buffers) + the most a replay allocates at once.")
    print()
    print_table_header(columns)
    tg_sync = tg.cuda.synchronize if device == "cuda" else (lambda: None)
    torch_sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for model in models:
        weights = initial_weights(model) if torch else None
        tmodel, pmodel = make_models(model, weights, device)
        x, y = make_batch(model, rng)
        tx, ty = tg.from_numpy(x).to(device), tg.from_numpy(y).to(device)
        topt = tg.optim.Adam(tmodel.parameters(), lr=1e-3)

        def eager(a, b):
            return train_step(tg, tmodel, topt, model.loss, a, b)

        peak_eager = peak_compiled = None
        if device == "cpu":
            eager(tx, ty)
            peak_eager = traced_bytes(lambda: eager(tx, ty))[1]
            measured = tg.compile(eager)
            kept = traced_bytes(lambda: measured(tx, ty))[0]
            peak_compiled = kept + traced_bytes(lambda: measured(tx, ty))[1]
            del measured
        compiled = tg.compile(eager)
        compiled(tx, ty)  # records
        graph = next(iter(compiled._graphs.values()))
        steps = [lambda: (eager(tx, ty), tg_sync()), lambda: (compiled(tx, ty), tg_sync()),
                 lambda: (graph.rec.run(0, len(graph.rec), False), tg_sync())]
        if pmodel is not None:
            px, py = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            popt = torch.optim.Adam(pmodel.parameters(), lr=1e-3)

            def torch_eager(a, b):
                return train_step(torch, pmodel, popt, model.loss, a, b)

            steps.append(lambda: (torch_eager(px, py), torch_sync()))
            if not settings.quick:
                torch_compiled = torch.compile(torch_eager)
                for _ in range(3):  # compiles, then settles
                    torch_compiled(px, py)
                steps.append(lambda: (torch_compiled(px, py), torch_sync()))
        # All of them take turns, the two libraries' steps included, so that their ratios come
        # from the same stretch of the run.
        t_eager, t_comp, t_kernels, t_torch, t_tc = (bench_alternating(steps, settings, peers=True) + [None, None])[:5]
        missed = []
        if t_comp > MAX_OVER_KERNELS * t_kernels:
            missed.append("kernels")
        if t_comp > t_eager:
            missed.append("eager")
        if t_tc is not None and t_comp > t_tc:
            missed.append("torch.compile")
        if model.name == "2-16-16-2" and t_comp * 1e6 > TINY_MAX_US:
            missed.append("time")
        print_row([model.name, str(model.batch), us(t_eager), us(t_comp), us(t_kernels),
                   f"{t_comp / t_kernels:.2f}x", ratio(t_eager, t_comp), us(t_torch), us(t_tc),
                   ratio(t_torch, t_comp), ratio(t_tc, t_comp), kib(peak_eager), kib(peak_compiled),
                   "MISS (" + ", ".join(missed) + ")" if missed else "pass"])
    print()


def loss_trajectory_table(models, steps, device, rng) -> None:
    print(f"## Loss trajectory: tapegrad vs PyTorch, same initial weights, same {steps} batches, Adam lr 1e-3")
    print()
    if torch is None:
        print("(PyTorch is not installed: nothing to compare against)")
        print()
        return
    print_table_header(["model", "first loss", "last loss", "first-step abs diff", "max abs diff", "max rel diff"])
    for model in models:
        tmodel, pmodel = make_models(model, initial_weights(model), device)
        topt = tg.optim.Adam(tmodel.parameters(), lr=1e-3)
        popt = torch.optim.Adam(pmodel.parameters(), lr=1e-3)
        tg_losses, torch_losses = [], []
        for _ in range(steps):
            x, y = make_batch(model, rng)
            tx, ty = tg.from_numpy(x), tg.from_numpy(y)
            if device != "cpu":
                tx, ty = tx.to(device), ty.to(device)
            tg_losses.append(train_step(tg, tmodel, topt, model.loss, tx, ty).item())
            px, py = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            torch_losses.append(train_step(torch, pmodel, popt, model.loss, px, py).item())
        a, b = np.array(tg_losses), np.array(torch_losses)
        diff = np.abs(a - b)
        print_row([model.name, f"{a[0]:.6f}", f"{a[-1]:.6f}", f"{diff[0]:.2e}", f"{diff.max():.2e}",
                   f"{(diff / np.abs(b)).max():.2e}"])
    print()


def check_device(device: str) -> None:
    if device == "cpu":
        return
    if not tg.cuda.is_available():
        sys.exit("bench_mlp: --device cuda needs a tapegrad built with CUDA; "
                 "tapegrad.cuda.is_available() is False in this build")
    if torch is not None and not torch.cuda.is_available():
        sys.exit(f"bench_mlp: --device cuda needs a PyTorch with CUDA; torch {torch.__version__} "
                 "reports torch.cuda.is_available() False")


def main() -> None:
    def add_device(parser):
        parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                            help="where tapegrad and PyTorch train (numpy and the FLOP floor stay on the CPU)")

    args, settings = parse_args(__doc__.split("\n")[0], add_device)
    check_device(args.device)
    models = [m for m in MODELS if m.quick or not settings.quick]
    print_header(f"tapegrad MLP training-step benchmark (device: {args.device})", settings)
    rng = np.random.default_rng(0)
    timing_table(models, settings, args.device, rng)
    graph_mode_table(models, settings, args.device, rng)
    loss_trajectory_table(models, QUICK_LOSS_STEPS if settings.quick else LOSS_STEPS, args.device, rng)


if __name__ == "__main__":
    main()
