"""ONNX models at the serialization level: Python-running custom ops and external data paths.

The protobuf is read with the bounded wire-format reader, not with ``onnx``: it works on a
memory map without copying tensor bytes, has no 2 GiB limit and never opens external data.
Field numbers are those of ``onnx/onnx.proto`` (checked against ``onnx.ModelProto.DESCRIPTOR``).
Graph-level backdoors are found by ``mlvet.graph`` (MLV9xx), run from here on the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlvet._internal.paths import location_escape
from mlvet._internal.protowire import LENGTH, WireError, iter_fields
from mlvet.artifacts import Buffer
from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan.base import ScanContext

PYTHON_OP = Rule(
    "MLV451",
    "ONNX custom op that runs Python",
    Severity.CRITICAL,
    "A node uses an operator that calls into Python at inference time: onnxruntime's PyOp (which "
    "imports the module and calls the function named in its attributes), an onnxruntime-extensions "
    "Python op, or an exported torch PythonOp. Running the model runs that code. A model meant for "
    "distribution has no reason to contain one; do not run it outside a sandbox.",
    ("https://github.com/microsoft/onnxruntime-extensions/blob/main/docs/pyop.md",),
)
EXTERNAL_DATA_ESCAPE = Rule(
    "MLV452",
    "ONNX external data outside the model directory",
    Severity.HIGH,
    "A tensor keeps its bytes in an external file whose 'location' is absolute, climbs out with "
    "'..', or resolves through a symlink outside the model's directory. Loading the model reads "
    "that file (leaking any file into the weights), and saving it can overwrite one. Legitimate "
    "external data sits next to the model file.",
    ("CVE-2024-27318", "CVE-2025-51480"),
)
CUSTOM_DOMAIN = Rule(
    "MLV453",
    "ONNX operators from an unknown domain",
    Severity.LOW,
    "Nodes use operators from a domain that is neither standard ONNX nor onnxruntime's contrib "
    "ops, nor defined by the model's own functions. They only run after a custom operator library "
    "is registered, which is native code from outside the model; make sure you know which library "
    "the model expects.",
)

RULES = (PYTHON_OP, EXTERNAL_DATA_ESCAPE, CUSTOM_DOMAIN)

STANDARD_DOMAINS = frozenset(
    {
        "", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "com.microsoft",
        "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc",
        "com.microsoft.dml", "org.pytorch.aten",
    }
)  # fmt: skip
"""Domains of the ONNX standard and of the operators built into onnxruntime."""

PYTHON_OP_TYPES = frozenset({"PyOp", "PythonOp", "PyFunc", "PyFunction", "PythonFunction", "PyCall"})
PYTHON_DOMAINS = frozenset({"ai.onnx.contrib", "com.microsoft.extensions"})
"""onnxruntime-extensions domains: ``Py*`` ops there are Python functions registered with ``@onnx_op``.

Its native ops (tokenizers, string and audio ops) share the domain and count as custom ops.
"""

MAX_GRAPH_DEPTH = 64
MAX_LISTED = 10

# ModelProto / GraphProto / NodeProto / AttributeProto / TensorProto / FunctionProto field numbers
_MODEL_GRAPH, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 20, 25
_TRAINING_GRAPHS = (1, 2)
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE = 1, 5, 15
_NODE_NAME, _NODE_OP, _NODE_DOMAIN, _NODE_ATTRIBUTE = 3, 4, 7, 5
_ATTR_NAME, _ATTR_S, _ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS = 1, 4, 5, 6, 10, 11
_ATTR_SPARSE, _ATTR_SPARSES = 22, 23
_ATTR_NESTED = frozenset({_ATTR_T, _ATTR_TENSORS, _ATTR_G, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES})
_TENSOR_NAME, _TENSOR_EXTERNAL, _TENSOR_LOCATION = 8, 13, 14
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_FUNCTION_NAME, _FUNCTION_NODE, _FUNCTION_DOMAIN, _FUNCTION_ATTRIBUTE = 1, 7, 10, 11
_EXTERNAL = 1


def scan_onnx(data: Buffer, ctx: ScanContext) -> None:
    """Walk every graph, subgraph, function and tensor of the model, then look for backdoor gates.

    The model is parsed once: with the ``onnx`` package when it is installed (the same message then
    feeds the graph importer), else, or when that parse fails, with the bounded wire-format reader.
    """
    message = _parse(data)
    walk: _ModelWalk | None = None
    if message is not None:
        from mlvet.scan.onnx_message import MessageWalk

        walk = MessageWalk(ctx)
        try:
            walk.model(message)
        except (UnicodeDecodeError, RecursionError):  # a field the message API will not decode
            walk, message = None, None
    if walk is None:
        walk = _ModelWalk(ctx)
        try:
            walk.model(memoryview(data))
        except WireError as exc:
            ctx.problem(ProblemKind.CORRUPT, f"malformed ONNX protobuf: {exc}")
            walk.flush()
            return
    walk.flush()
    if not walk.too_deep:  # already reported as a limit; protobuf would refuse the nesting too
        _find_gates(data, ctx, message)


MAX_GRAPH_BYTES = (2 << 30) - 1
"""protobuf's own limit: larger models keep their weights in external data."""


