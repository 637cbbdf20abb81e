"""tapegrad.utils: helpers with PyTorch's names (tapegrad.utils.data: Dataset, DataLoader, ...)."""
from . import data  # noqa: F401
