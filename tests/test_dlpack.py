"""DLPack: tapegrad tensors shared with numpy and PyTorch without copies, both ways."""
import numpy as np
import pytest

import tapegrad as tg

NUMPY_1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64, tg.int64, tg.bool])
def test_numpy_reads_a_tensor_in_place(dtype):
    t = tg.tensor([[1, 0], [0, 1]], dtype=dtype)
    a = np.from_dlpack(t)
    assert a.dtype == dtype.np and a.shape == (2, 2)
    assert np.shares_memory(a, t.numpy())
    if NUMPY_1:  # numpy 1.x imports DLPack memory read-only
        assert not a.flags.writeable
    elif dtype is not tg.bool:
        a[0, 1] = 5
        assert t[0, 1].item() == 5


def test_from_dlpack_of_a_numpy_array_shares_memory():
    a = np.arange(6.0).reshape(2, 3)[:, ::2]  # strided
    t = tg.from_dlpack(a)
    assert t.shape == (2, 2) and np.shares_memory(t.numpy(), a)
    t[0, 0] = -1
    assert a[0, 0] == -1
    assert t.__dlpack_device__() == (1, 0)


def test_torch_and_tapegrad_share_memory_both_ways():
    torch = pytest.importorskip("torch")
    t = tg.tensor([1.0, 2.0, 3.0])
    p = torch.from_dlpack(t)
    p[1] = 20.0
    assert t.tolist() == [1.0, 20.0, 3.0]
    q = torch.arange(4, dtype=torch.float64)
    u = tg.from_dlpack(q)
    u[0] = 7.0
    assert q[0].item() == 7.0 and u.dtype is tg.float64
    # the legacy capsule functions: readable; numpy imports a legacy capsule read-only
    back = tg.utils.dlpack.from_dlpack(torch.utils.dlpack.to_dlpack(torch.ones(2)))
    assert back.tolist() == [1.0, 1.0]
    cap = tg.utils.dlpack.to_dlpack(t)
    assert torch.utils.dlpack.from_dlpack(cap).tolist() == [1.0, 20.0, 3.0]


def test_dlpack_errors():
    with pytest.raises(RuntimeError, match="require gradient, use tensor.detach"):
        np.from_dlpack(tg.ones(2, requires_grad=True))
    assert np.from_dlpack(tg.ones(2, requires_grad=True).detach()).tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="float32, float64, int64 or bool; the data is float16"):
        tg.from_dlpack(np.ones(2, np.float16))
    with pytest.raises(TypeError, match="expected an object with __dlpack__"):
        tg.from_dlpack([1.0, 2.0])
    with pytest.raises(BufferError, match="would need a copy to another device"):
        tg.ones(2).__dlpack__(dl_device=(2, 0))


@pytest.mark.skipif(NUMPY_1, reason="numpy 1.x's from_dlpack takes no copy keyword")
def test_dlpack_copy_keyword():
    t = tg.tensor([1.0, 2.0])
    a = np.from_dlpack(t, copy=True)
    a[0] = 9.0
    assert t.tolist() == [1.0, 2.0]


def test_cuda_tensor_export_says_what_to_do(cuda_standin):
    with pytest.raises(BufferError, match="move it to the CPU first"):
        np.from_dlpack(tg.ones(2, device="cuda"))
    assert tg.ones(2, device="cuda").__dlpack_device__() == (2, 0)
