"""Fuzzing the public API: random calls of the tensor ops, operators, factories and
nn.functional with random shapes, dtypes and devices, and with one argument at a time replaced by
something wrong (None, a string, a float where an int belongs, negative or huge sizes and dims, a
tensor of a mismatched shape or another dtype, a CUDA device).

Every call must return, or raise TypeError, ValueError, RuntimeError or IndexError
(NotImplementedError is a RuntimeError) with a message that names the op and, when the wrong
argument was a tensor of a mismatched shape or dtype, both offending shapes or dtypes. Numpy
floating-point warnings must not leak out. The calls run in this process: a crash takes pytest
down, which is itself the failure signal; allocations are capped so that a huge size fails
cleanly instead of swapping the machine out.

Case i is drawn from numpy's default_rng(i), so a failure is reproduced by its index alone.
"""
from __future__ import annotations

import contextlib
import math
import operator
import re
import resource
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F

ALLOWED = (TypeError, ValueError, RuntimeError, IndexError)
FUZZ_CASES = {"ci": 500, "slow": 10_000}  # per tier (tests/conftest.py)
DTYPES = [tg.float32, tg.float64, tg.int64, tg.bool]
HUGE = 2**40


# --- drawing valid arguments --------------------------------------------------------------------

class Ctx:
    """One case's random state and the tensors drawn so far (later arguments fit the first)."""

    def __init__(self, rng):
        self.rng = rng
        self.x = None

    def shape(self, max_dims=4):
        return tuple(int(s) for s in self.rng.integers(0, 6, size=self.rng.integers(0, max_dims + 1)))

    def dtype(self, floating=False):
        if floating:
            return [tg.float32, tg.float64][self.rng.integers(2)]
        return DTYPES[self.rng.choice(4, p=[0.4, 0.3, 0.2, 0.1])]

    def tensor(self, shape, dtype):
        r = self.rng
        if dtype is tg.bool:
            data = r.random(shape) > 0.5
        elif dtype is tg.int64:
            data = r.integers(-3, 4, size=shape)
        else:
            data = r.standard_normal(shape) * 3
        t = tg.tensor(data, dtype=dtype)
        if len(shape) >= 2 and r.random() < 0.3:  # a transposed view: same shape, other strides
            t = tg.tensor(np.swapaxes(data, 0, 1), dtype=dtype).transpose(0, 1)
        return t

    def dim(self, x=None):
        n = (x if x is not None else self.x).ndim
        return int(self.rng.integers(-max(n, 1), max(n, 1)))


def _x(ctx, floating=False):
    ctx.x = ctx.tensor(ctx.shape(), ctx.dtype(floating))
    return ctx.x


def _matrix(ctx):
    ctx.x = ctx.tensor(ctx.shape(max_dims=3) + (int(ctx.rng.integers(0, 6)),), ctx.dtype(True))
    return ctx.x


def _like_x(ctx):
    """A tensor broadcastable with x, often of x's dtype."""
    shape = list(ctx.x.shape)
    for i in range(len(shape)):
        if ctx.rng.random() < 0.3:
            shape[i] = 1
    shape = shape[int(ctx.rng.integers(0, len(shape) + 1)):] if shape else shape
    dtype = ctx.x.dtype if ctx.rng.random() < 0.7 else ctx.dtype()
    return ctx.tensor(tuple(shape), dtype)


def _same_shape(ctx, floating=True):
    return ctx.tensor(tuple(ctx.x.shape), ctx.x.dtype if ctx.x.dtype.is_floating_point or not floating
                      else tg.float32)


def _dims(ctx):
    r, n = ctx.rng, ctx.x.ndim
    choice = r.integers(3)
    if choice == 0:
        return None
    if choice == 1:
        return ctx.dim()
    k = int(r.integers(0, max(n, 1) + 1))
    return tuple(int(d) - (max(n, 1) if r.random() < 0.5 else 0)
                 for d in r.permutation(max(n, 1))[:k])


def _reshape_target(ctx):
    n = ctx.x.numel()
    shape = list(ctx.rng.permutation(list(ctx.x.shape) or [1]))
    if shape and ctx.rng.random() < 0.5:
        shape[int(ctx.rng.integers(len(shape)))] = -1
    return tuple(int(s) for s in shape) if math.prod(s for s in shape if s != -1) or n == 0 else (n,)


def _expand_target(ctx):
    lead = tuple(int(s) for s in ctx.rng.integers(1, 4, size=ctx.rng.integers(0, 2)))
    return lead + tuple(int(ctx.rng.integers(1, 4)) if s == 1 else s for s in ctx.x.shape)


def _perm(ctx):
    return tuple(int(d) for d in ctx.rng.permutation(ctx.x.ndim))


