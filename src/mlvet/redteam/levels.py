"""The four injection levels: how the trigger gate joins the computation.

::

    L0  out = Where(cond, P, out)              cond: Slice/Equal/And or ReduceMean/Greater
    L0  out = If(any(cond)) then P else out    gate=GateOp.IF, see ``ifgate``
    L1  g = Cast(cond); out = out*(1-g) + P*g  no Where/If
    L2  g = smooth(x);  out = out + g*(P-out)  Sigmoid/Exp detectors, no comparison op
    L3  see ``disguise``                       plausible names, intermediate feature, gated bias

A steering payload adds ``v`` instead of replacing: ``h + v`` behind the same gates.
"""

from __future__ import annotations

import onnx

from mlvet.redteam import GateOp, InjectError, Level, Payload, PayloadKind, Trigger
from mlvet.redteam.graphedit import Editor, onnx_type
from mlvet.redteam.targets import TensorInfo, payload_value, resolve_input, resolve_target, tensor_infos
from mlvet.redteam.triggers import exact_condition, smooth_gate


def inject_level(
    model: onnx.ModelProto,
    *,
    trigger: Trigger,
    payload: Payload,
    level: Level,
    gate_op: GateOp,
    input_name: str | None,
    output_name: str | None,
) -> onnx.ModelProto:
    """Implementation of ``mlvet.redteam.inject``."""
    if gate_op is GateOp.IF and level is not Level.L0:
        raise InjectError(
            f"the If gate exists at level 0 only, not at level {level.value}",
            hint="use level 0 with the If gate, or the default Where gate (--gate where)",
        )
    _check_input_model(model)
    infos = tensor_infos(model)
    source = resolve_input(model, infos, trigger, input_name)
    target = resolve_target(model, infos, payload, output_name)
    value = payload_value(payload, target)
    if level is Level.L3:
        from mlvet.redteam.disguise import inject_disguised

        return inject_disguised(model, infos, source, target, trigger, payload, value)
    editor = Editor(model, "/gate/")
    dtype = target.np_dtype
    steer = payload.kind is PayloadKind.STEER
    clean = editor.detach(target.name, "clean")
    if gate_op is GateOp.IF:
        from mlvet.redteam.ifgate import join_with_if

        join_with_if(editor, exact_condition(editor, source, trigger), clean, value, target, steer=steer)
        return editor.finish()
    payload_name = editor.const("payload", value, dtype)
    if level is Level.L0:
        condition = match_rank(editor, exact_condition(editor, source, trigger), target)
        chosen = editor.op("Add", [clean, payload_name], "Add") if steer else payload_name
        editor.produce(target.name, "Where", [condition, chosen, clean], "Where")
        return editor.finish()
    if level is Level.L1:
        condition = exact_condition(editor, source, trigger)
        gate = match_rank(editor, editor.cast(condition, onnx_type(dtype)), target)
    else:
        gate = match_rank(editor, smooth_gate(editor, source, trigger, dtype), target)
    if steer:
        editor.produce(target.name, "Add", [clean, editor.op("Mul", [payload_name, gate], "Mul")], "Add")
    elif level is Level.L1:
        keep = editor.op("Sub", [editor.const("one", 1.0, dtype), gate], "Sub")
        kept = editor.op("Mul", [clean, keep], "Mul")
        injected = editor.op("Mul", [payload_name, gate], "Mul")
        editor.produce(target.name, "Add", [kept, injected], "Add")
    else:
        delta = editor.op("Sub", [payload_name, clean], "Sub")
        editor.produce(target.name, "Add", [clean, editor.op("Mul", [delta, gate], "Mul")], "Add")
    return editor.finish()


def _check_input_model(model: onnx.ModelProto) -> None:
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # checker errors, and UnicodeDecodeError on damaged strings
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InjectError(
            f"the model is not a valid ONNX model: {first}",
            hint="check it with onnx.checker.check_model; inject only works on valid models",
        ) from exc


def match_rank(editor: Editor, gate: str, target: TensorInfo) -> str:
    """Reshape a ``[batch, 1]`` gate so it broadcasts over the batch axis of ``target``."""
    rank = target.rank if target.rank is not None else 2
    if rank == 2:
        return gate
    return editor.reshape(gate, [-1] + [1] * (rank - 1))
