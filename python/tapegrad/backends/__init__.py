"""tapegrad.backends: switches of the compute backends, with PyTorch's names.

    tapegrad.backends.cuda.matmul.allow_tf32 = True   # float32 GEMMs on TF32 tensor cores

Off by default, as in PyTorch: TF32 keeps 10 mantissa bits, so float32 products differ from the
CPU's by about 1e-3 relative.
"""
from __future__ import annotations

from ..arrays import cuda as _cuda_arrays


class _CudaMatmul:
    @property
    def allow_tf32(self) -> bool:
        k = _cuda_arrays.kernels
        return bool(k.get_allow_tf32()) if k is not None else False

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        k = _cuda_arrays.kernels
        if k is not None:
            k.set_allow_tf32(bool(value))


class _Cuda:
    matmul = _CudaMatmul()


cuda = _Cuda()