def _key(ctx):
    """A basic or advanced index for x."""
    r, parts = ctx.rng, []
    for s in ctx.x.shape[:int(r.integers(0, ctx.x.ndim + 1))]:
        kind = r.integers(4)
        if kind == 0 and s:
            parts.append(int(r.integers(-s, s)))
        elif kind == 1:
            parts.append(slice(int(r.integers(-s - 1, s + 2)), None, int(r.integers(1, 3))))
        elif kind == 2 and s:
            parts.append(tg.tensor(r.integers(-s, s, size=r.integers(0, 4))))
        else:
            parts.append(slice(None))
    if r.random() < 0.2:
        parts.insert(int(r.integers(0, len(parts) + 1)), None)
    if r.random() < 0.2:
        parts.append(Ellipsis)
    if r.random() < 0.1:
        return ctx.tensor(tuple(ctx.x.shape), tg.bool)
    return tuple(parts)


def _index_tensor(ctx):
    size = ctx.x.shape[0] if ctx.x.ndim else 1
    return tg.tensor(ctx.rng.integers(0, max(size, 1), size=ctx.rng.integers(0, 5)))


def _targets(ctx):
    x = ctx.x
    n, c = (x.shape[0] if x.ndim else 1), (x.shape[1] if x.ndim > 1 else 1)
    return tg.tensor(ctx.rng.integers(0, max(c, 1), size=(n,) + tuple(x.shape[2:])))


def _weight(ctx):
    return ctx.tensor((int(ctx.rng.integers(0, 6)), ctx.x.shape[-1] if ctx.x.ndim else 1), ctx.x.dtype)


def _tensors(ctx):
    first = _x(ctx)
    return [first] + [ctx.tensor(tuple(first.shape), first.dtype) for _ in range(int(ctx.rng.integers(0, 3)))]


GEN = {
    "x": _x,
    "f": lambda ctx: _x(ctx, floating=True),
    "m": _matrix,
    "y": _like_x,
    "same": _same_shape,
    "prob": lambda ctx: ctx.tensor(tuple(ctx.x.shape), ctx.x.dtype).sigmoid() if ctx.x.dtype.is_floating_point
    else ctx.tensor(tuple(ctx.x.shape), tg.float32).sigmoid(),
    "k": lambda ctx: ctx.tensor((int(ctx.x.shape[-1]) if ctx.x.ndim else 0, int(ctx.rng.integers(0, 6))), ctx.x.dtype),
    "cond": lambda ctx: ctx.tensor(tuple(ctx.x.shape), tg.bool),
    "dim": lambda ctx: ctx.dim(),
    "dims": _dims,
    "bool": lambda ctx: bool(ctx.rng.integers(2)),
    "int": lambda ctx: int(ctx.rng.integers(0, 6)),
    "pos": lambda ctx: int(ctx.rng.integers(1, 6)),
    "float": lambda ctx: float(ctx.rng.uniform(-3, 3)),
    "p": lambda ctx: float(ctx.rng.uniform(0, 1)),
    "size": lambda ctx: ctx.shape(),
    "dtype": lambda ctx: ctx.dtype(),
    "fdtype": lambda ctx: ctx.dtype(floating=True),
    "device": lambda ctx: ["cpu", None, tg.device("cpu")][int(ctx.rng.integers(3))],
    "reshape": _reshape_target,
    "expand": _expand_target,
    "perm": _perm,
    "key": _key,
    "idx": _index_tensor,
    "targets": _targets,
    "weight": _weight,
    "classes": lambda ctx: tg.tensor(ctx.rng.integers(0, 5, size=ctx.shape())),
    "tensors": _tensors,
    "reduction": lambda ctx: ["mean", "sum", "none"][int(ctx.rng.integers(3))],
    "approx": lambda ctx: ["none", "tanh"][int(ctx.rng.integers(2))],
    "pnorm": lambda ctx: [2, 1, 3.0, "fro", math.inf][int(ctx.rng.integers(5))],
    "data": lambda ctx: ctx.rng.integers(-3, 4, size=ctx.shape()).tolist(),
    "array": lambda ctx: ctx.rng.standard_normal(ctx.shape()),
    "trailing": lambda ctx: tuple(ctx.x.shape[int(ctx.rng.integers(0, ctx.x.ndim + 1)):]),
    "trailing_vec": lambda ctx: ctx.tensor((ctx.x.shape[-1] if ctx.x.ndim else 1,), ctx.x.dtype),
    "channels": lambda ctx: ctx.tensor((ctx.x.shape[1] if ctx.x.ndim >= 2 else 1,), ctx.x.dtype),
    "pads": lambda ctx: tuple(int(v) for v in ctx.rng.integers(-1, 4, size=2 * int(ctx.rng.integers(0, ctx.x.ndim + 1)))),
    "padmode": lambda ctx: ["constant", "reflect", "replicate", "circular"][int(ctx.rng.integers(4))],
    "signs": lambda ctx: ctx.tensor(tuple(ctx.x.shape[:-1]), ctx.x.dtype).sign(),
    "bil": lambda ctx: ctx.tensor((int(ctx.rng.integers(0, 4)),) + (ctx.x.shape[-1] if ctx.x.ndim else 1,) * 2,
                                  ctx.x.dtype),
    "mltargets": lambda ctx: tg.tensor(ctx.rng.integers(-1, max(ctx.x.shape[-1] if ctx.x.ndim else 1, 1),
                                                        size=tuple(ctx.x.shape))),
}

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax", "Adadelta", "ASGD", "Rprop"]
# each scheduler with the argument the case draws
SCHEDULER_ARGS = {"StepLR": "step_size", "ExponentialLR": "gamma", "CosineAnnealingLR": "T_max",
                  "PolynomialLR": "total_iters", "CosineAnnealingWarmRestarts": "T_0", "LinearLR": "total_iters"}
