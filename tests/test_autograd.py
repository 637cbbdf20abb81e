"""Autograd semantics, each test one documented PyTorch behaviour: leaves and grad_fn, backward
and accumulation, retain_grad, grad mode (context manager and decorator), graph freeing, the
iterative engine, dtype and broadcasting of gradients, autograd.grad, gradcheck, jacobian,
in-place ops with the version counter, and __setitem__."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import GradcheckError
from tapegrad.autograd.functional import jacobian


def arr(t):
    """A tensor's values as numpy (detached)."""
    return t.detach().numpy()


def f64(values, requires_grad=False):
    return tg.tensor(values, dtype=tg.float64, requires_grad=requires_grad)


# --- leaves, results, grad_fn, repr --------------------------------------------------------

def test_leaf_attributes():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    c = tg.tensor([1.0, 2.0])
    assert x.requires_grad is True and x.is_leaf and x.grad_fn is None and x.grad is None
    assert c.requires_grad is False and c.is_leaf and c.grad_fn is None


def test_result_attributes():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    assert y.requires_grad is True
    assert y.is_leaf is False
    assert y.grad_fn is not None and y.grad_fn.name() == "MulBackward0"
    # results of ops on tensors that don't require grad are leaves without history
    z = tg.tensor([1.0]) * 3
    assert z.requires_grad is False and z.is_leaf and z.grad_fn is None


def test_grad_fn_names_in_repr():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    assert repr(x + 1) == "tensor([2., 3.], grad_fn=<AddBackward0>)"
    assert repr(x.sum()) == "tensor(3., grad_fn=<SumBackward0>)"
    assert "grad_fn=<ExpBackward0>" in repr(x.exp())
    assert "grad_fn=<DivBackward0>" in repr(x / 2)
    assert "grad_fn=" not in repr(x.detach()) and "requires_grad" not in repr(x.detach())


def test_next_functions_link_to_inputs():
    a = tg.tensor([1.0], requires_grad=True)
    b = a * 2
    c = b + a
    fns = [f for f, _ in c.grad_fn.next_functions]
    assert len(fns) == 2
    assert fns[0] is b.grad_fn
    assert fns[0].name() == "MulBackward0"


# --- backward, accumulation, retain_grad, detach --------------------------------------------

