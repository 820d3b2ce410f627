"""Structural comparison of two ONNX graphs: what a candidate adds, removes and rewires.

API (also used by ``provenance.lineage`` to judge stage equivalence)::

    from mlvet.diff.topology import compare_topology
    changes = compare_topology(known_good_model, candidate_model)   # onnx.ModelProto, twice
    changes.unchanged       # True when the graphs are structurally identical
    changes.added           # candidate nodes with no partner   (NodeRef: name, op_type, index)
    changes.removed         # known-good nodes with no partner
    changes.rewired         # matched nodes whose input slots now read another source (Rewiring)
    changes.outputs         # graph outputs now produced by another node (OutputRewiring)
    changes.inputs          # graph inputs added, removed or retyped, by position (InputChange)
    changes.new_control_flow  # If/Loop/Scan the candidate gained
    changes.quantization    # scale / zero-point constants of matched Q/DQ/QLinear nodes that differ
    changes.new_gates       # graph.find_gates gates in the candidate with no counterpart (Gate)
    changes.to_dict()       # JSON-ready

``compare_graphs`` does the same on two imported ``mlvet.graph.Graph`` objects. Nodes are matched by
structure, never by name (``diff.structure``); only the main graph's nodes are matched, subgraphs are
compared through their op counts. Large constants are compared by dtype and shape here; their values
are the tensor diff's business.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import TYPE_CHECKING, Any

import numpy as np

from mlvet.diff.changes import (
    InputChange,
    NodeRef,
    OutputRewiring,
    QuantParamChange,
    Rewiring,
    TopologyChanges,
    gate_dict,
)
from mlvet.diff.structure import Signatures, describe_source, match_nodes
from mlvet.graph.gates import Gate
from mlvet.graph.ir import Graph

if TYPE_CHECKING:
    import onnx

__all__ = [
    "InputChange",
    "NodeRef",
    "OutputRewiring",
    "QuantParamChange",
    "Rewiring",
    "TopologyChanges",
    "compare_graphs",
    "compare_topology",
    "gate_dict",
]

CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})
LATE_HOPS = 2
"""A node is late when at most this many nodes separate it from a graph output."""
QUANT_SLOTS: dict[str, dict[int, str]] = {
    "QuantizeLinear": {1: "y_scale", 2: "y_zero_point"},
    "DequantizeLinear": {1: "x_scale", 2: "x_zero_point"},
    "QLinearConv": dict(zip((1, 2, 4, 5, 6, 7), ("x_scale", "x_zero_point", "w_scale", "w_zero_point",
                                                 "y_scale", "y_zero_point"), strict=True)),
    "QLinearMatMul": dict(zip((1, 2, 4, 5, 6, 7), ("a_scale", "a_zero_point", "b_scale", "b_zero_point",
                                                   "y_scale", "y_zero_point"), strict=True)),
    "QLinearAdd": dict(zip((1, 2, 4, 5, 6, 7), ("A_scale", "A_zero_point", "B_scale", "B_zero_point",
                                                "C_scale", "C_zero_point"), strict=True)),
    "QLinearMul": dict(zip((1, 2, 4, 5, 6, 7), ("A_scale", "A_zero_point", "B_scale", "B_zero_point",
                                                "C_scale", "C_zero_point"), strict=True)),
    "MatMulInteger": {2: "a_zero_point", 3: "b_zero_point"},
    "ConvInteger": {2: "x_zero_point", 3: "w_zero_point"},
}  # fmt: skip
"""Input slots that hold quantization parameters, per op type."""


def compare_topology(known_good: onnx.ModelProto, candidate: onnx.ModelProto) -> TopologyChanges:
    """Structural changes from ``known_good`` to ``candidate`` (main graphs; see the module docstring)."""
    from mlvet.graph.onnx_import import import_model

    return compare_graphs(import_model(known_good), import_model(candidate))


def compare_graphs(known_good: Graph, candidate: Graph) -> TopologyChanges:
    """Structural changes between two imported graphs."""
    known, cand = Signatures.of(known_good), Signatures.of(candidate)
    matching = match_nodes(known, cand)
    pairs = matching.pairs
    reverse = matching.reverse
    added_set = {i for i in range(len(candidate.nodes)) if i not in pairs}
    hops = _hops_to_output(candidate)
    notes: list[str] = []
    new_gates, known_gates = _new_gates(known_good, candidate, pairs, notes)
    return TopologyChanges(
        known_good_nodes=len(known_good.nodes),
        candidate_nodes=len(candidate.nodes),
        pairs=tuple((NodeRef.of(known_good, k), NodeRef.of(candidate, c)) for c, k in sorted(pairs.items())),
        matching=dict(matching.by_stage),
        added=tuple(NodeRef.of(candidate, i) for i in sorted(added_set)),
        removed=tuple(NodeRef.of(known_good, k) for k in range(len(known_good.nodes)) if k not in reverse),
        rewired=tuple(_rewirings(known, cand, pairs, added_set, hops)),
        outputs=tuple(_output_changes(known_good, candidate, pairs, added_set)),
        inputs=tuple(_input_changes(known_good, candidate)),
        new_control_flow=tuple(_new_control_flow(known_good, candidate, pairs, added_set)),
        quantization=tuple(_quant_changes(known_good, candidate, pairs)),
        new_gates=tuple(new_gates),
        known_good_gates=known_gates,
        notes=tuple(notes),
    )


def _source_text(sig: Signatures, value: str) -> str:
    if not value:
        return "nothing"
    producer = sig.graph.producer.get(value)
    if producer is not None:
        node = sig.graph.nodes[producer]
        return f"{node.op_type} node {node.label!r} output {node.outputs.index(value)}"
    if value in sig.input_position:
        return f"graph input {value!r}"
    constant = sig.graph.constants.get(value)
    if constant is not None:
        return f"constant {value!r} {constant.dtype}{list(constant.shape)}"
    return f"outer-scope value {value!r}"


def _side_inputs(graph: Graph, value: str, added: set[int]) -> tuple[str, ...]:
    """Graph inputs reached from ``value`` walking back through added nodes only."""
    inputs = set(graph.input_names)
    found: set[str] = set()
    seen: set[str] = set()
    queue = deque([value])
    while queue:
        current = queue.popleft()
        if current in seen or not current:
            continue
        seen.add(current)
        if current in inputs:
            found.add(current)
            continue
        producer = graph.producer.get(current)
        if producer is not None and producer in added:
            node = graph.nodes[producer]
            queue.extend((*node.inputs, *node.captures))
    return tuple(sorted(found))


def _hops_to_output(graph: Graph) -> dict[int, int]:
    """Per node index: the fewest nodes between it and a graph output (0 = produces one)."""
    hops: dict[int, int] = {}
    queue: deque[int] = deque()
    for info in graph.outputs:
        producer = graph.producer.get(info.name)
        if producer is not None and producer not in hops:
            hops[producer] = 0
            queue.append(producer)
    while queue:
        index = queue.popleft()
        for value in (*graph.nodes[index].inputs, *graph.nodes[index].captures):
            producer = graph.producer.get(value)
            if producer is not None and producer not in hops:
                hops[producer] = hops[index] + 1
                queue.append(producer)
    return hops


def _rewirings(
    known: Signatures, cand: Signatures, pairs: dict[int, int], added: set[int], hops: dict[int, int]
) -> list[Rewiring]:
    found: list[Rewiring] = []
    for c, k in sorted(pairs.items()):
        c_node, k_node = cand.graph.nodes[c], known.graph.nodes[k]
        for slot in range(max(len(c_node.inputs), len(k_node.inputs))):
            k_value = k_node.inputs[slot] if slot < len(k_node.inputs) else ""
            c_value = c_node.inputs[slot] if slot < len(c_node.inputs) else ""
            if describe_source(known, k_value, pairs=None) == describe_source(cand, c_value, pairs=pairs):
                continue
            found.append(
                Rewiring(
                    node=NodeRef.of(cand.graph, c),
                    known_good=NodeRef.of(known.graph, k),
                    slot=slot,
                    before=_source_text(known, k_value),
                    after=_source_text(cand, c_value),
                    late=hops.get(c, LATE_HOPS + 1) <= LATE_HOPS,
                    from_inputs=_side_inputs(cand.graph, c_value, added),
                )
            )
    return found


def _output_changes(
    known: Graph, cand: Graph, pairs: dict[int, int], added: set[int]
) -> list[OutputRewiring]:
    found: list[OutputRewiring] = []
    for position, info in enumerate(cand.outputs):
        c_producer = cand.producer.get(info.name)
        k_producer = (
            known.producer.get(known.outputs[position].name) if position < len(known.outputs) else None
        )
        if c_producer is not None and pairs.get(c_producer) == k_producer and k_producer is not None:
            continue
        if c_producer is None and k_producer is None:
            continue
        found.append(
            OutputRewiring(
                position=position,
                name=info.name,
                before=NodeRef.of(known, k_producer) if k_producer is not None else None,
                after=NodeRef.of(cand, c_producer) if c_producer is not None else None,
                from_inputs=_side_inputs(cand, info.name, added),
            )
        )
    return found


def _type_text(elem_type: str, shape: tuple[int | str | None, ...] | None) -> str:
    dims = "?" if shape is None else ",".join("?" if d is None else str(d) for d in shape)
    return f"{elem_type}[{dims}]"


def _input_changes(known: Graph, cand: Graph) -> list[InputChange]:
    known_inputs = [known.input_info(n) for n in known.input_names]
    cand_inputs = [cand.input_info(n) for n in cand.input_names]
    found: list[InputChange] = []
    for position in range(max(len(known_inputs), len(cand_inputs))):
        k = known_inputs[position] if position < len(known_inputs) else None
        c = cand_inputs[position] if position < len(cand_inputs) else None
        before = _type_text(k.elem_type, k.shape) if k else ""
        after = _type_text(c.elem_type, c.shape) if c else ""
        if k is None and c is not None:
            found.append(InputChange("added", position, c.name, before, after))
        elif c is None and k is not None:
            found.append(InputChange("removed", position, k.name, before, after))
        elif k is not None and c is not None and before != after:
            found.append(InputChange("retyped", position, c.name, before, after))
    return found


def _control_flow_count(graph: Graph) -> int:
    return sum(1 for inner in graph.walk() for node in inner.nodes if node.op_type in CONTROL_FLOW)


def _new_control_flow(known: Graph, cand: Graph, pairs: dict[int, int], added: set[int]) -> list[NodeRef]:
    found = [NodeRef.of(cand, i) for i in sorted(added) if cand.nodes[i].op_type in CONTROL_FLOW]
    for i in sorted(added):  # control flow nested in an added non-control-flow node (a custom op's body)
        node = cand.nodes[i]
        if node.op_type not in CONTROL_FLOW and any(_control_flow_count(g) for g in node.subgraphs.values()):
            found.append(NodeRef.of(cand, i))
    for c, k in sorted(pairs.items()):
        c_count = sum(_control_flow_count(g) for g in cand.nodes[c].subgraphs.values())
        k_count = sum(_control_flow_count(g) for g in known.nodes[k].subgraphs.values())
        if c_count > k_count:
            found.append(NodeRef.of(cand, c))
    return found


def _constant_value(graph: Graph, value: str) -> np.ndarray[Any, Any] | None:
    constant = graph.constants.get(value)
    return None if constant is None else constant.value


def _quant_changes(known: Graph, cand: Graph, pairs: dict[int, int]) -> list[QuantParamChange]:
    found: list[QuantParamChange] = []
    for c, k in sorted(pairs.items()):
        c_node, k_node = cand.nodes[c], known.nodes[k]
        slots = QUANT_SLOTS.get(c_node.op_type)
        if not slots:
            continue
        for slot, parameter in slots.items():
            k_value = k_node.inputs[slot] if slot < len(k_node.inputs) else ""
            c_value = c_node.inputs[slot] if slot < len(c_node.inputs) else ""
            before, after = _constant_value(known, k_value), _constant_value(cand, c_value)
            if before is None and after is None:
                continue
            if before is not None and after is not None and before.shape == after.shape:
                if np.array_equal(before, after):
                    continue
                delta = float(
                    np.max(np.abs(before.astype(np.float64) - after.astype(np.float64)), initial=0.0)
                )
            else:
                delta = None
            found.append(
                QuantParamChange(
                    NodeRef.of(cand, c),
                    NodeRef.of(known, k),
                    parameter,
                    _summary(before),
                    _summary(after),
                    delta,
                )
            )
    return found


def _summary(array: np.ndarray[Any, Any] | None) -> str:
    if array is None:
        return "absent"
    flat = array.reshape(-1)
    shown = ", ".join(f"{v:.6g}" for v in flat[:4].tolist())
    more = ", ..." if flat.size > 4 else ""
    return f"{array.dtype}{list(array.shape)} [{shown}{more}]"


def _new_gates(known: Graph, cand: Graph, pairs: dict[int, int], notes: list[str]) -> tuple[list[Gate], int]:
    """Candidate gates without a known-good gate of the same kind at the partner of their join node.

    A gate whose join node sits inside a subgraph is compared by kind and predicate instead.
    """
    from mlvet.graph import find_gates_in_graph

    try:
        known_gates = find_gates_in_graph(known)
        cand_gates = find_gates_in_graph(cand)
    except Exception as exc:  # detection is an analysis of arbitrary graphs: report, never crash the diff
        notes.append(f"gate detection failed: {type(exc).__name__}: {exc}")
        return [], 0
    known_index = {node.label: i for i, node in reversed(list(enumerate(known.nodes)))}
    cand_index = {node.label: i for i, node in reversed(list(enumerate(cand.nodes)))}
    known_joins: Counter[tuple[object, ...]] = Counter()
    for gate in known_gates:
        k = known_index.get(gate.join_node)
        known_joins[(gate.kind, k) if k is not None else (gate.kind, "nested", gate.predicate)] += 1
    new: list[Gate] = []
    for gate in cand_gates:
        c = cand_index.get(gate.join_node)
        key: tuple[object, ...] = (
            (gate.kind, pairs.get(c, -1)) if c is not None else (gate.kind, "nested", gate.predicate)
        )
        if known_joins[key] > 0:
            known_joins[key] -= 1
            continue
        new.append(gate)
    return new, len(known_gates)
