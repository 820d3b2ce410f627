"""The ONNX serialization checks over an already parsed ``onnx.ModelProto``.

When the ``onnx`` package is installed, ``scan_onnx`` parses the model once and this walk reads the
same message the graph importer then turns into the backdoor-analysis IR: on a 100,000-node graph
it replaces a second, pure-Python pass over the wire format. It visits what the wire walk visits
(graphs, subgraphs, functions, training graphs, tensors) and feeds the same aggregation.
"""

from __future__ import annotations

from typing import Any

from mlvet.scan.onnx_format import _ModelWalk

_EXTERNAL = 1
TEXT_LIMIT = 4096
"""Characters kept of a string field (the wire walk keeps as many bytes)."""


class MessageWalk(_ModelWalk):
    """``_ModelWalk`` reading an ``onnx.ModelProto`` instead of its bytes."""

    def model(self, model: Any) -> None:
        for function in model.functions:
            self.local_functions.add((_text(function.domain), _text(function.name)))
        self.graph(model.graph, "/graph", 0)
        for index, function in enumerate(model.functions):
            pointer = f"/functions/{index}"
            for position, node in enumerate(function.node):
                self.node(node, f"{pointer}/node/{position}", 1)
            for attribute in function.attribute_proto:
                self.attribute(attribute, f"{pointer}/attribute_proto", 1)
        for index, training in enumerate(model.training_info):
            for part in ("initialization", "algorithm"):
                if training.HasField(part):
                    self.graph(getattr(training, part), f"/training_info/{index}/{part}", 0)

    def graph(self, graph: Any, pointer: str, depth: int) -> None:
        if self.deeper_than_allowed(depth):
            return
        for index, node in enumerate(graph.node):
            self.node(node, f"{pointer}/node/{index}", depth)
        for index, tensor in enumerate(graph.initializer):
            self.tensor(tensor, f"{pointer}/initializer/{index}")
        for index, sparse in enumerate(graph.sparse_initializer):
            self.sparse(sparse, f"{pointer}/sparse_initializer/{index}")

    def node(self, node: Any, pointer: str, depth: int) -> None:
        attributes: dict[str, str] = {}
        for index, attribute in enumerate(node.attribute):
            name, text = self.attribute(attribute, f"{pointer}/attribute/{index}", depth)
            if text is not None:
                attributes[name] = text
        self.classify(_text(node.name), _text(node.op_type), _text(node.domain), attributes, pointer)

    def attribute(self, attribute: Any, pointer: str, depth: int) -> tuple[str, str | None]:
        name = _text(attribute.name)
        label = f"{pointer}/{name or '?'}"
        if attribute.HasField("t"):
            self.tensor(attribute.t, label)
        for tensor in attribute.tensors:
            self.tensor(tensor, label)
        if attribute.HasField("g"):
            self.graph(attribute.g, label, depth + 1)
        for graph in attribute.graphs:
            self.graph(graph, label, depth + 1)
        if attribute.HasField("sparse_tensor"):
            self.sparse(attribute.sparse_tensor, label)
        for sparse in attribute.sparse_tensors:
            self.sparse(sparse, label)
        text = _text(attribute.s) if attribute.HasField("s") else None
        return name, text

    def sparse(self, sparse: Any, pointer: str) -> None:
        if sparse.HasField("values"):
            self.tensor(sparse.values, f"{pointer}/values")
        if sparse.HasField("indices"):
            self.tensor(sparse.indices, f"{pointer}/indices")

    def tensor(self, tensor: Any, pointer: str) -> None:
        if not tensor.external_data:
            return
        locations = [
            _text(entry.value, 1 << 16) for entry in tensor.external_data if _text(entry.key) == "location"
        ]
        self.reference(_text(tensor.name), locations, tensor.data_location == _EXTERNAL, pointer)


def _text(value: str | bytes, limit: int = TEXT_LIMIT) -> str:
    """A string field as text: upb hands back bytes for a proto2 string that is not UTF-8."""
    if isinstance(value, bytes):
        return value[:limit].decode("utf-8", "replace")
    return value[:limit]