def test_backward_scalar_default_gradient():
    x = f64([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [2.0, 4.0, 6.0])
    assert x.grad.dtype is tg.float64
    assert x.grad.requires_grad is False and x.grad.grad_fn is None


def test_backward_with_explicit_gradient():
    x = f64([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(gradient=f64([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(arr(x.grad), [2.0, 2.0, -6.0])


def test_grad_accumulates_with_retain_graph():
    x = f64([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(arr(x.grad), [2.0, 4.0])
    y.backward()
    np.testing.assert_array_equal(arr(x.grad), [4.0, 8.0])


def test_grad_accumulates_over_two_forward_passes():
    x = f64([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [3.0 + 2.0, 3.0 + 4.0])


def test_grad_set_to_none_then_fresh():
    x = f64([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [5.0, 5.0])


def test_accumulated_grad_does_not_alias_other_grads():
    # x + y hands the same upstream gradient to both; their .grad must be separate buffers.
    x = f64([1.0, 2.0], requires_grad=True)
    y = f64([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    with tg.no_grad():
        x.grad.mul_(10)
    np.testing.assert_array_equal(arr(y.grad), [1.0, 1.0])


def test_leaf_grads_taken_without_copy_are_never_shared():
    """A leaf takes a gradient array as its .grad without copying only when nothing else holds
    it; every leaf's .grad must still be its own buffer, apart from the graph's arrays."""
    w = f64([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = f64([0.5, -0.5], requires_grad=True)
    x = f64([[1.0, -1.0]], requires_grad=True)
    h = tg.nn.functional.linear(x, w, b)
    h.retain_grad()
    out = (h * 2).sum() + b.sum()
    out.backward()
    grads = [x.grad, w.grad, b.grad, h.grad]
    for i, g in enumerate(grads):
        for other in grads[i + 1:]:
            assert not np.shares_memory(arr(g), arr(other))
        for t in (x, w, b, h):
            assert not np.shares_memory(arr(g), arr(t))
    np.testing.assert_array_equal(arr(b.grad), [3.0, 3.0])
    with tg.no_grad():
        h.grad.mul_(0)  # must not reach b.grad, which was summed from the same upstream
    np.testing.assert_array_equal(arr(b.grad), [3.0, 3.0])
    np.testing.assert_array_equal(arr(w.grad), [[2.0, -2.0], [2.0, -2.0]])


def test_retain_grad_for_non_leaf():
    x = f64([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    assert h.retains_grad
    (h * h).sum().backward()
    np.testing.assert_array_equal(arr(h.grad), [4.0, 8.0])  # d(h^2)/dh = 2h
    np.testing.assert_array_equal(arr(x.grad), [8.0, 16.0])


def test_retain_grad_then_inplace_gives_grad_of_latest_version():
    # PyTorch: after h.add_(1), h.grad is the gradient w.r.t. the modified h (counted once)
    x = f64([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    h.add_(1)
    (h * h).sum().backward()
    np.testing.assert_array_equal(arr(h.grad), [6.0, 10.0])
    np.testing.assert_array_equal(arr(x.grad), [12.0, 20.0])


def test_backward_on_leaf_itself():
    x = f64([1.0, 2.0], requires_grad=True)
    x.backward(f64([3.0, 4.0]))
    np.testing.assert_array_equal(arr(x.grad), [3.0, 4.0])


def test_non_leaf_grad_access_warns():
    x = f64([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        g = h.grad
    assert g is None


def test_leaf_grad_access_does_not_warn():
    import warnings

    x = f64([1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is None


def test_detach_shares_data_and_cuts_history():
    x = f64([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.requires_grad is False and d.grad_fn is None and d.is_leaf
    np.testing.assert_array_equal(arr(d), [2.0, 4.0])
    # shares storage: an in-place change of the detached tensor shows in y
    d.add_(1)
    np.testing.assert_array_equal(arr(y), [3.0, 5.0])
    # gradient does not flow through the detached branch
    z = (x * d).sum()
    z.backward()
    np.testing.assert_array_equal(arr(x.grad), [3.0, 5.0])


def test_requires_grad_underscore():
    x = tg.tensor([1.0, 2.0])
    out = x.requires_grad_()
    assert out is x and x.requires_grad
    (x * 4).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [4.0, 4.0])
    x.requires_grad_(False)
    assert not x.requires_grad
    assert not (x * 2).requires_grad


def test_requires_grad_cannot_be_cleared_on_non_leaf():
    x = tg.tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError):
        y.requires_grad = False


@pytest.mark.parametrize("make", [
    lambda: tg.tensor([1, 2], requires_grad=True),
    lambda: tg.tensor([1, 2]).requires_grad_(),
    lambda: tg.tensor([True, False], requires_grad=True),
    lambda: tg.zeros(3, dtype=tg.int64, requires_grad=True),
])
def test_integer_tensors_cannot_require_grad(make):
    with pytest.raises(RuntimeError, match="floating point"):
        make()


# --- grad mode -----------------------------------------------------------------------------

def test_no_grad_context_manager():
    x = tg.tensor([1.0], requires_grad=True)
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2
    assert tg.is_grad_enabled()
    assert y.requires_grad is False and y.grad_fn is None


def test_enable_grad_inside_no_grad():
    x = tg.tensor([1.0], requires_grad=True)
    with tg.no_grad():
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            y = x * 2
        assert not tg.is_grad_enabled()
        z = x * 2
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad


def test_set_grad_enabled_context_manager():
    x = tg.tensor([1.0], requires_grad=True)
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
        y = x * 2
        with tg.set_grad_enabled(True):
            assert tg.is_grad_enabled()
            z = x * 2
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and z.requires_grad


def test_set_grad_enabled_as_function_call():
    try:
        tg.set_grad_enabled(False)
        assert not tg.is_grad_enabled()
        tg.set_grad_enabled(True)
        assert tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)


def test_no_grad_decorator_with_and_without_parens():
    x = tg.tensor([1.0], requires_grad=True)

    @tg.no_grad()
    def f(t):
        return t * 2, tg.is_grad_enabled()

    @tg.no_grad
    def g(t):
        return t * 2, tg.is_grad_enabled()

    for fn in (f, g):
        y, mode = fn(x)
        assert mode is False and y.requires_grad is False
        assert tg.is_grad_enabled()
    assert f.__name__ == "f"


def test_enable_grad_decorator_inside_no_grad():
    x = tg.tensor([1.0], requires_grad=True)

    @tg.enable_grad()
    def f(t):
        return t * 2

    with tg.no_grad():
        y = f(x)
        assert not tg.is_grad_enabled()
    assert y.requires_grad and y.grad_fn is not None


def test_set_grad_enabled_decorator():
    @tg.set_grad_enabled(False)
    def f():
        return tg.is_grad_enabled()

    # creating the decorator must not leave grad mode switched off
    assert tg.is_grad_enabled()
    assert f() is False
    assert tg.is_grad_enabled()


def test_nested_decorators_and_contexts():
    @tg.no_grad()
    def inner():
        return tg.is_grad_enabled()

    @tg.enable_grad()
    def outer():
        before = tg.is_grad_enabled()
        mid = inner()
        after = tg.is_grad_enabled()
        return before, mid, after

    with tg.no_grad():
        assert outer() == (True, False, True)
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()


def test_decorator_restores_mode_when_function_raises():
    @tg.no_grad()
    def boom():
        assert not tg.is_grad_enabled()
        raise ValueError("boom")

    @tg.enable_grad()
    def boom2():
        raise KeyError("boom2")

    with pytest.raises(ValueError):
        boom()
    assert tg.is_grad_enabled()
    with tg.no_grad():
        with pytest.raises(KeyError):
            boom2()
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()


def test_context_manager_restores_mode_when_body_raises():
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError
    assert tg.is_grad_enabled()


def test_recursive_decorated_function():
    @tg.no_grad()
    def rec(n):
        if n == 0:
            return tg.is_grad_enabled()
        return rec(n - 1)

    assert rec(5) is False
    assert tg.is_grad_enabled()


# --- graph freed after backward --------------------------------------------------------------

def test_second_backward_through_freed_graph_raises():
    x = f64([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_second_backward_after_retain_graph_works():
    x = f64([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(arr(x.grad), 3 * (e + e * np.array([1.0, 2.0])), rtol=1e-14)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_autograd_grad_frees_graph_too():
    x = f64([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    tg.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        tg.autograd.grad(y, x)


# --- error messages --------------------------------------------------------------------------

def test_backward_on_tensor_without_grad_raises():
    x = tg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.sum().backward()


def test_backward_on_non_scalar_without_gradient_raises():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()


def test_backward_gradient_shape_mismatch_raises():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(tg.ones(3))


def test_backward_on_one_element_non_scalar_is_allowed():
    # PyTorch allows implicit gradient for any 1-element output
    x = f64([3.0], requires_grad=True)
    (x * x).backward()
    np.testing.assert_array_equal(arr(x.grad), [6.0])


# --- iterative topological order -------------------------------------------------------------

def test_deep_chain_add_no_recursion_error():
    x = f64([1.0, -2.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1
    y.sum().backward()
    np.testing.assert_array_equal(arr(y), [100_001.0, 99_998.0])
    np.testing.assert_array_equal(arr(x.grad), [1.0, 1.0])


def test_deep_chain_mul_no_recursion_error():
    x = f64([2.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [1.0])


def test_deep_chain_gradient_scales_correctly():
    # y = x * c^n with c chosen so c^n is exactly representable and of moderate size
    n = 100_000
    x = f64([1.0], requires_grad=True)
    y = x
    c = 2.0 ** (1 / 4096)  # not exact, so compare against the product done in the same order
    expected = 1.0
    for _ in range(n):
        y = y * c
        expected *= c
    y.backward()
    np.testing.assert_allclose(arr(x.grad), [expected], rtol=1e-9)


# --- gradient dtype and broadcasting --------------------------------------------------------

def test_grad_dtype_float64_leaf():
    x = f64([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    assert x.grad.dtype is tg.float64


def test_grad_dtype_float32_leaf():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    assert x.grad.dtype is tg.float32


def test_grad_dtype_mixed_float32_float64():
    a = f64([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0], dtype=tg.float32, requires_grad=True)
    y = a * b  # promotes to float64
    assert y.dtype is tg.float64
    y.sum().backward()
    assert a.grad.dtype is tg.float64 and b.grad.dtype is tg.float32
    np.testing.assert_array_equal(arr(a.grad), [3.0, 4.0])
    np.testing.assert_array_equal(arr(b.grad), [1.0, 2.0])


def test_grad_dtype_float64_leaf_with_float32_0d():
    # a 0-d float64 tensor combined with a 1-D float32 tensor: the result is float32 (the
    # dimensioned operand wins within the float category), but a.grad must stay float64.
    a = f64(2.0, requires_grad=True)
    b = tg.tensor([1.0, 2.0, 3.0], dtype=tg.float32, requires_grad=True)
    y = a * b
    assert y.dtype is tg.float32
    y.sum().backward()
    assert a.grad.dtype is tg.float64 and a.grad.shape == ()
    assert b.grad.dtype is tg.float32
    np.testing.assert_allclose(arr(a.grad), 6.0)
    np.testing.assert_allclose(arr(b.grad), [2.0, 2.0, 2.0])


def test_grad_dtype_after_float32_cast():
    a = f64([1.5, 2.5], requires_grad=True)
    y = a.float() * 2
    assert y.dtype is tg.float32
    y.sum().backward()
    assert a.grad.dtype is tg.float64
    np.testing.assert_array_equal(arr(a.grad), [2.0, 2.0])


def test_broadcast_gradient_summed_3d():
    rng = np.random.default_rng(0)
    an, bn = rng.standard_normal((3, 1, 2)), rng.standard_normal((1, 3, 2))
    a, b = f64(an, True), f64(bn, True)
    y = a * b
    assert y.shape == (3, 3, 2)
    y.sum().backward()
    assert a.grad.shape == (3, 1, 2) and b.grad.shape == (1, 3, 2)
    np.testing.assert_allclose(arr(a.grad), np.broadcast_to(bn, (3, 3, 2)).sum(1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(arr(b.grad), np.broadcast_to(an, (3, 3, 2)).sum(0, keepdims=True), rtol=1e-14)


def test_broadcast_gradient_against_0d():
    rng = np.random.default_rng(1)
    an = rng.standard_normal((2, 3, 2))
    a, s = f64(an, True), f64(1.5, True)
    y = a * s + s
    y.sum().backward()
    assert s.grad.shape == () and a.grad.shape == (2, 3, 2)
    np.testing.assert_allclose(arr(s.grad), an.sum() + 12.0, rtol=1e-13)
    np.testing.assert_allclose(arr(a.grad), np.full((2, 3, 2), 1.5))


def test_broadcast_gradient_leading_dims():
    a = f64(np.arange(3.0), True)  # (3,) against (4, 3)
    b = f64(np.ones((4, 3)), True)
    (a + b).sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(arr(b.grad), np.ones((4, 3)))


# --- graph shapes: diamonds, shared subexpressions -------------------------------------------

def test_diamond_graph():
    a = f64([1.0, 2.0], requires_grad=True)
    b = a * 2
    c = a * 3
    d = b * c  # = 6 a^2
    d.sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [12.0, 24.0])


def test_operand_used_twice_in_one_op():
    a = f64([3.0, -1.0], requires_grad=True)
    (a * a).sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [6.0, -2.0])
    b = f64([3.0, -1.0], requires_grad=True)
    (b + b + b).sum().backward()
    np.testing.assert_array_equal(arr(b.grad), [3.0, 3.0])


def test_shared_subexpression():
    x = f64([0.5, 1.5], requires_grad=True)
    e = x.exp()
    y = e * e + e.sin() + e  # uses e three times
    y.sum().backward()
    en = np.exp([0.5, 1.5])
    expected = (2 * en + np.cos(en) + 1) * en
    np.testing.assert_allclose(arr(x.grad), expected, rtol=1e-14)


def test_leaf_used_in_two_branches():
    x = f64([1.0, 2.0], requires_grad=True)
    w = f64([3.0, 5.0], requires_grad=True)
    branch1 = (x * w).sum()
    branch2 = (x.exp()).sum()
    (branch1 + branch2).backward()
    np.testing.assert_allclose(arr(x.grad), np.array([3.0, 5.0]) + np.exp([1.0, 2.0]), rtol=1e-15)
    np.testing.assert_array_equal(arr(w.grad), [1.0, 2.0])


def test_backward_of_list_of_outputs():
    x = f64([1.0, 2.0], requires_grad=True)
    y1 = (x * 2).sum()
    y2 = (x * x).sum()
    tg.autograd.backward([y1, y2])
    np.testing.assert_array_equal(arr(x.grad), [4.0, 6.0])


# --- autograd.grad ---------------------------------------------------------------------------

def test_autograd_grad_returns_and_does_not_touch_grad():
    x = f64([1.0, 2.0], requires_grad=True)
    w = f64([3.0, 4.0], requires_grad=True)
    y = (x * x * w).sum()
    gx, gw = tg.autograd.grad(y, (x, w))
    np.testing.assert_array_equal(arr(gx), [6.0, 16.0])
    np.testing.assert_array_equal(arr(gw), [1.0, 4.0])
    assert x.grad is None and w.grad is None
    assert gx.dtype is tg.float64


def test_autograd_grad_single_input_returns_tuple():
    x = f64([1.0, 2.0], requires_grad=True)
    out = tg.autograd.grad((x * 3).sum(), x)
    assert isinstance(out, tuple) and len(out) == 1
    np.testing.assert_array_equal(arr(out[0]), [3.0, 3.0])


def test_autograd_grad_with_grad_outputs():
    x = f64([1.0, 2.0], requires_grad=True)
    (g,) = tg.autograd.grad(x * x, x, grad_outputs=f64([10.0, -1.0]))
    np.testing.assert_array_equal(arr(g), [20.0, -4.0])


def test_autograd_grad_unused_input_raises_without_allow_unused():
    x = f64([1.0], requires_grad=True)
    u = f64([1.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.autograd.grad(y, (x, u))


def test_autograd_grad_allow_unused():
    x = f64([1.0], requires_grad=True)
    u = f64([1.0], requires_grad=True)
    gx, gu = tg.autograd.grad((x * 2).sum(), (x, u), allow_unused=True)
    np.testing.assert_array_equal(arr(gx), [2.0])
    assert gu is None


def test_autograd_grad_materialize_grads():
    x = f64([1.0], requires_grad=True)
    u = f64([1.0, 1.0], requires_grad=True)
    gx, gu = tg.autograd.grad((x * 2).sum(), (x, u), allow_unused=True, materialize_grads=True)
    np.testing.assert_array_equal(arr(gu), [0.0, 0.0])


def test_autograd_grad_non_leaf_input():
    x = f64([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    (gh,) = tg.autograd.grad(y, h, retain_graph=True)
    np.testing.assert_array_equal(arr(gh), [6.0, 12.0])  # 2h
    gx, gh2 = tg.autograd.grad(y, (x, h))
    np.testing.assert_array_equal(arr(gx), [18.0, 36.0])
    np.testing.assert_array_equal(arr(gh2), [6.0, 12.0])
    assert x.grad is None


def test_autograd_grad_non_leaf_used_twice():
    x = f64([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = (h * 3 + h.exp()).sum()
    (gh,) = tg.autograd.grad(y, h)
    np.testing.assert_allclose(arr(gh), 3 + np.exp([2.0, 4.0]), rtol=1e-15)


def test_backward_inputs_restricts_accumulation():
    x = f64([1.0], requires_grad=True)
    w = f64([2.0], requires_grad=True)
    (x * w).sum().backward(inputs=[x])
    np.testing.assert_array_equal(arr(x.grad), [2.0])
    assert w.grad is None


# --- gradcheck ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda x: (x * x).sum(),
    lambda x: x.exp().sin() * x,
    lambda x: (x @ x.T).tanh(),
    lambda x: tg.nn.functional.log_softmax(x, dim=1),
    lambda x: x.sigmoid().prod(1),
    lambda x: tg.logsumexp(x, 0),
], ids=["sumsq", "exp_sin_mul", "matmul_tanh", "log_softmax", "sigmoid_prod", "logsumexp"])
def test_gradcheck_passes_on_correct_functions(fn):
    x = f64(np.random.default_rng(3).standard_normal((3, 4)), True)
    assert tg.autograd.gradcheck(fn, (x,)) is True


def test_gradcheck_two_inputs():
    rng = np.random.default_rng(4)
    a = f64(rng.standard_normal((2, 3)), True)
    b = f64(rng.standard_normal((3,)), True)
    assert tg.autograd.gradcheck(lambda a, b: (a * b + b).div(a.exp()), (a, b))


class WrongSquare(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x  # should be 2 * g * x


class RightSquare(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x


def test_custom_function_apply_works():
    t = f64([1.0, -3.0], requires_grad=True)
    y = RightSquare.apply(t)
    np.testing.assert_array_equal(arr(y), [1.0, 9.0])
    y.sum().backward()
    np.testing.assert_array_equal(arr(t.grad), [2.0, -6.0])
    assert tg.autograd.gradcheck(RightSquare.apply, (f64([0.3, 0.7], True),))


def test_gradcheck_raises_on_wrong_backward():
    t = f64([0.3, 0.7, -1.2], requires_grad=True)
    with pytest.raises(GradcheckError):
        tg.autograd.gradcheck(WrongSquare.apply, (t,))
    assert issubclass(GradcheckError, RuntimeError)


def test_gradcheck_returns_false_without_raise():
    t = f64([0.3, 0.7], requires_grad=True)
    assert tg.autograd.gradcheck(WrongSquare.apply, (t,), raise_exception=False) is False


# --- jacobian --------------------------------------------------------------------------------

def test_jacobian_matches_analytic():
    xn = np.array([0.5, -1.0, 2.0])
    x = f64(xn)
    # f(x) = [x0 * x1, sin(x2), x0^2 + x2]
    J = jacobian(lambda t: tg.stack([t[0] * t[1], t[2].sin(), t[0] * t[0] + t[2]]), x)
    expected = np.array([
        [xn[1], xn[0], 0.0],
        [0.0, 0.0, np.cos(xn[2])],
        [2 * xn[0], 0.0, 1.0],
    ])
    assert J.shape == (3, 3)
    np.testing.assert_allclose(arr(J), expected, rtol=1e-15, atol=0)


def test_jacobian_matrix_input_and_two_inputs():
    rng = np.random.default_rng(5)
    An, xn = rng.standard_normal((2, 3)), rng.standard_normal(3)
    JA, Jx = jacobian(lambda A, x: A @ x, (f64(An), f64(xn)))
    assert JA.shape == (2, 2, 3) and Jx.shape == (2, 3)
    expected_A = np.zeros((2, 2, 3))
    for i in range(2):
        expected_A[i, i, :] = xn
    np.testing.assert_allclose(arr(JA), expected_A, rtol=1e-15)
    np.testing.assert_allclose(arr(Jx), An, rtol=1e-15)


def test_jacobian_does_not_change_inputs_requires_grad():
    x = f64([1.0, 2.0])
    jacobian(lambda t: t.exp(), x)
    assert x.requires_grad is False and x.grad is None


# --- in-place ops ----------------------------------------------------------------------------

def test_inplace_arithmetic_results():
    x = f64([1.0, 2.0, 3.0])
    assert x.add_(1) is x
    np.testing.assert_array_equal(arr(x), [2.0, 3.0, 4.0])
    x.sub_(f64([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(arr(x), [1.0, 2.0, 3.0])
    x.mul_(2)
    np.testing.assert_array_equal(arr(x), [2.0, 4.0, 6.0])
    x.div_(4)
    np.testing.assert_array_equal(arr(x), [0.5, 1.0, 1.5])
    x.add_(f64([1.0, 1.0, 1.0]), alpha=2)
    np.testing.assert_array_equal(arr(x), [2.5, 3.0, 3.5])
    x.clamp_(2.8, 3.2)
    np.testing.assert_array_equal(arr(x), [2.8, 3.0, 3.2])
    x.fill_(7)
    np.testing.assert_array_equal(arr(x), [7.0, 7.0, 7.0])
    x.copy_(f64([4.0, 5.0, 6.0]))
    np.testing.assert_array_equal(arr(x), [4.0, 5.0, 6.0])
    x.zero_()
    np.testing.assert_array_equal(arr(x), [0.0, 0.0, 0.0])
    assert x.dtype is tg.float64


def test_inplace_broadcast_operand_and_operators():
    x = tg.ones(2, 3)
    x += tg.tensor([1.0, 2.0, 3.0])
    x *= 2
    x -= 1
    x /= 2
    np.testing.assert_array_equal(arr(x), [[1.5, 2.5, 3.5]] * 2)


def test_inplace_keeps_dtype_and_refuses_promotion():
    i = tg.tensor([1, 2, 3])
    i.add_(2)
    assert i.dtype is tg.int64
    np.testing.assert_array_equal(arr(i), [3, 4, 5])
    with pytest.raises(RuntimeError):
        i.add_(0.5)  # float result can't be cast to int64 in place
    f = tg.tensor([1.0, 2.0])
    f.add_(f64([1.0, 1.0]))  # float64 other into float32 self: allowed, stays float32
    assert f.dtype is tg.float32


def test_inplace_version_counter_increments():
    x = tg.tensor([1.0])
    v0 = x._version_counter
    x.add_(1)
    x.mul_(2)
    assert x._version_counter == v0 + 2


def test_sgd_style_update_under_no_grad():
    w = f64([1.0, -2.0], requires_grad=True)
    (w * w).sum().backward()
    lr = 0.1
    with tg.no_grad():
        w -= lr * w.grad
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    np.testing.assert_allclose(arr(w), [0.8, -1.6], rtol=1e-15)
    # the leaf keeps working for the next step
    w.grad = None
    (w * w).sum().backward()
    np.testing.assert_allclose(arr(w.grad), [1.6, -3.2], rtol=1e-15)


def test_inplace_on_leaf_requiring_grad_raises():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="leaf"):
        w.mul_(2)
    with pytest.raises(RuntimeError, match="leaf"):
        w.zero_()
    np.testing.assert_array_equal(arr(w), [1.0, 2.0])


def test_inplace_modifying_saved_output_raises_at_backward():
    a = f64([1.0, 2.0], requires_grad=True)
    y = a.exp()  # exp saves its output
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_modifying_saved_input_raises_at_backward():
    a = f64([1.0, 2.0], requires_grad=True)
    h = a * 2
    z = h * a  # saves h (for a's gradient) and a
    h.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_modifying_saved_leaf_under_no_grad_raises_at_backward():
    a = f64([1.0, 2.0], requires_grad=True)
    y = (a * a).sum()
    with tg.no_grad():
        a.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_inplace_on_unsaved_non_leaf_gives_correct_gradient():
    a = f64([1.0, 2.0], requires_grad=True)
    h = a * 2
    h.add_(1)
    h.sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [2.0, 2.0])
    np.testing.assert_array_equal(arr(h), [3.0, 5.0])


def test_inplace_mul_on_non_leaf_gradient():
    a = f64([1.0, 2.0], requires_grad=True)
    b = f64([3.0, 4.0], requires_grad=True)
    h = a + 0.0
    h.mul_(b)
    assert h.grad_fn.name() == "MulBackward0"
    h.sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [3.0, 4.0])
    np.testing.assert_array_equal(arr(b.grad), [1.0, 2.0])


def test_inplace_div_by_grad_tensor_on_non_leaf_gradient():
    a = f64([1.0, 2.0], requires_grad=True)
    b = f64([4.0, 8.0], requires_grad=True)
    h = a * 1.0
    h.div_(b)
    h.sum().backward()
    np.testing.assert_allclose(arr(a.grad), [0.25, 0.125], rtol=1e-15)
    np.testing.assert_allclose(arr(b.grad), [-1.0 / 16, -2.0 / 64], rtol=1e-15)


def test_inplace_add_sub_with_grad_operand_on_non_leaf():
    a = f64([1.0, 2.0], requires_grad=True)
    b = f64([4.0, 8.0], requires_grad=True)
    h = a * 1.0
    h.sub_(b)
    h.add_(b, alpha=3)
    np.testing.assert_array_equal(arr(h), [9.0, 18.0])
    h.sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [1.0, 1.0])
    np.testing.assert_array_equal(arr(b.grad), [2.0, 2.0])


_X = np.array([-1.0, 0.5, 2.0])


@pytest.mark.parametrize("method, args, deriv", [
    ("clamp_", (0.0, 1.0), lambda x: ((x > 0) & (x < 1)).astype(float)),
    ("relu_", (), lambda x: (x > 0).astype(float)),
    ("abs_", (), np.sign),
    ("pow_", (2,), lambda x: 2 * x),
    ("neg_", (), lambda x: -np.ones_like(x)),
    ("exp_", (), np.exp),
    ("sigmoid_", (), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    ("tanh_", (), lambda x: 1 - np.tanh(x) ** 2),
])
def test_inplace_unary_on_non_leaf_gradient(method, args, deriv):
    # PyTorch records these in-place on an intermediate (saving the original values where the
    # derivative needs them), so backward works and gives the out-of-place gradient.
    a = f64(_X, requires_grad=True)
    h = a * 1.0
    getattr(h, method)(*args)
    h.sum().backward()
    np.testing.assert_allclose(arr(a.grad), deriv(_X), rtol=1e-14)


def test_inplace_clamp_on_non_leaf_gradient():
    a = f64([-1.0, 0.5, 2.0], requires_grad=True)
    h = a * 1.0
    h.clamp_(0.0, 1.0)
    h.sum().backward()
    np.testing.assert_array_equal(arr(h), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(arr(a.grad), [0.0, 1.0, 0.0])


def test_copy_into_non_grad_tensor_propagates_gradient_to_source():
    src = f64([1.0, 2.0], requires_grad=True)
    dst = f64([0.0, 0.0])
    dst.copy_(src * 3)
    assert dst.requires_grad
    (dst * dst).sum().backward()
    np.testing.assert_array_equal(arr(src.grad), [18.0, 36.0])  # d(9 s^2)/ds


def test_detached_tensor_inplace_bumps_shared_version():
    a = f64([1.0, 2.0], requires_grad=True)
    y = a.exp()
    y.detach().zero_()  # shares storage (and version counter) with y
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_through_view_bumps_base_version():
    a = f64([1.0, 2.0], requires_grad=True)
    y = a.exp()
    v = y[0:1]  # a view shares y's version counter
    with tg.no_grad():
        v.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_on_view_of_non_leaf_gradient():
    # PyTorch rebases the view's history onto its base: h = 2a, then h[0] *= 3
    a = f64([1.0, 2.0], requires_grad=True)
    h = a * 2
    h[0:1].mul_(3)
    np.testing.assert_array_equal(arr(h), [6.0, 4.0])
    h.sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [6.0, 2.0])


# --- __setitem__ -----------------------------------------------------------------------------

def test_setitem_on_plain_tensor():
    x = tg.zeros(2, 3)
    x[0, 1] = 5.0
    x[1] = tg.tensor([1.0, 2.0, 3.0])
    x[:, 2] = -1.0
    np.testing.assert_array_equal(arr(x), [[0.0, 5.0, -1.0], [1.0, 2.0, -1.0]])
    x[tg.tensor([True, False])] = 9.0
    np.testing.assert_array_equal(arr(x), [[9.0, 9.0, 9.0], [1.0, 2.0, -1.0]])
    x[tg.tensor([1]), tg.tensor([0])] = 4.0
    np.testing.assert_array_equal(arr(x), [[9.0, 9.0, 9.0], [4.0, 2.0, -1.0]])
    assert not x.requires_grad


def test_setitem_on_leaf_under_no_grad():
    w = f64([1.0, 2.0, 3.0], requires_grad=True)
    with tg.no_grad():
        w[1] = 10.0
    assert w.is_leaf and w.requires_grad
    np.testing.assert_array_equal(arr(w), [1.0, 10.0, 3.0])


def test_setitem_on_leaf_requiring_grad_raises():
    w = f64([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        w[0] = 0.0


def test_setitem_value_requiring_grad_propagates():
    v = f64([2.0, 3.0], requires_grad=True)
    x = f64(np.zeros((2, 2)))
    x[1] = v
    assert x.requires_grad and not x.is_leaf
    (x * f64([[1.0, 1.0], [5.0, 7.0]])).sum().backward()
    np.testing.assert_array_equal(arr(v.grad), [5.0, 7.0])


def test_setitem_value_broadcast_gradient_sums():
    v = f64(2.0, requires_grad=True)
    x = f64(np.ones(4))
    x[1:3] = v
    (x * f64([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(arr(v.grad), 5.0)


def test_setitem_advanced_index_value_gradient():
    v = f64([2.0, 3.0], requires_grad=True)
    x = f64(np.zeros(5))
    x[tg.tensor([4, 0])] = v
    (x * f64([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()
    np.testing.assert_array_equal(arr(v.grad), [5.0, 1.0])


def test_setitem_on_non_leaf_overwritten_part_gets_no_gradient():
    a = f64([1.0, 2.0, 3.0], requires_grad=True)
    v = f64(10.0, requires_grad=True)
    h = a * 2
    h[0] = v
    h.sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [0.0, 2.0, 2.0])
    np.testing.assert_array_equal(arr(v.grad), 1.0)
    np.testing.assert_array_equal(arr(h), [10.0, 4.0, 6.0])


# --- in-place ops on views rewrite their base ------------------------------------------------

_VIEW_CHAINS = {
    "view_t_slice": lambda b: b.view(3, 4).t()[1:],
    "reshape_permute": lambda b: b.reshape(2, 2, 3).permute(2, 0, 1),
    "transpose_index": lambda b: b.reshape(3, 4).transpose(0, 1)[2],
    "slice_of_slice": lambda b: b[2:][::3],
    "unsqueeze_squeeze": lambda b: b.unsqueeze(0).squeeze(0)[:5],
}


@pytest.mark.parametrize("chain", list(_VIEW_CHAINS))
@pytest.mark.parametrize("op", ["mul_", "add_", "relu_", "copy_", "setitem"])
def test_inplace_on_views_rewrites_the_base_as_torch(chain, op):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    values, weights = rng.standard_normal(12), rng.standard_normal(12)
    results = []
    for T in (tg, torch):
        x = T.tensor(values, dtype=T.float64, requires_grad=True)
        base = x * 1.5
        v = _VIEW_CHAINS[chain](base)
        other = T.tensor(rng.standard_normal(tuple(v.shape)), dtype=T.float64, requires_grad=True) \
            if T is tg else T.tensor(results[0][3], dtype=T.float64, requires_grad=True)
        if op == "mul_":
            v.mul_(other)
        elif op == "add_":
            v.add_(other * 2)
        elif op == "relu_":
            v.relu_()
        elif op == "copy_":
            v.copy_(other.sin())
        else:
            v[0] = other.flatten()[0] * 3
        loss = (base * T.tensor(weights, dtype=T.float64)).sum() + (v * v).sum()
        loss.backward()
        results.append((base.detach().numpy(), x.grad.numpy(),
                        None if other.grad is None else other.grad.numpy(), other.detach().numpy()))
    for ours, theirs in zip(results[0][:3], results[1][:3]):
        if theirs is None:
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_inplace_on_an_expanded_view_raises_as_torch():
    x = f64([1.0, 2.0], requires_grad=True)
    v = (x * 1).expand(3, 2)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        v.mul_(2)


def test_second_derivative_through_an_inplace_view_update():
    torch = pytest.importorskip("torch")
    results = []
    for T in (tg, torch):
        x = T.tensor([0.5, -1.0, 2.0, 0.3], dtype=T.float64, requires_grad=True)
        b = x.sin()  # saves x, not b, so b may change in place
        b.view(2, 2)[0].mul_(x[:2])
        g, = T.autograd.grad((b ** 2).sum(), x, create_graph=True)
        h, = T.autograd.grad(g.sum(), x)
        results.append((g.detach().numpy(), h.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


# --- the rest of the autograd surface ---------------------------------------------------------

def test_inference_mode_as_context_manager_and_decorator():
    x = f64([1.0, 2.0], requires_grad=True)
    with tg.inference_mode():
        assert tg.is_inference_mode_enabled() and not tg.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert not tg.is_inference_mode_enabled() and tg.is_grad_enabled()
    with tg.inference_mode(False):
        assert (x * 2).requires_grad

    @tg.inference_mode
    def bare():
        return (x * 2).requires_grad

    @tg.autograd.inference_mode()
    def called():
        return (x * 2).requires_grad

    assert bare() is False and called() is False and tg.is_grad_enabled()


def test_variable_is_the_legacy_name_of_tensor():
    x = f64([1.0, 2.0])
    assert isinstance(x, tg.autograd.Variable)
    v = tg.autograd.Variable(x * 2, requires_grad=True)
    assert v.requires_grad and v.is_leaf
    np.testing.assert_array_equal(arr(v), [2.0, 4.0])
    with pytest.raises(TypeError, match="has to be a tensor"):
        tg.autograd.Variable([1.0])


def test_detect_anomaly_names_the_op_and_its_forward_line():
    x = f64([1.0, 0.0], requires_grad=True)
    y = (tg.log(x) * 0).sum()
    y.backward()  # off: the NaN just arrives in .grad
    assert np.isnan(arr(x.grad)[1])
    with tg.autograd.detect_anomaly():
        assert tg.autograd.is_anomaly_enabled()
        y = (tg.log(x) * 0).sum()  # this line is named in the error
        with pytest.raises(RuntimeError, match=r"(?s)Function 'LogBackward0' returned nan values in its 0th "
                                                r"output\..*y = \(tg\.log\(x\) \* 0\)\.sum\(\)"):
            y.backward()
    assert not tg.autograd.is_anomaly_enabled()
    with tg.autograd.set_detect_anomaly(True, check_nan=False):
        (tg.log(x) * 0).sum().backward()  # not checked
    assert not tg.autograd.is_anomaly_enabled()


def test_requires_grad_on_a_view_and_detach_in_place():
    base = f64([[1.0, 2.0], [3.0, 4.0]])
    v = base[0].requires_grad_()
    assert v.requires_grad and v.is_leaf
    (v * v).sum().backward()
    np.testing.assert_array_equal(arr(v.grad), [2.0, 4.0])
    y = f64([1.0, 2.0], requires_grad=True) * 3
    assert y.detach_() is y and not y.requires_grad and y.grad_fn is None
