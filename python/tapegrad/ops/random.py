"""Sampling with PyTorch's names: the in-place fills (Tensor.uniform_, normal_, bernoulli_,
exponential_, random_) and bernoulli, normal, multinomial.

On the CPU every draw comes from a tapegrad.Generator (csrc/cpu/random.cpp), in the order
PyTorch's CPU kernels draw, so a seed gives PyTorch's values. A CUDA tensor draws uniform or
normal numbers from its GPU's counter-based stream (tapegrad.cuda.manual_seed) and transforms
them on the device; random_ and integer draws for it come from the CPU generator."""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from .. import arrays
from .. import dtypes as _dt
from .._checks import int_arg, number_arg, tensor_arg
from ..autograd.grad_mode import no_grad
from ..random import state_of
from ..tensor import Tensor

_k = _C.cpu


def host_fill(shape, dtype, kernel, *args, generator=None, contiguous=True) -> np.ndarray:
    """A new C-contiguous host array of `shape` filled by the _C.cpu random kernel `kernel`."""
    out = np.empty(shape, dtype)
    if kernel is _k.random_normal:
        kernel(state_of(generator), out, *args, blocks=contiguous)
    else:
        kernel(state_of(generator), out, *args)
    return out


def bernoulli_into(out: np.ndarray, p: float, generator=None) -> None:
    """Fills the C-contiguous host array `out` with bernoulli(p) draws (dropout's mask)."""
    _k.random_bernoulli(state_of(generator), out, p)


def _memory_order(t: Tensor) -> tuple:
    """The dims of t from slowest to fastest in memory: the order PyTorch's serial kernels walk
    a tensor that is not contiguous."""
    strides = t.stride()
    return tuple(sorted(range(t.ndim), key=lambda d: -abs(strides[d])))


def _overwrite(t: Tensor, op: str, kernel, *args, generator=None, cuda_draw=None) -> Tensor:
    """Fills t in place: from the CPU generator through `kernel`, or for a CUDA tensor with the
    tensor cuda_draw() returns, when given. The version bump and autograd's in-place checks come
    from copy_, as for any in-place op."""
    tensor_arg(t, op)
    if t.numel() == 0:
        return t
    if t.is_cuda and cuda_draw is not None:
        src = cuda_draw()
    else:
        dtype = t.dtype.np
        if t.is_contiguous():
            src = Tensor._wrap(host_fill(tuple(t.shape), dtype, kernel, *args, generator=generator))
        else:
            order = _memory_order(t)
            arr = host_fill(tuple(t.shape[d] for d in order), dtype, kernel, *args,
                            generator=generator, contiguous=False)
            src = Tensor._wrap(arr).permute(*np.argsort(order).tolist())
    return t.copy_(src)


def _cuda_uniform(t: Tensor, dtype=None) -> Tensor:
    """U[0, 1) numbers of t's shape from t's GPU stream."""
    from ..cuda import _draw

    out = arrays.for_device(t.device).empty(tuple(t.shape), (dtype or t.dtype).np, t.device.index)
    _draw("uniform", out)
    return Tensor._wrap(out)


def _cuda_normal(t: Tensor) -> Tensor:
    from ..cuda import _draw

    out = arrays.for_device(t.device).empty(tuple(t.shape), t.dtype.np, t.device.index)
    _draw("normal", out)
    return Tensor._wrap(out)


def _floating(t: Tensor, op: str) -> None:
    if not t.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating point tensor, got {t.dtype.name}")


def uniform_(self, from_=0.0, to=1.0, *, generator=None, **kwargs) -> Tensor:
    """Fills self with U[from, to)."""
    tensor_arg(self, "uniform_")
    from_ = number_arg(kwargs.pop("from", from_), "uniform_", "from")
    to = number_arg(to, "uniform_", "to")
    if kwargs:
        raise TypeError(f"uniform_() got an unexpected keyword argument '{next(iter(kwargs))}'")
    _floating(self, "uniform_")
    if not from_ <= to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_} > to={to}")
    if not math.isfinite(to - from_):
        raise RuntimeError(f"uniform_: the range to - from = {to} - {from_} is not finite")
    gpu = (lambda: _affine(_cuda_uniform(self), to - from_, from_))
    return _overwrite(self, "uniform_", _k.random_uniform, from_, to, generator=generator, cuda_draw=gpu)


def normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
    """Fills self with N(mean, std^2)."""
    tensor_arg(self, "normal_")
    mean, std = number_arg(mean, "normal_", "mean"), number_arg(std, "normal_", "std")
    _floating(self, "normal_")
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    gpu = (lambda: _affine(_cuda_normal(self), std, mean))
    return _overwrite(self, "normal_", _k.random_normal, mean, std, generator=generator, cuda_draw=gpu)


def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    """Fills self with 1 where a draw falls under p (a number, or a tensor broadcast to self),
    else 0."""
    tensor_arg(self, "bernoulli_")
    if isinstance(p, Tensor):
        from .shape import expand

        probs = expand(p.detach(), *self.shape).to(self.device)
        if not probs.dtype.is_floating_point:
            raise TypeError(f"bernoulli_: p must be a floating point tensor, got {probs.dtype.name}")
        if self.is_cuda:
            return self.copy_(Tensor._wrap(arrays.lt(_cuda_uniform(self, probs.dtype)._data, probs._data)))
        p_arr = np.ascontiguousarray(probs.cpu().numpy())
        if p_arr.size and not (p_arr.min() >= 0 and p_arr.max() <= 1):
            raise RuntimeError("bernoulli_: all elements of p must be in [0, 1]")
        out = np.empty(tuple(self.shape), self.dtype.np)
        if out.size:
            _k.random_bernoulli_each(state_of(generator), out, p_arr)
        return self.copy_(Tensor._wrap(out))
    p = number_arg(p, "bernoulli_", "p")
    if not 0.0 <= p <= 1.0:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    gpu = (lambda: Tensor._wrap(arrays.lt(_cuda_uniform(self, _dt.float64)._data, p)))
    return _overwrite(self, "bernoulli_", _k.random_bernoulli, p, generator=generator, cuda_draw=gpu)


def exponential_(self, lambd=1.0, *, generator=None) -> Tensor:
    """Fills self with Exp(lambd) draws, -log(1 - u) / lambd."""
    tensor_arg(self, "exponential_")
    lambd = number_arg(lambd, "exponential_", "lambd")
    _floating(self, "exponential_")
    if not (lambd > 0.0 and math.isfinite(lambd)):
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")

    def gpu():
        u = _cuda_uniform(self)
        return Tensor._wrap(arrays.mul(arrays.log1p(arrays.neg(u._data)), -1.0 / lambd))
    return _overwrite(self, "exponential_", _k.random_exponential, lambd, generator=generator, cuda_draw=gpu)


