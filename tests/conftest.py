"""Shared fixtures and the run's sizing.

`device` runs a test on the CPU and, where a GPU is present, on CUDA; `kernels` does the same
for the kernel tests, which call the compiled module directly. Without a GPU it runs it
a second time on device "cuda" served by a host stand-in for the CUDA kernels (id "standin",
tests/cuda_standin.py), which checks the Python half of the CUDA backend.

Property and fuzz tests come in two tiers through the `tier` fixture: the "ci" variant runs in
every default run (100 hypothesis examples per test, 500 fuzz cases); the "slow" variant carries
the `slow` marker and runs only when `-m` selects slow tests (`pytest -m slow`), which also loads
the 10,000-example hypothesis profile. The terminal summary lists how many examples each such
test ran, so a run that silently checked less than it should is visible.
"""
import numpy as np
import pytest
from hypothesis import settings

import tapegrad as tg

DEVICES = ["cpu", "cuda", "standin"]

# derandomize: every run draws the same examples, so a CI failure reproduces locally; the
# database is off because derandomized runs have nothing to replay.
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, database=None)
settings.register_profile("slow", settings.get_profile("ci"), max_examples=10_000)

_COUNTS = pytest.StashKey[dict]()


def _slow_selected(config) -> bool:
    expr = config.getoption("markexpr") or ""
    return "slow" in expr and "not slow" not in expr


def pytest_configure(config):
    settings.load_profile("slow" if _slow_selected(config) else "ci")
    config.stash[_COUNTS] = {}


def pytest_collection_modifyitems(config, items):
    """Without `-m slow`, slow tests are deselected (an explicit `-m` expression decides)."""
    if _slow_selected(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Counts the examples a hypothesis test completes (its body returning without error)."""
    handle = getattr(item.obj, "hypothesis", None)
    if handle is None:
        yield
        return
    counts = item.config.stash[_COUNTS]
    counts[item.nodeid] = 0
    inner = handle.inner_test

    def counted(*args, **kwargs):
        result = inner(*args, **kwargs)
        counts[item.nodeid] += 1
        return result

    handle.inner_test = counted
    try:
        yield
    finally:
        handle.inner_test = inner


def pytest_terminal_summary(terminalreporter, config):
    counts = config.stash.get(_COUNTS, {})
    if not counts:
        return
    profile = settings.get_current_profile_name()
    terminalreporter.write_sep("-", f"examples run per test (hypothesis profile '{profile}')")
    for nodeid, n in counts.items():
        terminalreporter.write_line(f"{n:>8}  {nodeid}")


@pytest.fixture(scope="session", params=["ci", pytest.param("slow", marks=pytest.mark.slow)])
def tier(request):
    return request.param


@pytest.fixture
def count_examples(request):
    """count_examples(n): records n more examples run by this (non-hypothesis) test."""
    counts = request.config.stash[_COUNTS]
    counts.setdefault(request.node.nodeid, 0)

    def add(n=1):
        counts[request.node.nodeid] += n

    return add


def _use_device(request, param: str) -> str:
    if param == "cuda" and not tg.cuda.is_available():
        pytest.skip("CUDA is not available")
    if param == "standin":
        if tg.cuda.is_available():
            pytest.skip("a real GPU runs the cuda variant")
        request.getfixturevalue("cuda_standin")
        return "cuda"
    return param


@pytest.fixture(params=DEVICES)
def device(request):
    return _use_device(request, request.param)


@pytest.fixture(params=["cuda", "standin"])
def gpu(request):
    """Device "cuda": the real GPU where there is one, else the host stand-in."""
    return _use_device(request, request.param)


@pytest.fixture(params=["cpu", "cuda"])
def kernels(request, monkeypatch):
    """The kernel module `K` of a tests/test_kernels_*.py module: _C.cpu, and _C.cuda behind
    numpy arrays (tests/kernels_on_device.py) where a GPU is present. The argument checks are
    shared by both (csrc/checks.h), so only tests of results take this fixture."""
    if request.param == "cpu":
        return request.module.K
    from kernels_on_device import use_cuda_kernels

    return use_cuda_kernels(request.module, monkeypatch)


@pytest.fixture
def cuda_standin(monkeypatch):
    """Device "cuda" served by the host stand-in for the CUDA kernels (tests/cuda_standin.py)."""
    from cuda_standin import StandIn

    from tapegrad.arrays import cuda as cuda_arrays

    standin = StandIn()
    monkeypatch.setattr(cuda_arrays, "kernels", standin)
    return standin


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
