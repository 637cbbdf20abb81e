"""BatchNorm1d (per-feature batch statistics while training, running statistics in eval) and
LayerNorm (per-sample statistics over the trailing dims), with PyTorch's arguments, buffers
and reprs. The math is one fused Node each (tapegrad.ops.normalization)."""
from __future__ import annotations

from .._checks import tensor_arg

import numbers

from ..creation import ones, tensor, zeros
from ..ops.normalization import batch_norm, layer_norm
from . import init
from .linear import _factory
from .module import Module
from .parameter import Parameter


class BatchNorm1d(Module):
    """Normalises each of the C features of an (N, C) or (N, C, L) input.

    Training: batch mean and biased variance normalise; running_mean / running_var move by
    `momentum` toward the batch mean and unbiased variance (momentum=None: a cumulative
    average over num_batches_tracked). Eval: the running statistics normalise, unless
    track_running_stats=False, in which case batch statistics are always used."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        kw = _factory(device, dtype)
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, **kw))
            if bias:
                self.bias = Parameter(zeros(num_features, **kw))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, **kw))
            self.register_buffer("running_var", ones(num_features, **kw))
            self.register_buffer("num_batches_tracked", tensor(0))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:  # noqa: A002
        tensor_arg(input, type(self).__name__)
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")

    def forward(self, input):  # noqa: A002
        self._check_input_dim(input)
        buffers, params = self._buffers, self._parameters
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            tracked = buffers["num_batches_tracked"]
            if tracked is not None:
                tracked.add_(1)
                factor = 1.0 / float(tracked) if self.momentum is None else self.momentum
        running_mean, running_var = buffers["running_mean"], buffers["running_var"]
        batch_stats = self.training or (running_mean is None and running_var is None)
        use_running = not self.training or self.track_running_stats
        return batch_norm(input, running_mean if use_running else None, running_var if use_running else None,
                          params["weight"], params["bias"], batch_stats, factor, self.eps)

    def _load_from_state_dict(self, state_dict, prefix, expected, missing, errors, assign) -> None:
        super()._load_from_state_dict(state_dict, prefix, expected, missing, errors, assign)
        # Checkpoints from before the counter existed load without it (PyTorch does the same).
        key = prefix + "num_batches_tracked"
        if key in missing:
            missing.remove(key)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """Normalises over the trailing dims `normalized_shape` of each sample, then applies an
    elementwise weight (ones) and bias (zeros) of that shape."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None) -> None:
        kw = _factory(device, dtype)
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list)) or not all(
                isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in normalized_shape):
            raise TypeError(f"LayerNorm: normalized_shape must be an int or a sequence of ints, got "
                            f"{type(normalized_shape).__name__} {normalized_shape!r}")
        self.normalized_shape = tuple(int(d) for d in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(self.normalized_shape, **kw))
            if bias:
                self.bias = Parameter(zeros(self.normalized_shape, **kw))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):  # noqa: A002
        p = self._parameters
        return layer_norm(input, self.normalized_shape, p["weight"], p["bias"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
