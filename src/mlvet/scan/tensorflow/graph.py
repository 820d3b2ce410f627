"""The graph walk of a TensorFlow GraphDef: every node of the graph and of its function library.

NodeDef{1 name, 2 op, 3 input, 5 attr}, FunctionDefLibrary{1 function} → FunctionDef{1 signature
(OpDef{1 name}), 3 node_def}, AttrValue{1 list, 2 s, 8 tensor, 10 func} (field numbers checked
against ``tensorboard.compat.proto``). Each node is looked up in ``tensorflow_ops``; checkpoint
ops are expected inside the saver (the ``save/`` scope of a TF1 graph, the functions TF2's
``__inference__traced_save/restore`` reach) and reported anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlvet._internal.paths import location_escape
from mlvet._internal.protowire import LENGTH, Field, WireError, iter_fields
from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan.base import ScanContext
from mlvet.scan.tensorflow.ops import CHECKPOINT_OPS, DEBUG_OPS, OPS, PRINT_OPS, PROTO_OPS, Reach

PYTHON_CALLBACK = Rule(
    "MLV401",
    "TensorFlow op that calls Python",
    Severity.CRITICAL,
    "The graph contains PyFunc, PyFuncStateless or EagerPyFunc (tf.py_function, tf.numpy_function). "
    "They call a Python function of the loading process, and a SavedModel that carries one expects "
    "code outside the model. Serving models do not need them; do not load the model outside a sandbox.",
)
FILE_OP = Rule(
    "MLV402",
    "TensorFlow op that touches the file system",
    Severity.HIGH,
    "A graph node reads, writes, lists or deletes files (ReadFile, WriteFile, MatchingFiles, "
    "checkpoint ops outside the model's own saver, file-writing debug or print ops). Running the "
    "model can then leak or overwrite files on the serving host (critical for writes to a fixed "
    "absolute path). Inspect the paths in the evidence.",
)
ENVIRONMENT_OP = Rule(
    "MLV403",
    "TensorFlow op that reads the host environment",
    Severity.MEDIUM,
    "A graph node reads something from the host rather than from its inputs (the clock, with "
    "Timestamp). A model that changes behaviour with the date can hide a time-triggered payload; "
    "check why a model for inference needs it.",
)
NETWORK_OP = Rule(
    "MLV404",
    "TensorFlow op that uses the network",
    Severity.HIGH,
    "A graph node makes or serves RPCs, connects to a tf.data service or sets cloud credentials. "
    "Running the model then contacts hosts chosen by the model's author. Inference models never "
    "need this.",
)
GRAPH_RULES = (PYTHON_CALLBACK, FILE_OP, ENVIRONMENT_OP, NETWORK_OP)

_RULE_BY_REACH = {
    Reach.PYTHON: PYTHON_CALLBACK,
    Reach.FILES: FILE_OP,
    Reach.ENVIRONMENT: ENVIRONMENT_OP,
    Reach.NETWORK: NETWORK_OP,
}
_SAVER_SCOPE = re.compile(r"^(?:.*/)?save(?:_\d+)?/")
_SAVER_FUNCTION = re.compile(r"^__inference__traced_(?:save|restore)_\d+$")
_REMOTE = ("gs://", "s3://", "hdfs://", "http://", "https://", "ram://")
MAX_CONSTANTS = 8

# field numbers (see the module docstring)
_NODE, _LIBRARY, _FUNCTION, _SIGNATURE, _NODE_DEF = 1, 2, 1, 1, 3
_ATTR_S, _ATTR_LIST, _ATTR_TENSOR, _ATTR_FUNC, _LIST_S, _LIST_FUNC = 2, 1, 8, 10, 2, 9
_TENSOR_STRING_VAL = 8


@dataclass
class _Node:
    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, memoryview]
    pointer: str


@dataclass
class _Container:
    """The graph itself or one library function: its nodes, by name for input lookups."""

    label: str
    nodes: list[_Node] = field(default_factory=list)
    is_graph: bool = False

    def by_name(self) -> dict[str, _Node]:
        return {node.name: node for node in self.nodes}


class GraphScan:
    """Check one GraphDef; ``saver`` holds the node names its MetaGraphDef's SaverDef points at."""

    def __init__(
        self, ctx: ScanContext, prefix: str, saver: set[str] | None, outputs: list[str] | None = None
    ) -> None:
        self.ctx = ctx
        self.outputs = outputs or []
        """Signature output tensors: the graph-backdoor rules look at what they compute."""
        self.prefix = prefix
        self.saver_names = saver or set()
        self.saver_scopes = {name.rsplit("/", 1)[0] + "/" for name in self.saver_names if "/" in name}

    def run(self, graph: memoryview) -> None:
        main = _Container("graph", is_graph=True)
        functions: dict[str, _Container] = {}
        for position, item in enumerate(_length_fields(graph, _NODE)):
            main.nodes.append(_parse_node(item, f"{self.prefix}/node/{position}"))
        for library in _length_fields(graph, _LIBRARY):
            for function in _length_fields(library, _FUNCTION):
                container = _parse_function(function, f"{self.prefix}/library/function")
                functions[container.label] = container
        saver_functions = self._saver_functions(main, functions)
        self._check(main, saver_function=False)
        for name, container in functions.items():
            self._check(container, saver_function=name in saver_functions)
        self._find_gates(graph, saver_functions)

    def _find_gates(self, graph: memoryview, saver_functions: set[str]) -> None:
        """The graph-backdoor rules (MLV9xx) on the graph and each function, the saver left out."""
        from mlvet.graph.detect import detect
        from mlvet.graph.reporting import report_detections
        from mlvet.graph.tf_import import import_graph_def

        try:
            graphs = import_graph_def(
                graph, skip_node=self._in_saver_scope, skip_functions=saver_functions, outputs=self.outputs
            )
            for index, imported in enumerate(graphs):
                where = f"function {imported.name[:200]!r}" if index else ""
                report_detections(detect(imported), self.ctx, where=where)
        except WireError as exc:
            self.ctx.problem(ProblemKind.CORRUPT, f"graph backdoor analysis: malformed GraphDef ({exc})")
        except (RecursionError, MemoryError) as exc:
            self.ctx.problem(
                ProblemKind.LIMIT, f"graph backdoor analysis ran out of resources ({type(exc).__name__})"
            )

    def _in_saver_scope(self, name: str) -> bool:
        if name in self.saver_names or any(name.startswith(s) for s in self.saver_scopes):
            return True
        return bool(_SAVER_SCOPE.match(name))

    def _saver_functions(self, main: _Container, functions: dict[str, _Container]) -> set[str]:
        """Library functions the saver reaches: called from saver nodes or named like TF2's saver."""
        roots = {name for name in functions if _SAVER_FUNCTION.match(name)}
        for node in main.nodes:
            if self._in_saver_scope(node.name):
                roots.update(_called_functions(node, functions))
        reached: set[str] = set()
        pending = list(roots)
        while pending:
            name = pending.pop()
            if name in reached or name not in functions:
                continue
            reached.add(name)
            for node in functions[name].nodes:
                pending.extend(_called_functions(node, functions))
        return reached

    def _check(self, container: _Container, *, saver_function: bool) -> None:
        """Report risky ops; the graph's saver scope and the saver's functions may checkpoint."""
        lookup: dict[str, _Node] | None = None
        for node in container.nodes:
            risk = OPS.get(node.op)
            special = self._special_use(node)
            if risk is None and special is None:
                continue
            if lookup is None:
                lookup = container.by_name()
            constants = _constant_inputs(node, lookup)
            if special is not None:
                self._report(container, node, special[0], special[1], constants, writes=special[0] == FILE_OP)
                continue
            assert risk is not None
            in_saver = saver_function or (container.is_graph and self._in_saver_scope(node.name))
            if node.op in CHECKPOINT_OPS and in_saver:
                risky = [value for value in constants if _path_escapes(value)]
                if risky:
                    why = f"checkpoints to the fixed path {risky[0][:200]!r} inside the saver"
                    self._report(container, node, FILE_OP, why, constants, writes=risk.writes)
                continue
            severity = Severity.MEDIUM if risk.routine else None
            self._report(
                container,
                node,
                _RULE_BY_REACH[risk.reach],
                risk.why,
                constants,
                writes=risk.writes,
                severity=severity,
            )

    def _special_use(self, node: _Node) -> tuple[Rule, str] | None:
        """Ops that are harmless unless an attribute sends their output to files or hosts."""
        if node.op in PRINT_OPS:
            stream = _attr_string(node, "output_stream")
            if stream.startswith("file://"):
                return FILE_OP, f"prints tensors into the file {stream[7:][:200]!r}"
        elif node.op in PROTO_OPS:
            source = _attr_string(node, "descriptor_source")
            if source not in {"", "local://"}:
                return FILE_OP, f"loads protobuf descriptors from {source[:200]!r}"
        elif node.op in DEBUG_OPS:
            urls = _attr_strings(node, "debug_urls")
            dump_root = _attr_string(node, "dump_root")
            if any(url.startswith("grpc://") for url in urls):
                return NETWORK_OP, f"streams tensors to {', '.join(urls)[:200]}"
            if dump_root or any(url.startswith("file://") for url in urls):
                return FILE_OP, f"dumps tensors to {(dump_root or ', '.join(urls))[:200]}"
        return None

    def _report(
        self,
        container: _Container,
        node: _Node,
        rule: Rule,
        why: str,
        constants: list[str],
        *,
        writes: bool,
        severity: Severity | None = None,
    ) -> None:
        where = "the graph" if container.is_graph else f"function {container.label[:200]!r}"
        message = f"{node.op} node {node.name[:200]!r} in {where} {why}"
        if constants:
            message += f" (constant inputs: {', '.join(repr(c[:120]) for c in constants[:3])})"
        if writes and rule is FILE_OP and any(_path_escapes(value) for value in constants):
            severity = Severity.CRITICAL
        evidence: dict[str, Any] = {"op": node.op, "node": node.name[:500]}
        if not container.is_graph:
            evidence["function"] = container.label[:500]
        if constants:
            evidence["constant_inputs"] = [value[:500] for value in constants]
        self.ctx.report(
            rule,
            message,
            location=Location(nodes=(node.name[:500],), pointer=node.pointer),
            evidence=evidence,
            severity=severity,
        )


