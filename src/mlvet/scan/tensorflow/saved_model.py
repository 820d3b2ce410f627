"""TensorFlow SavedModels, frozen GraphDefs and the ``keras_metadata.pb`` of Keras SavedModels.

Parsed from the protobuf wire format, without TensorFlow. Field numbers follow
``tensorflow/core/protobuf/saved_model.proto`` and ``meta_graph.proto``, ``framework/graph.proto``,
``node_def.proto``, ``function.proto`` and ``attr_value.proto`` (checked against the copies in
``tensorboard.compat.proto``): SavedModel{1 schema_version, 2 meta_graphs} → MetaGraphDef{2
graph_def, 3 saver_def, 5 signature_def, 6 asset_file_def} → GraphDef{1 node, 2 library} →
FunctionDefLibrary{1 function} → FunctionDef{1 signature (OpDef{1 name}), 3 node_def}; NodeDef{1
name, 2 op, 3 input, 5 attr}. The graphs themselves are walked by ``tensorflow_graph``; this
module recognises the three kinds of file, finds the saver and signature outputs and checks asset
paths.
"""

from __future__ import annotations

import json
import re

from mlvet._internal.paths import location_escape
from mlvet._internal.protosniff import looks_like_graph_def, looks_like_keras_metadata
from mlvet._internal.protowire import LENGTH, VARINT, Field, WireError, fields_by_number, iter_fields
from mlvet.artifacts import Buffer
from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan import keras
from mlvet.scan.base import ScanContext
from mlvet.scan.tensorflow.graph import GRAPH_RULES, GraphScan, node_name, text

ASSET_ESCAPE = Rule(
    "MLV405",
    "SavedModel asset outside the model directory",
    Severity.HIGH,
    "An asset file of the SavedModel (a vocabulary, say) is named with an absolute path or '..'. "
    "TensorFlow joins it to the assets folder, so loading the model reads that file from anywhere "
    "on the host. Assets belong in the model's own assets/ folder.",
)

RULES = (*GRAPH_RULES, ASSET_ESCAPE)

_OP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_>.\-]*$")

# field numbers (see the module docstring)
_META_GRAPH, _GRAPH_DEF, _SAVER_DEF, _SIGNATURE_DEF, _ASSET_FILE_DEF = 2, 2, 3, 5, 6
_NODE = 1


def scan_saved_model(data: Buffer, ctx: ScanContext) -> None:
    """Scan a SavedModel, a frozen GraphDef or a keras_metadata.pb, whichever the bytes are."""
    view = memoryview(data)
    try:
        if _is_saved_model(view):
            _scan_saved_model(view, ctx)
            _claim_companion_files(ctx)
        elif looks_like_keras_metadata(view):
            _scan_keras_metadata(view, ctx)
        elif looks_like_graph_def(view):
            GraphScan(ctx, "", None).run(view)
        else:
            ctx.problem(ProblemKind.UNSUPPORTED, "protobuf is no SavedModel, GraphDef or Keras metadata")
    except WireError as exc:
        ctx.problem(ProblemKind.CORRUPT, f"malformed TensorFlow protobuf: {exc}")


def _is_saved_model(data: memoryview) -> bool:
    """SavedModel{1 varint schema version, 2 meta graphs}, each meta graph holding a graph (2)."""
    try:
        fields = fields_by_number(data)
    except WireError:
        return False
    if not fields.get(_META_GRAPH) or not set(fields) <= {1, 2}:
        return False
    if any(item.wire_type != VARINT for item in fields.get(1, [])):
        return False
    meta = fields[_META_GRAPH][0]
    if meta.wire_type != LENGTH or not isinstance(meta.value, memoryview):
        return False
    try:
        return _GRAPH_DEF in fields_by_number(meta.value)
    except WireError:
        return False


