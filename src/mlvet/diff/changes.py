"""What a topology comparison returns: node references, rewirings and the ``TopologyChanges`` record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlvet.graph.gates import Gate
from mlvet.graph.ir import Graph


@dataclass(frozen=True)
class NodeRef:
    """A node of one graph: its name (may be empty or reused), op type and topological index."""

    name: str
    op_type: str
    index: int

    @classmethod
    def of(cls, graph: Graph, index: int) -> NodeRef:
        node = graph.nodes[index]
        return cls(node.label, node.op_type, index)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op_type": self.op_type, "index": self.index}


@dataclass(frozen=True)
class Rewiring:
    """A matched node whose input ``slot`` reads another source in the candidate."""

    node: NodeRef
    """The candidate node."""
    known_good: NodeRef
    slot: int
    before: str
    after: str
    late: bool
    """At most ``topology.LATE_HOPS`` nodes from a graph output."""
    from_inputs: tuple[str, ...]
    """Graph inputs the new source reads through added nodes only (a side path around the trunk)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node.to_dict(),
            "known_good": self.known_good.to_dict(),
            "slot": self.slot,
            "before": self.before,
            "after": self.after,
            "late": self.late,
            "from_inputs": list(self.from_inputs),
        }


@dataclass(frozen=True)
class OutputRewiring:
    """A graph output (by position) produced by a node that is not the known-good producer's partner."""

    position: int
    name: str
    before: NodeRef | None
    after: NodeRef | None
    from_inputs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "name": self.name,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
            "from_inputs": list(self.from_inputs),
        }


@dataclass(frozen=True)
class InputChange:
    """A graph input added, removed or retyped (inputs are matched by position)."""

    change: str
    """``added``, ``removed`` or ``retyped``."""
    position: int
    name: str
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "position": self.position,
            "name": self.name,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class QuantParamChange:
    """A scale or zero point of a matched quantization node that differs."""

    node: NodeRef
    known_good: NodeRef
    parameter: str
    before: str
    after: str
    max_abs_delta: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node.to_dict(),
            "known_good": self.known_good.to_dict(),
            "parameter": self.parameter,
            "before": self.before,
            "after": self.after,
            "max_abs_delta": self.max_abs_delta,
        }


@dataclass(frozen=True)
class TopologyChanges:
    """Every structural difference between a known-good graph and a candidate."""

    known_good_nodes: int
    candidate_nodes: int
    pairs: tuple[tuple[NodeRef, NodeRef], ...]
    """(known-good, candidate) for every matched node."""
    matching: dict[str, int]
    """How many pairs each stage found: ``backward``, ``forward``, ``neighbour``."""
    added: tuple[NodeRef, ...] = ()
    removed: tuple[NodeRef, ...] = ()
    rewired: tuple[Rewiring, ...] = ()
    outputs: tuple[OutputRewiring, ...] = ()
    inputs: tuple[InputChange, ...] = ()
    new_control_flow: tuple[NodeRef, ...] = ()
    quantization: tuple[QuantParamChange, ...] = ()
    new_gates: tuple[Gate, ...] = ()
    known_good_gates: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    """What could not be analysed (e.g. gate detection failed)."""

    @property
    def unchanged(self) -> bool:
        return not (
            self.added or self.removed or self.rewired or self.outputs or self.inputs or self.new_control_flow
            or self.quantization or self.new_gates
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "known_good_nodes": self.known_good_nodes,
            "candidate_nodes": self.candidate_nodes,
            "matched": len(self.pairs),
            "matching": dict(self.matching),
            "added": [n.to_dict() for n in self.added],
            "removed": [n.to_dict() for n in self.removed],
            "rewired": [r.to_dict() for r in self.rewired],
            "outputs": [o.to_dict() for o in self.outputs],
            "inputs": [i.to_dict() for i in self.inputs],
            "new_control_flow": [n.to_dict() for n in self.new_control_flow],
            "quantization": [q.to_dict() for q in self.quantization],
            "new_gates": [gate_dict(g) for g in self.new_gates],
            "known_good_gates": self.known_good_gates,
            "notes": list(self.notes),
        }


def gate_dict(gate: Gate) -> dict[str, Any]:
    return {
        "kind": gate.kind.value,
        "inputs": list(gate.inputs),
        "trigger_nodes": list(gate.trigger_nodes),
        "join_node": gate.join_node,
        "payload_nodes": list(gate.payload_nodes),
        "outputs": list(gate.outputs),
        "predicate": gate.predicate,
    }
