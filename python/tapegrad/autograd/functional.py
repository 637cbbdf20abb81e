"""tapegrad.autograd.functional: jacobian, built row by row from vector-Jacobian products."""
from __future__ import annotations


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """J[i] of shape output.shape + inputs[i].shape; a single tensor in gives a single tensor out.

    Only a single tensor output is supported (PyTorch also accepts tuples of outputs)."""
    import numpy as np

    from . import grad as autograd_grad
    from .grad_mode import enable_grad
    from ..tensor import Tensor

    if create_graph:
        raise NotImplementedError("jacobian: create_graph=True is not supported")
    single = isinstance(inputs, Tensor)
    ins = (inputs,) if single else tuple(inputs)
    ins = tuple(t.detach().requires_grad_(True) if t.dtype.is_floating_point else t.detach() for t in ins)
    with enable_grad():
        out = func(*ins)
    if not isinstance(out, Tensor):
        raise TypeError("jacobian: func must return a single Tensor")
    jac = [np.zeros((out.numel(), t.numel()), dtype=t._data.dtype) for t in ins]
    if out.requires_grad:
        for r in range(out.numel()):
            seed = np.zeros(out.numel(), dtype=out._data.dtype)
            seed[r] = 1
            grads = autograd_grad(out, ins, grad_outputs=Tensor._wrap(seed.reshape(out._data.shape)),
                                  retain_graph=True, allow_unused=True)
            for j, g in enumerate(grads):
                if g is not None:
                    jac[j][r] = np.asarray(g._data).reshape(-1)
    result = tuple(Tensor._wrap(j.reshape(tuple(out.shape) + tuple(t.shape))) for j, t in zip(jac, ins))
    return result[0] if single else result
