"""tapegrad.nn: neural-network building blocks with PyTorch's names."""
from . import functional  # noqa: F401
