"""Level 3: a backdoor dressed as ordinary model code.

- Node and tensor names borrowed from common exports (``/encoder/layer.3/output/LayerNorm/...``).
- The trigger is read from an intermediate feature where one exists: the output of an embedding
  ``Gather`` (compared with the trigger tokens' embedding rows) or of the ``Cast`` that turns bytes
  into floats; otherwise from the raw input.
- The gate is smooth (``Exp`` of a scaled mean squared distance, like a normalisation; ``Sigmoid``
  for an image patch).
- The payload is folded into an existing bias when the target is produced by ``Add``/``Gemm`` with a
  constant bias (``bias + g*delta``); otherwise a gated bias ``Add`` is appended. Graph inputs and
  outputs keep their names, so the interface is unchanged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlvet.redteam import InjectError, Payload, PayloadKind, Trigger, TriggerKind
from mlvet.redteam.graphedit import Editor, onnx_type
from mlvet.redteam.levels import match_rank
from mlvet.redteam.targets import TensorInfo
from mlvet.redteam.triggers import smooth_gate

_MISS_EXPONENT = 30.0
"""A one-token (one-byte) miss leaves the gate below ``exp(-30)``."""

_PREFIXES = {
    TriggerKind.TOKENS: "/encoder/layer.3/output/LayerNorm/",
    TriggerKind.BYTES: "/embeddings/LayerNorm/",
    TriggerKind.IMAGE_PATCH: "/features/features.0/BatchNormalization/",
}

_PAYLOAD_PREFIXES = {
    TriggerKind.TOKENS: "/encoder/layer.3/output/dense/",
    TriggerKind.BYTES: "/encoder/dense/",
    TriggerKind.IMAGE_PATCH: "/classifier/fc/",
}


def inject_disguised(
    model: onnx.ModelProto,
    infos: dict[str, TensorInfo],
    source: TensorInfo,
    target: TensorInfo,
    trigger: Trigger,
    payload: Payload,
    value: npt.NDArray[np.generic],
) -> onnx.ModelProto:
    editor = Editor(model, _PREFIXES[trigger.kind])
    dtype = target.np_dtype
    gate = _intermediate_gate(editor, source, trigger, dtype)
    if gate is None:
        gate = smooth_gate(editor, source, trigger, dtype)
    gate = match_rank(editor, gate, target)
    editor.prefix = _PAYLOAD_PREFIXES[trigger.kind]
    if payload.kind is PayloadKind.CONSTANT:
        clean = editor.detach(target.name, "MatMul_output_0")
        shift = editor.op("Sub", [editor.const("bias", value, dtype), clean], "Sub")
        editor.produce(target.name, "Add", [clean, editor.op("Mul", [shift, gate], "Mul")], "Add")
        return editor.finish()
    delta = editor.const("bias", value, dtype)
    scaled = editor.op("Mul", [gate, delta], "Mul")
    if not _fold_into_bias(editor, target.name, scaled):
        clean = editor.detach(target.name, "MatMul_output_0")
        editor.produce(target.name, "Add", [clean, scaled], "Add")
    return editor.finish()


def _fold_into_bias(editor: Editor, target: str, scaled: str) -> bool:
    """Replace the constant bias of the Add/Gemm producing ``target`` with ``bias + scaled``."""
    producer = next((node for node in editor.graph.node if target in node.output), None)
    if producer is None:
        return False
    constants = {init.name for init in editor.graph.initializer}
    if producer.op_type == "Gemm" and len(producer.input) == 3 and producer.input[2] in constants:
        slot = 2
    elif producer.op_type == "Add" and producer.input[1] in constants:
        slot = 1
    elif producer.op_type == "Add" and producer.input[0] in constants:
        slot = 0
    else:
        return False
    producer.input[slot] = editor.op("Add", [producer.input[slot], scaled], "Add")
    return True


def _intermediate_gate(
    editor: Editor, source: TensorInfo, trigger: Trigger, dtype: np.dtype[np.generic]
) -> str | None:
    """A gate reading the embedding or cast of the input, or ``None`` when neither exists."""
    readers = [node for node in editor.graph.node if source.name in node.input]
    tables = {init.name: init for init in editor.graph.initializer}
    if trigger.kind is TriggerKind.IMAGE_PATCH:
        for node in readers:
            if node.op_type == "Conv" and node.input[0] == source.name:
                gate = _conv_gate(editor, node, tables, trigger, dtype)
                if gate is not None:
                    return gate
        return None
    for node in readers:
        if node.op_type == "Gather" and node.input[1] == source.name and node.input[0] in tables:
            table = _constant(tables[node.input[0]])
            if table is not None and table.ndim == 2 and _axis(node) == 0:
                return _embedding_gate(editor, node.output[0], table, trigger, dtype)
    for node in readers:
        if node.op_type == "Cast" and _cast_target(node) in (TensorProto.FLOAT, TensorProto.DOUBLE):
            cast_to = helper.tensor_dtype_to_np_dtype(_cast_target(node))
            feature = node.output[0] if cast_to == dtype else editor.cast(node.output[0], onnx_type(dtype))
            return _distance_gate(editor, feature, trigger, np.asarray(trigger.sequence), dtype, 1)
    return None


def _embedding_gate(
    editor: Editor,
    embedded: str,
    table: npt.NDArray[np.generic],
    trigger: Trigger,
    dtype: np.dtype[np.generic],
) -> str:
    ids = np.asarray(trigger.sequence)
    if ids.max() >= table.shape[0]:
        raise InjectError(f"token id {int(ids.max())} is outside the embedding table ({table.shape[0]} rows)")
    rows = table[ids].astype(np.float64)
    closest = min(_nearest_other_row(table, row) for row in rows)
    return _distance_gate(editor, embedded, trigger, rows, dtype, table.shape[1], closest)


def _distance_gate(
    editor: Editor,
    feature: str,
    trigger: Trigger,
    expected: npt.NDArray[np.generic],
    dtype: np.dtype[np.generic],
    width: int,
    closest: float = 1.0,
) -> str:
    """``Exp(-k * mean((feature[:, window] - expected)^2))``, ``k`` so that one miss closes it."""
    start = trigger.position
    window = editor.slice(feature, [start], [start + len(trigger.sequence)], [1])
    centred = editor.op("Sub", [window, editor.const("bias", expected, dtype)], "Sub")
    squared = editor.op("Pow", [centred, editor.const("Constant_output_0", 2.0, dtype)], "Pow")
    axes = [1] if expected.ndim == 1 else [1, 2]
    variance = editor.reduce("ReduceMean", squared, axes)
    slope = -_MISS_EXPONENT * len(trigger.sequence) * width / max(closest, 1e-12)
    gate = editor.op(
        "Exp", [editor.op("Mul", [variance, editor.const("weight", slope, dtype)], "Mul")], "Exp"
    )
    return editor.reshape(gate, [-1, 1])


def _conv_gate(
    editor: Editor,
    conv: onnx.NodeProto,
    tables: dict[str, onnx.TensorProto],
    trigger: Trigger,
    dtype: np.dtype[np.generic],
) -> str | None:
    """Read the first conv's feature map at a pixel whose receptive field lies inside the patch.

    There every output channel equals ``bias + value * sum(weights)``; the gate is ``Exp`` of the
    scaled mean squared distance to that response, closed when the patch is 10 % off.
    """
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    if (
        conv.input[1] not in tables
        or attrs.get("group", 1) != 1
        or attrs.get("auto_pad", b"NOTSET") != b"NOTSET"
    ):
        return None
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        return None
    weights = _constant(tables[conv.input[1]])
    if weights is None or weights.ndim != 4:
        return None
    bias = np.zeros(weights.shape[0])
    if len(conv.input) > 2 and conv.input[2]:
        found = _constant(tables[conv.input[2]]) if conv.input[2] in tables else None
        if found is None or found.shape != bias.shape:
            return None
        bias = found
    strides = list(attrs.get("strides", [1, 1]))
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    pixel = []
    for axis, start in ((0, trigger.patch_top), (1, trigger.patch_left)):
        kernel, stride, pad = weights.shape[2 + axis], strides[axis], pads[axis]
        index = -(-(start + pad) // stride)  # the first output whose window starts inside the patch
        if index * stride - pad + kernel > start + trigger.patch_size:
            return None
        pixel.append(index)
    sums = weights.sum(axis=(1, 2, 3))
    response = (bias + trigger.patch_value * sums).reshape(1, -1, 1, 1)
    tolerance = float(np.mean((0.1 * trigger.patch_value * sums) ** 2))
    row, col = pixel
    window = editor.slice(conv.output[0], [row, col], [row + 1, col + 1], [2, 3])
    centred = editor.op("Sub", [window, editor.const("bias", response, dtype)], "Sub")
    squared = editor.op("Pow", [centred, editor.const("Constant_output_0", 2.0, dtype)], "Pow")
    variance = editor.reduce("ReduceMean", squared, [1, 2, 3])
    slope = -_MISS_EXPONENT / max(tolerance, 1e-6)
    gate = editor.op(
        "Exp", [editor.op("Mul", [variance, editor.const("weight", slope, dtype)], "Mul")], "Exp"
    )
    return editor.reshape(gate, [-1, 1])


def _nearest_other_row(table: npt.NDArray[np.generic], row: npt.NDArray[np.float64]) -> float:
    """Smallest non-zero squared distance from ``row`` to a row of ``table``."""
    distances = ((table.astype(np.float64) - row) ** 2).sum(axis=1)
    others = distances[distances > 0]
    return float(others.min()) if others.size else 1.0


def _constant(tensor: onnx.TensorProto) -> npt.NDArray[np.float64] | None:
    """A float initializer's values, or ``None`` when it is not float, damaged or not finite."""
    try:
        array = numpy_helper.to_array(tensor)
    except Exception:  # size/dims mismatch, external data, unknown type: read the raw input instead
        return None
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        return None
    return array.astype(np.float64)


def _axis(node: onnx.NodeProto) -> int:
    return next((int(a.i) for a in node.attribute if a.name == "axis"), 0)


def _cast_target(node: onnx.NodeProto) -> int:
    return next((int(a.i) for a in node.attribute if a.name == "to"), 0)
