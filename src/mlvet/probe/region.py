"""Which elements of a graph input a trigger reads: the region a search may change.

The trigger may read the input directly, through Cast/Identity, through an embedding ``Gather``
(a slice over the embedded tensor's leading axes selects token positions) or through one
convolution (a slice of the feature map selects the pixels in its receptive field).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from mlvet.graph.gates import Gate
from mlvet.probe.condition import constants_of, is_embedding, trigger_set
from mlvet.probe.solve import selection
from mlvet.probe.spec import InputSpec

_PASS_THROUGH = frozenset({"Cast", "Identity"})


@dataclass(frozen=True)
class _Window:
    """How one convolution maps its output pixels back to input pixels (per spatial axis)."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]

    def source(self, axis: int, start: int, end: int, size: int) -> slice:
        """The input rows (axis 0) or columns (axis 1) output ``start:end`` reads."""
        first = max(start, 0) * self.strides[axis] - self.pads[axis]
        last = (
            (end - 1) * self.strides[axis] - self.pads[axis] + (self.kernel[axis] - 1) * self.dilations[axis]
        )
        return slice(max(first, 0), min(max(last + 1, 0), size))


def read_region(model: onnx.ModelProto, gate: Gate, spec: InputSpec) -> np.ndarray:
    """A boolean mask of the elements of ``spec`` the trigger reads (all of them when unclear).

    The trigger may read the input through Cast/Identity or through an embedding ``Gather`` (then a
    slice over the leading axes of the embedded tensor selects token positions).
    """
    mask = np.zeros(spec.shape, dtype=bool)
    for constraint in gate.constraints:
        if constraint.input == spec.name:
            try:
                mask[selection(constraint)] = True
            except IndexError:
                continue
    constants = constants_of(model.graph)
    wanted = trigger_set(model, gate)
    found_reader = False
    for node, name, window in _readers(model, spec.name):
        if node.name not in wanted:
            continue
        found_reader = True
        region = _node_region(node, constants, spec.shape, window) if node.input[0] == name else None
        if region is None:
            mask[...] = True
        else:
            mask |= region
    if not mask.any() or (not found_reader and not gate.constraints):
        mask[...] = True
    return mask


def _readers(model: onnx.ModelProto, source: str) -> Iterable[tuple[onnx.NodeProto, str, _Window | None]]:
    """Nodes reading ``source``, with the convolution window in between when there is one."""
    initialized = {t.name for t in model.graph.initializer}
    aliases: dict[str, _Window | None] = {source: None}
    for node in model.graph.node:
        first = node.input[0] if node.input else ""
        if node.op_type in _PASS_THROUGH and first in aliases:
            aliases[node.output[0]] = aliases[first]
            continue
        if is_embedding(node, initialized) and node.input[1] in aliases:
            aliases[node.output[0]] = aliases[node.input[1]]
            continue
        if node.op_type == "Conv" and first in aliases and aliases[first] is None:
            window = _conv_window(node, initialized)
            if window is not None:
                aliases[node.output[0]] = window
                continue
        for name in node.input:
            if name in aliases:
                yield node, name, aliases[name]
                break


def _conv_window(node: onnx.NodeProto, initialized: set[str]) -> _Window | None:
    """The window of a 2-D convolution with constant weights and explicit padding."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    kernel = attrs.get("kernel_shape")
    if len(node.input) < 2 or node.input[1] not in initialized or kernel is None or len(kernel) != 2:
        return None
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    return _Window(
        kernel=tuple(kernel),
        strides=tuple(attrs.get("strides", [1, 1])),
        pads=(int(pads[0]), int(pads[1])),
        dilations=tuple(attrs.get("dilations", [1, 1])),
    )


def _node_region(
    node: onnx.NodeProto, constants: dict[str, np.ndarray], shape: tuple[int, ...], window: _Window | None
) -> np.ndarray | None:
    mask = np.zeros(shape, dtype=bool)
    try:
        if node.op_type == "Slice" and len(node.input) >= 3:
            starts, ends = constants[node.input[1]], constants[node.input[2]]
            axes = constants[node.input[3]] if len(node.input) > 3 and node.input[3] else range(len(starts))
            steps = constants[node.input[4]] if len(node.input) > 4 and node.input[4] else [1] * len(starts)
            index: list[slice] = [slice(None)] * len(shape)
            for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
                axis = int(axis)
                if axis < 0:
                    return None
                if window is not None and axis in (2, 3) and len(shape) == 4:
                    if int(step) != 1:
                        return None
                    index[axis] = window.source(axis - 2, int(start), min(int(end), 2**31), shape[axis])
                elif window is None and axis < len(shape):
                    index[axis] = slice(int(start), int(end), int(step))
            mask[tuple(index)] = True
            return mask
        if node.op_type == "Gather" and len(node.input) >= 2 and window is None:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            indices = np.asarray(constants[node.input[1]]).ravel()
            index_list: list[slice | np.ndarray] = [slice(None)] * len(shape)
            index_list[axis % len(shape)] = indices.astype(np.int64)
            mask[tuple(index_list)] = True
            return mask
    except (KeyError, IndexError, ValueError, TypeError):
        return None
    return None
