"""Seeded 2-D toy problems for classifiers: spirals, moons, xor, triangle.

Each returns (X float32 (n, 2), y int64 (n,)) as tensors (numpy arrays with as_tensors=False),
rows shuffled. The same seed gives the same data; seed=None draws from tapegrad's global
generator instead (so tapegrad.manual_seed fixes it). `noise` is the standard deviation of
Gaussian jitter added to each coordinate after the point is labelled, so with noise some points
sit on the wrong side of the true boundary.
"""
from __future__ import annotations

import math

import numpy as np

from ..random import numpy_generator
from ..tensor import Tensor

# The triangle of `triangle()`: inside means y >= 0.1, 2x - y >= 0.1 and 2x + y <= 1.9, the
# intersection of three half-planes, which one hidden layer of three units can represent.
TRIANGLE = ((0.1, 0.1), (0.9, 0.1), (0.5, 0.9))
TRIANGLE_HALF_PLANES = (((0.0, 1.0), -0.1), ((2.0, -1.0), -0.1), ((-2.0, -1.0), 1.9))  # w . p + b >= 0


def _check(op: str, n, noise=0.0, classes=2) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{op}: n must be a non-negative int, got {n!r}")
    if not isinstance(classes, (int, np.integer)) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"{op}: classes must be a positive int, got {classes!r}")
    if not (isinstance(noise, (int, float, np.floating, np.integer)) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"{op}: noise must be a finite number >= 0, got {noise!r}")


def _generator(seed) -> np.random.Generator:
    return numpy_generator() if seed is None else np.random.default_rng(seed)


def _sizes(n: int, k: int) -> list:
    """n split into k class sizes that differ by at most one."""
    return [n // k + (i < n % k) for i in range(k)]


def _finish(x, y, g, noise, as_tensors):
    x = x + noise * g.standard_normal(x.shape) if noise else x
    order = g.permutation(len(y))
    x = np.ascontiguousarray(x[order], dtype=np.float32).reshape(-1, 2)
    y = np.ascontiguousarray(y[order], dtype=np.int64)
    return (Tensor._wrap(x), Tensor._wrap(y)) if as_tensors else (x, y)


def spirals(n: int = 200, classes: int = 2, noise: float = 0.05, seed=0, *, as_tensors: bool = True):
    """`classes` interleaved spiral arms around the origin, n points split evenly among them.
    Arm c runs from radius 0.1 to 1 through 1.25 turns, starting at angle 2*pi*c/classes."""
    _check("spirals", n, noise, classes)
    g = _generator(seed)
    xs, ys = [], []
    for c, m in enumerate(_sizes(n, classes)):
        u = np.linspace(0.0, 1.0, m)
        radius = 0.1 + 0.9 * u
        angle = 2 * np.pi * c / classes + 2.5 * np.pi * u
        xs.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
        ys.append(np.full(m, c, dtype=np.int64))
    return _finish(np.concatenate(xs), np.concatenate(ys), g, noise, as_tensors)


def moons(n: int = 200, noise: float = 0.1, seed=0, *, as_tensors: bool = True):
    """Two interleaved half circles of radius 1: class 0 is the upper arc centred at (0, 0),
    class 1 the lower arc centred at (1, 0.5)."""
    _check("moons", n, noise)
    g = _generator(seed)
    m0, m1 = _sizes(n, 2)
    a0, a1 = np.linspace(0.0, np.pi, m0), np.linspace(0.0, np.pi, m1)
    upper = np.stack([np.cos(a0), np.sin(a0)], axis=1)
    lower = np.stack([1.0 - np.cos(a1), 0.5 - np.sin(a1)], axis=1)
    y = np.concatenate([np.zeros(m0, np.int64), np.ones(m1, np.int64)])
    return _finish(np.concatenate([upper, lower]), y, g, noise, as_tensors)


def xor(n: int = 200, noise: float = 0.1, seed=0, *, as_tensors: bool = True):
    """Points uniform in the square [-1, 1]^2, labelled 1 where the two coordinates have
    different signs (the XOR of `x > 0` and `y > 0`), else 0."""
    _check("xor", n, noise)
    g = _generator(seed)
    x = g.uniform(-1.0, 1.0, size=(n, 2))
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)
    return _finish(x, y, g, noise, as_tensors)


def triangle(n: int = 200, seed=0, *, as_tensors: bool = True):
    """Points uniform in the unit square, labelled 1 inside the fixed triangle TRIANGLE with
    corners (0.1, 0.1), (0.9, 0.1), (0.5, 0.9) (32% of the square), else 0. No noise: the
    boundary is exact, three lines, learnable by a hidden layer of three neurons."""
    _check("triangle", n)
    g = _generator(seed)
    x = g.uniform(0.0, 1.0, size=(n, 2))
    inside = np.ones(n, dtype=bool)
    for (w0, w1), b in TRIANGLE_HALF_PLANES:
        inside &= w0 * x[:, 0] + w1 * x[:, 1] + b >= 0
    return _finish(x, inside.astype(np.int64), g, 0.0, as_tensors)
