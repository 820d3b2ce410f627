"""Shallow side paths (MLV905): a private branch from the input merged after the last layer (TrojanNet)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlvet.findings import Severity
from mlvet.graph import rules
from mlvet.graph.dataflow import JOINS
from mlvet.graph.detection import Detection
from mlvet.graph.gates import Gate, GateKind
from mlvet.graph.ir import Node

if TYPE_CHECKING:
    from mlvet.graph.detect import Detector

MIN_TRUNK_FOR_SIDE_PATH = 4
"""The main path must have at least this many layers for a side path to stand out."""
SIDE_PATH_RATIO = 4
"""The side path has at most 1/4 of the main path's layers."""
_SIDE_WALK = 512


def side_path_detections(detector: Detector) -> list[Detection]:
    """A private, shallow branch from the model's input merged after the model's last layer."""
    facts, graph = detector.facts, detector.graph
    found: list[Detection] = []
    for node in graph.nodes:
        if node.op_type not in JOINS or not node.outputs or facts.after.get(node.outputs[0], 1) != 0:
            continue
        operands = [name for name in node.inputs if name and not facts.static(name)]
        if len(operands) < 2:
            continue
        main = max(operands, key=lambda name: facts.depth.get(name, 0))
        main_depth = facts.depth.get(main, 0)
        if main_depth < MIN_TRUNK_FOR_SIDE_PATH:
            continue
        for side in operands:
            depth = facts.depth.get(side, 0)
            shared = facts.raw.get(side, 0) & facts.raw.get(main, 0) & detector.input_mask
            if side == main or depth < 1 or depth * SIDE_PATH_RATIO > main_depth or not shared:
                continue
            private = _private_branch(detector, side, node)
            if private is None:
                continue
            nodes, weights = private
            gate = Gate(
                kind=GateKind.ARITHMETIC,
                inputs=tuple(facts.inputs_of(shared)),
                trigger_nodes=tuple(nodes),
                join_node=node.label,
                payload_nodes=tuple(weights),
                outputs=detector.outputs_from(node.outputs[0]),
                constraints=(),
                predicate=(
                    f"side branch of {depth} layer(s) over {', '.join(facts.inputs_of(shared))} "
                    f"merged by {node.op_type} after the model's {main_depth} layers"
                ),
            )
            details = {"side_layers": depth, "main_layers": main_depth}
            found.append(Detection(gate, rules.SIDE_PATH, Severity.HIGH, details))
            break
    return found


def _private_branch(detector: Detector, side: str, join: Node) -> tuple[list[str], list[str]] | None:
    """The nodes and weights of the branch ending at ``side`` if nothing else reads its values."""
    facts, graph = detector.facts, detector.graph
    values: set[str] = set()
    nodes: list[Node] = []
    stack = [side]
    while stack:
        value = stack.pop()
        if value in values or facts.depth.get(value, 0) == 0:
            continue
        node = graph.producer_of(value)
        if node is None:
            continue
        values.update(node.outputs)
        nodes.append(node)
        if len(nodes) > _SIDE_WALK:
            return None
        stack.extend(name for name in node.inputs if name)
    branch = {id(node) for node in nodes}
    for value in values:
        for reader in graph.consumers_of(value):
            if id(reader) not in branch and reader is not join:
                return None
    weights = [
        name
        for node in nodes
        for name in node.inputs
        if name in graph.constants and graph.constants[name].size > 1
    ]
    return [node.label for node in reversed(nodes)], list(dict.fromkeys(weights))
