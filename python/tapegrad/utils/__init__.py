"""tapegrad.utils: helpers with PyTorch's names (tapegrad.utils.data: Dataset, DataLoader, ...)."""
from . import data, dlpack, hooks  # noqa: F401
