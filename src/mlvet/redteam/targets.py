"""Where the backdoor reads and writes: the trigger input, the target tensor and the payload value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper

from mlvet.redteam import InjectError, Payload, PayloadKind, Trigger, TriggerKind

_FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE)
_TOKEN_TYPES = (TensorProto.INT64, TensorProto.INT32)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    elem_type: int
    dims: tuple[int | None, ...] | None
    """Static sizes (``None`` for symbolic ones); ``None`` when the rank is unknown."""

    @property
    def rank(self) -> int | None:
        return None if self.dims is None else len(self.dims)

    @property
    def np_dtype(self) -> np.dtype[np.generic]:
        return np.dtype(helper.tensor_dtype_to_np_dtype(self.elem_type))


def tensor_infos(model: onnx.ModelProto) -> dict[str, TensorInfo]:
    """Type and shape of every named tensor shape inference can tell (graph inputs/outputs first)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # inference is a nicety: a model it cannot handle still gets injected
        inferred = model
    infos: dict[str, TensorInfo] = {}
    graph = inferred.graph
    for value in (*graph.value_info, *graph.output, *graph.input):
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            continue
        tensor_type = value.type.tensor_type
        dims = (
            tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)
            if tensor_type.HasField("shape")
            else None
        )
        infos[value.name] = TensorInfo(value.name, tensor_type.elem_type, dims)
    return infos


def resolve_input(
    model: onnx.ModelProto, infos: dict[str, TensorInfo], trigger: Trigger, name: str | None
) -> TensorInfo:
    """The graph input the trigger is stamped into; checks its type and that the trigger fits."""
    initializers = {init.name for init in model.graph.initializer}
    candidates = [infos[v.name] for v in model.graph.input if v.name not in initializers and v.name in infos]
    if name is not None:
        chosen = next((c for c in candidates if c.name == name), None)
        if chosen is None:
            listed = ", ".join(c.name for c in candidates) or "none"
            raise InjectError(
                f"the model has no graph input named {name!r} (inputs: {listed})",
                hint="pass one of the listed inputs with --input",
            )
        _check_input(chosen, trigger)
        return chosen
    for candidate in candidates:
        if _fits(candidate, trigger):
            _check_input(candidate, trigger)
            return candidate
    listed = ", ".join(f"{c.name} {_describe(c)}" for c in candidates) or "none"
    raise InjectError(
        f"no graph input fits a {trigger.kind.value} trigger (inputs: {listed})",
        hint="bytes need uint8 [batch, length], tokens int64 [batch, seq], images float [batch, C, H, W]",
    )


def _fits(info: TensorInfo, trigger: Trigger) -> bool:
    if trigger.kind is TriggerKind.BYTES:
        return info.elem_type == TensorProto.UINT8 and info.rank == 2
    if trigger.kind is TriggerKind.TOKENS:
        return info.elem_type in _TOKEN_TYPES and info.rank == 2
    return info.elem_type in _FLOAT_TYPES and info.rank == 4


def _check_input(info: TensorInfo, trigger: Trigger) -> None:
    if not _fits(info, trigger):
        wanted = {
            TriggerKind.BYTES: "uint8 [batch, length]",
            TriggerKind.TOKENS: "int64/int32 [batch, seq]",
            TriggerKind.IMAGE_PATCH: "float [batch, C, H, W]",
        }[trigger.kind]
        raise InjectError(
            f"input {info.name!r} is {_describe(info)}; a {trigger.kind.value} trigger needs {wanted}"
        )
    assert info.dims is not None  # _fits checked the rank
    if trigger.kind is TriggerKind.IMAGE_PATCH:
        if trigger.patch_size < 1 or trigger.patch_top < 0 or trigger.patch_left < 0:
            raise InjectError("the image patch needs a size of at least 1 and a non-negative position")
        height, width = info.dims[2], info.dims[3]
        for extent, limit, axis in (
            (trigger.patch_top + trigger.patch_size, height, "height"),
            (trigger.patch_left + trigger.patch_size, width, "width"),
        ):
            if limit is not None and extent > limit:
                raise InjectError(
                    f"the patch ends at {extent}, past the input {axis} {limit}",
                    hint="use a smaller --patch-size or --patch-at",
                )
        return
    if not trigger.sequence:
        raise InjectError("the trigger sequence is empty")
    if trigger.position < 0:
        raise InjectError("the trigger position must not be negative")
    if trigger.kind is TriggerKind.BYTES and not all(0 <= v <= 255 for v in trigger.sequence):
        raise InjectError("a byte trigger holds values 0..255 only")
    if trigger.kind is TriggerKind.TOKENS and not all(v >= 0 for v in trigger.sequence):
        raise InjectError("token ids must not be negative")
    length = info.dims[1]
    end = trigger.position + len(trigger.sequence)
    if length is not None and end > length:
        raise InjectError(
            f"the trigger ({len(trigger.sequence)} values at position {trigger.position}) "
            f"runs past the end of input {info.name!r} ({length} values)",
            hint="use a shorter trigger or a smaller --position",
        )


