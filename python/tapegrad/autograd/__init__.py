"""tapegrad.autograd: reverse-mode differentiation over the tape that ops record.

backward() / grad() drive the engine; Function is the base of every op; gradcheck compares
analytical gradients with central differences; functional.jacobian builds full Jacobians.
"""
from __future__ import annotations

from .. import tensor as _tensor  # Tensor itself is defined after this module loads
from .. import arrays
from .engine import _accumulate_grad, run_backward
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from . import functional

__all__ = ["Function", "backward", "grad", "gradcheck", "GradcheckError", "functional",
           "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


def _as_tuple(x):
    if x is None:
        return None
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _roots(outputs, grad_outputs, op: str):
    Tensor = _tensor.Tensor
    roots = []
    grad_outputs = _as_tuple(grad_outputs) or (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{op}: got {len(grad_outputs)} gradients for {len(outputs)} outputs")
    for out, g in zip(outputs, grad_outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"{op}: expected Tensors, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(
                f"{op}: element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(
                    f"{op}: grad can be implicitly created only for scalar outputs; got an output of "
                    f"shape {tuple(out.shape)} (pass gradient=)"
                )
            garr = arrays.full_like(out._data, 1)
        else:
            if not isinstance(g, Tensor):
                raise TypeError(f"{op}: gradient must be a Tensor, got {type(g).__name__}")
            if tuple(g.shape) != tuple(out.shape):
                raise RuntimeError(
                    f"{op}: mismatch in shape: grad_output has a shape of {tuple(g.shape)} and "
                    f"output has a shape of {tuple(out.shape)}"
                )
            garr = g._data if g.dtype is out.dtype else arrays.astype(g._data, out._data.dtype)
        roots.append((out.grad_fn if out.grad_fn is not None else out, garr))
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (or only into `inputs`')."""
    if create_graph:
        raise NotImplementedError("backward: create_graph=True (higher-order gradients) is not supported")
    outputs = _as_tuple(tensors)
    roots = _roots(outputs, grad_tensors, "backward")
    retain = bool(retain_graph)
    if inputs is None:
        run_backward(roots, retain)
        return
    inputs = _as_tuple(inputs)
    captured = run_backward(roots, retain, capture={id(t): t for t in inputs})
    for t in inputs:
        g = captured.get(id(t))
        if g is not None:
            _accumulate_grad(t, g)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """The gradients of `outputs` with respect to `inputs`, returned (no .grad is changed)."""
    Tensor = _tensor.Tensor
    if create_graph:
        raise NotImplementedError("grad: create_graph=True (higher-order gradients) is not supported")
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("grad: one of the differentiated Tensors does not require grad")
    roots = _roots(outputs, grad_outputs, "grad")
    captured = run_backward(roots, bool(retain_graph), capture={id(t): t for t in inputs})
    result = []
    for i, t in enumerate(inputs):
        g = captured.get(id(t))
        if g is None:
            if materialize_grads:
                result.append(Tensor._wrap(arrays.zeros_like(t._data)))
                continue
            if not allow_unused:
                raise RuntimeError(
                    f"grad: one of the differentiated Tensors (input {i}) appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
            result.append(None)
        else:
            if g.dtype != t._data.dtype:
                g = arrays.astype(g, t._data.dtype)
            result.append(Tensor._wrap(g))
    return tuple(result)
