"""Random state with PyTorch's CPU streams: tapegrad.manual_seed(s) makes rand, randn, randint,
randperm, the in-place fills (uniform_, normal_, bernoulli_, exponential_, random_), bernoulli,
multinomial, parameter init, dropout masks and DataLoader shuffling draw the values that
torch.manual_seed(s) makes PyTorch draw on the CPU.

A Generator is MT19937 with PyTorch's transforms (csrc/cpu/random.cpp lists them). Its state is
an int64 array that the kernels advance in place, so graph mode replays the same stream. CUDA
tensors draw from the GPU's own counter-based stream instead (tapegrad.cuda.manual_seed), as
PyTorch's CUDA stream differs from its CPU one."""
from __future__ import annotations

import secrets

import numpy as np

from . import _C

# The seed PyTorch's generators start from when nobody seeds them.
_DEFAULT_SEED = 67280421310721
_STATE_WORDS = _C.cpu.random_state_words


def _check_seed(seed) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
    if not -(2**63) <= seed < 2**64:
        raise RuntimeError(f"Overflow when unpacking long long: seed {seed} does not fit 64 bits")
    return int(seed) % (2**64)


class Generator:
    """A seeded stream of random numbers (torch.Generator). Every new Generator starts from
    PyTorch's default seed, so unseeded code draws the same numbers under both libraries."""

    def __init__(self, device="cpu"):
        from .dtypes import to_device

        self.device = to_device(device, "Generator")
        self._state = np.zeros(_STATE_WORDS, np.int64)
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = _check_seed(seed)
        _C.cpu.random_seed(self._state, self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        """Seeds from the operating system's entropy; returns the seed."""
        self.manual_seed(secrets.randbits(63))
        return self._seed

    def get_state(self):
        """A copy of the whole state, as an int64 tensor (set_state takes it back)."""
        from .tensor import Tensor

        return Tensor._wrap(self._state.copy())

    def set_state(self, new_state) -> "Generator":
        data = np.asarray(new_state.numpy() if hasattr(new_state, "numpy") else new_state)
        if data.dtype != np.int64 or data.shape != (_STATE_WORDS,):
            raise RuntimeError(f"set_state: expected the int64 tensor of {_STATE_WORDS} words that get_state "
                               f"returns, got {data.dtype} of shape {tuple(data.shape)}")
        self._state[...] = data
        return self

    def __repr__(self) -> str:
        return f"<tapegrad.Generator device={self.device}>"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seeds the default CPU generator and, as PyTorch's does, every GPU's stream."""
    from . import cuda

    gen = default_generator.manual_seed(seed)
    cuda.manual_seed_all(gen.initial_seed())
    return gen


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    default_generator.set_state(new_state)


def state_of(generator: Generator | None):
    """The int64 state array the CPU kernels draw from: `generator`'s, or the default one's."""
    if generator is None:
        return default_generator._state
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a tapegrad.Generator, got {type(generator).__name__}")
    return generator._state


def draw_seed(generator: Generator | None = None) -> int:
    """One int64 draw in [0, 2^63), as torch.empty((), dtype=torch.int64).random_() gives: what
    PyTorch's samplers and loaders use to seed the generators they make."""
    out = np.empty((), np.int64)
    _C.cpu.random_bits(state_of(generator), out)
    return int(out)


def numpy_generator(generator: Generator | None = None) -> np.random.Generator:
    """A numpy Generator seeded by one draw from `generator` (or the default one), for code with
    no PyTorch counterpart (the synthetic datasets), so that manual_seed fixes it too."""
    return np.random.default_rng(draw_seed(generator))
