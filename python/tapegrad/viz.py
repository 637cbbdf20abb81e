"""Pictures of the autograd graph: make_dot, as torchviz's, drawn with the graphviz package
(`pip install "tapegrad[viz]"`; rendering to a file also needs Graphviz's `dot` program).

One box per graph node (its grad_fn name), the leaves that receive gradients in light blue
(named from `params` when given, with their shape), the outputs in green, and with
show_saved the arrays each node keeps for backward in orange.
"""
from __future__ import annotations

from .autograd.node import Node
from .tensor import Tensor

_INSTALL_DOT = ("rendering needs Graphviz's `dot` program, which is not installed: "
                "apt install graphviz (Debian, Ubuntu), brew install graphviz (macOS), "
                "conda install graphviz, or see https://graphviz.org/download/")


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError("tapegrad.viz needs the graphviz package: pip install \"tapegrad[viz]\" "
                          "(or pip install graphviz)") from None
    return graphviz


def _digraph_class():
    graphviz = _graphviz()

    class Digraph(graphviz.Digraph):
        """graphviz.Digraph whose render and pipe say what to install when `dot` is missing."""

        def render(self, *args, **kwargs):
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound:
                raise RuntimeError(_INSTALL_DOT) from None

        def pipe(self, *args, **kwargs):
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound:
                raise RuntimeError(_INSTALL_DOT) from None

    return Digraph


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _attributes(node, max_attr_chars: int) -> list:
    """The node's own plain attributes (dims, shapes, options), as 'name: value' lines."""
    lines = []
    for name, value in sorted(vars(node).items()):
        if name.startswith("_") or name in ("next_edges", "needs_input_grad"):
            continue
        if isinstance(value, (bool, int, float, str, tuple)) and not any(
                isinstance(v, (Tensor, Node)) for v in (value if isinstance(value, tuple) else ())):
            text = str(value)
            if len(text) > max_attr_chars:
                text = text[:max_attr_chars - 3] + "..."
            lines.append(f"{name}: {text}")
    return lines


def _saved(node) -> list:
    """The arrays or tensors a node keeps for backward (shapes only; None when freed)."""
    objs = getattr(node, "_saved_objects", None) or node._saved or ()
    return [o for o in objs if o is not None]


def make_dot(var, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """A graphviz.Digraph of the graph that computed `var` (a tensor or a sequence of them).
    `params` maps names to tensors (model.named_parameters()) to label the leaves."""
    Digraph = _digraph_class()
    names = {id(t): name for name, t in dict(params or {}).items()}
    dot = Digraph(node_attr=dict(style="filled", shape="box", align="left", fontsize="10",
                                 ranksep="0.1", height="0.2", fontname="monospace"),
                  graph_attr=dict(size="12,12"))
    outputs = tuple(var) if isinstance(var, (tuple, list)) else (var,)
    seen = set()

    def leaf(t):
        if id(t) not in seen:
            seen.add(id(t))
            name = names.get(id(t), "")
            dot.node(str(id(t)), f"{name}\n{_shape(t.shape)}".strip(), fillcolor="lightblue")
        return str(id(t))

    def add(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        label = node.name()
        if show_attrs:
            label = "\n".join([label] + _attributes(node, max_attr_chars))
        dot.node(str(id(node)), label, fillcolor="lightgrey")
        if show_saved:
            for i, obj in enumerate(_saved(node)):
                key = f"{id(node)}-saved-{i}"
                dot.node(key, f"saved {i}\n{_shape(obj.shape)}", fillcolor="orange")
                dot.edge(key, str(id(node)), style="dotted", dir="none")
        for e in node.next_edges:
            if e is None:
                continue
            if isinstance(e, Node):
                add(e)
                dot.edge(str(id(e)), str(id(node)))
            else:
                dot.edge(leaf(e), str(id(node)))

    for out in outputs:
        if not isinstance(out, Tensor):
            raise TypeError(f"make_dot: expected tensors, got {type(out).__name__}")
        key = f"out-{id(out)}"
        dot.node(key, f"output\n{_shape(out.shape)}", fillcolor="darkolivegreen1")
        if out.grad_fn is not None:
            add(out.grad_fn)
            dot.edge(str(id(out.grad_fn)), key)
        elif out.requires_grad:
            dot.edge(leaf(out), key)
    return dot