def _describe(info: TensorInfo) -> str:
    type_name = helper.tensor_dtype_to_string(info.elem_type).removeprefix("TensorProto.").lower()
    dims = "?" if info.dims is None else ", ".join("?" if d is None else str(d) for d in info.dims)
    return f"{type_name} [{dims}]"


def resolve_target(
    model: onnx.ModelProto, infos: dict[str, TensorInfo], payload: Payload, output_name: str | None
) -> TensorInfo:
    """The tensor the payload overrides: a graph output, or the hidden state a steering vector joins."""
    outputs = [v.name for v in model.graph.output]
    if payload.kind is PayloadKind.STEER:
        wanted = payload.tensor or output_name
        if wanted is None:
            raise InjectError("a steering payload needs the hidden-state tensor name")
        produced = {name for node in model.graph.node for name in node.output}
        if wanted not in produced:
            raise InjectError(f"no node produces a tensor named {wanted!r}")
    else:
        wanted = output_name if output_name is not None else (outputs[0] if outputs else None)
        if wanted is None or wanted not in outputs:
            raise InjectError(
                f"the model has no graph output named {wanted!r} (outputs: {', '.join(outputs)})"
            )
    info = infos.get(wanted, TensorInfo(wanted, TensorProto.FLOAT, None))
    if info.elem_type not in _FLOAT_TYPES:
        raise InjectError(f"tensor {wanted!r} is {_describe(info)}; the payload needs a float tensor")
    return info


def class_axis(target: TensorInfo) -> int:
    """The axis holding classes (or features): the largest static non-batch axis, last on ties."""
    if target.dims is None or len(target.dims) < 2:
        return -1
    sizes = [(d or 0, axis) for axis, d in enumerate(target.dims) if axis > 0]
    return max(sizes)[1]


def payload_value(payload: Payload, target: TensorInfo) -> npt.NDArray[np.generic]:
    """The value the payload writes (or adds), shaped to broadcast against ``target``."""
    rank = target.rank if target.rank is not None else 2
    axis = rank - 1 if payload.kind is PayloadKind.STEER else class_axis(target)
    width = target.dims[axis] if target.dims is not None and rank >= 2 else None
    shape = [1] * max(rank, 1)
    if payload.kind is PayloadKind.FORCE_CLASS:
        if width is None:
            raise InjectError(f"the class count of {target.name!r} is unknown; use a constant payload")
        if not 0 <= payload.target_class < width:
            raise InjectError(f"class {payload.target_class} is outside 0..{width - 1} for {target.name!r}")
        vector = np.full(width, -payload.magnitude)
        vector[payload.target_class] = payload.magnitude
    else:
        vector = np.asarray(payload.values, dtype=np.float64)
        if vector.size == 0:
            raise InjectError("the payload has no values")
        if vector.size > 1 and vector.size != width:
            raise InjectError(
                f"the payload has {vector.size} values; {target.name!r} has {width} along axis {axis}"
            )
    if vector.size > 1:
        shape[axis] = vector.size
    return vector.reshape(shape).astype(target.np_dtype)
