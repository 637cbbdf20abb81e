"""Small training utilities (not a framework): a metric history kept as plain floats, accuracy,
train/val/test splitting, early stopping with best-weights restore, a progress bar (tqdm when
installed, plain text otherwise), and loss/accuracy curves written to PNG (matplotlib optional).

    history = fit(model, optimizer, loss_fn, train_loader, val_loader, epochs=30,
                  early_stopping=EarlyStopping(patience=5))
"""
from __future__ import annotations

import csv
import math
import sys
import time

from . import dtypes as _dt
from . import random as _random
from .autograd.grad_mode import no_grad
from .tensor import Tensor


class History:
    """Per-epoch metrics as floats: history["val_loss"] is a list with one value per epoch.

    Keeping floats (loss.item()) instead of tensors matters: a tensor that requires grad keeps
    its whole graph alive, so `running_loss += loss` would hold every step's graph in memory."""

    def __init__(self):
        self.metrics: dict[str, list[float]] = {}

    def log(self, **values) -> None:
        for k, v in values.items():
            if isinstance(v, Tensor):
                v = v.item()
            self.metrics.setdefault(k, []).append(float(v))

    def __getitem__(self, key) -> list:
        return self.metrics[key]

    def __contains__(self, key) -> bool:
        return key in self.metrics

    def __len__(self) -> int:
        return max((len(v) for v in self.metrics.values()), default=0)

    def last(self, key, default=None):
        vals = self.metrics.get(key)
        return vals[-1] if vals else default

    def to_csv(self, path) -> None:
        keys = list(self.metrics)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch"] + keys)
            for i in range(len(self)):
                w.writerow([i + 1] + [self.metrics[k][i] if i < len(self.metrics[k]) else "" for k in keys])


def accuracy(logits: Tensor, targets: Tensor) -> float:
    """Fraction of rows whose arg-max equals the target class."""
    if logits.shape[0] != targets.shape[0]:
        raise ValueError(f"accuracy: {logits.shape[0]} predictions for {targets.shape[0]} targets")
    if logits.shape[0] == 0:
        return float("nan")
    with no_grad():
        return (logits.argmax(1) == targets).float().mean().item()


def train_val_test_split(*arrays, val: float = 0.15, test: float = 0.15, seed: int | None = 0,
                         shuffle: bool = True):
    """Split tensors along dim 0 into train/val/test parts:
    returns ((x_train, y_train), (x_val, y_val), (x_test, y_test)) for arrays (x, y)."""
    if not arrays:
        raise ValueError("train_val_test_split: nothing to split")
    n = arrays[0].shape[0]
    for a in arrays:
        if a.shape[0] != n:
            raise ValueError(f"train_val_test_split: arrays have {n} and {a.shape[0]} rows")
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"train_val_test_split: need 0 <= val, test and val + test < 1, got {val}, {test}")
    from .creation import arange, randperm

    if shuffle:
        gen = _random.Generator().manual_seed(seed) if seed is not None else None
        order = randperm(n, generator=gen)
    else:
        order = arange(n)
    n_test, n_val = int(round(n * test)), int(round(n * val))
    parts = (order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test])
    return tuple(tuple(a[idx] for a in arrays) for idx in parts)


class EarlyStopping:
    """Stops when the monitored value has not improved by min_delta for `patience` epochs, and
    keeps a copy of the best weights to restore."""

    def __init__(self, patience: int = 5, min_delta: float = 0.0, mode: str = "min"):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.best_state = None

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float, model=None, epoch: int = 0) -> bool:
        """Record this epoch's value; True when training should stop."""
        if math.isnan(value):
            self.bad_epochs += 1
        elif self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            if model is not None:
                self.best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
        return self.bad_epochs > self.patience

    def restore(self, model) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


