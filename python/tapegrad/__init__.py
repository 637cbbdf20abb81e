"""tapegrad: a small, fast deep-learning library with PyTorch's API.

    import tapegrad as torch
    x = torch.randn(64, 3, requires_grad=True)
"""
from __future__ import annotations

from . import _C
from .dtypes import (  # noqa: F401
    bool_ as bool, device, double, dtype, float, float32, float64, get_default_dtype, int64, long, set_default_dtype,
)
from .size import Size  # noqa: F401
from .tensor import Tensor  # noqa: F401
from .autograd import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,  # noqa: F401
                       no_grad, set_grad_enabled)
from . import autograd  # noqa: F401
from .creation import (  # noqa: F401
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones,
    ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like,
)
from .random import Generator, default_generator, initial_seed, manual_seed, seed  # noqa: F401
from .random import get_rng_state, set_rng_state  # noqa: F401
from .ops.elementwise import (  # noqa: F401
    allclose, clamp, clip, eq, equal, ge, gt, isclose, isfinite, isinf, isnan, le, logical_and,
    logical_not, logical_or, logical_xor, lt, ne, where,
)
from .ops.elementwise import FUNCTIONS as _ELEMENTWISE
globals().update(_ELEMENTWISE)  # tapegrad.exp, tapegrad.add, ...: one per row of the op tables
from .ops.elementwise import ALIASES as _ALIASES
globals().update({alias: _ELEMENTWISE[name] for alias, name in _ALIASES.items()})
from .ops.activations import relu, sigmoid, tanh  # noqa: F401
from .ops.reduce import (  # noqa: F401
    all, amax, amin, any, argmax, argmin, logsumexp, max, mean, min, norm, prod, std, sum, var,
)
from .ops.matmul import addmm, bmm, dot, matmul, mv, outer  # noqa: F401
from .ops.shape import (  # noqa: F401
    broadcast_to, cat, chunk, concat, flatten, movedim, narrow, permute, reshape, split, squeeze,
    stack, t, transpose, unbind, unsqueeze,
)
from .ops.index import flip, index_select, masked_fill, nonzero  # noqa: F401
from .ops.softmax import log_softmax, softmax  # noqa: F401
from .ops.random import bernoulli, multinomial, normal  # noqa: F401
from .ops import on_tensors as _on_tensors  # noqa: F401 - array ops on Tensors, for create_graph
from . import nn  # noqa: F401
from . import optim  # noqa: F401
from . import utils  # noqa: F401
from . import datasets  # noqa: F401
from .serialization import load, save  # noqa: F401
from .utils.dlpack import from_dlpack  # noqa: F401
from .compile import compile  # noqa: F401,E402 - the function; the module is tapegrad.compile's package

__version__ = "0.1.0"

mm = matmul
ger = outer
subtract = sub
multiply = mul
divide = div
negative = neg


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    from ._checks import tensor_arg

    return tensor_arg(x, "numel").numel()


def clone(x: Tensor) -> Tensor:
    from .ops.shape import clone as clone_

    return clone_(x)


def get_num_threads() -> int:
    """Threads the CPU kernels use (default: the cores this process may run on)."""
    return _C.cpu.get_num_threads()


def set_num_threads(n: int) -> None:
    _C.cpu.set_num_threads(int(n))


def _cache_text() -> str:
    """The cache sizes the GEMM blocking derives from, e.g. 'L1d 32 KiB, L2 1 MiB, L3 share 16 MiB'."""
    def size(n):
        return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n >> 10} KiB"
    c = _C.cpu.cache_sizes()
    return f"L1d {size(c['l1d'])}, L2 {size(c['l2'])}, L3 share {size(c['l3'])}"


def show_config() -> str:
    """The build: version, compiler and flags, SIMD level chosen at run time, threads, CUDA."""
    info = _C.cpu.build_info()
    lines = [
        f"tapegrad {__version__}",
        f"  compiler: {info['compiler']} (C++{info['cxx_standard']}, {info['build_type']})",
        f"  flags: {info['cxx_flags']}",
        f"  CPU kernels: {backends.cpu.isa} (this CPU runs up to {info['simd']}; "
        f"{backends.ISA_ENV} chooses another)",
        f"  threads: {get_num_threads()}",
        "  caches per core: " + _cache_text(),
    ] + _cuda_config_lines(info["cuda_build"])
    text = "\n".join(lines)
    print(text)
    return text


def _cublaslt_line(built: bool) -> str:
    if not built:
        return "not built in (tiled GEMM kernels of our own)"
    path = _C.cuda.cublaslt_path()
    return f"loaded from {path}" if path else "not found (tiled GEMM kernels of our own)"


def _cuda_config_lines(decision: str) -> list:
    """decision: what the build switch TAPEGRAD_CUDA did ("TAPEGRAD_CUDA=AUTO: not built (...)")."""
    if not _C.has_cuda:
        return [f"  CUDA: {decision}"]
    info = _C.cuda.build_info()
    lines = [
        f"  CUDA: {decision}, with nvcc {info['cuda_version']}",
        f"  cuBLASLt: {_cublaslt_line(info['cublas'])}",
    ]
    if cuda.is_available():
        names = ", ".join(f"cuda:{i} {cuda.get_device_name(i)}" for i in range(cuda.device_count()))
        lines.append(f"  GPUs: {names}")
    else:
        lines.append("  GPUs: none found")
    return lines


from . import cuda  # noqa: E402
from . import backends  # noqa: E402,F401
