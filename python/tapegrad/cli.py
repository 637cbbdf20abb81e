"""The command line: `python -m tapegrad` (or `tapegrad`).

    tapegrad demo   train a small MLP on a synthetic two-spirals task and print its loss falling
    tapegrad info   print the build configuration
"""
from __future__ import annotations

import argparse
import math
import sys
import time


def _spirals(n_per_class: int, noise: float = 0.15):
    """Two interleaved spirals in 2-D: a task a linear model cannot solve."""
    import tapegrad as tg

    t = tg.linspace(0.25, 1.0, n_per_class, dtype=tg.float64) * (3 * math.pi)
    xs, ys = [], []
    for label, phase in ((0, 0.0), (1, math.pi)):
        r = t / (3 * math.pi)
        pts = tg.stack([r * tg.cos(t + phase), r * tg.sin(t + phase)], 1)
        xs.append(pts + tg.randn(n_per_class, 2, dtype=tg.float64) * (noise * 0.3))
        ys.append(tg.full((n_per_class,), label))
    return tg.cat(xs).float(), tg.cat(ys)


def demo(steps: int = 600, hidden: int = 64, lr: float = 0.05, seed: int = 0, every: int = 60) -> float:
    """Full-batch training of a 2-hidden-layer MLP written with raw tensors; returns accuracy."""
    import tapegrad as tg
    import tapegrad.nn.functional as F

    tg.manual_seed(seed)
    x, y = _spirals(200)

    def uniform(shape, fan_in):  # PyTorch's Linear init range
        bound = 1 / math.sqrt(fan_in)
        return (tg.rand(*shape) * 2 * bound - bound).requires_grad_()

    params = [uniform((hidden, 2), 2), uniform((hidden,), 2),
              uniform((hidden, hidden), hidden), uniform((hidden,), hidden),
              uniform((2, hidden), hidden), uniform((2,), hidden)]
    velocity = [tg.zeros_like(p) for p in params]

    def forward(inp):
        w1, b1, w2, b2, w3, b3 = params
        h = F.relu(F.linear(inp, w1, b1))
        h = F.relu(F.linear(h, w2, b2))
        return F.linear(h, w3, b3)

    start = time.perf_counter()
    for step in range(1, steps + 1):
        loss = F.cross_entropy(forward(x), y)
        for p in params:
            p.grad = None
        loss.backward()
        with tg.no_grad():
            for p, v in zip(params, velocity):
                v.mul_(0.9).add_(p.grad)
                p -= lr * v
        if step % every == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    with tg.no_grad():
        acc = (forward(x).argmax(1) == y).float().mean().item()
    print(f"train accuracy {acc:.3f} after {steps} steps in {time.perf_counter() - start:.2f} s")
    return acc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tapegrad", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    p_demo = sub.add_parser("demo", help="train a small MLP on two spirals")
    p_demo.add_argument("--steps", type=int, default=600)
    p_demo.add_argument("--seed", type=int, default=0)
    sub.add_parser("info", help="print the build configuration")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        demo(steps=getattr(args, "steps", 600), seed=getattr(args, "seed", 0))
    elif args.command == "info":
        import tapegrad as tg

        tg.show_config()
    return 0


if __name__ == "__main__":
    sys.exit(main())
