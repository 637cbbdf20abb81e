"""tapegrad.backends: switches of the compute backends, with PyTorch's names where it has them.

    tapegrad.backends.cuda.matmul.allow_tf32 = True   # float32 GEMMs on TF32 tensor cores

Off by default, as in PyTorch: TF32 keeps 10 mantissa bits, so float32 products differ from the
CPU's by about 1e-3 relative.

    tapegrad.backends.cpu.get_cpu_capability()   # "AVX512", "AVX2" or "DEFAULT", as PyTorch's
    tapegrad.backends.cpu.isa = "avx2"           # run the AVX2 kernels from now on

The CPU kernels are compiled for AVX-512, for AVX2 with FMA and portably; the widest the CPU runs
is used, unless the environment variable TAPEGRAD_CPU_ISA (portable, avx2, avx512 or auto), read
at import, or `isa` chooses another: so one machine can test and time every path. Results may
differ in the last bits between paths (FMA contraction, vector widths of reductions).
"""
from __future__ import annotations

import os
import warnings

from .. import _C
from ..arrays import cuda as _cuda_arrays

ISA_ENV = "TAPEGRAD_CPU_ISA"


class _Cpu:
    @property
    def isa(self) -> str:
        """The CPU code path in use: "portable", "avx2" or "avx512"."""
        return _C.cpu.get_isa()

    @isa.setter
    def isa(self, name: str) -> None:
        _C.cpu.set_isa(str(name))

    @staticmethod
    def get_cpu_capability() -> str:
        return {"portable": "DEFAULT", "avx2": "AVX2", "avx512": "AVX512"}[_C.cpu.get_isa()]


cpu = _Cpu()


def _isa_from_environment() -> None:
    """Applies TAPEGRAD_CPU_ISA; a value this CPU cannot run keeps the default, with a warning
    (an import that fails over an environment variable would help nobody)."""
    name = os.environ.get(ISA_ENV, "").strip().lower()
    if not name:
        return
    try:
        _C.cpu.set_isa(name)
    except ValueError as e:
        warnings.warn(f"{ISA_ENV}={name!r} ignored: {e}; using {_C.cpu.get_isa()}", RuntimeWarning,
                      stacklevel=2)


_isa_from_environment()


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