class Progress:
    """A per-batch progress bar: tqdm when installed (and enabled), else a plain line per epoch."""

    def __init__(self, total: int, desc: str, enabled: bool = True, stream=None):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.stream = stream or sys.stderr
        self._bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                # what the epoch log printed comes first; the bar shows only for an epoch that
                # takes longer than half a second, and leaves no trace when it closes
                sys.stdout.flush()
                self._bar = tqdm(total=total, desc=desc, leave=False, file=self.stream, delay=0.5)

    def update(self, n: int = 1, **postfix) -> None:
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix({k: f"{v:.4f}" for k, v in postfix.items()}, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self.stream.flush()


def model_device(model):
    """The device of a model's parameters (the CPU for a model without any)."""
    for p in model.parameters():
        return p.device
    return _dt.cpu


def evaluate(model, loss_fn, loader, classification: bool = True) -> dict:
    """Mean loss (and accuracy for classification) over a loader, in eval mode, without grad.
    Batches are moved to the model's device."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    total, correct, count = 0.0, 0, 0
    with no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = model(x)
            n = x.shape[0]
            total += loss_fn(out, y).item() * n
            if classification:
                correct += (out.argmax(1) == y).sum().item()
            count += n
    model.train(was_training)
    result = {"loss": total / max(count, 1)}
    if classification:
        result["acc"] = correct / max(count, 1)
    return result


def fit(model, optimizer, loss_fn, train_loader, val_loader=None, epochs: int = 10,
        early_stopping: EarlyStopping | None = None, scheduler=None, classification: bool = True,
        progress: bool = True, log=print, compile: bool = False) -> History:  # noqa: A002
    """A plain training loop: per epoch, train over train_loader, then evaluate val_loader.
    With early_stopping, training stops on a stalled validation loss and the best weights are
    restored at the end. Batches are moved to the model's device. With compile, each training
    step (zero_grad through optimizer.step) is replayed by graph mode (tapegrad.compile)."""
    history = History()
    device = model_device(model)

    def train_step(x, y):
        optimizer.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        if not classification:
            return loss, None
        with no_grad():
            return loss, (out.argmax(1) == y).sum()

    if compile:
        from .compile import compile as compile_step

        train_step = compile_step(train_step)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        bar = Progress(len(train_loader), f"epoch {epoch}/{epochs}", enabled=progress)
        total, correct, count = 0.0, 0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss, right = train_step(x, y)
            n = x.shape[0]
            total += loss.item() * n
            if classification:
                correct += right.item()
            count += n
            bar.update(1, loss=total / count)
        bar.close()
        if scheduler is not None:
            scheduler.step()
        row = {"train_loss": total / max(count, 1)}
        if classification:
            row["train_acc"] = correct / max(count, 1)
        if val_loader is not None:
            val = evaluate(model, loss_fn, val_loader, classification)
            row["val_loss"] = val["loss"]
            if classification:
                row["val_acc"] = val["acc"]
        row["seconds"] = time.perf_counter() - start
        history.log(**row)
        if log is not None:
            log(f"epoch {epoch:3d}  " + "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "seconds")
                + f"  ({row['seconds']:.2f} s)")
        if early_stopping is not None and val_loader is not None:
            if early_stopping.step(row["val_loss"], model, epoch):
                if log is not None:
                    log(f"early stopping: no val_loss improvement for {early_stopping.patience} epochs "
                        f"(best {early_stopping.best:.4f} at epoch {early_stopping.best_epoch})")
                break
    if early_stopping is not None:
        early_stopping.restore(model)
    return history


def plot_history(history: History, path, best_epoch: int | None = None) -> bool:
    """Loss (and accuracy) curves against whole epochs to a PNG, with best_epoch (the one whose
    weights early stopping restored) marked; False (nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # headless: never needs a display
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig = history_figure(history, best_epoch)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def history_figure(history: History, best_epoch: int | None = None):
    """The matplotlib Figure that plot_history saves."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    has_acc = any(k.endswith("_acc") for k in history.metrics)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5, 4), squeeze=False)
    epochs = range(1, len(history) + 1)
    panels = [(axes[0][0], ("train_loss", "val_loss"), "loss")]
    if has_acc:
        panels.append((axes[0][1], ("train_acc", "val_acc"), "accuracy"))
    for ax, keys, label in panels:
        for k in keys:
            if k in history:
                ax.plot(epochs, history[k], label=k)
        if best_epoch is not None and 1 <= best_epoch <= len(history):
            ax.axvline(best_epoch, color="gray", linestyle="--", linewidth=1,
                       label=f"best epoch ({best_epoch}, restored)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    return fig
