"""Dropout layers: zero elements with probability p while training, the identity in eval mode.
Dropout scales the kept ones by 1 / (1 - p); AlphaDropout keeps a SELU network's mean and
variance. Masks come from tapegrad's seeded generator."""
from __future__ import annotations

from . import functional as F
from .module import Module


class _DropoutLayer(Module):
    """A dropout layer: p, inplace, and `fn`, its functional form."""
    fn = None

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return type(self).fn(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutLayer):
    fn = F.dropout


class AlphaDropout(_DropoutLayer):
    fn = F.alpha_dropout
