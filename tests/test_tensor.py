"""Tensor API: factories, dtypes, conversions, zero-copy numpy interop, repr, seeding."""
import os

import numpy as np
import pytest

import tapegrad as tg


def test_installed_package_is_imported():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert not os.path.abspath(tg.__file__).startswith(os.path.join(here, "python"))
    assert tg.__version__ == "0.1.0"


def test_show_config(capsys):
    text = tg.show_config()
    assert "CUDA: " in text and "threads:" in text and "CPU kernels:" in text
    assert "-march=native" not in text
    assert capsys.readouterr().out.strip() == text
    caches = tg._C.cpu.cache_sizes()
    assert f"L1d {caches['l1d'] >> 10} KiB" in text, text


def test_threads_setting():
    n = tg.get_num_threads()
    assert n >= 1
    tg.set_num_threads(1)
    assert tg.get_num_threads() == 1
    assert (tg.ones(100000) * 2).sum().item() == 200000
    tg.set_num_threads(n)
    with pytest.raises(ValueError):
        tg.set_num_threads(0)


@pytest.mark.parametrize("data,dtype", [
    ([1.0, 2.0], tg.float32), ([1, 2], tg.int64), ([True, False], tg.bool), (3.5, tg.float32),
    (np.array([1.0]), tg.float64), (np.array([1], dtype=np.int32), tg.int64), ([[1, 2], [3, 4]], tg.int64),
])
def test_tensor_dtype_inference(data, dtype):
    assert tg.tensor(data).dtype == dtype


def test_tensor_copies_but_from_numpy_shares():
    a = np.zeros(3, dtype=np.float32)
    t = tg.tensor(a)
    f = tg.from_numpy(a)
    a[0] = 5
    assert t[0].item() == 0 and f[0].item() == 5
    f.add_(1)
    assert a[1] == 1


def test_numpy_is_zero_copy_and_guarded():
    t = tg.ones(3)
    n = t.numpy()
    n[0] = 7
    assert t[0].item() == 7
    r = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        r.numpy()
    assert np.asarray(r).tolist() == [1.0, 1.0]
    assert r.detach().numpy().tolist() == [1.0, 1.0]


def test_item_tolist_and_python_conversions():
    t = tg.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t[0, 0].item() == 1.5 and isinstance(t[0, 0].item(), float)
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert float(t[1, 1]) == 4.0 and int(tg.tensor(3)) == 3
    assert [1, 2, 3][tg.tensor(1)] == 2


def test_metadata():
    t = tg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tg.Size)
    assert t.size() == (2, 3, 4) and t.size(-1) == 4 and t.size(1) == 3
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24
    assert t.dtype == tg.float32 and t.device == tg.device("cpu") and str(t.device) == "cpu"
    assert t.stride() == (12, 4, 1) and t.is_contiguous() and not t.T.is_contiguous()
    assert len(t) == 2


def test_conversions_keep_values():
    t = tg.tensor([1.7, -2.2])
    assert t.to(tg.float64).dtype == tg.float64
    assert t.double().dtype == tg.float64 and t.float().dtype == tg.float32
    assert t.long().tolist() == [1, -2]
    assert t.bool().tolist() == [True, True]
    assert t.to("cpu") is t and t.to(tg.float32) is t
    assert tg.tensor([1, 0]).to(dtype=tg.float32).tolist() == [1.0, 0.0]


def test_factories():
    assert tg.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert tg.ones((2,), dtype=tg.int64).tolist() == [1, 1]
    assert tg.full((2, 2), 7).dtype == tg.int64 and tg.full((2,), 0.5).tolist() == [0.5, 0.5]
    assert tg.empty(3, 0).shape == (3, 0)
    assert tg.arange(5).tolist() == [0, 1, 2, 3, 4] and tg.arange(5).dtype == tg.int64
    np.testing.assert_allclose(tg.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert tg.arange(1, 10, 3).tolist() == [1, 4, 7]
    np.testing.assert_allclose(tg.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert tg.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]]
    x = tg.tensor([[1, 2]], dtype=tg.float64)
    for fn in (tg.zeros_like, tg.ones_like, tg.empty_like, tg.rand_like, tg.randn_like):
        y = fn(x)
        assert y.shape == x.shape and y.dtype == tg.float64
    assert tg.full_like(x, 3).tolist() == [[3.0, 3.0]]