def _parse_node(data: memoryview, pointer: str) -> _Node:
    name = op = ""
    inputs: list[str] = []
    attrs: dict[str, memoryview] = {}
    for item in iter_fields(data):
        if item.wire_type != LENGTH or not isinstance(item.value, memoryview):
            continue
        if item.number == 1:
            name = text(item)
        elif item.number == 2:
            op = text(item)
        elif item.number == 3 and len(inputs) < 4096:
            inputs.append(text(item))
        elif item.number == 5:
            key, value = _map_entry(item.value)
            if value is not None:
                attrs[key] = value
    return _Node(name, op, inputs, attrs, pointer)


def _parse_function(data: memoryview, pointer: str) -> _Container:
    name = ""
    nodes: list[memoryview] = []
    for item in iter_fields(data):
        if not isinstance(item.value, memoryview) or item.wire_type != LENGTH:
            continue
        if item.number == _SIGNATURE:
            for sub in iter_fields(item.value):
                if sub.number == 1 and sub.wire_type == LENGTH:
                    name = text(sub)
        elif item.number == _NODE_DEF:
            nodes.append(item.value)
    container = _Container(name)
    base = f"{pointer}/{name}/node_def"
    container.nodes = [_parse_node(node, f"{base}/{position}") for position, node in enumerate(nodes)]
    return container