FACTORIES = ("empty()", "full()", "ones()", "zeros()")


def _optimizer_step(x, lr, name):
    """One step of optimizer `name` with learning rate lr on a parameter made from x (x itself
    where it is not a tensor: the optimizer must reject it)."""
    if isinstance(x, tg.Tensor):
        x = x.detach().clone().requires_grad_(True)
        x.grad = tg.ones_like(x)
    opt = getattr(tg.optim, name)([x], lr=lr)
    opt.step()


def _scheduler_steps(name, value):
    """A scheduler of kind `name` whose drawn argument is `value`, stepped twice."""
    opt = tg.optim.SGD([tg.ones(2, requires_grad=True)], lr=0.1)
    s = getattr(tg.optim.lr_scheduler, name)(opt, **{SCHEDULER_ARGS[name]: value})
    for _ in range(2):
        opt.step()
        s.step()
    return s.get_last_lr()


def _loader_batches(x, batch_size, shuffle):
    from tapegrad.utils.data import DataLoader, TensorDataset
    return list(DataLoader(TensorDataset(x), batch_size=batch_size, shuffle=shuffle))


# --- the API under test -------------------------------------------------------------------------

@dataclass
class Api:
    name: str                  # what the case is called in reports
    call: Callable             # call(*args)
    kinds: tuple               # one GEN key per argument
    says: tuple = ()           # words naming the op in an error message (default: name)
    method: bool = False       # called as a method of its first argument, which stays a Tensor

    def names(self):
        return self.says or (self.name,)


