"""Triggers that cross a subgraph boundary: a gate computed outside an If/Loop/Scan body, used inside.

A body reads outer values by name (``Node.captures``). Analysed on its own, a body sees those names
as undefined: a trigger computed outside and blended in inside looks like a constant. A *scope view*
puts the body back in its parent: the parent graph with the If/Loop/Scan node replaced by the body's
nodes, wired with Identity nodes::

    If(c) then: out = hidden + g * v        view:  ... g = Cast(ids[1:4] == K) ...
                                                     out_then = hidden + g * v
                                                     if_out   = Identity(out_then)

An If gives one view per branch; a Loop or Scan body is viewed as one iteration (loop-carried and
scanned inputs bound to their initial values, its outputs to the node's outputs). Only bodies that
read an outer value computed from the raw graph inputs (before any layer, as triggers are) are
viewed, within a node budget, so the cost stays linear: at most the model's own size plus
``VIEW_BUDGET`` nodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mlvet.graph.dataflow import Facts
from mlvet.graph.ir import Graph, Node

VIEW_BUDGET = 200_000
"""Nodes that all the views of one model may hold together (a view holds its whole parent graph)."""
MAX_VIEWS = 64
"""Views built for one model at most."""


@dataclass
class ViewBudget:
    nodes: int = VIEW_BUDGET
    views: int = MAX_VIEWS

    def spend(self, size: int) -> bool:
        if self.views <= 0 or size > self.nodes:
            return False
        self.views -= 1
        self.nodes -= size
        return True


@dataclass(frozen=True)
class ScopeView:
    """``graph`` with one body inlined; ``body`` holds the labels of the nodes that came from it."""

    graph: Graph
    body: frozenset[str]


def scope_views(
    graph: Graph, facts: Facts, budget: ViewBudget, among: frozenset[str] | None = None
) -> Iterator[ScopeView]:
    """A view per body (of ``graph``'s nodes, or those labelled in ``among``) that reads an
    input-dependent outer value."""
    inputs = sum(facts.input_bits.values())
    for position, node in enumerate(graph.nodes):
        if not node.subgraphs or node.op_type not in ("If", "Loop", "Scan"):
            continue
        if among is not None and node.label not in among:
            continue
        if not any(
            facts.raw.get(name, 0) & inputs and not facts.depth.get(name, 0) for name in node.captures
        ):
            continue  # a trigger reads the raw input: only a body capturing such a value can apply one
        for key, body in node.subgraphs.items():
            if not budget.spend(len(graph.nodes) + len(body.nodes)):
                return
            spliced = _splice(node, key, body)
            nodes = [*graph.nodes[:position], *spliced, *graph.nodes[position + 1 :]]
            constants = {**graph.constants, **body.constants}
            view = Graph(f"{graph.name}/{node.label}/{key}", nodes, graph.inputs, graph.outputs, constants)
            yield ScopeView(view, frozenset(inner.label for inner in body.nodes))


def _splice(node: Node, key: str, body: Graph) -> list[Node]:
    """The body's nodes bound to ``node``'s inputs and outputs with Identity nodes."""
    prefix = f"{node.label}/{key}"
    formal = [info.name for info in body.inputs if info.name not in body.constants]
    results = [info.name for info in body.outputs]
    if node.op_type == "Loop":  # body (iteration, condition, carried...) -> (condition, carried..., scans...)
        bound_inputs = list(zip(node.inputs[2:], formal[2:], strict=False))
        bound_outputs = list(zip(results[1:], node.outputs, strict=False))
    elif node.op_type == "Scan":  # opset 8 has a sequence_lens input first
        actual = node.inputs[1:] if len(node.inputs) == len(formal) + 1 else node.inputs
        bound_inputs = list(zip(actual, formal, strict=False))
        bound_outputs = list(zip(results, node.outputs, strict=False))
    else:
        bound_inputs = []
        bound_outputs = list(zip(results, node.outputs, strict=False))
    entry = [
        Node(f"{prefix}/in:{inner}", "Identity", "", (outer,), (inner,))
        for outer, inner in bound_inputs
        if outer and inner
    ]
    exit_ = [
        Node(f"{prefix}/out:{outer}", "Identity", "", (inner,), (outer,))
        for inner, outer in bound_outputs
        if outer and inner
    ]
    return [*entry, *body.nodes, *exit_]
