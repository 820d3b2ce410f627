"""Recognise protobuf-encoded model formats (ONNX, TensorFlow) from their structure alone."""

from __future__ import annotations

import re

from mlvet._internal.protowire import LENGTH, VARINT, Data, WireError, fields_by_number, iter_fields, text

_OP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_>.\-]*$")
_GRAPH_DEF_NODE = 1


def looks_like_onnx(data: Data) -> bool:
    """An ONNX ModelProto: a varint ir_version (1) and a graph (7) that parses as a GraphProto."""
    try:
        grouped = fields_by_number(data)
    except WireError:
        return False
    if not {1, 7} <= grouped.keys() <= _ONNX_MODEL_FIELDS or grouped[1][0].wire_type != VARINT:
        return False
    graph = grouped[7][0].value
    try:
        return isinstance(graph, memoryview) and fields_by_number(graph).keys() <= _ONNX_GRAPH_FIELDS
    except WireError:
        return False


def looks_like_saved_model(data: Data) -> bool:
    """A TensorFlow SavedModel: a varint schema version (1) and meta graphs (2) holding a GraphDef."""
    try:
        grouped = fields_by_number(data)
    except WireError:
        return False
    if not grouped.get(2) or not grouped.keys() <= {1, 2}:
        return False
    if 1 in grouped and grouped[1][0].wire_type != VARINT:
        return False
    meta_graph = grouped[2][0].value
    try:
        return isinstance(meta_graph, memoryview) and 2 in fields_by_number(meta_graph)
    except WireError:
        return False


_ONNX_MODEL_FIELDS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26})
_ONNX_GRAPH_FIELDS = frozenset({1, 2, 5, 10, 11, 12, 13, 14, 15, 16})


def looks_like_graph_def(data: Data) -> bool:
    """A frozen GraphDef: nodes (1) whose first has a name and an op name, plus library/versions."""
    try:
        fields = list(iter_fields(data))
    except WireError:
        return False
    kinds = {1: LENGTH, 2: LENGTH, 3: VARINT, 4: LENGTH, 5: LENGTH}
    if not fields or any(kinds.get(item.number) != item.wire_type for item in fields):
        return False
    first = next((item.value for item in fields if item.number == _GRAPH_DEF_NODE), None)
    if not isinstance(first, memoryview):
        return False
    try:
        node = fields_by_number(first)
    except WireError:
        return False
    if not set(node) <= {1, 2, 3, 4, 5, 6, 7} or not node.get(1) or not node.get(2):
        return False
    op = node[2][-1]
    return op.wire_type == LENGTH and bool(_OP_NAME.match(text(op)))


def looks_like_keras_metadata(data: Data) -> bool:
    """A Keras 2 ``keras_metadata.pb``: SavedMetadata{1 nodes: SavedObject{..., 4 identifier, 5 metadata}}."""
    try:
        fields = list(iter_fields(data))
        if not fields or any(item.number != 1 or item.wire_type != LENGTH for item in fields):
            return False
        first = fields[0].value
        node = fields_by_number(first) if isinstance(first, memoryview) else {}
    except WireError:
        return False
    identifier = node.get(4, [])
    return (
        bool(node.get(5))
        and set(node) <= {2, 3, 4, 5, 6}
        and any(item.wire_type == LENGTH and text(item).startswith("_tf_keras") for item in identifier)
    )