def _scan_saved_model(data: memoryview, ctx: ScanContext) -> None:
    index = 0
    for item in iter_fields(data):
        if item.number != _META_GRAPH or not isinstance(item.value, memoryview):
            continue
        meta = fields_by_number(item.value)
        prefix = f"/meta_graphs/{index}"
        saver = _saver_names(meta.get(_SAVER_DEF, []))
        outputs = _signature_outputs(meta.get(_SIGNATURE_DEF, []))
        for graph in meta.get(_GRAPH_DEF, []):
            if isinstance(graph.value, memoryview):
                GraphScan(ctx, f"{prefix}/graph_def", saver, outputs).run(graph.value)
        for position, asset in enumerate(meta.get(_ASSET_FILE_DEF, [])):
            _check_asset(asset, f"{prefix}/asset_file_def/{position}", ctx)
        index += 1


def _claim_companion_files(ctx: ScanContext) -> None:
    """The SavedModel's checkpoint (``variables/``) and fingerprint hold data, no code: not gaps."""
    if ctx.fs_path is None:
        return
    folder = ctx.fs_path.parent
    variables = folder / "variables"
    candidates = [folder / "fingerprint.pb", variables / "variables.index"]
    if variables.is_dir():
        candidates += sorted(variables.glob("variables.data-*-of-*"))[: ctx.settings.limits.max_entries]
    for path in candidates:
        if path.is_file():
            ctx.claim_data_file(path)


def _saver_names(saver_defs: list[Field]) -> set[str]:
    """Node names a SaverDef points at: filename tensor, save tensor, restore op."""
    names: set[str] = set()
    for saver in saver_defs:
        if isinstance(saver.value, memoryview):
            for item in iter_fields(saver.value):
                if item.number in (1, 2, 3) and item.wire_type == LENGTH:
                    names.add(node_name(text(item)))
    names.discard("")
    return names


def _signature_outputs(signatures: list[Field]) -> list[str]:
    """Output tensor names: signature_def entry{2 SignatureDef{2 outputs entry{2 TensorInfo{1 name}}}}."""
    names: list[str] = []
    for entry in signatures:
        for signature in _values(entry, 2):
            for output in _values(signature, 2):
                for info in _values(output, 2):
                    names.extend(
                        text(item)
                        for item in iter_fields(info)
                        if item.number == 1 and item.wire_type == LENGTH
                    )
    return names[:4096]


def _values(message: Field | memoryview, number: int) -> list[memoryview]:
    data = message.value if isinstance(message, Field) else message
    if not isinstance(data, memoryview):
        return []
    return [
        item.value
        for item in iter_fields(data)
        if item.number == number and isinstance(item.value, memoryview)
    ]


def _check_asset(asset: Field, pointer: str, ctx: ScanContext) -> None:
    if not isinstance(asset.value, memoryview):
        return
    for item in iter_fields(asset.value):
        if item.number != 2 or item.wire_type != LENGTH:
            continue
        filename = text(item)
        anchor = ctx.fs_path.parent / "assets" / "asset" if ctx.fs_path is not None else None
        escape = location_escape(filename, anchor)
        if escape is not None:
            ctx.report(
                ASSET_ESCAPE,
                f"asset file {filename[:300]!r} is outside the assets folder ({escape})",
                location=Location(pointer=pointer),
                evidence={"filename": filename[:1000]},
            )


def _scan_keras_metadata(data: memoryview, ctx: ScanContext) -> None:
    """Run the Keras config analysis on the JSON metadata of every Keras object in the SavedModel."""
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(iter_fields(data)):
        if not isinstance(item.value, memoryview):
            continue
        node = fields_by_number(item.value)
        path = next((text(f) for f in node.get(3, []) if f.wire_type == LENGTH), f"node {index}")
        for metadata in node.get(5, []):
            if metadata.wire_type != LENGTH:
                continue
            source = f"keras_metadata.pb object {path[:200]}"
            try:
                document = json.loads(
                    bytes(metadata.value) if isinstance(metadata.value, memoryview) else b""
                )
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                ctx.report(keras.MALFORMED_CONFIG, f"{source}: metadata is not valid JSON: {exc}")
                continue
            keras.scan_keras_config(document, ctx, source=source, seen=seen)
