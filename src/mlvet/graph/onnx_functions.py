"""ONNX model-local functions (``FunctionProto``) inlined at their call sites.

A call's body takes its place; the body's values are renamed ``<call label>/<name>`` (the call's
own inputs and outputs keep the caller's names), and attributes the body takes from the call
(``ref_attr_name``) are filled in. The graph importer and ``mlvet probe`` share the naming, so a
gate the importer reports inside a function names tensors that exist in the model probe runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

MAX_INLINED_NODES = 300_000
"""Nodes inlining may add in all (a call beyond it stays one opaque node): a function that calls
itself twice per level would otherwise grow exponentially."""
MAX_CALL_DEPTH = 12
"""Function calls nested deeper than this stay opaque nodes."""

FunctionKey = tuple[str, str, str]
"""(domain, name, overload)."""


@dataclass
class Call:
    """The call being inlined: value renaming, the call's attributes, the prefix of node names."""

    rename: dict[str, str]
    attributes: dict[str, Any]
    prefix: str
    depth: int


@dataclass
class Inliner:
    """Decides which calls are inlined and how their values are named (one per model)."""

    functions: dict[FunctionKey, onnx.FunctionProto]
    budget: int = MAX_INLINED_NODES
    opsets: dict[str, int] = field(default_factory=dict)
    """Operator sets the inlined bodies use."""

    @classmethod
    def of(cls, model: onnx.ModelProto) -> Inliner:
        return cls({(f.domain, f.name, getattr(f, "overload", "")): f for f in model.functions})

    def function_of(self, node: onnx.NodeProto) -> onnx.FunctionProto | None:
        if not self.functions:
            return None
        return self.functions.get((node.domain, node.op_type, getattr(node, "overload", "")))

    def enter(
        self, function: onnx.FunctionProto, node: onnx.NodeProto, label: str, call: Call | None
    ) -> Call | None:
        """The ``Call`` for inlining ``function`` at ``node`` (labelled ``label``), or None."""
        depth = call.depth if call else 0
        if depth >= MAX_CALL_DEPTH or self.budget < len(function.node):
            return None
        self.budget -= len(function.node)
        for opset in function.opset_import:
            self.opsets.setdefault(opset.domain, opset.version)
        prefix = f"{label}/"
        rename = {name: f"{prefix}{name}" for inner in function.node for name in inner.output if name}
        inputs = [call.rename.get(n, n) for n in node.input] if call else list(node.input)
        outputs = [call.rename.get(n, n) for n in node.output] if call else list(node.output)
        rename.update(dict(zip(function.input, inputs, strict=False)))
        rename.update(dict(zip(function.output, outputs, strict=False)))
        attributes: dict[str, Any] = {a.name: a for a in function.attribute_proto}
        for attribute in node.attribute:
            if not attribute.ref_attr_name:
                attributes[attribute.name] = attribute
            elif call is not None and attribute.ref_attr_name in call.attributes:
                attributes[attribute.name] = call.attributes[attribute.ref_attr_name]
        return Call(rename, attributes, prefix, depth + 1)


def node_label(node: onnx.NodeProto, call: Call | None) -> str:
    """The IR label of ``node`` as it stands in the graph once inlined (``Node.label``)."""
    name = text(node.name)
    if name:
        return (call.prefix if call else "") + name
    outputs = [call.rename.get(n, n) for n in node.output] if call else list(node.output)
    return f"{text(node.op_type)}:{outputs[0] if outputs else '?'}"


def resolved_attributes(node: onnx.NodeProto, call: Call | None) -> Iterator[onnx.AttributeProto]:
    """``node``'s attributes, those referring to the caller's (``ref_attr_name``) replaced by them."""
    for attribute in node.attribute:
        if not attribute.ref_attr_name or call is None:
            yield attribute
            continue
        referenced = call.attributes.get(attribute.ref_attr_name)
        if referenced is not None:
            copy = type(referenced)()
            copy.CopyFrom(referenced)
            copy.name = attribute.name
            yield copy


def inline_local_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with every call to its own functions inlined (the same naming as the IR)."""
    import onnx

    result = onnx.ModelProto()
    result.CopyFrom(model)
    if not model.functions:
        return result
    inliner = Inliner.of(model)
    nodes = _inlined(model.graph.node, inliner, None)
    del result.graph.node[:]
    result.graph.node.extend(nodes)
    known = {opset.domain for opset in result.opset_import}
    for domain, version in inliner.opsets.items():
        if domain not in known:
            result.opset_import.add(domain=domain, version=version)
    return result


def _inlined(protos: Any, inliner: Inliner, call: Call | None) -> list[onnx.NodeProto]:
    import onnx

    found: list[onnx.NodeProto] = []
    for proto in protos:
        function = inliner.function_of(proto)
        inner = inliner.enter(function, proto, node_label(proto, call), call) if function else None
        if inner is not None and function is not None:
            found.extend(_inlined(function.node, inliner, inner))
            continue
        node = onnx.NodeProto()
        node.CopyFrom(proto)
        if call is not None:
            node.name = call.prefix + node.name if node.name else ""
            del node.input[:]
            node.input.extend(call.rename.get(n, n) for n in proto.input)
            del node.output[:]
            node.output.extend(call.rename.get(n, n) for n in proto.output)
            del node.attribute[:]
            node.attribute.extend(resolved_attributes(proto, call))
            for attribute in node.attribute:
                for graph in (attribute.g, *attribute.graphs):
                    _rename_captures(graph, call.rename)
        found.append(node)
    return found


def _rename_captures(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    """Point a subgraph inside an inlined body at the renamed values of that body."""
    for node in graph.node:
        names = [rename.get(n, n) for n in node.input]
        del node.input[:]
        node.input.extend(names)
        for attribute in node.attribute:
            for inner in (attribute.g, *attribute.graphs):
                _rename_captures(inner, rename)
    for output in graph.output:
        output.name = rename.get(output.name, output.name)


def text(value: str | bytes) -> str:
    """A string field as text: upb hands back bytes for a proto2 string that is not UTF-8."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