def random_(self, from_=None, to=None, *, generator=None, **kwargs) -> Tensor:
    """random_(): integers in [0, 2^63) for int64 (for floats, the integers the dtype holds
    exactly); random_(to): [0, to); random_(from, to): [from, to)."""
    tensor_arg(self, "random_")
    from_ = kwargs.pop("from", from_)
    if kwargs:
        raise TypeError(f"random_() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if from_ is None and to is None:
        return _overwrite(self, "random_", _k.random_bits, generator=generator)
    if to is None:
        from_, to = 0, from_
    low = int_arg(0 if from_ is None else from_, "random_", "from")
    high = int_arg(to, "random_", "to")
    if not low < high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _overwrite(self, "random_", _k.random_integers, low, high, generator=generator)


def _affine(t: Tensor, scale: float, shift: float) -> Tensor:
    """t * scale + shift in t's dtype (the GPU fills' transform of a standard draw)."""
    return Tensor._wrap(arrays.add(arrays.mul(t._data, scale), shift))


def bernoulli(input, p=None, *, generator=None, out=None) -> Tensor:  # noqa: A002
    """1 with probability input[i] (or p, when given), else 0, in input's dtype."""
    tensor_arg(input, "bernoulli")
    result = Tensor._wrap(arrays.for_device(input.device).empty(tuple(input.shape), input.dtype.np,
                                                                input.device.index))
    bernoulli_(result, input if p is None else p, generator=generator)
    return _into(result, out)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False, out=None) -> Tensor:
    """normal(mean, std, size): numbers; normal(mean_tensor, std_tensor): one draw per element,
    mean and std broadcast (a standard draw times std plus mean, as PyTorch computes it)."""
    from ..creation import empty
    from .elementwise import add, mul

    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if size is not None:
            raise RuntimeError("normal: size is only accepted with a number mean and std")
        ref = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(tuple(getattr(mean, "shape", ())), tuple(getattr(std, "shape", ())))
        if isinstance(std, Tensor) and std.numel() and float(std.detach().min()) < 0:
            raise RuntimeError("normal expects all elements of std >= 0.0")
        draw = normal_(empty(shape, dtype=ref.dtype, device=ref.device), 0.0, 1.0, generator=generator)
        with no_grad():
            result = add(mul(draw, std), mean)
    else:
        if size is None:
            raise TypeError("normal() with a number mean and std needs a size")
        result = normal_(empty(size, dtype=dtype, device=device), mean, std, generator=generator)
    if requires_grad:
        result.requires_grad = True
    return _into(result, out)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None) -> Tensor:  # noqa: A002
    """Indices drawn from each row of `input` (non-negative weights, 1-D or 2-D), as PyTorch
    draws them: with replacement, by a binary search of the row's normalised running sum for a
    uniform float64 draw; without replacement (or one sample), the top num_samples of
    weight / Exp(1) draws."""
    tensor_arg(input, "multinomial")
    n = int_arg(num_samples, "multinomial", "num_samples")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {tuple(input.shape)}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype.name}")
    if n <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples, got {n}")
    w = input.detach().cpu().numpy()
    rows = w.reshape(-1, w.shape[-1])
    cats = rows.shape[1]
    if cats == 0:
        raise RuntimeError("multinomial: number of categories cannot be zero")
    if not replacement and n > cats:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
                           f"replacement, got {n} > {cats}")
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    if np.any(rows.sum(axis=1) <= 0):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement or n == 1:
        if not replacement and np.any(np.count_nonzero(rows, axis=1) < n):
            raise RuntimeError("multinomial: invalid multinomial distribution (with replacement=False, "
                               "not enough non-negative category to sample)")
        q = host_fill(rows.shape, rows.dtype, _k.random_exponential, 1.0, generator=generator)
        keys = rows / q
        # topk's order: largest first (a stable sort of the negated keys keeps ties in index order)
        picks = np.argsort(-keys, axis=1, kind="stable")[:, :n]
    else:
        cum = np.cumsum(rows, axis=1, dtype=rows.dtype)
        cum /= cum[:, -1:]
        cum[:, -1] = 1
        u = host_fill((rows.shape[0], n), np.float64, _k.random_uniform, generator=generator)
        picks = np.stack([np.searchsorted(cum[i].astype(np.float64), u[i], side="left")
                          for i in range(rows.shape[0])])
    result = Tensor._wrap(picks.astype(np.int64).reshape(w.shape[:-1] + (n,)))
    return _into(result.to(input.device) if input.is_cuda else result, out)


def _into(result: Tensor, out) -> Tensor:
    """result, or result copied into `out` (which must have its shape)."""
    if out is None:
        return result
    tensor_arg(out, "out")
    if tuple(out.shape) != tuple(result.shape):
        raise RuntimeError(f"out: expected shape {tuple(result.shape)}, got {tuple(out.shape)}")
    with no_grad():
        return out.copy_(result)


METHODS = {
    "uniform_": uniform_, "normal_": normal_, "bernoulli_": bernoulli_,
    "exponential_": exponential_, "random_": random_,
    "bernoulli": bernoulli, "multinomial": multinomial,
}
