"""Bad input raises a Python exception that names the op and both shapes / dtypes."""
import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F


def test_matmul_shapes_named():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) do not align"):
        tg.ones(3, 4) @ tg.ones(5, 2)


def test_matmul_dtypes_named():
    with pytest.raises(RuntimeError, match="float32 and float64"):
        tg.ones(3, 4) @ tg.ones(4, 2, dtype=tg.float64)


def test_broadcast_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(2, 4\) cannot be broadcast"):
        tg.ones(3, 4) + tg.ones(2, 4)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        tg.ones(2, 3) * tg.ones(4)


def test_linear_shape_error():
    with pytest.raises(ValueError, match=r"linear: input shape \(2, 3\) and weight shape \(4, 5\)"):
        F.linear(tg.ones(2, 3), tg.ones(4, 5))


def test_reshape_error_names_shapes():
    with pytest.raises(RuntimeError, match=r"shape \[4, 4\] is invalid for input of shape \(3, 5\)"):
        tg.ones(3, 5).reshape(4, 4)


def test_view_of_noncontiguous_raises():
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        tg.ones(3, 4).T.view(12)


def test_cat_mismatch():
    with pytest.raises(RuntimeError, match=r"\(2, 3\) and \(2, 4\)"):
        tg.cat([tg.ones(2, 3), tg.ones(2, 4)], 0)


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        tg.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        tg.arange(3).requires_grad_()


def test_cross_entropy_bad_target():
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(tg.randn(3, 4), tg.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match=r"input of shape \(3, 4\) and target of shape \(2,\)"):
        F.cross_entropy(tg.randn(3, 4), tg.tensor([0, 1]))


def test_index_out_of_range():
    with pytest.raises(IndexError, match="out of bounds"):
        tg.ones(3, 4)[5]
    with pytest.raises(IndexError):
        tg.ones(3)[tg.tensor([0, 3])]
    with pytest.raises(IndexError, match="long or bool"):
        tg.ones(3)[tg.tensor([0.0])]


def test_dim_out_of_range():
    with pytest.raises(IndexError, match="Dimension out of range"):
        tg.ones(2, 3).sum(2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        tg.ones(2, 3).softmax(-3)


def test_reduction_of_empty_raises():
    with pytest.raises(RuntimeError, match="empty"):
        tg.ones(0, 3).max()
    with pytest.raises(IndexError):
        tg.ones(0, 3).max(0)


def test_unsupported_dtype_and_types():
    with pytest.raises(TypeError, match="from_numpy"):
        tg.from_numpy(np.zeros(3, dtype=np.int32))
    with pytest.raises(TypeError):
        tg.ones(3) + "a"
    with pytest.raises(ValueError, match="ragged"):
        tg.tensor([[1, 2], [3]])


def test_item_of_many_elements():
    with pytest.raises(RuntimeError, match="3 elements"):
        tg.ones(3).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tg.ones(3))


def test_cuda_unavailable_is_clear():
    with pytest.raises(RuntimeError, match="CUDA"):
        tg.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        tg.ones(3).to("cuda")


def test_kernel_errors_are_python_exceptions():
    from tapegrad._C import cpu as K

    with pytest.raises(ValueError):
        K.binary("add", np.ones(3, np.float32), np.ones(4, np.float32), np.empty(3, np.float32))
    with pytest.raises(ValueError):
        K.unary("no_such_op", np.ones(3, np.float32), np.empty(3, np.float32))
    with pytest.raises(ValueError):
        K.matmul(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32), np.empty((2, 2), np.float32))
    with pytest.raises(ValueError, match="byte order"):
        K.unary("exp", np.ones(3, dtype=">f4"), np.empty(3, np.float32))