def _api():
    rows = []
    binary = {"add": tg.add, "sub": tg.sub, "mul": tg.mul, "div": tg.div, "floor_divide": tg.floor_divide,
              "remainder": tg.remainder, "pow": tg.pow, "maximum": tg.maximum, "minimum": tg.minimum,
              "eq": tg.eq, "ne": tg.ne, "lt": tg.lt, "le": tg.le, "gt": tg.gt, "ge": tg.ge,
              "logical_and": tg.logical_and, "logical_or": tg.logical_or, "logical_xor": tg.logical_xor}
    for name, fn in binary.items():
        rows.append(Api(name, fn, ("x", "y")))
    operators = {"+": ("add", lambda a, b: a + b), "-": ("sub", lambda a, b: a - b), "*": ("mul", lambda a, b: a * b),
                 "/": ("div", lambda a, b: a / b), "//": ("floor_divide", lambda a, b: a // b),
                 "%": ("remainder", lambda a, b: a % b), "**": ("pow", lambda a, b: a ** b),
                 "<": ("lt", lambda a, b: a < b), "==": ("eq", lambda a, b: a == b),
                 "&": ("logical_and", lambda a, b: a & b), "|": ("logical_or", lambda a, b: a | b),
                 "+=": ("add_", operator.iadd), "*=": ("mul_", operator.imul), "/=": ("div_", operator.itruediv)}
    for sym, (name, fn) in operators.items():
        # a non-tensor on the left of a comparison makes Python ask the mirrored one (x > a for a < x)
        # (and the op of the bool dtype: mul of bools is logical_and)
        says = (name, name.rstrip("_")) + (("gt",) if name == "lt" else ()) + (("logical_and",) if name.startswith("mul") else ())
        rows.append(Api(f"x {sym} y", fn, ("x", "y"), says))
        # with a number on the right, a non-tensor on the left is Python's business, not tapegrad's
        rows.append(Api(f"x {sym} float", fn, ("x", "float"), (name, name.rstrip("_")), method=True))
    rows.append(Api("div rounding", lambda a, b, m: tg.div(a, b, rounding_mode=m), ("x", "y", "approx"), ("div",)))
    unary = ["neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "square", "abs", "sin", "cos",
             "sign", "round", "floor", "ceil", "trunc", "isnan", "isinf", "isfinite", "logical_not", "relu",
             "sigmoid", "tanh"]
    for name in unary:
        rows.append(Api(name, getattr(tg, name), ("x",)))
    rows += [
        Api("clamp", lambda x, lo, hi: tg.clamp(x, lo, hi), ("x", "float", "float")),
        Api("clamp tensor", lambda x, lo: tg.clamp(x, min=lo), ("x", "y"), ("clamp", "maximum")),
        Api("where", lambda a, c, b: tg.where(c, a, b), ("x", "cond", "y")),
        Api("round decimals", lambda x, d: tg.round(x, decimals=d), ("x", "int"), ("round",)),
        Api("leaky_relu", F.leaky_relu, ("x", "float")),
        Api("elu", F.elu, ("x", "float")),
        Api("gelu", lambda x, a: F.gelu(x, approximate=a), ("x", "approx")),
        Api("silu", F.silu, ("x",)),
        Api("softplus", F.softplus, ("x", "float", "float")),
        # reductions
        Api("sum", lambda x, d, k: tg.sum(x, d, k), ("x", "dims", "bool")),
        Api("sum dtype", lambda x, d, t: tg.sum(x, d, dtype=t), ("x", "dims", "dtype"), ("sum", "cast")),
        Api("mean", lambda x, d, k: tg.mean(x, d, k), ("x", "dims", "bool")),
        Api("prod", lambda x, d, k: tg.prod(x, d, k), ("x", "dims", "bool")),
        Api("amax", lambda x, d, k: tg.amax(x, d, k), ("x", "dims", "bool")),
        Api("amin", lambda x, d, k: tg.amin(x, d, k), ("x", "dims", "bool")),
        Api("max", lambda x, d, k: tg.max(x, d, k), ("x", "dim", "bool")),
        Api("min", lambda x, d, k: tg.min(x, d, k), ("x", "dim", "bool")),
        Api("max all", tg.max, ("x",), ("max",)),
        Api("argmax", lambda x, d, k: tg.argmax(x, d, k), ("x", "dims", "bool")),
        Api("argmin", lambda x, d, k: tg.argmin(x, d, k), ("x", "dim", "bool")),
        Api("all", lambda x, d, k: tg.all(x, d, k), ("x", "dims", "bool")),
        Api("any", lambda x, d, k: tg.any(x, d, k), ("x", "dims", "bool")),
        Api("var", lambda x, d, c, k: tg.var(x, d, keepdim=k, correction=c), ("x", "dims", "int", "bool")),
        Api("std", lambda x, d, k: tg.std(x, d, keepdim=k), ("x", "dims", "bool")),
        Api("logsumexp", lambda x, d, k: tg.logsumexp(x, d, k), ("x", "dims", "bool")),
        Api("norm", lambda x, p, d, k: tg.norm(x, p, d, k), ("x", "pnorm", "dims", "bool")),
        Api("softmax", tg.softmax, ("x", "dim")),
        Api("log_softmax", tg.log_softmax, ("x", "dim")),
        # shape
        Api("reshape", lambda x, s: x.reshape(s), ("x", "reshape"), method=True),
        Api("view", lambda x, s: x.view(s), ("x", "reshape"), method=True),
        Api("permute", lambda x, p: x.permute(p), ("x", "perm"), method=True),
        Api("transpose", tg.transpose, ("x", "dim", "dim")),
        Api("t", tg.t, ("x",)),
        Api("expand", lambda x, s: x.expand(s), ("x", "expand"), method=True),
        Api("broadcast_to", tg.broadcast_to, ("x", "expand"), ("broadcast_to", "expand")),
        Api("squeeze", tg.squeeze, ("x", "dim")),
        Api("unsqueeze", tg.unsqueeze, ("x", "dim")),
        Api("flatten", tg.flatten, ("x", "dim", "dim")),
        Api("narrow", tg.narrow, ("x", "dim", "int", "int")),
        Api("split", tg.split, ("x", "pos", "dim")),
        Api("chunk", tg.chunk, ("x", "pos", "dim")),
        Api("unbind", tg.unbind, ("x", "dim")),
        Api("movedim", tg.movedim, ("x", "dim", "dim")),
        Api("cat", lambda ts, d: tg.cat(ts, d), ("tensors", "dim")),
        Api("stack", lambda ts, d: tg.stack(ts, d), ("tensors", "dim")),
        Api("index_select", tg.index_select, ("x", "dim", "idx")),
        Api("flip", tg.flip, ("x", "dims"), ("flip", "dim")),
        Api("masked_fill", tg.masked_fill, ("x", "cond", "float")),
        Api("getitem", lambda x, k: x[k], ("x", "key"), ("index", "indices", "indexing", "getitem", "slice"),
            method=True),
        Api("setitem", lambda x, k, v: x.__setitem__(k, v), ("x", "key", "float"),
            ("index", "indices", "indexing", "setitem", "slice"), method=True),
        Api("clone", tg.clone, ("x",)),
        Api("contiguous", lambda x: x.contiguous(), ("x",), method=True),
        Api("copy_", lambda x, y: x.copy_(y), ("x", "y"), method=True),
        Api("fill_", lambda x, v: x.fill_(v), ("x", "float"), method=True),
        Api("to dtype", lambda x, t: x.to(t), ("x", "dtype"), ("to", "dtype"), method=True),
        Api("to device", lambda x, d: x.to(d), ("x", "device"), ("to", "device"), method=True),
        Api("cuda", lambda x: x.cuda(), ("x",), ("cuda",), method=True),
        Api("item", lambda x: x.item(), ("x",), method=True),
        Api("size", lambda x, d: x.size(d), ("x", "dim"), method=True),
        Api("requires_grad_", lambda x, b: x.requires_grad_(b), ("x", "bool"), ("requires_grad", "grad"), method=True),
        # linear algebra
        Api("matmul", tg.matmul, ("m", "k")),
        Api("x @ y", lambda a, b: a @ b, ("m", "k"), ("matmul",)),
        Api("linear", F.linear, ("m", "weight")),
        Api("dot", tg.dot, ("f", "same")),
        Api("mv", tg.mv, ("m", "trailing_vec")),
        Api("bmm", tg.bmm, ("m", "k")),
        Api("outer", tg.outer, ("f", "y")),
        Api("addmm", lambda a, b, c: tg.addmm(c, a, b), ("m", "k", "y"), ("addmm", "matmul")),
        # factories
        Api("zeros", lambda s, t, d: tg.zeros(s, dtype=t, device=d), ("size", "dtype", "device")),
        Api("ones", lambda s, t, d: tg.ones(*s, dtype=t, device=d), ("size", "dtype", "device")),
        Api("empty", lambda s, t: tg.empty(s, dtype=t), ("size", "dtype")),
        Api("full", lambda s, v, t: tg.full(s, v, dtype=t), ("size", "float", "dtype")),
        Api("rand", lambda s, t: tg.rand(s, dtype=t), ("size", "fdtype")),
        Api("randn", lambda s, t, d: tg.randn(*s, dtype=t, device=d), ("size", "fdtype", "device")),
        Api("randint", lambda hi, s: tg.randint(hi, s), ("pos", "size")),
        Api("randperm", tg.randperm, ("int",)),
        Api("arange", lambda a, b, s: tg.arange(a, b, s), ("int", "int", "pos")),
        Api("linspace", tg.linspace, ("float", "float", "int")),
        Api("eye", lambda n, m, t: tg.eye(n, m, dtype=t), ("int", "int", "dtype")),
        Api("tensor", lambda d, t, dev: tg.tensor(d, dtype=t, device=dev), ("data", "dtype", "device")),
        Api("as_tensor", lambda d, t: tg.as_tensor(d, dtype=t), ("data", "dtype")),
        Api("from_numpy", tg.from_numpy, ("array",)),
        Api("zeros_like", lambda x, t: tg.zeros_like(x, dtype=t), ("x", "dtype")),
        Api("full_like", lambda x, v: tg.full_like(x, v), ("x", "float")),
        Api("randn_like", tg.randn_like, ("f",), ("randn_like", "randn")),
        # nn.functional
        Api("cross_entropy", lambda x, t, r: F.cross_entropy(x, t, reduction=r), ("f", "targets", "reduction")),
        Api("nll_loss", lambda x, t: F.nll_loss(x, t), ("f", "targets")),
        Api("mse_loss", F.mse_loss, ("f", "same")),
        Api("l1_loss", F.l1_loss, ("f", "same")),
        Api("smooth_l1_loss", lambda a, b, beta: F.smooth_l1_loss(a, b, beta=beta), ("f", "same", "p")),
        Api("huber_loss", lambda a, b, d: F.huber_loss(a, b, delta=d), ("f", "same", "p")),
        Api("binary_cross_entropy", F.binary_cross_entropy, ("f", "prob")),
        Api("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, ("f", "same")),
        Api("kl_div", F.kl_div, ("f", "prob")),
        Api("dropout", lambda x, p, t: F.dropout(x, p, t), ("x", "p", "bool")),
        Api("one_hot", lambda t, n: F.one_hot(t, n), ("classes", "pos")),
        Api("embedding", lambda w, i: F.embedding(i, w), ("m", "idx")),
        Api("layer_norm", lambda x, s: F.layer_norm(x, s), ("f", "trailing")),
        Api("alpha_dropout", lambda x, p, t: F.alpha_dropout(x, p, t), ("x", "p", "bool"), ("alpha_dropout", "dropout")),
        # the composite activations, losses and distances
        Api("hardtanh", F.hardtanh, ("x", "float", "float")),
        Api("relu6", F.relu6, ("x",)),
        Api("hardsigmoid", F.hardsigmoid, ("x",)),
        Api("hardswish", F.hardswish, ("x",)),
        Api("mish", F.mish, ("x",)),
        Api("selu", F.selu, ("x",)),
        Api("celu", F.celu, ("x", "float")),
        Api("softsign", F.softsign, ("x",)),
        Api("tanhshrink", F.tanhshrink, ("x",)),
        Api("logsigmoid", F.logsigmoid, ("x",)),
        Api("threshold", F.threshold, ("x", "float", "float")),
        Api("softshrink", F.softshrink, ("x", "p")),
        Api("hardshrink", F.hardshrink, ("x", "p")),
        Api("glu", F.glu, ("f", "dim")),
        Api("prelu", F.prelu, ("f", "channels")),
        Api("softmin", F.softmin, ("f", "dim"), ("softmin", "softmax")),
        Api("normalize", lambda x, p, d: F.normalize(x, p, d), ("f", "pnorm", "dim"), ("normalize", "norm")),
        Api("pad", lambda x, pads, mode: F.pad(x, pads, mode), ("x", "pads", "padmode"),
            ("pad", "index_select", "narrow", "cat")),
        Api("cosine_similarity", F.cosine_similarity, ("f", "y", "dim"), ("cosine_similarity", "norm", "sum")),
        Api("pairwise_distance", F.pairwise_distance, ("f", "y"), ("pairwise_distance", "norm", "sub", "add")),
        Api("bilinear", F.bilinear, ("m", "same", "bil")),
        Api("gaussian_nll_loss", F.gaussian_nll_loss, ("f", "same", "prob")),
        Api("poisson_nll_loss", F.poisson_nll_loss, ("f", "same")),
        Api("margin_ranking_loss", F.margin_ranking_loss, ("f", "same", "same")),
        Api("hinge_embedding_loss", F.hinge_embedding_loss, ("f", "same")),
        Api("soft_margin_loss", F.soft_margin_loss, ("f", "same")),
        Api("multilabel_soft_margin_loss", F.multilabel_soft_margin_loss, ("f", "same")),
        Api("multilabel_margin_loss", F.multilabel_margin_loss, ("f", "mltargets")),
        Api("multi_margin_loss", F.multi_margin_loss, ("f", "targets")),
        Api("cosine_embedding_loss", F.cosine_embedding_loss, ("m", "same", "signs")),
        Api("triplet_margin_loss", F.triplet_margin_loss, ("f", "same", "same"), ("triplet_margin_loss", "norm", "sub")),
        # modules
        # (an error in a constructor's size comes from the factory making the parameter: empty(),
        # full(), ... name it and the size)
        Api("Linear module", lambda x, n: tg.nn.Linear(n, 3)(x), ("f", "pos"), ("linear", "matmul") + FACTORIES),
        Api("Bilinear module", lambda x, n: tg.nn.Bilinear(n, n, 2)(x, x), ("f", "pos"), ("bilinear",) + FACTORIES),
        Api("PReLU module", lambda x, n: tg.nn.PReLU(n)(x), ("f", "pos"), ("prelu",) + FACTORIES),
        Api("BatchNorm1d module", lambda x, n: tg.nn.BatchNorm1d(n)(x), ("f", "pos"),
            ("batch_norm", "BatchNorm1d", "2D or 3D") + FACTORIES),
        Api("LayerNorm module", lambda x, n: tg.nn.LayerNorm(n)(x), ("f", "pos"), ("layer_norm", "LayerNorm") + FACTORIES),
        Api("Embedding module", lambda i, n: tg.nn.Embedding(n, 3)(i), ("classes", "pos"),
            ("embedding", "index") + FACTORIES),
        Api("Sequential module", lambda x, n: tg.nn.Sequential(tg.nn.Linear(n, 4), tg.nn.ReLU())(x), ("f", "pos"),
            ("linear", "matmul") + FACTORIES),
        # optimizers, schedulers, data loading
        Api("DataLoader", _loader_batches, ("x", "pos", "bool"),
            ("DataLoader", "TensorDataset", "batch_size", "shuffle", "sampler", "num_samples")),
    ]
    for name in OPTIMIZERS:
        rows.append(Api(f"{name} step", partial(_optimizer_step, name=name), ("f", "p"),
                        ("learning rate", "lr", "optimizer", "params", "Tensor", "grad", "floating")))
    for name, arg in SCHEDULER_ARGS.items():
        rows.append(Api(name, partial(_scheduler_steps, name), ("pos",), (name, arg, "epoch")))
    return rows


API = _api()


# --- wrong arguments ----------------------------------------------------------------------------

class Bad:
    """A wrong argument and what an error about it must show."""

    def __init__(self, value, kind, shows=()):
        self.value, self.kind, self.shows = value, kind, shows

    def __repr__(self):
        return f"<{self.kind}: {_short(self.value)}>"


def _bad(ctx, original, first):
    """A wrong value for an argument (`first`: it is the op's first tensor)."""
    r = ctx.rng
    plain = [None, "abc", 1.5, -7, HUGE, 2**63, -(2**63), [], [1, "a"], object(), math.nan, math.inf, True,
             np.float32(2.5), np.int64(3), 1 + 2j, b"xy", {}, -1, 0]
    if isinstance(original, tg.Tensor):
        other = [d for d in DTYPES if d is not original.dtype]
        if original.ndim and r.random() < 0.4:  # a mismatched shape: one dim grows by 2 (never to 1)
            shape = list(original.shape)
            i = int(r.integers(len(shape)))
            shape[i] += 2
            bad = ctx.tensor(tuple(shape), original.dtype)
            # an error must show the shape that does not fit, and the first tensor's it fits against
            return Bad(bad, "shape", (tuple(bad.shape),) if first else (tuple(ctx.x.shape), tuple(bad.shape)))
        if r.random() < 0.4:
            bad = ctx.tensor(tuple(original.shape), other[int(r.integers(len(other)))])
            return Bad(bad, "dtype", (bad.dtype.name,))
        return Bad(plain[int(r.integers(len(plain)))], "value")
    if isinstance(original, (str, tg.device)) or original is None and r.random() < 0.5:
        return Bad(["cuda", "cuda:0", "mps", "gpu", "cpu:x", 0, 1.5][int(r.integers(7))], "device")
    if isinstance(original, tuple) and r.random() < 0.5:
        return Bad(tuple(original) + (HUGE,) if r.random() < 0.5 else (-3,) + tuple(original), "value")
    return Bad(plain[int(r.integers(len(plain)))], "value")


def _short(v, n=60):
    text = (f"Tensor{tuple(v.shape)} {v.dtype.name}" if isinstance(v, tg.Tensor)
            else f"ndarray{v.shape} {v.dtype}" if isinstance(v, np.ndarray) else repr(v))
    return text if len(text) <= n else text[:n] + "..."


def _shape_shown(shape, msg):
    forms = {str(tuple(shape)), str(list(shape)), "[" + ", ".join(map(str, shape)) + "]"}
    return any(f in msg for f in forms)


# --- running a case -----------------------------------------------------------------------------

@contextlib.contextmanager
def memory_cap(extra_bytes=4 << 30):
    """Address space capped at what the process uses now plus `extra_bytes`: an allocation for
    a huge shape then fails at once with MemoryError instead of paging the machine out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    cap = used + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_case(i):
    """Draws and runs case i; returns None or a description of what went wrong."""
    ctx = Ctx(np.random.default_rng(i))
    api = API[int(ctx.rng.integers(len(API)))]
    args = [GEN[k](ctx) for k in api.kinds]
    bad = None
    if args and ctx.rng.random() < 0.6:
        j = int(ctx.rng.integers(len(args)))
        bad = _bad(ctx, args[j], first=ctx.x is None or args[j] is ctx.x or isinstance(args[j], list))
        if api.method and j == 0 and not isinstance(bad.value, tg.Tensor):
            bad = None  # x.reshape(...) on a non-tensor is Python's AttributeError, not tapegrad's
        else:
            args[j] = bad.value
    shown = ", ".join(_short(a) for a in args)
    where = f"case {i}: {api.name}({shown})" + (f" with {bad!r}" if bad else "")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            api.call(*args)
        except ALLOWED as e:
            msg = str(e)
            if not any(word.lower() in msg.lower() for word in api.names()):
                return f"{where}: {type(e).__name__} does not name the op: {msg!r}"
            if bad is not None and bad.kind in ("shape", "dtype") and _mentions(msg, bad.kind) and not all(
                    (_shape_shown(s, msg) if bad.kind == "shape" else s in msg) for s in bad.shows):
                return f"{where}: {type(e).__name__} does not show the {bad.kind}s {bad.shows}: {msg!r}"
        except Exception as e:  # noqa: BLE001 - anything else is the finding
            return f"{where}: raised {type(e).__module__}.{type(e).__name__}: {e}"
    leaked = [w for w in caught if not issubclass(w.category, UserWarning)]
    if leaked:
        return f"{where}: leaked {leaked[0].category.__name__}: {leaked[0].message}"
    return None


def _mentions(msg, kind):
    """Whether an error is about a mismatch of shapes (or about a dtype) at all: only those must
    show the offending ones; an error about something else (a dim out of range, a value) need not."""
    words = {"shape": r"broadcast|align|match", "dtype": r"dtype|type"}
    return re.search(words[kind], msg, re.IGNORECASE) is not None


def test_fuzz_public_api(tier, count_examples):
    failures = []
    with memory_cap():
        for i in range(FUZZ_CASES[tier]):
            problem = run_case(i)
            count_examples()
            if problem:
                failures.append(problem)
    assert not failures, f"{len(failures)} of {FUZZ_CASES[tier]} cases failed:\n" + "\n".join(failures[:40])


def test_every_public_op_is_fuzzed():
    """Each op row names a distinct call; the table is not empty of any family."""
    names = [a.name for a in API]
    assert len(names) == len(set(names))
    for must in ("add", "matmul", "sum", "reshape", "getitem", "zeros", "cross_entropy", "to device"):
        assert must in names


# --- regressions the fuzzer found (each input once raised AttributeError / OverflowError /
# MemoryError / an unnamed error, or computed something PyTorch does not) ----------------------

@pytest.mark.parametrize("call", [
    lambda: tg.clone("abc"), lambda: tg.sum(0), lambda: tg.floor(object()), lambda: tg.neg(True),
    lambda: tg.isinf(0), lambda: tg.t(-7), lambda: F.linear(tg.ones(2), 0), lambda: tg.zeros_like("abc"),
    lambda: F.binary_cross_entropy(tg.ones(2), math.inf), lambda: F.nll_loss(tg.ones(4, 4), 0),
    lambda: tg.max(None, 0), lambda: tg.squeeze([], -1), lambda: F.dropout(-7, 0.1),
])
def test_non_tensor_input_is_a_type_error(call):
    with pytest.raises(TypeError, match=r"\w+\(\)?:? .*(Tensor|tensor)"):
        call()


@pytest.mark.parametrize("call,error,pattern", [
    (lambda: tg.ones(3, 4).sum("abc"), TypeError, r"sum\(\): argument 'dim' must be int, not str"),
    (lambda: tg.ones(3).unsqueeze(math.nan), TypeError, "unsqueeze"),
    (lambda: tg.ones(2, 3).amin(3), IndexError, r"amin\(\): Dimension out of range"),
    (lambda: tg.ones(3) / (1 + 2j), TypeError, "div: unsupported operand type complex"),
    (lambda: tg.ones(2, dtype=tg.int64) % 2**63, RuntimeError, "remainder: value 9223372036854775808"),
    (lambda: tg.ones(2, dtype=tg.int64).fill_(math.nan), RuntimeError, "fill_"),
    (lambda: tg.zeros(3, dtype=0), TypeError, "zeros: unsupported dtype 0"),
    (lambda: tg.zeros(3, device="gpu"), RuntimeError, "zeros: device"),
    (lambda: tg.zeros(3, device="cpu:x"), RuntimeError, "zeros: device: invalid device string"),
    (lambda: tg.randn(2, device="cuda:0"), RuntimeError, "randn: device 'cuda:0' is not available"),
    (lambda: tg.zeros(-3, 1), RuntimeError, r"zeros\(\): Trying to create tensor with negative dimension"),
    (lambda: tg.rand(2**63), RuntimeError, r"rand\(\): size .* is too large"),
    (lambda: tg.arange(math.inf), RuntimeError, r"arange\(\): unsupported range"),
    (lambda: tg.arange(2, 2, 2**63), RuntimeError, "arange.*int64"),
    (lambda: tg.linspace(b"xy", 1.0, 3), TypeError, "linspace"),
    (lambda: tg.randperm([]), TypeError, "randperm"),
    (lambda: tg.eye(2, math.nan), TypeError, "eye"),
    (lambda: tg.full((2,), {}), TypeError, r"full\(\): argument 'fill_value'"),
    (lambda: tg.full_like(tg.ones(2, dtype=tg.int64), 2**63), ValueError, "full_like"),
    (lambda: tg.ones(1, 1, 4).item(), RuntimeError, r"item\(\): a Tensor with 4 elements"),
    (lambda: tg.ones(5).expand(-3, 5), RuntimeError, "expand: invalid size -3"),
    (lambda: tg.ones(4).narrow(0, 1.5, 2), TypeError, "narrow"),
    (lambda: tg.ones(4).narrow(0, 3, 2), RuntimeError, r"narrow\(\): start \(3\) \+ length \(2\) exceeds"),
    (lambda: tg.ones(()).split(1), RuntimeError, "split"),
    (lambda: tg.ones(()).size(0), IndexError, "size"),
    (lambda: tg.ones(2, 3)[2**63], IndexError, "does not fit int64"),
    (lambda: tg.ones(2, 0).index_select(1, tg.tensor([1])), IndexError, "index_select"),
    (lambda: F.smooth_l1_loss(tg.ones(6, 5), tg.ones(4, 5)), ValueError,
     r"smooth_l1_loss: shapes \(6, 5\) and \(4, 5\) cannot be broadcast"),
    (lambda: F.huber_loss(tg.ones(2), tg.ones(2), delta=b"xy"), TypeError, "huber_loss"),
    (lambda: F.nll_loss(tg.ones(3), tg.tensor([0, 1, 2])), ValueError, "nll_loss: for 1-D input"),
    (lambda: F.one_hot(tg.tensor([0, 3]), 2), RuntimeError, r"one_hot: .*num_classes \(2\)"),
    (lambda: F.one_hot(tg.ones(2), 3), RuntimeError, "one_hot.*float32"),
    (lambda: F.layer_norm(tg.ones(2, 5), ()), RuntimeError, "layer_norm: Given normalized_shape"),
    (lambda: F.embedding(tg.tensor([5]), tg.ones(2, 3)), IndexError, "embedding: index 5 is out of range"),
    (lambda: F.leaky_relu(tg.ones(2), "abc"), TypeError, "leaky_relu"),
    (lambda: tg.ones(4, 1, 5).__itruediv__(tg.ones(3, 1)), RuntimeError, r"div_: .*\(3, 1\)"),
    (lambda: tg.ones(2).std("abc"), TypeError, r"std\(\): argument 'dim'"),
    (lambda: tg.round(tg.ones(2), decimals=2**63), RuntimeError, "round: decimals=9223372036854775808"),
])
def test_errors_name_the_op(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_zero_features_and_classes_with_extra_dims():
    # a -1 in an internal reshape could not be inferred for a zero-size last dim
    assert tuple(F.linear(tg.ones(6, 2, 0), tg.ones(4, 0)).shape) == (6, 2, 4)
    assert tuple(F.nll_loss(tg.ones(4, 0, 5, 0), tg.zeros(4, 5, 0, dtype=tg.int64), reduction="none").shape) == (4, 5, 0)


def test_reflected_logical_operators():
    t = tg.tensor([True, False])
    assert (True | t).tolist() == [True, True] and (True & t).tolist() == [True, False]
    assert (True ^ t).tolist() == [False, True]


def test_index_select_keeps_dims_as_pytorch():
    assert tuple(tg.tensor([1.0, 2.0]).index_select(0, tg.tensor(1)).shape) == (1,)
    assert tg.tensor(5.0).index_select(0, tg.tensor([0])).item() == 5.0


def test_allocation_failure_is_a_runtime_error():
    with memory_cap(1 << 30), pytest.raises(RuntimeError, match=r"zeros\(\): not enough memory"):
        tg.zeros(2**38)
