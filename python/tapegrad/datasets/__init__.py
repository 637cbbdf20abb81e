"""tapegrad.datasets: data to learn from, offline first.

Bundled (no download):
    digits()     UCI handwritten digits, 1797 x 64 pixels (E. Alpaydin and C. Kaynak, 1998,
                 UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, CC BY 4.0)
    sensors()    a fixed 12-sample regression set defined in bundled.py
Seeded 2-D generators:
    spirals(n, classes, noise, seed), moons(n, noise, seed), xor(n, noise, seed), triangle(n, seed)
Downloaded on request into a cache folder, checksum-verified:
    MNIST(root, train, transform, target_transform, download), FashionMNIST(...)
IDX files: read_idx(path), write_idx(path, array). See docs/datasets.md.
"""
from .bundled import digits, sensors  # noqa: F401
from .mnist import MNIST, FashionMNIST, read_idx, write_idx  # noqa: F401
from .synthetic import moons, spirals, triangle, xor  # noqa: F401

__all__ = ["FashionMNIST", "MNIST", "digits", "moons", "read_idx", "sensors", "spirals", "triangle",
           "write_idx", "xor"]
