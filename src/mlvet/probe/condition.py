"""Where a gate's condition lives in the graph, what it reads, and whether it is open.

A gate is *open* on an input when its condition value differs from the value it has on the clean
input it was derived from: any element for booleans and integers, by more than one half for floats
(a 0/1 mask, a saturated sigmoid).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import numpy_helper

from mlvet.graph.gates import Gate, GateKind

FLOAT_OPEN_DELTA = 0.5
_SELECTIONS = frozenset({"Slice", "Cast", "Identity", "Squeeze", "Unsqueeze"})
"""Ops that pick or retype input elements on the way to a trigger node."""
_SHAPE_ARGUMENTS = frozenset(
    {"Slice", "Gather", "Reshape", "Unsqueeze", "Squeeze", "Expand", "Tile", "Pad", "Split", "TopK"}
    | {f"Reduce{op}" for op in ("Mean", "Sum", "Max", "Min", "Prod", "L1", "L2", "LogSumExp", "SumSquare")}
)
"""Ops whose inputs after the first are indices, axes or shapes, not values to compare with."""
_MAX_CONSTANTS = 64
_SMALL_TENSOR = 65536
_MAX_TABLE = 32 * 1024 * 1024
_MAX_ROWS = 32
_MAX_CONE = 256
_TRANSPARENT = frozenset(
    {"Reshape", "Unsqueeze", "Squeeze", "Flatten", "Cast", "Identity", "ReduceProd", "ReduceMin", "ReduceMax"}
)
"""Ops a gate value passes through unchanged in meaning (their constant inputs are shapes or axes)."""


def condition_tensor(model: onnx.ModelProto, gate: Gate) -> str | None:
    """The tensor carrying the gate's decision.

    The select/branch condition of a Where/If; else the trigger output the join reads; else the
    last trigger value carried forward towards the join through shape ops, reductions and merges
    with other input-dependent values (a detector the gate names only part of), stopping where it
    meets a constant (the payload being applied).
    """
    nodes = {n.name: n for n in model.graph.node if n.name}
    join = nodes.get(gate.join_node)
    if join is not None and gate.kind in (GateKind.WHERE, GateKind.IF) and join.input:
        return str(join.input[0])
    order = {n.name: i for i, n in enumerate(model.graph.node)}
    triggers = sorted((nodes[n] for n in gate.trigger_nodes if n in nodes), key=lambda n: order[n.name])
    if join is not None:
        produced = {out for node in triggers for out in node.output}
        for name in join.input:
            if name in produced:
                return str(name)
    last = next((str(n.output[0]) for n in reversed(triggers) if n.output and n.output[0]), None)
    if last is None or join is None:
        return last
    return _towards(last, join, model)


def _towards(tensor: str, join: onnx.NodeProto, model: onnx.ModelProto) -> str:
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    fixed = {t.name for t in model.graph.initializer} | {
        out for node in model.graph.node if node.op_type == "Constant" for out in node.output
    }
    for _ in range(_MAX_CONE):
        readers = consumers.get(tensor, [])
        if any(node is join for node in readers) or len(readers) != 1 or not readers[0].output:
            return tensor
        reader = readers[0]
        others = [name for name in reader.input if name and name != tensor]
        if reader.op_type not in _TRANSPARENT and any(name in fixed for name in others):
            return tensor
        tensor = str(reader.output[0])
    return tensor


def trigger_tensors(model: onnx.ModelProto, gate: Gate, condition: str | None = None) -> list[str]:
    """Intermediate values the search can climb on, in graph order.

    The first output of every trigger node and of every node the condition is computed from (up
    to a bound), so a search sees the whole detector even when the gate names only part of it.
    """
    wanted = trigger_set(model, gate)
    if condition is not None:
        producers = {out: node for node in model.graph.node for out in node.output}
        pending = [condition]
        cone: set[str] = set()
        while pending and len(cone) < _MAX_CONE:
            node = producers.get(pending.pop())
            if node is None or not node.name or node.name in cone:
                continue
            cone.add(node.name)
            pending.extend(node.input)
        wanted |= cone
    return [n.output[0] for n in model.graph.node if n.name in wanted and n.output and n.output[0]]


def is_embedding(node: onnx.NodeProto, initialized: set[str]) -> bool:
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    return node.op_type == "Gather" and len(node.input) == 2 and node.input[0] in initialized and axis == 0


def trigger_set(model: onnx.ModelProto, gate: Gate) -> set[str]:
    """The trigger nodes, plus the selections (Slice, Cast, constant-index Gather...) that feed them."""
    wanted = set(gate.trigger_nodes)
    producers = {out: node for node in model.graph.node for out in node.output}
    initialized = {t.name for t in model.graph.initializer}
    pending = [node for node in model.graph.node if node.name in wanted]
    while pending:
        node = pending.pop()
        for name in node.input:
            producer = producers.get(name)
            if producer is None or not producer.name or producer.name in wanted:
                continue
            if producer.op_type in _SELECTIONS or is_embedding(producer, initialized):
                wanted.add(producer.name)
                pending.append(producer)
    return wanted


def trigger_constants(model: onnx.ModelProto, gate: Gate) -> list[float]:
    """Values the trigger compares with: candidates for a search.

    The trigger nodes' small constants, the constraint values, and, when the trigger reads an
    embedding, the ids of the table rows nearest to the constant vectors it compares with.
    """
    constants = constants_of(model.graph)
    wanted = trigger_set(model, gate)
    values: dict[float, None] = {}
    compared: list[np.ndarray] = []
    for node in model.graph.node:
        if node.name not in wanted:
            continue
        value_inputs = node.input[:1] if node.op_type in _SHAPE_ARGUMENTS else node.input
        for name in [*value_inputs, *(node.output if node.op_type == "Constant" else [])]:
            array = constants.get(name)
            if array is None or array.size > 4096 or not np.issubdtype(array.dtype, np.number):
                continue
            compared.append(array)
            for value in np.unique(array.astype(np.float64).ravel())[:_MAX_CONSTANTS]:
                if np.isfinite(value):
                    values[float(value)] = None
    for constraint in gate.constraints:
        for value in constraint.value[:_MAX_CONSTANTS]:
            values[float(value)] = None
    tokens = [float(token) for token in _nearest_rows(model, gate, compared)]
    return list(dict.fromkeys([*tokens, *values]))[: 4 * _MAX_CONSTANTS]


def _nearest_rows(model: onnx.ModelProto, gate: Gate, compared: list[np.ndarray]) -> list[int]:
    """Embedding rows nearest to the constant vectors a trigger compares an embedding with."""
    initialized = {t.name: t for t in model.graph.initializer}
    wanted = trigger_set(model, gate)
    embedded = {
        node.output[0]: node.input[0] for node in model.graph.node if is_embedding(node, set(initialized))
    }
    tables = {
        embedded[name]
        for node in model.graph.node
        if node.name in wanted
        for name in node.input
        if name in embedded
    }
    tokens: list[int] = []
    for table_name in sorted(tables):
        table = numpy_helper.to_array(initialized[table_name]).astype(np.float32)
        if table.ndim != 2 or table.size > _MAX_TABLE:
            continue
        for array in compared:
            if array.shape[-1:] != table.shape[1:]:
                continue
            for row in array.reshape(-1, table.shape[1])[:_MAX_ROWS]:
                distances = np.sum((table - row.astype(np.float32)) ** 2, axis=1)
                tokens.append(int(np.argmin(distances)))
    return tokens


def is_open(value: np.ndarray, reference: np.ndarray) -> bool:
    if value.shape != reference.shape:
        return True
    if value.dtype == np.bool_ or np.issubdtype(value.dtype, np.integer):
        return bool(np.any(value != reference))
    delta = np.abs(value.astype(np.float64) - reference.astype(np.float64))
    return bool(
        np.nanmax(delta, initial=0.0) > FLOAT_OPEN_DELTA or np.any(np.isnan(value) != np.isnan(reference))
    )


def closeness(values: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """How far the trigger values moved from their clean reference (a direction-free search signal)."""
    total = 0.0
    for value, reference in values:
        if value.shape != reference.shape:
            total += 1.0
            continue
        if value.dtype == np.bool_ or np.issubdtype(value.dtype, np.integer):
            total += float(np.mean(value != reference)) if value.size else 0.0
            continue
        delta = np.abs(value.astype(np.float64) - reference.astype(np.float64))
        scale = float(np.mean(np.abs(reference))) + 1.0 if reference.size else 1.0
        total += float(np.nan_to_num(np.mean(delta))) / scale if delta.size else 0.0
    return total


def constants_of(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    constants = {
        t.name: numpy_helper.to_array(t) for t in graph.initializer if math.prod(t.dims) <= _SMALL_TENSOR
    }
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attribute in node.attribute:
                if attribute.name == "value":
                    constants[node.output[0]] = numpy_helper.to_array(attribute.t)
    return constants