def _parse(data: Buffer) -> Any:
    """The ``onnx.ModelProto`` of ``data``, or None (no onnx package, too large, or not parsable)."""
    if len(data) > MAX_GRAPH_BYTES:
        return None
    try:
        from mlvet.graph.onnx_import import parse_model

        return parse_model(bytes(data))
    except (ImportError, ValueError, RecursionError, MemoryError):
        return None


def _find_gates(data: Buffer, ctx: ScanContext, message: Any = None) -> None:
    """Run the graph-backdoor rules (MLV9xx) on the model's graph (``message``: its parsed form)."""
    if len(data) > MAX_GRAPH_BYTES:
        ctx.problem(ProblemKind.LIMIT, "graph backdoor analysis skipped: model larger than 2 GiB")
        return
    from mlvet.graph.detect import detect
    from mlvet.graph.onnx_import import import_model, import_onnx
    from mlvet.graph.reporting import report_detections

    try:
        graph = import_onnx(bytes(data)) if message is None else import_model(message)
    except ImportError:
        ctx.problem(
            ProblemKind.MISSING_EXTRA,
            "graph backdoor analysis needs the onnx package: pip install 'mlvet[onnx]'",
        )
        return
    except ValueError as exc:
        ctx.problem(ProblemKind.CORRUPT, f"graph backdoor analysis: the onnx package cannot parse it ({exc})")
        return
    except (RecursionError, MemoryError) as exc:
        ctx.problem(ProblemKind.LIMIT, f"graph backdoor analysis ran out of resources ({type(exc).__name__})")
        return
    try:
        detections = detect(graph)
    except (RecursionError, MemoryError) as exc:
        ctx.problem(ProblemKind.LIMIT, f"graph backdoor analysis ran out of resources ({type(exc).__name__})")
        return
    report_detections(detections, ctx)


@dataclass
class _Reference:
    tensors: list[str] = field(default_factory=list)
    count: int = 0
    pointer: str = ""
    stored_externally: bool = False


@dataclass
class _DomainUse:
    ops: dict[str, int] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    pointer: str = ""


