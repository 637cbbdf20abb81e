"""tapegrad.autograd: reverse-mode differentiation over the tape that ops record.

backward() / grad() drive the engine (create_graph=True records the backward too, for
higher-order gradients); Node is the base of every op and Function PyTorch's public base of
custom ops; gradcheck and gradgradcheck compare analytical gradients with central differences;
functional builds Jacobians, Hessians and their products.
"""
from __future__ import annotations

from .. import tensor as _tensor  # Tensor itself is defined after this module loads
from .. import arrays
from .engine import _accumulate_grad, run_backward
from .function import Function, FunctionCtx, once_differentiable
from .node import Node
from .grad_mode import (detect_anomaly, enable_grad, inference_mode, is_anomaly_check_nan_enabled,
                        is_anomaly_enabled, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_detect_anomaly, set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import functional
from .variable import Variable

__all__ = ["Function", "FunctionCtx", "once_differentiable", "backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "functional",
           "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "Variable", "Node"]


def _as_tuple(x):
    if x is None:
        return None
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _roots(outputs, grad_outputs, op: str, create_graph: bool = False):
    """(edge, gradient) per output: arrays, or Tensors when the backward is to be
    differentiated (a given gradient Tensor itself then, which may require grad)."""
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
            if create_graph:
                garr = Tensor._wrap(garr)
        elif create_graph:
            if not isinstance(g, Tensor):
                raise TypeError(f"{op}: gradient must be a Tensor, got {type(g).__name__}")
            _check_grad_output(op, g, out)
            garr = g if g.dtype is out.dtype else g.to(out.dtype)
        else:
            if not isinstance(g, Tensor):
                raise TypeError(f"{op}: gradient must be a Tensor, got {type(g).__name__}")
            _check_grad_output(op, g, out)
            garr = g._data if g.dtype is out.dtype else arrays.astype(g._data, out._data.dtype)
        roots.append((out.grad_fn if out.grad_fn is not None else out, garr))
    return roots


def _check_grad_output(op, g, out):
    if tuple(g.shape) != tuple(out.shape):
        raise RuntimeError(
            f"{op}: mismatch in shape: grad_output has a shape of {tuple(g.shape)} and "
            f"output has a shape of {tuple(out.shape)}"
        )
    if g.device != out.device:
        raise RuntimeError(f"{op}: grad_output is on {g.device} and output on {out.device}; "
                           "they must be on one device")


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (or only into `inputs`'). With
    create_graph the gradients are themselves differentiable (their graph is recorded)."""
    outputs = _as_tuple(tensors)
    roots = _roots(outputs, grad_tensors, "backward", create_graph)
    retain = create_graph if retain_graph is None else bool(retain_graph)
    if inputs is None:
        run_backward(roots, retain, create_graph=create_graph)
        return
    inputs = _as_tuple(inputs)
    captured = run_backward(roots, retain, capture={id(t): t for t in inputs}, create_graph=create_graph)
    for t in inputs:
        g = captured.get(id(t))
        if g is not None:
            _accumulate_grad(t, g, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """The gradients of `outputs` with respect to `inputs`, returned (no .grad is changed).
    With create_graph they are differentiable: grad of grad gives second derivatives."""
    Tensor = _tensor.Tensor
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("grad: one of the differentiated Tensors does not require grad")
    roots = _roots(outputs, grad_outputs, "grad", create_graph)
    retain = create_graph if retain_graph is None else bool(retain_graph)
    captured = run_backward(roots, retain, capture={id(t): t for t in inputs}, create_graph=create_graph)
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
        elif create_graph:
            result.append(g if g.dtype is t.dtype else g.to(t.dtype))
        else:
            if g.dtype != t._data.dtype:
                g = arrays.astype(g, t._data.dtype)
            result.append(Tensor._wrap(g))
    return tuple(result)
