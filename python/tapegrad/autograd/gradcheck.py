"""gradcheck: analytical gradients (one backward pass per output element) against float64
central differences, as torch.autograd.gradcheck."""
from __future__ import annotations

import numpy as np

from .. import arrays
from ..arrays import to_device


class GradcheckError(RuntimeError):
    pass


def _outputs_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _host64(t):
    """A tensor's values as a flat float64 host array."""
    return np.array(arrays.to_numpy(t._data), dtype=np.float64).reshape(-1)  # a copy: outputs may be views of the input


def _numerical_jacobian(fn, inputs, i, eps):
    """d outputs / d inputs[i] by central differences, one column per input element."""
    from ..autograd.grad_mode import no_grad

    x = inputs[i]
    arr = x._data
    # The input is perturbed through a host copy written back whole, which works on any device.
    host = np.array(arrays.to_numpy(arr))
    n = arr.size
    with no_grad():
        base = [o.detach() for o in _outputs_tuple(fn(*inputs))]
        cols = [np.zeros((o.numel(), n)) for o in base]
        for j, idx in enumerate(np.ndindex(arr.shape)):
            orig = host[idx]
            host[idx] = orig + eps
            arrays.copy_(host, arr)
            plus = [_host64(o) for o in _outputs_tuple(fn(*inputs))]
            host[idx] = orig - eps
            arrays.copy_(host, arr)
            minus = [_host64(o) for o in _outputs_tuple(fn(*inputs))]
            host[idx] = orig
            arrays.copy_(host, arr)
            for k in range(len(base)):
                cols[k][:, j] = (plus[k] - minus[k]) / (2 * eps)
    return cols


def _analytical_jacobian(fn, inputs, diff_idx):
    from . import grad as autograd_grad
    from ..tensor import Tensor

    outs = _outputs_tuple(fn(*inputs))
    jac = {}  # (output k, input i) -> (out numel, in numel)
    diff_inputs = [inputs[i] for i in diff_idx]
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor) or not o.dtype.is_floating_point:
            continue
        for i in diff_idx:
            jac[(k, i)] = np.zeros((o.numel(), inputs[i].numel()))
        if not o.requires_grad:
            continue
        for r in range(o.numel()):
            seed = np.zeros(o.numel(), dtype=o._data.dtype)
            seed[r] = 1
            seed = to_device(seed.reshape(o._data.shape), o.device)
            grads = autograd_grad(o, diff_inputs, grad_outputs=Tensor._wrap(seed),
                                  retain_graph=True, allow_unused=True)
            for i, g in zip(diff_idx, grads):
                if g is not None:
                    jac[(k, i)][r] = _host64(g)
    return outs, jac


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_ignored) -> bool:
    """True when every analytical Jacobian matches the numerical one within atol + rtol*|num|.

    Inputs that require grad should be float64 (a warning-free float32 check is too coarse)."""
    from ..tensor import Tensor

    inputs = _outputs_tuple(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck: at least one input tensor must require grad")
    for i in diff_idx:
        if inputs[i].dtype.name != "float64":
            import warnings

            warnings.warn(f"gradcheck: input {i} is {inputs[i].dtype.name}, not float64; the check may fail "
                          "from rounding alone", UserWarning, stacklevel=2)
    outs, analytical = _analytical_jacobian(fn, inputs, diff_idx)
    for i in diff_idx:
        numerical = _numerical_jacobian(fn, inputs, i, eps)
        for k in range(len(outs)):
            if (k, i) not in analytical:
                continue
            a, nmat = analytical[(k, i)], numerical[k]
            if not np.allclose(a, nmat, rtol=rtol, atol=atol, equal_nan=True):
                worst = np.unravel_index(np.argmax(np.abs(a - nmat)), a.shape) if a.size else ()
                msg = (f"Jacobian mismatch for output {k} with respect to input {i}:\n"
                       f"numerical:\n{nmat}\nanalytical:\n{a}\n"
                       f"largest difference at {worst}")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, **_ignored) -> bool:
    """gradcheck of the gradients: the vector-Jacobian product of `func` (computed with
    create_graph=True) is checked as a function of the inputs and of the output gradients,
    as torch.autograd.gradgradcheck. `grad_outputs` defaults to random float64 tensors."""
    from . import grad as autograd_grad
    from .grad_mode import enable_grad
    from ..tensor import Tensor

    inputs = _outputs_tuple(inputs)
    n = len(inputs)
    with enable_grad():
        outs = [o for o in _outputs_tuple(func(*inputs))
                if isinstance(o, Tensor) and o.dtype.is_floating_point and o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            Tensor._wrap(to_device(rng.standard_normal(tuple(o.shape)).astype(o._data.dtype), o.device))
            .requires_grad_(True) for o in outs)
    grad_outputs = _outputs_tuple(grad_outputs)

    def first_gradients(*args):
        ins, gos = args[:n], args[n:]
        with enable_grad():
            outs = [o for o in _outputs_tuple(func(*ins))
                    if isinstance(o, Tensor) and o.dtype.is_floating_point and o.requires_grad]
            wrt = [t for t in ins if isinstance(t, Tensor) and t.requires_grad]
            grads = autograd_grad(outs, wrt, gos, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_gradients, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception)
