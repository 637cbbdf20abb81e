"""The datasets that ship with tapegrad and need no download: `digits` and `sensors`.

digits: the test set of the UCI "Optical Recognition of Handwritten Digits" data, 1797 8x8
images with pixels 0..16 and labels 0..9, as distributed with scikit-learn
(data/digits.csv.gz: 64 pixels then the label per row).
  E. Alpaydin and C. Kaynak (1998). Optical Recognition of Handwritten Digits. UCI Machine
  Learning Repository. https://doi.org/10.24432/C50P49
  https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits
  License: Creative Commons Attribution 4.0 International (CC BY 4.0).

sensors: a small fixed teaching set defined here (not measured data): 12 pairs of sensor
readings (a, b) and a temperature that follows exactly  t = 1.5 * a - 0.8 * b + 12.0,
so a fitted nn.Linear(2, 1) can be checked against the weights (1.5, -0.8) and bias 12.0.
"""
from __future__ import annotations

import functools
import gzip
import importlib.resources

import numpy as np

from ..tensor import Tensor

DIGITS_ROWS = 1797
DIGITS_FILE = "digits.csv.gz"

SENSOR_WEIGHTS = (1.5, -0.8)
SENSOR_BIAS = 12.0
SENSOR_READINGS = (
    (1.0, 2.0), (2.0, 1.0), (3.0, 4.0), (4.0, 3.0), (5.0, 5.0), (6.0, 2.0),
    (7.0, 6.0), (8.0, 1.0), (2.5, 7.0), (4.5, 0.5), (9.0, 8.0), (0.5, 9.5),
)


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    resource = importlib.resources.files(__package__).joinpath("data", DIGITS_FILE)
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != (DIGITS_ROWS, 65) or table.min() < 0 or table[:, :64].max() > 16 or table[:, 64].max() > 9:
        raise RuntimeError(
            f"the bundled {DIGITS_FILE} is damaged: expected {DIGITS_ROWS} rows of 64 pixels in 0..16 and a "
            f"label in 0..9, got a table of shape {table.shape}; reinstall tapegrad"
        )
    x = table[:, :64].astype(np.float32)
    y = np.ascontiguousarray(table[:, 64])
    x.flags.writeable = y.flags.writeable = False  # the cache is shared; callers get copies
    return x, y


def digits(as_tensors: bool = True):
    """(X, y): X float32 (1797, 64), pixel counts 0..16 (divide by 16 to scale to [0, 1]);
    y int64 (1797,), the digit 0..9. With as_tensors=False, numpy arrays. Each call returns
    fresh arrays."""
    x, y = _digits_arrays()
    x, y = x.copy(), y.copy()
    return (Tensor._wrap(x), Tensor._wrap(y)) if as_tensors else (x, y)


def sensors(as_tensors: bool = True):
    """(X, y): X float32 (12, 2), two sensor readings per sample; y float32 (12, 1), the
    temperature 1.5 * a - 0.8 * b + 12.0 (a column, to match an nn.Linear(2, 1) output)."""
    x = np.array(SENSOR_READINGS, dtype=np.float64)
    t = x @ np.array(SENSOR_WEIGHTS) + SENSOR_BIAS
    x, y = x.astype(np.float32), t.astype(np.float32).reshape(-1, 1)
    return (Tensor._wrap(x), Tensor._wrap(y)) if as_tensors else (x, y)
