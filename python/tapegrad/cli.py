"""The command line (`tapegrad ...` or `python -m tapegrad ...`).

    tapegrad train [--data digits] ...   train an MLP; writes checkpoint, metrics, curves, config
    tapegrad eval --checkpoint PATH      evaluate a saved run on its test split
    tapegrad info                        print the build configuration
    tapegrad demo                        a small MLP in raw tensors on two spirals (the default)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

DATASETS = ("digits", "spirals", "moons", "sensors", "mnist")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "silu", "elu", "leaky_relu")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")


class _Parser(argparse.ArgumentParser):
    """Errors as one line on stderr and exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _hidden_sizes(text: str) -> list:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()] if text.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes like 128,128, got {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return v
    return parse


def _non_negative(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def _dropout(text):
    v = _non_negative(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return v


def load_data(name: str, seed: int, root: str | None = None):
    """(X float32 (n, features), y, task) with task 'classification' (y int64) or 'regression'
    (y float32 (n, 1))."""
    import tapegrad as tg
    from tapegrad import datasets

    if name == "digits":
        x, y = datasets.digits()
        return x / 16.0, y, "classification"
    if name == "spirals":
        x, y = datasets.spirals(1500, seed=seed)
        return x, y, "classification"
    if name == "moons":
        x, y = datasets.moons(1000, seed=seed)
        return x, y, "classification"
    if name == "sensors":
        x, y = datasets.sensors()
        return x, y.reshape(-1, 1), "regression"
    if name == "mnist":
        root = root or os.path.join(os.path.expanduser("~"), ".cache", "tapegrad")
        train = datasets.MNIST(root, train=True, download=True)
        test = datasets.MNIST(root, train=False, download=True)
        x = tg.cat([train.data, test.data]).reshape(-1, 784).float() / 255.0
        return x, tg.cat([train.targets, test.targets]), "classification"
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def build_model(n_in: int, hidden: list, n_out: int, act: str, dropout: float):
    from tapegrad import nn

    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "silu": nn.SiLU,
            "elu": nn.ELU, "leaky_relu": nn.LeakyReLU}
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), acts[act]()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def build_optimizer(name: str, params, lr: float, weight_decay: float):
    from tapegrad import optim

    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    return optim.Adagrad(params, lr=lr, weight_decay=weight_decay)


def _splits(config):
    """The run's train/val/test tensors, standardised with the training split's statistics."""
    import tapegrad as tg
    from tapegrad.training import train_val_test_split

    x, y, task = load_data(config["data"], config["seed"], config.get("data_root"))
    (xtr, ytr), (xva, yva), (xte, yte) = train_val_test_split(x, y, val=0.15, test=0.15, seed=config["seed"])
    mean = xtr.mean(0)
    std = xtr.std(0, unbiased=False)
    # a feature constant in the training split (a digits corner pixel) is centred, not scaled
    std = tg.where(std > 1e-6, std, tg.ones_like(std))
    norm = lambda t: (t - mean) / std  # noqa: E731
    return task, (norm(xtr), ytr), (norm(xva), yva), (norm(xte), yte)


def _loaders(config, parts):
    import tapegrad as tg
    from tapegrad.utils.data import DataLoader, TensorDataset

    gen = tg.Generator().manual_seed(config["seed"])
    train, val, test = parts
    bs = config["batch_size"]
    return (DataLoader(TensorDataset(*train), batch_size=bs, shuffle=True, generator=gen),
            DataLoader(TensorDataset(*val), batch_size=1024),
            DataLoader(TensorDataset(*test), batch_size=1024))


def train(args) -> int:
    import tapegrad as tg
    from tapegrad import nn
    from tapegrad.training import EarlyStopping, evaluate, fit, plot_history

    device = "cuda" if args.device == "auto" and tg.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    device = str(tg.dtypes.to_device(device, "train"))  # a clear error for a device this machine lacks
    config = {"data": args.data, "hidden": args.hidden, "act": args.act, "dropout": args.dropout,
              "opt": args.opt, "lr": args.lr, "weight_decay": args.weight_decay, "epochs": args.epochs,
              "batch_size": args.batch_size, "patience": args.patience, "seed": args.seed, "device": device,
              "data_root": args.data_root}
    out = args.out or os.path.join("runs", args.data)
    os.makedirs(out, exist_ok=True)
    tg.manual_seed(args.seed)
    start = time.perf_counter()
    task, *parts = _splits(config)
    classification = task == "classification"
    n_out = int(parts[0][1].max().item()) + 1 if classification else 1
    config.update(n_in=parts[0][0].shape[1], n_out=n_out, task=task)
    model = build_model(config["n_in"], args.hidden, n_out, args.act, args.dropout).to(device)
    loss_fn = nn.CrossEntropyLoss() if classification else nn.MSELoss()
    optimizer = build_optimizer(args.opt, model.parameters(), args.lr, args.weight_decay)
    train_loader, val_loader, test_loader = _loaders(config, parts)
    print(f"tapegrad train: {args.data} ({len(parts[0][1])} train / {len(parts[1][1])} val / "
          f"{len(parts[2][1])} test), model {config['n_in']}-{'-'.join(map(str, args.hidden))}-{n_out} "
          f"{args.act}, {args.opt} lr {args.lr}, device {device}")
    stopper = EarlyStopping(patience=args.patience) if args.patience else None
    history = fit(model, optimizer, loss_fn, train_loader, val_loader, epochs=args.epochs,
                  early_stopping=stopper, classification=classification, progress=not args.no_progress,
                  compile=device == "cpu" if args.compile is None else args.compile)
    test = evaluate(model, loss_fn, test_loader, classification)
    elapsed = time.perf_counter() - start
    summary = f"test loss {test['loss']:.4f}" + (f"  test accuracy {test['acc']:.4f}" if classification else "")
    print(f"{summary}  ({elapsed:.1f} s)")
    tg.save({"model": model.cpu().state_dict(), "config": config}, os.path.join(out, "checkpoint.safetensors"))
    history.to_csv(os.path.join(out, "metrics.csv"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(dict(config, test=test, seconds=round(elapsed, 3)), f, indent=2)
    best = stopper.best_epoch if stopper is not None and stopper.best_epoch >= 1 else None
    if not plot_history(history, os.path.join(out, "curves.png"), best_epoch=best):
        print("curves.png not written: matplotlib is not installed (pip install tapegrad[plot])")
    written = ["checkpoint.safetensors", "metrics.csv", "config.json"]
    if os.path.exists(os.path.join(out, "curves.png")):
        written.append("curves.png")
    if args.tensorboard:
        written.append(_log_tensorboard(history, os.path.join(out, "tensorboard")))
    if args.graph:
        written.append(_draw_graph(model, loss_fn, train_loader, os.path.join(out, "graph")))
    print(f"wrote {out}/" + ", ".join(w for w in written if w))
    return 0


def _log_tensorboard(history, log_dir: str) -> str:
    """The epoch metrics as TensorBoard scalars (tensorboard --logdir runs)."""
    try:
        from tapegrad.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir)
    except ImportError as e:
        print(f"tensorboard logs not written: {e}")
        return ""
    with writer:
        for name, values in history.metrics.items():
            for epoch, value in enumerate(values, start=1):
                writer.add_scalar(name, value, epoch)
    return "tensorboard/"


def _draw_graph(model, loss_fn, loader, path: str) -> str:
    """graph.png: the autograd graph of the loss of one training batch (tapegrad.viz)."""
    from tapegrad.training import model_device

    try:
        from tapegrad.viz import make_dot

        x, y = next(iter(loader))
        device = model_device(model)
        loss = loss_fn(model(x.to(device)), y.to(device))
        make_dot(loss, params=dict(model.named_parameters())).render(path, format="png", cleanup=True)
    except (ImportError, RuntimeError) as e:
        print(f"graph.png not written: {e}")
        return ""
    return "graph.png"


def _usage_error(message: str) -> SystemExit:
    """A one-line error on stderr and exit status 2, as argparse gives for bad arguments."""
    print(f"tapegrad eval: error: {message}", file=sys.stderr)
    return SystemExit(2)


def evaluate_checkpoint(args) -> int:
    import tapegrad as tg
    from tapegrad import nn
    from tapegrad.training import evaluate

    if not os.path.exists(args.checkpoint):
        raise _usage_error(f"no checkpoint at {args.checkpoint}")
    try:
        saved = tg.load(args.checkpoint)
        config = saved["config"]
    except (ValueError, KeyError, TypeError) as e:
        what = f"no 'config' entry ({e})" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise _usage_error(f"{args.checkpoint} is not a checkpoint of tapegrad train: {what}") from None
    task, *parts = _splits(config)
    model = build_model(config["n_in"], config["hidden"], config["n_out"], config["act"], config["dropout"])
    model.load_state_dict(saved["model"])
    classification = task == "classification"
    loss_fn = nn.CrossEntropyLoss() if classification else nn.MSELoss()
    result = evaluate(model, loss_fn, _loaders(config, parts)[2], classification)
    print(f"{config['data']}: test loss {result['loss']:.4f}"
          + (f"  test accuracy {result['acc']:.4f}" if classification else ""))
    return 0


def demo(steps: int = 600, hidden: int = 64, lr: float = 0.05, seed: int = 0, every: int = 60) -> float:
    """Full-batch training of a 2-hidden-layer MLP written with raw tensors; returns accuracy."""
    import tapegrad as tg
    import tapegrad.nn.functional as F

    tg.manual_seed(seed)
    n = 200
    t = tg.linspace(0.25, 1.0, n, dtype=tg.float64) * (3 * math.pi)
    r = t / (3 * math.pi)
    arms = [tg.stack([r * tg.cos(t + phase), r * tg.sin(t + phase)], 1) for phase in (0.0, math.pi)]
    x = (tg.cat(arms) + tg.randn(2 * n, 2, dtype=tg.float64) * 0.045).float()
    y = tg.cat([tg.zeros(n, dtype=tg.int64), tg.ones(n, dtype=tg.int64)])

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


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tapegrad", description="tapegrad: train and evaluate MLPs")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("train", help="train an MLP (default: the bundled digits)")
    p.add_argument("--data", choices=DATASETS, default="digits")
    p.add_argument("--hidden", type=_hidden_sizes, default=[128, 128], help="layer sizes, e.g. 128,128")
    p.add_argument("--act", choices=ACTIVATIONS, default="relu")
    p.add_argument("--dropout", type=_dropout, default=0.0)
    p.add_argument("--opt", choices=OPTIMIZERS, default="adam")
    p.add_argument("--lr", type=_positive(float), default=1e-3)
    p.add_argument("--weight-decay", type=_non_negative, default=0.0)
    p.add_argument("--epochs", type=_positive(int), default=30)
    p.add_argument("--batch-size", type=_positive(int), default=64)
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", default=None, help="output folder (default runs/<data>)")
    p.add_argument("--data-root", default=None, help="download/cache folder for mnist")
    p.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    p.add_argument("--tensorboard", action="store_true",
                   help="log the epoch metrics for TensorBoard (<out>/tensorboard; needs tapegrad[tensorboard])")
    p.add_argument("--graph", action="store_true",
                   help="draw the model's autograd graph to <out>/graph.png (needs tapegrad[viz] and Graphviz)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="replay each training step with graph mode (tapegrad.compile); "
                        "--no-compile runs it eagerly (default: on for cpu, off for cuda)")
    e = sub.add_parser("eval", help="evaluate a saved run on its test split")
    e.add_argument("--checkpoint", required=True)
    sub.add_parser("info", help="print the build configuration")
    d = sub.add_parser("demo", help="train a small MLP in raw tensors on two spirals")
    d.add_argument("--steps", type=_positive(int), default=600)
    d.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `python -m tapegrad`: the quick demo
        demo()
        return 0
    if args.command == "train":
        if args.patience < 0:
            parser.error("argument --patience: must be >= 0")
        try:
            return train(args)
        except RuntimeError as e:
            if "device" in str(e) or "CUDA" in str(e):
                parser.error(str(e))
            raise
    if args.command == "eval":
        return evaluate_checkpoint(args)
    if args.command == "info":
        import tapegrad as tg

        tg.show_config()
        return 0
    demo(steps=args.steps, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
