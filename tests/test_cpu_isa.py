"""The CPU code path switch: TAPEGRAD_CPU_ISA at import, tapegrad.backends.cpu.isa at run time.

Every path this CPU runs is checked here on a few kernels of each family against float64 numpy;
the matmul tests run once per path (test_kernels_matmul.py), and CI runs the whole suite once
more with a non-default path forced.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad import _C

PATHS = ("portable", "avx2", "avx512")


def _supported():
    before = tg.backends.cpu.isa
    out = []
    for name in PATHS:
        try:
            tg.backends.cpu.isa = name
            out.append(name)
        except ValueError:
            pass
    tg.backends.cpu.isa = before
    return out


SUPPORTED = _supported()


@pytest.fixture(params=SUPPORTED)
def path(request):
    before = tg.backends.cpu.isa
    tg.backends.cpu.isa = request.param
    yield request.param
    tg.backends.cpu.isa = before


def test_every_machine_runs_the_portable_path():
    assert SUPPORTED[0] == "portable"
    assert tg.backends.cpu.isa == SUPPORTED[-1] or os.environ.get("TAPEGRAD_CPU_ISA")


def test_capability_names_follow_pytorch(path):
    assert tg.backends.cpu.isa == path
    assert tg.backends.cpu.get_cpu_capability() == {"portable": "DEFAULT", "avx2": "AVX2", "avx512": "AVX512"}[path]


def test_unknown_and_unsupported_paths_raise():
    before = tg.backends.cpu.isa
    with pytest.raises(ValueError, match=r"set_isa: unknown CPU code path 'sse9'"):
        tg.backends.cpu.isa = "sse9"
    for name in PATHS:
        if name not in SUPPORTED:
            with pytest.raises(ValueError, match=rf"set_isa: this CPU cannot run the '{name}' kernels"):
                tg.backends.cpu.isa = name
    assert tg.backends.cpu.isa == before


def _isa_in_subprocess(value):
    env = dict(os.environ, TAPEGRAD_CPU_ISA=value)
    code = "import warnings, tapegrad; print(tapegrad.backends.cpu.isa)"
    r = subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip(), r.stderr


@pytest.mark.parametrize("name", SUPPORTED)
def test_environment_variable_chooses_the_path(name):
    assert _isa_in_subprocess(name.upper()) == (name, "")


def test_environment_variable_with_a_bad_value_warns_and_keeps_the_default():
    got, err = _isa_in_subprocess("sse9")
    assert got == SUPPORTED[-1]
    assert "TAPEGRAD_CPU_ISA='sse9' ignored: set_isa: unknown CPU code path 'sse9'" in err
    assert "RuntimeWarning" in err


def test_show_config_names_the_path(path, capsys):
    text = tg.show_config()
    assert f"CPU kernels: {path} (this CPU runs up to {SUPPORTED[-1]}; TAPEGRAD_CPU_ISA chooses another)" in text


# Each kernel family on each path, against float64 numpy: shapes with a vector-width remainder.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_agree_with_float64_numpy_on_every_path(path, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 53)).astype(dtype)
    y = rng.standard_normal((37, 53)).astype(dtype)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    a, b = tg.from_numpy(x), tg.from_numpy(y)
    np.testing.assert_allclose((a * b + a).numpy(), x64 * y64 + x64, **tol)
    np.testing.assert_allclose(tg.exp(a).numpy(), np.exp(x64), **tol)
    np.testing.assert_allclose(tg.tanh(a).numpy(), np.tanh(x64), **tol)
    np.testing.assert_allclose(tg.sigmoid(a).numpy(), 1 / (1 + np.exp(-x64)), **tol)
    np.testing.assert_allclose(a.sum(1).numpy(), x64.sum(1), rtol=tol["rtol"] * 50, atol=tol["atol"] * 50)
    np.testing.assert_allclose(a.amax(0).numpy(), x64.max(0))
    t = rng.integers(0, 53, 37)
    shifted = x64 - x64.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    np.testing.assert_allclose(F.cross_entropy(a, tg.from_numpy(t)).item(), -logp[np.arange(37), t].mean(), **tol)
    np.testing.assert_allclose(F.log_softmax(a, dim=1).numpy(), logp, **tol)
    # An optimizer update: one Adam step from zero state moves each weight by -lr * sign(grad).
    w = tg.nn.Parameter(tg.from_numpy(x.copy()))
    w.grad = tg.from_numpy(y)
    tg.optim.Adam([w], lr=0.1).step()
    np.testing.assert_allclose(w.detach().numpy(), x64 - 0.1 * y64 / (np.abs(y64) + 1e-8), **tol)


def test_randn_blocks_draw_the_same_bits_on_every_path(path):
    # float32 randn's Box-Muller blocks run on AVX2 lanes or in scalar code: the same operations
    # (and the same fused multiply-adds), so the same bits, which tests/test_random.py checks
    # against PyTorch on the default path.
    before = tg.backends.cpu.isa
    tg.backends.cpu.isa = "portable"
    tg.manual_seed(5)
    reference = tg.randn(1003).numpy()
    tg.backends.cpu.isa = path
    tg.manual_seed(5)
    np.testing.assert_array_equal(tg.randn(1003).numpy(), reference)
    tg.backends.cpu.isa = before
