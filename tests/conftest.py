"""Shared fixtures: `device` runs a test on the CPU and, where a GPU is present, on CUDA."""
import numpy as np
import pytest

import tapegrad as tg

DEVICES = ["cpu", "cuda"]


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda" and not tg.cuda.is_available():
        pytest.skip("CUDA is not available")
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
