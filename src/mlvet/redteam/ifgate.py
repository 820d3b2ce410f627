"""The L0 ``If`` variant: one scalar condition for the whole batch switches to the payload branch.

::

    cond [batch, 1] ─ Cast(float) ─ ReduceMax(all axes) ─ Cast(bool) ─► fire   (scalar)
    If(fire)
      then_branch: Constant(P)                     (steer: Add(clean, Constant(v)))
      else_branch: Identity(clean)                 captures the outer tensor
    out = Expand(If, Shape(clean))                 (steer: out = If)

An ``If`` takes one boolean for the whole batch, so the per-sample condition is reduced with
``ReduceMax``: with a batch of several rows, the payload replaces every row's output as soon as any
row carries the trigger. ``Expand`` broadcasts the payload to the clean output's shape and leaves
the clean output as it is. The payload branch reads nothing from the outer graph (except for a
steering vector, which is added to the hidden state it captures).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlvet.redteam.graphedit import Editor
from mlvet.redteam.targets import TensorInfo


def join_with_if(
    editor: Editor,
    condition: str,
    clean: str,
    value: npt.NDArray[np.generic],
    target: TensorInfo,
    *,
    steer: bool,
) -> None:
    """Make ``target.name`` the output of an ``If`` on ``any(condition)`` (payload) else ``clean``."""
    fire = any_row(editor, condition)
    elem_type = target.elem_type
    constant = _constant_node(editor, _one_row(value, target))
    if steer:
        shifted = editor.fresh("then_output_0")
        add = helper.make_node("Add", [clean, constant.output[0]], [shifted], name=editor.fresh("then_Add"))
        then_branch = _branch(editor, "then_branch", [constant, add], shifted, elem_type)
    else:
        then_branch = _branch(editor, "then_branch", [constant], constant.output[0], elem_type)
    passed = editor.fresh("else_output_0")
    identity = helper.make_node("Identity", [clean], [passed], name=editor.fresh("else_Identity"))
    else_branch = _branch(editor, "else_branch", [identity], passed, elem_type)
    if steer:  # both branches have the hidden state's shape
        editor.produce(target.name, "If", [fire], "If", then_branch=then_branch, else_branch=else_branch)
        return
    selected = editor.op("If", [fire], "If", then_branch=then_branch, else_branch=else_branch)
    shape = editor.op("Shape", [clean], "Shape")
    editor.produce(target.name, "Expand", [selected, shape], "Expand")


def any_row(editor: Editor, condition: str) -> str:
    """Scalar bool: true when any row's ``[batch, 1]`` condition holds (Cast, ReduceMax, Cast)."""
    as_number = editor.cast(condition, TensorProto.FLOAT)
    highest = editor.reduce("ReduceMax", as_number, [0, 1], keepdims=0)
    return editor.cast(highest, TensorProto.BOOL)


def _one_row(value: npt.NDArray[np.generic], target: TensorInfo) -> npt.NDArray[np.generic]:
    """The payload broadcast to one row of ``target`` when its other sizes are static.

    Shape inference merges the two branches' output shapes (strictly before opset 11), so the
    payload branch gives ``[1, C, ...]`` rather than a ``[1, 1]`` constant that broadcasts.
    """
    if target.dims is None or len(target.dims) != value.ndim or any(d is None for d in target.dims[1:]):
        return value
    row = tuple(int(d or 1) for d in target.dims[1:])
    return np.broadcast_to(value, (1, *row)).copy()


def _constant_node(editor: Editor, value: npt.NDArray[np.generic]) -> onnx.NodeProto:
    output = editor.fresh("then_payload")
    tensor = numpy_helper.from_array(np.asarray(value), editor.fresh("then_payload_value"))
    return helper.make_node("Constant", [], [output], name=editor.fresh("then_Constant"), value=tensor)


def _branch(
    editor: Editor, hint: str, nodes: list[onnx.NodeProto], output: str, elem_type: int
) -> onnx.GraphProto:
    """A subgraph with no inputs and one output of ``elem_type`` (shape left to the runtime)."""
    result = helper.make_tensor_value_info(output, elem_type, None)
    return helper.make_graph(nodes, editor.fresh(hint), [], [result])
