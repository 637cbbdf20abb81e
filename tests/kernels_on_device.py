"""_C.cuda behind numpy arrays, for the `kernels` fixture's cuda variant (tests/conftest.py).

The kernel tests are written against numpy arrays. Here every array argument (and every array
in a list argument, as the optimizers take) is copied to the GPU, the kernel of the same name
runs there, and each array is copied back into the numpy array it came from, so a test reads
the outputs as it does from _C.cpu. Device copies are C-contiguous, and an array passed twice is
one device array; views of one buffer passed as different arguments are separate device
arrays, so tests of overlapping operands stay CPU-only.
"""
from __future__ import annotations

import numpy as np

import tapegrad as tg


class OnDevice:
    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        kernel = getattr(self._module, name)  # AttributeError for a kernel CUDA does not have

        def call(*args, **kwargs):
            on_device = {}  # id(numpy array) -> (numpy array, device tensor)

            def up(a):
                if isinstance(a, np.ndarray):
                    if id(a) not in on_device:
                        on_device[id(a)] = (a, tg.tensor(a, device="cuda"))
                    return on_device[id(a)][1]._data  # the CudaArray the kernels take
                if isinstance(a, (list, tuple)):
                    return type(a)(up(x) for x in a)
                return a

            result = kernel(*[up(a) for a in args], **{k: up(v) for k, v in kwargs.items()})
            for host, dev in on_device.values():
                if host.flags.writeable:
                    host[...] = dev.cpu().numpy()
            return result

        return call


def use_cuda_kernels(module, monkeypatch) -> OnDevice:
    """Points `module.K` at _C.cuda behind numpy arrays for one test; skips without a GPU."""
    import pytest

    if not tg.cuda.is_available():
        pytest.skip("CUDA is not available")
    from tapegrad import _C

    on_device = OnDevice(_C.cuda)
    monkeypatch.setattr(module, "K", on_device)
    return on_device
