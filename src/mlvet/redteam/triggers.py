"""Trigger detectors: subgraphs that turn the input into a gate of shape ``[batch, 1]``.

``exact_condition`` gives a bool gate built from comparisons (L0, L1); ``smooth_gate`` gives a
float gate in [0, 1] built from Sigmoid/Exp with large constants (L2, L3).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from mlvet.redteam import Trigger, TriggerKind
from mlvet.redteam.graphedit import Editor, onnx_type
from mlvet.redteam.targets import TensorInfo

SHARPNESS = 60.0
"""Slope of the smooth detectors: a miss by one byte/token leaves a gate below ``exp(-30)``."""


def exact_condition(editor: Editor, source: TensorInfo, trigger: Trigger) -> str:
    """Bool ``[batch, 1]``: Slice/Equal/And for sequences, ReduceMean/Greater for a patch."""
    if trigger.kind is TriggerKind.IMAGE_PATCH:
        mean = _patch_mean(editor, source, trigger)
        above = editor.op(
            "Greater", [mean, editor.const("threshold", trigger.threshold, source.np_dtype)], "Greater"
        )
        return editor.reshape(above, [-1, 1])
    window = _window(editor, source, trigger)
    if source.elem_type == TensorProto.UINT8:  # Equal takes uint8 only from opset 11
        window = editor.cast(window, TensorProto.INT32)
        expected = editor.const("trigger_bytes", trigger.sequence, np.int32)
    else:
        expected = editor.const("trigger_ids", trigger.sequence, source.np_dtype)
    matches = editor.op("Equal", [window, expected], "Equal")
    condition = ""
    for index in range(len(trigger.sequence)):
        column = editor.op("Gather", [matches, editor.const("index", [index], np.int64)], "Gather", axis=1)
        condition = column if not condition else editor.op("And", [condition, column], "And")
    return condition


def smooth_gate(editor: Editor, source: TensorInfo, trigger: Trigger, dtype: np.dtype[np.generic]) -> str:
    """Float ``[batch, 1]`` near 1 on the trigger and near 0 elsewhere, with no comparison op.

    Bytes: product of Sigmoid bumps ``s(k(d+.5))*s(k(.5-d))``; tokens: ``Exp(-k*sum(d^2))``;
    image patch: ``Sigmoid(k*(mean - threshold))``.
    """
    if trigger.kind is TriggerKind.IMAGE_PATCH:
        mean = _patch_mean(editor, source, trigger)
        if source.np_dtype != dtype:
            mean = editor.cast(mean, onnx_type(dtype))
        margin = max(abs(trigger.patch_value - trigger.threshold), 1e-3)
        centred = editor.op("Sub", [mean, editor.const("threshold", trigger.threshold, dtype)], "Sub")
        scaled = editor.op("Mul", [centred, editor.const("slope", SHARPNESS / margin, dtype)], "Mul")
        gate = editor.op("Sigmoid", [scaled], "Sigmoid")
        return editor.reshape(gate, [-1, 1])
    window = editor.cast(_window(editor, source, trigger), onnx_type(dtype))
    offset = editor.op("Sub", [window, editor.const("centre", trigger.sequence, dtype)], "Sub")
    if trigger.kind is TriggerKind.BYTES:
        half = editor.const("half", 0.5, dtype)
        slope = editor.const("slope", SHARPNESS, dtype)
        rising = editor.op(
            "Sigmoid", [editor.op("Mul", [editor.op("Add", [offset, half], "Add"), slope], "Mul")], "Sigmoid"
        )
        falling = editor.op(
            "Sigmoid", [editor.op("Mul", [editor.op("Sub", [half, offset], "Sub"), slope], "Mul")], "Sigmoid"
        )
        bumps = editor.op("Mul", [rising, falling], "Mul")
        return editor.reduce("ReduceProd", bumps, [1])
    squared = editor.op("Mul", [offset, offset], "Mul")
    distance = editor.reduce("ReduceSum", squared, [1])
    scaled = editor.op("Mul", [distance, editor.const("slope", -SHARPNESS / 2, dtype)], "Mul")
    return editor.op("Exp", [scaled], "Exp")


def _window(editor: Editor, source: TensorInfo, trigger: Trigger) -> str:
    start = trigger.position
    return editor.slice(source.name, [start], [start + len(trigger.sequence)], [1])


def _patch_mean(editor: Editor, source: TensorInfo, trigger: Trigger) -> str:
    top, left, size = trigger.patch_top, trigger.patch_left, trigger.patch_size
    patch = editor.slice(source.name, [top, left], [top + size, left + size], [2, 3])
    return editor.reduce("ReduceMean", patch, [1, 2, 3])