class _ModelWalk:
    """The wire-format walk; what it sees is kept and reported by ``flush`` (shared with ``MessageWalk``)."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.local_functions: set[tuple[str, str]] = set()
        self.locations: dict[str, _Reference] = {}
        self.domains: dict[str, _DomainUse] = {}
        self.python_ops: list[tuple[str, Location, dict[str, Any]]] = []
        self.too_deep = False

    def deeper_than_allowed(self, depth: int) -> bool:
        self.too_deep |= depth > MAX_GRAPH_DEPTH
        return depth > MAX_GRAPH_DEPTH

    def model(self, data: memoryview) -> None:
        fields = list(iter_fields(data))
        for item in fields:
            if item.number == _MODEL_FUNCTIONS and isinstance(item.value, memoryview):
                values = _last_strings(item.value, (_FUNCTION_DOMAIN, _FUNCTION_NAME))
                self.local_functions.add((values[_FUNCTION_DOMAIN], values[_FUNCTION_NAME]))
        functions = trainings = 0
        for item in fields:
            if not isinstance(item.value, memoryview):
                continue
            if item.number == _MODEL_GRAPH:
                self.graph(item.value, "/graph", 0)
            elif item.number == _MODEL_FUNCTIONS:
                self.function(item.value, f"/functions/{functions}")
                functions += 1
            elif item.number == _MODEL_TRAINING:
                for sub in iter_fields(item.value):
                    if sub.number in _TRAINING_GRAPHS and isinstance(sub.value, memoryview):
                        part = "initialization" if sub.number == _TRAINING_GRAPHS[0] else "algorithm"
                        self.graph(sub.value, f"/training_info/{trainings}/{part}", 0)
                trainings += 1

    def graph(self, data: memoryview, pointer: str, depth: int) -> None:
        if self.deeper_than_allowed(depth):
            return
        counters = {_GRAPH_NODE: 0, _GRAPH_INITIALIZER: 0, _GRAPH_SPARSE: 0}
        for item in iter_fields(data):
            if item.number not in counters or not isinstance(item.value, memoryview):
                continue
            index = counters[item.number]
            counters[item.number] += 1
            if item.number == _GRAPH_NODE:
                self.node(item.value, f"{pointer}/node/{index}", depth)
            elif item.number == _GRAPH_INITIALIZER:
                self.tensor(item.value, f"{pointer}/initializer/{index}")
            else:
                self.sparse(item.value, f"{pointer}/sparse_initializer/{index}")

    def function(self, data: memoryview, pointer: str) -> None:
        nodes = 0
        for item in iter_fields(data):
            if not isinstance(item.value, memoryview):
                continue
            if item.number == _FUNCTION_NODE:
                self.node(item.value, f"{pointer}/node/{nodes}", 1)
                nodes += 1
            elif item.number == _FUNCTION_ATTRIBUTE:
                self.attribute(item.value, f"{pointer}/attribute_proto", 1)

    def node(self, data: memoryview, pointer: str, depth: int) -> None:
        """One pass over the node's fields: its name, operator, domain and attributes."""
        strings = dict.fromkeys((_NODE_NAME, _NODE_OP, _NODE_DOMAIN), "")
        attributes: dict[str, str] = {}
        index = 0
        for item in iter_fields(data):
            value = item.value
            if not isinstance(value, memoryview):
                continue
            if item.number == _NODE_ATTRIBUTE:
                attr_name, text = self.attribute(value, f"{pointer}/attribute/{index}", depth)
                if text is not None:
                    attributes[attr_name] = text
                index += 1
            elif item.number in strings:
                strings[item.number] = _text(value)  # the last value wins, as in protobuf
        self.classify(strings[_NODE_NAME], strings[_NODE_OP], strings[_NODE_DOMAIN], attributes, pointer)

    def attribute(self, data: memoryview, pointer: str, depth: int) -> tuple[str, str | None]:
        """Walk the tensors and graphs an attribute holds; return its name and string value."""
        name = ""
        text: str | None = None
        nested: list[tuple[int, memoryview]] = []
        for item in iter_fields(data):
            value = item.value
            if not isinstance(value, memoryview):
                continue
            if item.number == _ATTR_NAME:
                name = _text(value)
            elif item.number == _ATTR_S:
                text = _text(value)
            elif item.number in _ATTR_NESTED:
                nested.append((item.number, value))
        label = f"{pointer}/{name or '?'}"
        for number, value in nested:  # after the name, which may come last on the wire
            if number in (_ATTR_T, _ATTR_TENSORS):
                self.tensor(value, label)
            elif number in (_ATTR_G, _ATTR_GRAPHS):
                self.graph(value, label, depth + 1)
            else:
                self.sparse(value, label)
        return name, text

    def classify(
        self, name: str, op_type: str, domain: str, attributes: dict[str, str], pointer: str
    ) -> None:
        if (domain, op_type) in self.local_functions:
            return
        label = name or op_type
        runs_python = op_type in PYTHON_OP_TYPES or (domain in PYTHON_DOMAINS and op_type.startswith("Py"))
        if runs_python:
            evidence: dict[str, Any] = {"op_type": op_type, "domain": domain, "node": name}
            callable_parts: dict[str, str] = {
                key: attributes[key][:200] for key in ("module", "class_name", "compute") if key in attributes
            }
            evidence.update(callable_parts)
            target = ".".join(
                callable_parts[key] for key in ("module", "class_name") if key in callable_parts
            )
            message = f"node {label!r} is a {domain or 'ai.onnx'}::{op_type} that runs Python"
            location = Location(nodes=(label,), pointer=pointer)
            self.python_ops.append((message + (f" ({target})" if target else ""), location, evidence))
            return
        if domain in STANDARD_DOMAINS:
            return
        use = self.domains.setdefault(domain, _DomainUse(pointer=pointer))
        use.ops[op_type] = use.ops.get(op_type, 0) + 1
        if len(use.nodes) < MAX_LISTED:
            use.nodes.append(label)

    def sparse(self, data: memoryview, pointer: str) -> None:
        for item in iter_fields(data):
            if item.number in (_SPARSE_VALUES, _SPARSE_INDICES) and isinstance(item.value, memoryview):
                self.tensor(
                    item.value, f"{pointer}/{'values' if item.number == _SPARSE_VALUES else 'indices'}"
                )

    def tensor(self, data: memoryview, pointer: str) -> None:
        name = ""
        external = False
        locations: list[str] = []
        for item in iter_fields(data):
            if item.number == _TENSOR_NAME and isinstance(item.value, memoryview):
                name = _text(item.value)
            elif item.number == _TENSOR_LOCATION and isinstance(item.value, int):
                external = item.value == _EXTERNAL
            elif item.number == _TENSOR_EXTERNAL and isinstance(item.value, memoryview):
                entry = _last_strings(item.value, (1, 2), limit=1 << 16)
                if entry[1] == "location":
                    locations.append(entry[2])
        self.reference(name, locations, external, pointer)

    def reference(self, name: str, locations: list[str], external: bool, pointer: str) -> None:
        """Note that tensor ``name`` reads its bytes from each of ``locations``."""
        for location in locations:
            reference = self.locations.setdefault(location, _Reference(pointer=pointer))
            reference.count += 1
            reference.stored_externally |= external
            if len(reference.tensors) < MAX_LISTED:
                reference.tensors.append(name)

    def flush(self) -> None:
        """Report what was seen: Python ops, one finding per external file and per unknown domain."""
        if self.too_deep:
            self.ctx.problem(ProblemKind.LIMIT, f"subgraphs nested deeper than {MAX_GRAPH_DEPTH} levels")
        for message, where, evidence in self.python_ops:
            self.ctx.report(PYTHON_OP, message, location=where, evidence=evidence)
        for location, reference in self.locations.items():
            escape = location_escape(location, self.ctx.fs_path)
            if escape is None:
                if self.ctx.fs_path is not None and location not in {"", "."}:
                    self.ctx.claim_data_file(self.ctx.fs_path.parent / location)
                continue
            self.ctx.report(
                EXTERNAL_DATA_ESCAPE,
                f"{reference.count} tensor(s) read external data from {location[:300]!r} ({escape})",
                location=Location(nodes=tuple(reference.tensors[:MAX_LISTED]), pointer=reference.pointer),
                evidence={
                    "location": location[:1000],
                    "tensors": reference.tensors,
                    "tensor_count": reference.count,
                    "data_location_external": reference.stored_externally,
                },
            )
        for domain, use in sorted(self.domains.items()):
            ops = sorted(use.ops)
            self.ctx.report(
                CUSTOM_DOMAIN,
                f"{sum(use.ops.values())} node(s) use operators {', '.join(ops[:MAX_LISTED])} "
                f"from the custom domain {domain[:200]!r}",
                location=Location(nodes=tuple(use.nodes), pointer=use.pointer),
                evidence={"domain": domain[:500], "op_types": ops[:50], "node_count": sum(use.ops.values())},
            )


def _last_strings(data: memoryview, numbers: tuple[int, ...], limit: int = 4096) -> dict[int, str]:
    """The last value of each string field (protobuf's rule for repeated scalars), '' when absent."""
    found = dict.fromkeys(numbers, "")
    for item in iter_fields(data):
        if item.number in found and item.wire_type == LENGTH and isinstance(item.value, memoryview):
            found[item.number] = _text(item.value, limit)
    return found


def _text(view: memoryview, limit: int = 4096) -> str:
    return bytes(view[:limit]).decode("utf-8", "replace")