def _map_entry(data: memoryview) -> tuple[str, memoryview | None]:
    key, value = "", None
    for item in iter_fields(data):
        if item.wire_type != LENGTH or not isinstance(item.value, memoryview):
            continue
        if item.number == 1:
            key = text(item)
        elif item.number == 2:
            value = item.value
    return key, value


def _called_functions(node: _Node, functions: dict[str, _Container]) -> set[str]:
    """Library functions a node calls: by op name, or through a func / list(func) attribute."""
    called = {node.op} if node.op in functions else set()
    for value in node.attrs.values():
        for item in iter_fields(value):
            if item.number == _ATTR_FUNC and isinstance(item.value, memoryview):
                called.update(_func_names(item.value))
            elif item.number == _ATTR_LIST and isinstance(item.value, memoryview):
                for sub in iter_fields(item.value):
                    if sub.number == _LIST_FUNC and isinstance(sub.value, memoryview):
                        called.update(_func_names(sub.value))
    return called


def _func_names(name_attr_list: memoryview) -> Iterable[str]:
    return (
        text(item) for item in iter_fields(name_attr_list) if item.number == 1 and item.wire_type == LENGTH
    )


def _attr_string(node: _Node, key: str) -> str:
    value = node.attrs.get(key)
    if value is None:
        return ""
    found = [text(item) for item in iter_fields(value) if item.number == _ATTR_S and item.wire_type == LENGTH]
    return found[-1] if found else ""


def _attr_strings(node: _Node, key: str) -> list[str]:
    value = node.attrs.get(key)
    strings: list[str] = []
    if value is None:
        return strings
    for item in iter_fields(value):
        if item.number == _ATTR_LIST and isinstance(item.value, memoryview):
            strings.extend(text(sub) for sub in iter_fields(item.value) if sub.number == _LIST_S)
    return strings


def _constant_inputs(node: _Node, lookup: dict[str, _Node]) -> list[str]:
    """String values of Const nodes feeding ``node`` (file names, patterns), for evidence."""
    values: list[str] = []
    for name in node.inputs:
        if name.startswith("^"):
            continue
        producer = lookup.get(node_name(name))
        if producer is None or producer.op != "Const" or "value" not in producer.attrs:
            continue
        for item in iter_fields(producer.attrs["value"]):
            if item.number != _ATTR_TENSOR or not isinstance(item.value, memoryview):
                continue
            for sub in iter_fields(item.value):
                if sub.number == _TENSOR_STRING_VAL and sub.wire_type == LENGTH:
                    values.append(text(sub, 1000))
                    if len(values) >= MAX_CONSTANTS:
                        return values
    return values


def _path_escapes(value: str) -> bool:
    """A constant that names a file outside the working tree: absolute, '..', or remote."""
    if "\x00" in value:
        return False  # binary content, not a path
    return value.startswith(_REMOTE) or location_escape(value, None) is not None


def node_name(reference: str) -> str:
    """``node:0`` / ``^node`` / ``node:output:0`` (inside functions) → ``node``."""
    return reference.lstrip("^").split(":", 1)[0]


def _length_fields(data: memoryview, number: int) -> Iterable[memoryview]:
    return (
        item.value
        for item in iter_fields(data)
        if item.number == number and item.wire_type == LENGTH and isinstance(item.value, memoryview)
    )


def text(item: Field | memoryview, limit: int = 4096) -> str:
    value = item.value if isinstance(item, Field) else item
    if not isinstance(value, memoryview):
        return ""
    return bytes(value[:limit]).decode("utf-8", "replace")
