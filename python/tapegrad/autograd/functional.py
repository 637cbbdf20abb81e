"""tapegrad.autograd.functional, as PyTorch's: vjp, jvp, jacobian, hessian, vhp and hvp of a
function of tensors, built from reverse-mode gradients (and gradients of gradients, with
create_graph, for jvp and the second-order ones).

`inputs` is a tensor or a tuple of tensors, and results follow its structure. Results are
detached from the graph unless create_graph=True.
"""
from __future__ import annotations

from .. import tensor as _tensor  # Tensor itself is defined after this module loads


def _as_tuple(x, what: str, fn: str):
    Tensor = _tensor.Tensor
    single = isinstance(x, Tensor)
    xs = (x,) if single else tuple(x)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn}: the {what} must be Tensors, but element {i} is a {type(t).__name__}")
    return single, xs


def _prepare(inputs, create_graph, fn):
    """Inputs that require grad, for differentiating through: detached copies (the caller's
    graph is not extended) unless create_graph keeps them connected."""
    single, xs = _as_tuple(inputs, "inputs", fn)
    out = []
    for t in xs:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))
        else:
            out.append(t.detach().requires_grad_(t.dtype.is_floating_point))
    return single, tuple(out)


def _grad(outputs, inputs, grad_outputs, create_graph):
    """d outputs / d inputs contracted with grad_outputs; zeros (not None) for an input the
    outputs do not depend on."""
    from . import grad
    from ..creation import zeros_like

    outs = [o for o in outputs if o.requires_grad]
    gos = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not outs:
        return tuple(zeros_like(t) for t in inputs)
    grads = grad(outs, inputs, gos, retain_graph=True, create_graph=create_graph, allow_unused=True)
    return tuple(zeros_like(t) if g is None else g for t, g in zip(inputs, grads))


def _finish(xs, single, create_graph):
    xs = tuple(x if create_graph else x.detach() for x in xs)
    return xs[0] if single else xs


def _call(func, inputs, fn):
    from .grad_mode import enable_grad

    with enable_grad():
        out = func(*inputs)
    single, outs = _as_tuple(out, "outputs of func", fn)
    return single, outs


def _vector(v, like, fn, what="v"):
    from ..creation import ones_like

    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            raise RuntimeError(f"{fn}: the vector {what} can only be None if the function's "
                               "output has a single element")
        return (ones_like(like[0]),)
    _, vs = _as_tuple(v, what, fn)
    if len(vs) != len(like) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(vs, like)):
        raise RuntimeError(f"{fn}: {what} has shapes {[tuple(a.shape) for a in vs]}, expected "
                           f"{[tuple(b.shape) for b in like]}")
    return vs


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product."""
    single_in, xs = _prepare(inputs, create_graph, "vjp")
    single_out, outs = _call(func, xs, "vjp")
    vs = _vector(v, outs, "vjp")
    grads = _grad(outs, xs, vs, create_graph)
    return _finish(outs, single_out, create_graph), _finish(grads, single_in, create_graph)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, as the gradient of v^T J u with
    respect to u (two reverse passes)."""
    from ..creation import zeros_like

    single_in, xs = _prepare(inputs, True, "jvp")
    single_out, outs = _call(func, xs, "jvp")
    vs = _vector(v, xs, "jvp")
    us = tuple(zeros_like(o).requires_grad_(True) for o in outs)
    g = _grad(outs, xs, us, True)
    jv = _grad(g, us, vs, create_graph)
    return _finish(outs, single_out, create_graph), _finish(jv, single_out, create_graph)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """J[i][j] = d outputs[i] / d inputs[j], of shape outputs[i].shape + inputs[j].shape, built
    row by row; a single tensor in (out) gives a single level of the nesting."""
    from ..ops.shape import reshape, stack
    from ..creation import zeros

    single_in, xs = _prepare(inputs, create_graph, "jacobian")
    single_out, outs = _call(func, xs, "jacobian")
    rows = []
    for o in outs:
        per_input = [[] for _ in xs]
        for r in range(o.numel()):
            seed = zeros(o.numel(), dtype=o.dtype, device=o.device)
            seed[r] = 1
            grads = _grad((o,), xs, (seed.reshape(o.shape),), create_graph)
            for j, g in enumerate(grads):
                per_input[j].append(reshape(g, (-1,)))
        blocks = []
        for j, x in enumerate(xs):
            block = stack(per_input[j]) if per_input[j] else zeros((0, x.numel()), dtype=x.dtype, device=x.device)
            blocks.append(reshape(block, tuple(o.shape) + tuple(x.shape)))
        rows.append(_finish(blocks, single_in, create_graph))
    return rows[0] if single_out else tuple(rows)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a function with a single-element output: H[i][j] = d^2 f / d inputs[i]
    d inputs[j]."""
    single_in, xs = _prepare(inputs, True, "hessian")

    def gradient(*args):
        single_out, outs = _call(func, args, "hessian")
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError("hessian: the function must return a single Tensor with one element")
        grads = _grad(outs, args, (None,), True)
        return grads[0] if single_in else grads

    return jacobian(gradient, xs[0] if single_in else xs, create_graph=create_graph)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a function with a single-element output."""
    single_in, xs = _prepare(inputs, True, "vhp")
    single_out, outs = _call(func, xs, "vhp")
    if len(outs) != 1 or outs[0].numel() != 1:
        raise RuntimeError("vhp: the function must return a single Tensor with one element")
    vs = _vector(v, xs, "vhp")
    g = _grad(outs, xs, (None,), True)
    result = _grad(g, xs, vs, create_graph)
    return _finish(outs, single_out, create_graph), _finish(result, single_in, create_graph)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a function with a single-element output (H is symmetric, so
    this is v^T H transposed)."""
    return vhp(func, inputs, v, create_graph, strict)
