"""repr of tensors in PyTorch's style: tensor([[1.0000, 2.5000], ...], grad_fn=<MulBackward0>).

The layout follows PyTorch's printer: one width for all elements, fixed 4-digit, integral
("1.") or scientific notation chosen from the finite values, 80-column lines, and tensors over
1000 elements summarised to their first and last 3 entries per dimension."""
from __future__ import annotations

import math

import numpy as np

from . import dtypes as _dt
from . import arrays

_THRESHOLD = 1000
_EDGE = 3
_LINEWIDTH = 80


def _summarised(arr: np.ndarray) -> np.ndarray:
    """The entries that a summarised print shows (used to choose the format and width)."""
    for axis, n in enumerate(arr.shape):
        if n > 2 * _EDGE:
            idx = np.r_[0:_EDGE, n - _EDGE:n]
            arr = np.take(arr, idx, axis=axis)
    return arr


def _formatter(values: np.ndarray):
    """(format function, width) for these values, as PyTorch's Formatter decides them."""
    if values.dtype.kind == "b":
        return (lambda v: "True" if v else "False"), max((5 if not v else 4 for v in values.flat), default=0)
    if values.dtype.kind != "f":
        fmt = str
        return fmt, max((len(str(v)) for v in values.flat), default=0)
    finite = values[np.isfinite(values)]
    nonzero = np.abs(finite[finite != 0])
    if finite.size == 0:
        fmt = "{:.4f}".format
    else:
        hi = float(nonzero.max()) if nonzero.size else 0.0
        lo = float(nonzero.min()) if nonzero.size else 0.0
        integral = bool(np.all(finite == np.ceil(finite)))
        if integral:
            sci = nonzero.size and (hi / lo > 1000.0 or hi > 1.0e8)
            fmt = "{:.4e}".format if sci else (lambda v: f"{v:.0f}." if math.isfinite(v) else f"{v}")
        else:
            sci = nonzero.size and (hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
            fmt = "{:.4e}".format if sci else "{:.4f}".format
    width = max((len(fmt(float(v))) for v in finite.flat), default=0) if finite.size else 0
    return (lambda v: fmt(float(v)) if math.isfinite(v) else f"{float(v)}"), width


def _vector(arr, indent, summarise, fmt, width):
    def cell(v):
        return fmt(v).rjust(width)

    if summarise and arr.shape[0] > 2 * _EDGE:
        data = [cell(v) for v in arr[:_EDGE]] + [" ..."] + [cell(v) for v in arr[-_EDGE:]]
    else:
        data = [cell(v) for v in arr]
    per_line = max(1, (_LINEWIDTH - indent) // (width + 2))
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(arr, indent, summarise, fmt, width):
    if arr.ndim == 0:
        return fmt(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarise, fmt, width)
    n = arr.shape[0]
    if summarise and n > 2 * _EDGE:
        parts = ([_nested(arr[i], indent + 1, summarise, fmt, width) for i in range(_EDGE)] + ["..."]
                 + [_nested(arr[i], indent + 1, summarise, fmt, width) for i in range(n - _EDGE, n)])
    else:
        parts = [_nested(arr[i], indent + 1, summarise, fmt, width) for i in range(n)]
    sep = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(parts) + "]"


def tensor_repr(t) -> str:
    arr = arrays.to_numpy(t._data)
    prefix = "tensor("
    suffixes = []
    if arr.size == 0:
        body = "[]"
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
    else:
        summarise = arr.size > _THRESHOLD
        fmt, width = _formatter(_summarised(arr) if summarise else arr)
        body = _nested(arr, len(prefix), summarise, fmt, width)
    if t.is_cuda:
        suffixes.append(f"device='{t.device}'")
    if t.dtype not in (_dt.get_default_dtype(), _dt.int64, _dt.bool_):
        suffixes.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffixes) + ")"