def test_manual_seed_reproducible():
    tg.manual_seed(42)
    a = (tg.rand(5), tg.randn(2, 3), tg.randint(0, 10, (4,)), tg.randperm(6))
    tg.manual_seed(42)
    b = (tg.rand(5), tg.randn(2, 3), tg.randint(0, 10, (4,)), tg.randperm(6))
    for x, y in zip(a, b):
        assert x.tolist() == y.tolist()
    assert a[0].dtype == tg.float32 and a[2].dtype == tg.int64
    assert 0 <= a[0].min().item() and a[0].max().item() < 1
    assert tg.randint(3, (2, 2)).shape == (2, 2)


def test_repr_like_pytorch():
    assert repr(tg.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"
    assert repr(tg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(tg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(tg.tensor(3.0)) == "tensor(3.)"
    assert repr(tg.tensor([1.0], dtype=tg.float64)) == "tensor([1.], dtype=tapegrad.float64)"
    assert repr(tg.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(tg.ones(2, requires_grad=True)) == "tensor([1., 1.], requires_grad=True)"
    x = tg.ones(2, requires_grad=True)
    assert repr(x * 2) == "tensor([2., 2.], grad_fn=<MulBackward0>)"
    assert repr(tg.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert repr(tg.tensor([True, False])) == "tensor([ True, False])"
    assert "..." in repr(tg.zeros(2000))


def test_type_promotion():
    i = tg.tensor([1, 2])
    f = tg.tensor([1.0, 2.0])
    assert (i + 2.5).dtype == tg.float32
    assert (i + 2).dtype == tg.int64
    assert (f + tg.tensor(1.0, dtype=tg.float64)).dtype == tg.float32
    assert (f + tg.tensor([1.0, 1.0], dtype=tg.float64)).dtype == tg.float64
    assert (i + tg.tensor(1.5, dtype=tg.float64)).dtype == tg.float64
    assert (i / 2).dtype == tg.float32 and (i / 2).tolist() == [0.5, 1.0]
    assert (tg.tensor([True]) + tg.tensor([True])).dtype == tg.bool
    assert (i > 1).dtype == tg.bool and (i > 1).tolist() == [False, True]


def test_scalars_on_both_sides():
    x = tg.tensor([1.0, 2.0, 4.0])
    assert (2 - x).tolist() == [1.0, 0.0, -2.0]
    assert (8 / x).tolist() == [8.0, 4.0, 2.0]
    assert (2 ** x).tolist() == [2.0, 4.0, 16.0]
    assert (x ** 2).tolist() == [1.0, 4.0, 16.0]
    assert (3 * x).tolist() == [3.0, 6.0, 12.0]
    assert (1 < x).tolist() == [False, True, True]
    assert (np.float64(2.0) * x).tolist() == [2.0, 4.0, 8.0]


def test_comparisons_where_and_logic():
    a, b = tg.tensor([1.0, 5.0, 3.0]), tg.tensor([2.0, 5.0, 1.0])
    assert (a == b).tolist() == [False, True, False] and (a != b).tolist() == [True, False, True]
    assert (a <= b).tolist() == [True, True, False] and (a >= b).tolist() == [False, True, True]
    assert tg.where(a > b, a, b).tolist() == [2.0, 5.0, 3.0]
    assert tg.where(a > 2, a, 0.0).tolist() == [0.0, 5.0, 3.0]
    assert ((a > 1) & (b > 1)).tolist() == [False, True, False]
    assert (~(a > 1)).tolist() == [True, False, False]


def test_reductions_with_dims_and_indices():
    x = tg.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    v, i = x.max(1)
    assert v.tolist() == [5.0, 6.0] and i.tolist() == [1, 2]
    m = x.min(0, keepdim=True)
    assert m.values.tolist() == [[1.0, 2.0, 3.0]] and m.indices.tolist() == [[0, 1, 0]]
    assert x.argmax().item() == 5 and x.argmin(1).tolist() == [0, 1]
    assert x.sum((0, 1)).item() == 21 and x.mean(0).tolist() == [2.5, 3.5, 4.5]
    assert x.amax((0, 1)).item() == 6
    assert tg.tensor([[True, False], [True, True]]).all(1).tolist() == [False, True]
    assert tg.tensor([[True, False], [False, False]]).any().item() is True
    assert tg.arange(1, 5).prod().item() == 24
    assert tg.tensor([1, 2, 3]).sum().dtype == tg.int64


def test_shape_ops_and_views_share_memory():
    x = tg.arange(12.0).reshape(3, 4)
    v = x.view(4, 3)
    v[0, 0] = 100.0
    assert x[0, 0].item() == 100.0
    assert x.T.shape == (4, 3) and x.permute(1, 0).shape == (4, 3)
    assert x.unsqueeze(0).shape == (1, 3, 4) and x.unsqueeze(-1).shape == (3, 4, 1)
    assert x[:, None].squeeze(1).shape == (3, 4)
    assert x.flatten().shape == (12,) and x.expand(2, 3, 4).shape == (2, 3, 4)
    a, b = x.split([1, 3], 1)
    assert a.shape == (3, 1) and b.shape == (3, 3)
    assert [c.shape for c in x.chunk(2)] == [(2, 4), (1, 4)]
    assert tg.stack([x, x]).shape == (2, 3, 4) and tg.cat([x, x], 1).shape == (3, 8)
    assert x[..., 1].shape == (3,) and x[1:, ::2].tolist() == [[4.0, 6.0], [8.0, 10.0]]
    assert x[x > 9].tolist() == [100.0, 10.0, 11.0]
    assert x.T.contiguous().is_contiguous()


def test_setitem_variants():
    x = tg.zeros(3, 4)
    x[0] = 1.0
    x[1, 1:3] = tg.tensor([2.0, 3.0])
    x[tg.tensor([2, 2]), tg.tensor([0, 3])] = 5.0
    x[x == 0] = -1.0
    assert x.tolist() == [[1, 1, 1, 1], [-1, 2, 3, -1], [5, -1, -1, 5]]


def test_isclose_allclose_equal():
    a = np.array([1.0, 1.0 + 1e-6, 1.0 + 1e-3, np.inf, -np.inf, np.nan, 0.0, 1e-9], np.float32)
    b = np.array([1.0, 1.0, 1.0, np.inf, np.inf, np.nan, 1e-8, 0.0], np.float32)
    ta, tb = tg.tensor(a), tg.tensor(b)
    for kwargs in [{}, {"equal_nan": True}, {"rtol": 1e-2, "atol": 0.0}, {"rtol": 0.0, "atol": 0.0}]:
        ref = np.isclose(a, b, **kwargs)  # numpy's formula is PyTorch's: |a - b| <= atol + rtol |b|
        assert tg.isclose(ta, tb, **kwargs).tolist() == ref.tolist()
        assert ta.isclose(tb, **kwargs).dtype is tg.bool
    assert tg.allclose(ta[:2], tb[:2]) is True and tg.allclose(ta, tb) is False
    assert ta.allclose(ta, equal_nan=True) is True
    assert tg.equal(ta[:3], ta[:3].clone()) is True and tg.equal(ta, ta) is False  # NaN != NaN
    assert tg.equal(ta[:2], ta[:3]) is False
    ints = tg.tensor([1, 2, 3])
    assert tg.isclose(ints, tg.tensor([1, 2, 4])).tolist() == [True, True, False]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        for kwargs in [{}, {"equal_nan": True}, {"rtol": 1e-2, "atol": 0.0}]:
            assert (tg.isclose(ta, tb, **kwargs).tolist()
                    == torch.isclose(torch.from_numpy(a), torch.from_numpy(b), **kwargs).tolist())
    with pytest.raises(RuntimeError, match="same dtype, but got float32 and int64"):
        tg.isclose(ta[:3], ints)
    with pytest.raises(TypeError, match="argument 'other' must be Tensor"):
        tg.allclose(ta, 1.0)


def test_new_factories_take_dtype_and_device_from_the_tensor():
    x = tg.ones(2, dtype=tg.float64)
    for made in (x.new_zeros(3), x.new_ones((2, 2)), x.new_empty(4), x.new_full((2,), 7.0), x.new_tensor([1, 2])):
        assert made.dtype is tg.float64 and made.device == x.device and not made.requires_grad
    assert x.new_full((2,), 7.0).tolist() == [7.0, 7.0] and x.new_zeros(2, 3).shape == (2, 3)
    assert x.new_ones(2, dtype=tg.int64).dtype is tg.int64
    assert x.new_zeros(2, requires_grad=True).requires_grad


@pytest.fixture
def default_float64():
    torch = pytest.importorskip("torch")
    tg.set_default_dtype(tg.float64)
    torch.set_default_dtype(torch.float64)
    yield torch
    tg.set_default_dtype(tg.float32)
    torch.set_default_dtype(torch.float32)


DEFAULT_DTYPE_CALLS = [
    lambda T: T.tensor([1.5, 2.0]), lambda T: T.tensor(3.0), lambda T: T.zeros(2), lambda T: T.ones(2, 3),
    lambda T: T.full((2,), 1.5), lambda T: T.empty(3), lambda T: T.rand(2), lambda T: T.randn(2),
    lambda T: T.arange(0.0, 1.0, 0.25), lambda T: T.arange(3), lambda T: T.linspace(0, 1, 5), lambda T: T.eye(2),
    lambda T: T.tensor([1, 2]) * 1.5, lambda T: T.tensor([1, 2]) / 2, lambda T: T.Tensor([1, 2]),
    lambda T: T.nn.Linear(2, 3).weight, lambda T: T.zeros(2, dtype=float), lambda T: T.tensor([1.5], dtype=T.float32),
    lambda T: T.zeros_like(T.tensor([1, 2]), dtype=None) + 0.5, lambda T: T.sigmoid(T.tensor([1, 2])),
]


@pytest.mark.parametrize("k", range(len(DEFAULT_DTYPE_CALLS)))
def test_set_default_dtype_changes_what_torchs_changes(default_float64, k):
    torch = default_float64
    ours, theirs = DEFAULT_DTYPE_CALLS[k](tg), DEFAULT_DTYPE_CALLS[k](torch)
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    assert tg.get_default_dtype() is tg.float64


def test_set_default_dtype_takes_floating_types_only():
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        tg.set_default_dtype(tg.int64)
    assert tg.get_default_dtype() is tg.float32
    assert tg.zeros(2, dtype=float).dtype is tg.float64  # Python's float is a double, as in PyTorch


def test_product_argument_errors():
    with pytest.raises(RuntimeError, match=r"dot: 1D tensors expected, but got 2D and 1D tensors \(shapes \(2, 2\) and \(2,\)\)"):
        tg.dot(tg.ones(2, 2), tg.ones(2))
    with pytest.raises(RuntimeError, match=r"dot: inconsistent tensor size"):
        tg.dot(tg.ones(2), tg.ones(3))
    with pytest.raises(RuntimeError, match="same dtype, got float32 and float64"):
        tg.dot(tg.ones(2), tg.ones(2, dtype=tg.float64))
    with pytest.raises(RuntimeError, match=r"bmm: shapes \(2, 3, 4\) and \(3, 4, 5\) do not align"):
        tg.bmm(tg.ones(2, 3, 4), tg.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match=r"addmm: input of shape \(2, 3, 5\) cannot be broadcast"):
        tg.addmm(tg.ones(2, 3, 5), tg.ones(3, 4), tg.ones(4, 5))
    with pytest.raises(RuntimeError, match=r"mv: expected a 2-D matrix and a 1-D vector"):
        tg.mv(tg.ones(3), tg.ones(3))
