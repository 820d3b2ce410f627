"""Graph-level analysis: a format-neutral IR, importers (ONNX, TorchScript) and backdoor gate detection.

``find_gates(data)`` is the entry point: ONNX model bytes in, suspected injected trigger gates out.
Legitimate data-dependent patterns (attention masks, NaN guards, clipping, routers, quantization)
are not returned.
"""

from __future__ import annotations

from mlvet.graph.gates import Constraint, Gate, GateKind, Reduction, Relation
from mlvet.graph.ir import Graph

__all__ = [
    "Constraint",
    "Gate",
    "GateKind",
    "Graph",
    "Reduction",
    "Relation",
    "find_gates",
    "find_gates_in_graph",
]


def find_gates(data: bytes) -> list[Gate]:
    """Suspected injected gates in the ONNX model ``data`` (serialized ``ModelProto`` bytes).

    External tensor data is never read. Raises ``ValueError`` when ``data`` is not a parsable ONNX
    model and ``ImportError`` when the ``onnx`` package is missing (``pip install 'mlvet[onnx]'``).
    Gates come back in a stable order (by join node, then kind), subgraph gates after the main graph's.
    """
    from mlvet.graph.onnx_import import import_onnx

    return find_gates_in_graph(import_onnx(data))


def find_gates_in_graph(graph: Graph) -> list[Gate]:
    """Suspected injected gates in an imported ``Graph`` (any importer)."""
    from mlvet.graph.detect import detect

    return [detection.gate for detection in detect(graph)]
