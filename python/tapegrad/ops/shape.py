"""Shape ops: reshape/view, permute/transpose, expand, squeeze/unsqueeze, cat/stack, split/chunk,
contiguous/clone. Views change metadata only (array views); the copies that cat, contiguous
and clone need go through the copy kernel (csrc/cpu/index.cpp)."""
from __future__ import annotations

from .._checks import int_arg, tensor_arg
from ..autograd.node import Node
from .. import arrays
from ..tensor import Tensor


def _shape_arg(shape, op: str, arg: str = "shape") -> tuple:
    """Accept f(2, 3), f((2, 3)) and f([2, 3]), as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if all(type(s) is int for s in shape):  # the common case, checked cheaply
        return tuple(shape)
    return tuple(int_arg(s, op, arg) for s in shape)


def infer_shape(shape: tuple, numel: int, op: str, in_shape) -> tuple:
    """Resolve one -1 in `shape`; a RuntimeError naming both shapes if it cannot fit."""
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred, got shape {list(shape)}")
    if any(s < -1 for s in shape):
        raise RuntimeError(f"{op}: invalid shape dimension in {list(shape)}")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if unknown:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape {list(shape)} is invalid for input of shape {tuple(in_shape)} (size {numel})")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"{op}: shape {list(shape)} is invalid for input of shape {tuple(in_shape)} (size {numel})")
    return shape


class Reshape(Node):
    is_view = True

    def forward(self, x, shape):
        self.in_shape, self.shape = x.shape, shape
        return arrays.reshape(x, shape)

    def backward(self, g):
        return arrays.reshape(g, self.in_shape)

    def view(self, a):
        return arrays.reshape(a, self.shape)


def reshape(x: Tensor, *shape) -> Tensor:
    tensor_arg(x, "reshape")
    shape = infer_shape(_shape_arg(shape, "reshape"), x.numel(), "reshape", x.shape)
    return Reshape.apply(x, shape)


def view(x: Tensor, *shape) -> Tensor:
    tensor_arg(x, "view")
    shape = infer_shape(_shape_arg(shape, "view"), x.numel(), "view", x.shape)
    if not arrays.can_view(x._data, shape):
        raise RuntimeError(
            f"view size is not compatible with input tensor's size and stride (shape "
            f"{tuple(x.shape)}, strides {x.stride()} -> {shape}); use .reshape(...) instead."
        )
    return Reshape.apply(x, shape)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    tensor_arg(x, "flatten")
    s, e = x._dim(start_dim, op="flatten"), x._dim(end_dim, op="flatten")
    if x.ndim == 0:
        return reshape(x, (1,))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    n = 1
    for d in x.shape[s:e + 1]:
        n *= d
    return reshape(x, tuple(x.shape[:s]) + (n,) + tuple(x.shape[e + 1:]))


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    d = tensor_arg(x, "unflatten")._dim(dim, op="unflatten")
    sizes = infer_shape(_shape_arg((sizes,), "unflatten", "sizes"), x.shape[d], "unflatten", x.shape)
    return reshape(x, tuple(x.shape[:d]) + sizes + tuple(x.shape[d + 1:]))


def squeeze(x: Tensor, dim=None) -> Tensor:
    tensor_arg(x, "squeeze")
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        dims = {x._dim(d, op="squeeze") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1))
    return x if shape == tuple(x.shape) else Reshape.apply(x, shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    d = tensor_arg(x, "unsqueeze")._dim(dim, x.ndim + 1, op="unsqueeze")
    shape = tuple(x.shape)
    return Reshape.apply(x, shape[:d] + (1,) + shape[d:])


class Permute(Node):
    is_view = True

    def forward(self, x, dims):
        self.dims = dims
        self.inverse = tuple(sorted(range(len(dims)), key=lambda i: dims[i]))
        return arrays.permute(x, dims)

    def backward(self, g):
        return arrays.permute(g, self.inverse)

    def view(self, a):
        return arrays.permute(a, self.dims)


def permute(x: Tensor, *dims) -> Tensor:
    tensor_arg(x, "permute")
    dims = _shape_arg(dims, "permute", "dims")
    if len(dims) != x.ndim:
        raise RuntimeError(
            f"permute: number of dims {len(dims)} does not match the tensor's {x.ndim} (shape {tuple(x.shape)})"
        )
    norm = tuple(x._dim(d, op="permute") for d in dims)
    if len(set(norm)) != len(norm):
        raise RuntimeError(f"permute: repeated dim in {list(dims)}")
    return Permute.apply(x, norm)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    a, b = tensor_arg(x, "transpose")._dim(dim0, op="transpose"), x._dim(dim1, op="transpose")
    if x.ndim == 0:
        return x
    dims = list(range(x.ndim))
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, tuple(dims))


def t(x: Tensor) -> Tensor:
    if tensor_arg(x, "t").ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D (shape {tuple(x.shape)})")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def movedim(x: Tensor, source, destination) -> Tensor:
    tensor_arg(x, "movedim")
    src = [x._dim(d, op="movedim") for d in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [x._dim(d, op="movedim") for d in (destination if isinstance(destination, (tuple, list)) else (destination,))]
    if len(src) != len(dst):
        raise RuntimeError("movedim: source and destination must have the same number of dims")
    if x.ndim == 0:
        return x
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, order)


class Expand(Node):
    is_view = True

    def forward(self, x, shape):
        self.in_shape = x.shape
        return arrays.broadcast_to(x, shape)

    def backward(self, g):
        return arrays.sum_to_shape(g, self.in_shape)


def expand(x: Tensor, *sizes) -> Tensor:
    tensor_arg(x, "expand")
    sizes = _shape_arg(sizes, "expand", "size")
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
            f"number of dimensions in the tensor ({x.ndim})"
        )
    lead = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        cur = x.shape[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = cur
        elif s < 0:
            raise RuntimeError(f"expand: invalid size {s} in target sizes {list(sizes)} (tensor shape {tuple(x.shape)})")
        if cur is not None and cur != 1 and cur != s:
            raise RuntimeError(
                f"expand: the expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}; target sizes {list(sizes)}, tensor shape {tuple(x.shape)}"
            )
        shape.append(s)
    shape = tuple(shape)
    return x if shape == tuple(x.shape) else Expand.apply(x, shape)


def broadcast_to(x: Tensor, shape) -> Tensor:
    return expand(x, _shape_arg((shape,) if isinstance(shape, (tuple, list)) else (shape,), "broadcast_to"))


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, tuple(other.shape))


class Copy(Node):
    """contiguous() and clone(): a copy whose gradient passes straight through."""

    def forward(self, x):
        return arrays.astype(x, x.dtype)

    def backward(self, g):
        return g


def contiguous(x: Tensor) -> Tensor:
    return x if tensor_arg(x, "contiguous").is_contiguous() else Copy.apply(x)


def clone(x: Tensor) -> Tensor:
    return Copy.apply(tensor_arg(x, "clone"))


class Cat(Node):
    def forward(self, *parts, dim):
        self.dim = dim
        self.sizes = [a.shape[dim] for a in parts]
        shape = list(parts[0].shape)
        shape[dim] = sum(self.sizes)
        out = arrays.empty(tuple(shape), parts[0].dtype, parts[0])
        lo = 0
        for a, n in zip(parts, self.sizes):
            arrays.copy_(a, arrays.view_index(out, (slice(None),) * dim + (slice(lo, lo + n),)))
            lo += n
        return out

    def backward(self, g):
        grads, lo = [], 0
        for n, need in zip(self.sizes, self.needs_input_grad):
            grads.append(arrays.view_index(g, (slice(None),) * self.dim + (slice(lo, lo + n),)) if need else None)
            lo += n
        return tuple(grads)


def cat(tensors, dim: int = 0) -> Tensor:
    from .elementwise import as_operand, result_type

    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"cat(): argument 'tensors' must be a sequence of Tensors, not {type(tensors).__name__}")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, t_ in enumerate(tensors):
        if not isinstance(t_, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t_).__name__}")
    # PyTorch skips legacy empty 1-D tensors of shape (0,)
    parts = [t_ for t_ in tensors if not (t_.ndim == 1 and t_.shape[0] == 0)] or tensors[:1]
    ref = parts[0]
    if ref.ndim == 0:
        raise RuntimeError("cat(): zero-dimensional tensor (at position 0) cannot be concatenated")
    d = ref._dim(dim, op="cat")
    for i, t_ in enumerate(parts):
        if t_.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t_.shape, ref.shape)) if j != d):
            raise RuntimeError(
                f"cat(): sizes of tensors must match except in dimension {d}; got shapes "
                f"{tuple(ref.shape)} and {tuple(t_.shape)} (tensor {i})"
            )
    dt = result_type(*parts)
    parts = [as_operand(t_, dt, "cat") for t_ in parts]
    return Cat.apply(*parts, dim=d)


def concat(tensors, dim: int = 0) -> Tensor:
    return cat(tensors, dim)


class Stack(Node):
    """Equal-shaped arrays along a new axis `dim`: one allocation, one copy per input."""

    def forward(self, *parts, dim):
        self.lead = (slice(None),) * dim
        shape = parts[0].shape[:dim] + (len(parts),) + parts[0].shape[dim:]
        out = arrays.empty(shape, parts[0].dtype, parts[0])
        for i, a in enumerate(parts):
            arrays.copy_(a, arrays.view_index(out, self.lead + (i,)))
        return out

    def backward(self, g):
        return tuple(arrays.view_index(g, self.lead + (i,)) if need else None
                     for i, need in enumerate(self.needs_input_grad))


def stack(tensors, dim: int = 0) -> Tensor:
    from .elementwise import as_operand, result_type

    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"stack(): argument 'tensors' must be a sequence of Tensors, not {type(tensors).__name__}")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t_ in enumerate(tensors):
        if not isinstance(t_, Tensor):
            raise TypeError(f"stack(): expected a sequence of Tensors, but element {i} is {type(t_).__name__}")
    shapes = {tuple(t_.shape) for t_ in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack expects each tensor to be equal size, but got shapes {sorted(shapes)}")
    d = tensors[0]._dim(dim, tensors[0].ndim + 1, op="stack")
    dt = result_type(*tensors)
    return Stack.apply(*[as_operand(t_, dt, "stack") for t_ in tensors], dim=d)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    from .index import getitem

    d = tensor_arg(x, "narrow")._dim(dim, op="narrow")
    start, length = int_arg(start, "narrow", "start"), int_arg(length, "narrow", "length")
    if x.ndim == 0:
        raise RuntimeError("narrow(): cannot be applied to a 0-dim tensor")
    n = x.shape[d]
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise RuntimeError(
            f"narrow(): start ({start}) + length ({length}) exceeds dimension size ({n}) of a tensor of "
            f"shape {tuple(x.shape)}, or is negative"
        )
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    d = tensor_arg(x, "split")._dim(dim, op="split")
    if x.ndim == 0:
        raise RuntimeError("split(): cannot split a 0-dim tensor")
    n = x.shape[d]
    if not isinstance(split_size_or_sections, (list, tuple)):
        step = int_arg(split_size_or_sections, "split", "split_size")
        if step <= 0:
            raise RuntimeError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = [int_arg(s, "split", "split_size") for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                f"dimension {d}), but got split_sizes={sizes}"
            )
    out, lo = [], 0
    for s in sizes:
        out.append(narrow(x, d, lo, s))
        lo += s
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    d = tensor_arg(x, "chunk")._dim(dim, op="chunk")
    chunks = int_arg(chunks, "chunk", "chunks")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if x.ndim == 0:
        raise RuntimeError("chunk(): cannot split a 0-dim tensor")
    n = x.shape[d]
    size = -(-n // chunks) if n else 1
    return split(x, size, dim)


def unbind(x: Tensor, dim: int = 0) -> tuple:
    from .index import getitem

    d = tensor_arg(x, "unbind")._dim(dim, op="unbind")
    if x.ndim == 0:
        raise IndexError("unbind(): dimension specified as 0 but tensor has no dimensions")
    return tuple(getitem(x, (slice(None),) * d + (i,)) for i in range(x.shape[d]))


class WriteView(Node):
    """base with the region that view_of(base) reads replaced by value: how an in-place op on
    a view rewrites its base. The base's gradient is g off the region, value's the region of g."""

    def forward(self, base, value, view_of):
        self.view_of, self.like = view_of, base
        out = arrays.astype(base, base.dtype)
        arrays.copy_(value, view_of(out))
        return out

    def backward(self, g):
        # the region as a mask (a constant, made on the base's device)
        keep = arrays.full(self.like.shape, 1, self.like.dtype, self.like)
        arrays.fill_(self.view_of(keep), 0)
        return arrays.where(arrays.eq(keep, 0), 0, g), arrays.contiguous(self.view_of(g))


def write_view(base: Tensor, view_of, value: Tensor) -> None:
    """base's region view_of(base) = value, in place and recorded (see WriteView)."""
    base._apply_inplace("copy_", compute=lambda t: WriteView.apply(t, value, view_of),
                        write=lambda: arrays.copy_(value._data, view_of(base._data)),
                        others=(value,))
