"""If branches: whether a branch reads values of the enclosing graph, and what it injects into them."""

from __future__ import annotations

from mlvet.graph.dataflow import JOINS
from mlvet.graph.ir import Graph, Node


def reads_outer(branch: Graph) -> bool:
    defined = _defined(branch)
    if any(info.name not in defined for info in branch.outputs):
        return True
    return any(
        node.captures or any(name not in defined for name in node.inputs if name) for node in branch.nodes
    )


def injected_constants(node: Node, key: str, branch: Graph) -> tuple[str, ...]:
    """Constants a branch that reads outer values mixes into them (``hidden + v``: a steering vector).

    Float constants with more than one element, or scalars, that an Add/Sub/Mul/Where/Max/Min of
    the branch combines with a value computed from the outer graph; index and shape constants are
    left out. Such a branch, under a trigger condition, is a payload applied to the hidden state.
    """
    defined = _defined(branch)
    found: list[str] = []
    for inner in branch.nodes:
        if inner.op_type not in JOINS or inner.op_type == "Concat":
            continue
        outer = [name for name in inner.inputs if name and name not in defined]
        stored = [branch.constants.get(name) for name in inner.inputs if name in branch.constants]
        floats = [c for c in stored if c is not None and c.dtype.startswith("float")]
        if outer and floats:
            found.extend(f"{node.label}/{key}:{constant.name}" for constant in floats)
    return tuple(dict.fromkeys(found))


def _defined(branch: Graph) -> set[str]:
    names = set(branch.constants) | {info.name for info in branch.inputs}
    for node in branch.nodes:
        names.update(node.outputs)
    return names
