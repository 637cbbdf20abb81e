"""PyTorch's public autograd.Function: static forward(ctx, ...) / backward(ctx, ...), the
setup_context form, ctx's methods, several outputs, once_differentiable, against PyTorch."""
import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-12, atol=1e-14)


def _functions(T):
    """The same custom Functions written against T (tapegrad or torch)."""

    class LegendreP3(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * (5 * x ** 3 - 3 * x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 1.5 * (5 * x ** 2 - 1)

    class Scale(T.autograd.Function):  # setup_context form, a non-tensor argument
        @staticmethod
        def forward(x, factor, shift=0.0):
            return x * factor + shift

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.factor = inputs[1]

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.factor, None, None

    class SplitSigns(T.autograd.Function):  # two outputs
        @staticmethod
        def forward(ctx, x):
            pos, neg = x.clamp(min=0), x.clamp(max=0)
            ctx.save_for_backward(x)
            return pos, neg

        @staticmethod
        def backward(ctx, gpos, gneg):
            (x,) = ctx.saved_tensors
            return T.where(x > 0, gpos, gneg)

    return LegendreP3, Scale, SplitSigns


TG_FNS, TORCH_FNS = _functions(tg), _functions(torch)


def _both(values, requires_grad=True):
    return (tg.tensor(values, dtype=tg.float64, requires_grad=requires_grad),
            torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad))


@pytest.mark.parametrize("k", range(3))
def test_forward_and_backward_match_torch(k):
    values = [-1.3, -0.2, 0.4, 2.1]
    outs = []
    for T, fns in ((tg, TG_FNS), (torch, TORCH_FNS)):
        x = T.tensor(values, dtype=T.float64, requires_grad=True)
        fn = fns[k]
        y = fn.apply(x, 2.5) if k == 1 else fn.apply(x)
        if k == 2:
            y = y[0] * 3 + y[1] * y[1]
        (y * T.arange(4, dtype=T.float64)).sum().backward()
        assert y.grad_fn is not None
        outs.append((y.detach().numpy(), x.grad.numpy()))
    for ours, theirs in zip(*outs):
        np.testing.assert_allclose(ours, theirs, **TOL)


def test_grad_fn_is_the_ctx_and_named_after_the_function():
    x, _ = _both([1.0, 2.0])
    y = TG_FNS[0].apply(x)
    assert type(y.grad_fn).__name__ == "LegendreP3Backward"
    assert isinstance(y.grad_fn, tg.autograd.FunctionCtx)
    assert y.grad_fn.next_functions[0][0] is x


def test_keyword_arguments_bind_to_their_positions():
    x, _ = _both([1.0, 2.0])
    y = TG_FNS[1].apply(x, factor=3.0, shift=1.0)
    np.testing.assert_array_equal(y.detach().numpy(), [4.0, 7.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_needs_input_grad_and_non_tensor_arguments():
    seen = {}

    class Mul(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, label):
            seen["needs"] = ctx.needs_input_grad
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            return (grad * b if ctx.needs_input_grad[0] else None,
                    grad * a if ctx.needs_input_grad[1] else None, None)

    a, _ = _both([1.0, 2.0])
    b, _ = _both([3.0, 4.0], requires_grad=False)
    Mul.apply(a, b, "tag").sum().backward()
    assert seen["needs"] == (True, False, False)
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    with tg.no_grad():
        out = Mul.apply(a, b, "tag")
    assert not out.requires_grad and seen["needs"] == (False, False, False)


def test_unused_output_gets_zeros_or_none_with_set_materialize_grads():
    got = {}

    class Two(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            got["g2"] = g2
            return g1 * 2 + (0 if g2 is None else g2 * 3), None

    for materialize in (True, False):
        x, _ = _both([1.0, 2.0])
        first, _second = Two.apply(x, materialize)
        first.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
        if materialize:
            np.testing.assert_array_equal(got["g2"].numpy(), [0.0, 0.0])
        else:
            assert got["g2"] is None


def test_mark_non_differentiable_output():
    class SortWithIndex(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            order = tg.tensor(np.argsort(x.detach().numpy()))
            values = x[order]
            ctx.mark_non_differentiable(order)
            ctx.save_for_backward(order)
            ctx.n = x.shape[0]
            return values, order

        @staticmethod
        def backward(ctx, grad_values, grad_order):
            (order,) = ctx.saved_tensors
            g = tg.zeros(ctx.n, dtype=grad_values.dtype)
            g[order] = grad_values
            return g

    x, _ = _both([3.0, 1.0, 2.0])
    values, order = SortWithIndex.apply(x)
    assert values.requires_grad and not order.requires_grad
    (values * tg.tensor([1.0, 10.0, 100.0], dtype=tg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [100.0, 1.0, 10.0])


def test_mark_dirty_in_place_output():
    class AddOneInPlace(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad

    base, _ = _both([1.0, 2.0])
    x = base * 2
    version = x._version_counter
    y = AddOneInPlace.apply(x)
    assert y is x and x._version_counter > version
    assert type(x.grad_fn).__name__ == "AddOneInPlaceBackward"
    (x * x).sum().backward()
    np.testing.assert_array_equal(base.grad.numpy(), 2 * 2 * np.array([3.0, 5.0]))
    leaf, _ = _both([1.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        AddOneInPlace.apply(leaf)


def test_saved_tensor_changed_in_place_raises_at_backward():
    x, _ = _both([1.0, 2.0])
    h = x * 1
    y = TG_FNS[0].apply(h)
    with tg.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_saved_output_unpacks_with_its_graph():
    class Exp(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    x, _ = _both([0.3, -0.4])
    assert tg.autograd.gradcheck(Exp.apply, (x,))
    assert tg.autograd.gradgradcheck(Exp.apply, (x,))
    y = Exp.apply(x)
    g, = tg.autograd.grad(y.sum(), x, create_graph=True)
    h, = tg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), np.exp([0.3, -0.4]), **TOL)


def test_gradgradcheck_through_a_custom_function():
    x, _ = _both([-1.3, 0.4, 2.1])
    assert tg.autograd.gradgradcheck(TG_FNS[0].apply, (x,))


def test_once_differentiable_refuses_a_second_derivative():
    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @tg.autograd.function.once_differentiable
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x ** 2

    x, _ = _both([1.0, 2.0])
    v, _ = _both([1.0, 1.0])
    g, = tg.autograd.grad(Cube.apply(x), x, grad_outputs=v, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), [3.0, 12.0])
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()
    # as PyTorch: with no gradient that requires grad, the result is simply not differentiable
    g, = tg.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert not g.requires_grad
    x2, _ = _both([1.0, 2.0])
    Cube.apply(x2).sum().backward()  # a first derivative is fine
    np.testing.assert_array_equal(x2.grad.numpy(), [3.0, 12.0])


def test_an_input_returned_as_is_is_a_new_tensor_on_the_same_memory():
    class Identity(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x, _ = _both([1.0, 2.0])
    y = Identity.apply(x)
    assert y is not x and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_wrong_gradients_raise_clear_errors():
    def returning(gradient_of):
        class Wrong(tg.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 1

            @staticmethod
            def backward(ctx, grad):
                return gradient_of(grad)
        return Wrong

    TooMany, WrongShape = returning(lambda g: (g, g)), returning(lambda g: g.sum())

    x, _ = _both([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 1, got 2\)"):
        TooMany.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0 - got \[\] but expected shape compatible with \[2\]"):
        WrongShape.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="static apply"):
        TooMany()


def test_custom_function_on_cuda_standin(cuda_standin):
    x = tg.tensor([-1.3, 0.4, 2.1], dtype=tg.float64, device="cuda", requires_grad=True)
    y = TG_FNS[0].apply(x)
    y.sum().backward()
    assert y.is_cuda and x.grad.is_cuda
    xn = np.array([-1.3, 0.4, 2.1])
    np.testing.assert_allclose(x.grad.cpu().numpy(), 1.5 * (5 * xn ** 2 - 1), **TOL)
