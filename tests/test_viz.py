"""tapegrad.viz.make_dot: the autograd graph as a graphviz.Digraph, rendered when Graphviz's
dot program is installed."""
import shutil

import pytest

import tapegrad as tg
from tapegrad import nn

graphviz = pytest.importorskip("graphviz")
from tapegrad.viz import make_dot  # noqa: E402


def _loss():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = tg.randn(5, 3)
    return model, nn.functional.cross_entropy(model(x), tg.tensor([0, 1, 0, 1, 1]))


def test_nodes_leaves_and_output():
    model, loss = _loss()
    dot = make_dot(loss, params=dict(model.named_parameters()))
    src = dot.source
    assert src.count("LinearBackward0") == 2 and "CrossEntropyBackward0" in src
    for name, shape in [("0.weight", "(4, 3)"), ("0.bias", "(4)"), ("2.weight", "(2, 4)"), ("2.bias", "(2)")]:
        assert f"{name}\n{shape}" in src
    assert "output\n()" in src
    assert src.count("->") == 7  # 4 leaves, 2 Linear -> next, 1 -> output
    assert "saved" not in src and "act:" not in src


def test_show_attrs_and_show_saved():
    model, loss = _loss()
    src = make_dot(loss, show_attrs=True, show_saved=True, max_attr_chars=8).source
    assert "act: relu" in src and "reduction: mean" in src
    assert "opts: (-100...\n" in src  # "(-100, 0.0)" cut to max_attr_chars
    assert "saved 0\n(5, 3)" in src and "style=dotted" in src


def test_custom_function_and_several_outputs():
    class Pair(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, a, b):
            return a * 2 + b * 3

    x = tg.ones(2, requires_grad=True)
    a, b = Pair.apply(x)
    src = make_dot((a, b), params={"x": x}).source
    assert "PairBackward" in src and src.count("output\n(2)") == 2 and "x\n(2)" in src


def test_bad_input():
    with pytest.raises(TypeError, match="expected tensors"):
        make_dot([1.0])


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed "
                    "(apt install graphviz)")
def test_renders_a_png(tmp_path):
    _, loss = _loss()
    path = make_dot(loss).render(tmp_path / "graph", format="png")
    data = (tmp_path / "graph.png").read_bytes()
    assert str(path).endswith("graph.png")
    assert data.startswith(b"\x89PNG") and len(data) > 1000


def test_without_dot_rendering_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    _, loss = _loss()
    with pytest.raises(RuntimeError, match="apt install graphviz"):
        make_dot(loss).render(tmp_path / "graph", format="png")
