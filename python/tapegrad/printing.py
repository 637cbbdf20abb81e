"""repr of tensors in PyTorch's style: tensor([[1.0000, 2.5000], ...], grad_fn=<MulBackward0>)."""
from __future__ import annotations

import numpy as np

from . import dtypes as _dt

_THRESHOLD = 1000  # more elements than this are summarised with "..."
_EDGE = 3


def _float_format(values: np.ndarray):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "{:.4f}".format
    mags = np.abs(finite)
    nonzero = mags[mags > 0]
    amax = float(mags.max())
    amin = float(nonzero.min()) if nonzero.size else 0.0
    if np.all(finite == np.round(finite)):
        if amax > 1e8:
            return "{:.4e}".format
        return lambda v: f"{v:.0f}." if np.isfinite(v) else f"{v}"
    if amax > 1e8 or (amin and (amin < 1e-4 or amax / amin > 1e3)):
        return "{:.4e}".format
    return "{:.4f}".format


def _shown(arr: np.ndarray) -> np.ndarray:
    """The elements that the summarised print shows (for choosing the format and width)."""
    if arr.size <= _THRESHOLD or arr.ndim == 0:
        return arr.reshape(-1)
    idx = tuple(np.r_[0:min(_EDGE, n), max(n - _EDGE, _EDGE):n] if n > 2 * _EDGE else slice(None)
                for n in arr.shape)
    out = arr
    for axis, i in enumerate(idx):
        out = out[(slice(None),) * axis + (i,)]
    return out.reshape(-1)


def format_data(arr: np.ndarray, prefix: str) -> str:
    if arr.dtype.kind == "f":
        fmt_fn = _float_format(_shown(arr))
    elif arr.dtype.kind == "b":
        fmt_fn = lambda v: "True" if v else "False"  # noqa: E731
    else:
        fmt_fn = str
    shown = _shown(arr)
    width = max((len(fmt_fn(v)) for v in shown), default=0)
    formatter = {"all": lambda v: fmt_fn(v).rjust(width)}
    summarise = arr.size > _THRESHOLD
    return np.array2string(
        arr, separator=", ", prefix=prefix, formatter=formatter, max_line_width=80,
        threshold=_THRESHOLD if summarise else arr.size + 1, edgeitems=_EDGE,
    )


def tensor_repr(t) -> str:
    arr = np.asarray(t._data)
    prefix = "tensor("
    suffixes = []
    if arr.size == 0 and arr.ndim != 1:
        body = "[]"
        suffixes.append(f"size={tuple(arr.shape)}")
    elif arr.size == 0:
        body = "[]"
    else:
        body = format_data(arr, prefix)
    d = t.dtype
    if d not in (_dt.get_default_dtype(), _dt.int64, _dt.bool_):
        suffixes.append(f"dtype={d!r}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    tail = "".join(", " + s for s in suffixes)
    return f"{prefix}{body}{tail})"
