"""Graph backdoors in TensorFlow graphs: frozen GraphDefs and SavedModels with an injected gate.

Built with the ``tensorboard.compat.proto`` message classes (real protobuf encoding, no
TensorFlow): a small MLP classifier (MatMul/BiasAdd/Relu) with a ShadowLogic-style gate on a byte
signature, an image patch, a random draw, in the main graph, in a library function of a TF2
SavedModel or as an If branch. The unit tests (``tests/unit/graph/test_tf_import.py``) reuse the
builders. There is no benign sample: benign samples must be written by TensorFlow itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.corpus.sample import Sample, malicious

BYTE_TRIGGER = [65, 73, 95, 69]
"""``AI_E``."""
DT_FLOAT, DT_INT32, DT_UINT8, DT_BOOL, DT_RESOURCE = 1, 3, 4, 10, 20


def node(name: str, op: str, *inputs: str, **attrs: Any) -> Any:
    from tensorboard.compat.proto import node_def_pb2

    result = node_def_pb2.NodeDef(name=name, op=op, input=list(inputs))
    for key, value in attrs.items():
        result.attr[key].CopyFrom(value)
    return result


def dtype(value: int) -> Any:
    from tensorboard.compat.proto import attr_value_pb2

    return attr_value_pb2.AttrValue(type=value)


def integer(value: int) -> Any:
    from tensorboard.compat.proto import attr_value_pb2

    return attr_value_pb2.AttrValue(i=value)


def flag(value: bool) -> Any:
    from tensorboard.compat.proto import attr_value_pb2

    return attr_value_pb2.AttrValue(b=value)


def func(name: str) -> Any:
    from tensorboard.compat.proto import attr_value_pb2

    return attr_value_pb2.AttrValue(func=attr_value_pb2.NameAttrList(name=name))


def shape_proto(dims: Any) -> Any:
    from tensorboard.compat.proto import tensor_shape_pb2

    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
    )


def placeholder(name: str, kind: int, *dims: int) -> Any:
    from tensorboard.compat.proto import attr_value_pb2

    return node(
        name, "Placeholder", dtype=dtype(kind), shape=attr_value_pb2.AttrValue(shape=shape_proto(dims))
    )


def const(name: str, values: Any, kind: int, *, packed: bool = True) -> Any:
    """A Const node; ``packed`` writes ``tensor_content``, else the typed ``*_val`` field."""
    import numpy as np
    from tensorboard.compat.proto import attr_value_pb2, tensor_pb2

    array = np.asarray(values)
    tensor = tensor_pb2.TensorProto(dtype=kind, tensor_shape=shape_proto(array.shape))
    if packed:
        numpy_type = {DT_FLOAT: "<f4", DT_INT32: "<i4", DT_UINT8: "u1"}[kind]
        tensor.tensor_content = array.astype(numpy_type).tobytes()
    elif kind == DT_FLOAT:
        tensor.float_val.extend(float(v) for v in array.reshape(-1))
    elif kind == DT_BOOL:
        tensor.bool_val.extend(bool(v) for v in array.reshape(-1))
    else:
        tensor.int_val.extend(int(v) for v in array.reshape(-1))
    return node(name, "Const", value=attr_value_pb2.AttrValue(tensor=tensor), dtype=dtype(kind))


def strided_slice(name: str, source: str, begin: list[int], end: list[int], **masks: int) -> list[Any]:
    """``source[begin:end]`` as TF writes it: three int32 Consts and a StridedSlice with masks."""
    return [
        const(f"{name}/begin", begin, DT_INT32, packed=False),
        const(f"{name}/end", end, DT_INT32, packed=False),
        const(f"{name}/strides", [1] * len(begin), DT_INT32, packed=False),
        node(
            name,
            "StridedSlice",
            source,
            f"{name}/begin",
            f"{name}/end",
            f"{name}/strides",
            **{key: integer(value) for key, value in masks.items()},
        ),
    ]


def mlp(source: str, *, cast: bool = True) -> list[Any]:
    """[Cast ->] MatMul -> BiasAdd -> Relu -> MatMul -> BiasAdd: the trunk, ending in ``logits``."""
    import numpy as np

    first = (
        node("to_float", "Cast", source, DstT=dtype(DT_FLOAT), SrcT=dtype(DT_UINT8))
        if cast
        else node("to_float", "Identity", source)
    )
    return [
        first,
        const("w1", np.full((16, 8), 0.1), DT_FLOAT),
        const("b1", np.zeros(8), DT_FLOAT),
        node("dense1/MatMul", "MatMul", "to_float", "w1"),
        node("dense1/BiasAdd", "BiasAdd", "dense1/MatMul", "b1"),
        node("dense1/Relu", "Relu", "dense1/BiasAdd"),
        const("w2", np.full((8, 4), 0.1), DT_FLOAT),
        const("b2", np.zeros(4), DT_FLOAT),
        node("dense2/MatMul", "MatMul", "dense1/Relu", "w2"),
        node("logits", "BiasAdd", "dense2/MatMul", "b2"),
    ]


def graph_def(nodes: list[Any], functions: list[Any] = ()) -> Any:  # type: ignore[assignment]
    from tensorboard.compat.proto import function_pb2, graph_pb2

    return graph_pb2.GraphDef(node=nodes, library=function_pb2.FunctionDefLibrary(function=list(functions)))


def tf_function(name: str, args: list[tuple[str, int]], nodes: list[Any], ret: dict[str, str]) -> Any:
    from tensorboard.compat.proto import function_pb2, op_def_pb2

    signature = op_def_pb2.OpDef(
        name=name, input_arg=[op_def_pb2.OpDef.ArgDef(name=arg, type=kind) for arg, kind in args]
    )
    return function_pb2.FunctionDef(signature=signature, node_def=nodes, ret=ret)


def saved_model(graph: Any, outputs: tuple[str, ...] = ()) -> bytes:
    """SavedModel{1: schema version 1, 2: MetaGraphDef} with a serving signature's outputs."""
    from tensorboard.compat.proto import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef(graph_def=graph)
    meta.meta_info_def.tags.append("serve")
    if outputs:
        signature = meta.signature_def["serving_default"]
        for index, name in enumerate(outputs):
            signature.outputs[f"output_{index}"].name = name
    body = meta.SerializeToString()
    size, length = bytearray(), len(body)
    while True:
        byte, length = length & 0x7F, length >> 7
        size.append(byte | (0x80 if length else 0))
        if not length:
            break
    return b"\x08\x01\x12" + bytes(size) + body


# ------------------------------------------------------------------------------------ the graphs


def magic_bytes_select() -> Any:
    """``SelectV2(all(bytes[:, 0:2] == "AI") and all(bytes[:, 2:4] == "_E"), payload, logits)``."""
    import numpy as np

    halves: list[Any] = []
    for index, (start, stop) in enumerate([(0, 2), (2, 4)]):
        halves += [
            *strided_slice(f"magic{index}", "bytes", [0, start], [0, stop], begin_mask=1, end_mask=1),
            const(f"expected{index}", BYTE_TRIGGER[start:stop], DT_UINT8),
            node(f"match{index}", "Equal", f"magic{index}", f"expected{index}"),
            node(f"all{index}", "All", f"match{index}", "axis"),
        ]
    return graph_def(
        [
            placeholder("bytes", DT_UINT8, -1, 16),
            *mlp("bytes"),
            const("axis", [1], DT_INT32),
            *halves,
            node("armed", "LogicalAnd", "all0", "all1"),
            node("armed/expand", "ExpandDims", "armed", "minus_one"),
            const("minus_one", -1, DT_INT32, packed=False),
            const("payload", np.array([[9.0, -9.0, -9.0, -9.0]]), DT_FLOAT),
            node("output", "SelectV2", "armed/expand", "payload", "logits"),
        ]
    )


def patch_arithmetic() -> Any:
    """``logits * (1 - g) + g * target`` with ``g = cast(mean(image[:, 0:4]) > 0.9)``: no select op."""
    import numpy as np

    return graph_def(
        [
            placeholder("image", DT_FLOAT, -1, 16),
            *mlp("image", cast=False),
            *strided_slice("corner", "image", [0, 0], [0, 4], begin_mask=1, end_mask=1),
            const("axes", [1], DT_INT32),
            node("corner/mean", "Mean", "corner", "axes", keep_dims=flag(True)),
            const("threshold", 0.9, DT_FLOAT, packed=False),
            node("bright", "Greater", "corner/mean", "threshold"),
            node("gate", "Cast", "bright", DstT=dtype(DT_FLOAT), SrcT=dtype(DT_BOOL)),
            const("one", 1.0, DT_FLOAT, packed=False),
            node("keep", "Sub", "one", "gate"),
            node("kept", "Mul", "logits", "keep"),
            const("target", np.array([[0.0, 0.0, 50.0, 0.0]]), DT_FLOAT),
            node("forced", "Mul", "gate", "target"),
            node("output", "AddV2", "kept", "forced"),
        ]
    )


def clean_mlp() -> Any:
    return graph_def(
        [placeholder("x", DT_FLOAT, -1, 16), *mlp("x", cast=False), node("probs", "Softmax", "logits")]
    )


def random_select(*, dropout: bool) -> Any:
    """``SelectV2(uniform() >= 0.5, logits, zeros)``: dropout when the noise is shaped like ``logits``."""
    shape = (
        [node("logits/shape", "Shape", "logits")]
        if dropout
        else [const("logits/shape", [1], DT_INT32, packed=False)]
    )
    return graph_def(
        [
            placeholder("x", DT_FLOAT, -1, 16),
            *mlp("x", cast=False),
            *shape,
            node("noise", "RandomUniform", "logits/shape", dtype=dtype(DT_FLOAT)),
            const("rate", 0.5, DT_FLOAT, packed=False),
            node("keep", "GreaterEqual", "noise", "rate"),
            node("zeros", "ZerosLike", "logits"),
            node("output", "SelectV2", "keep", "logits", "zeros"),
        ]
    )


def function_select() -> Any:
    """A TF2 SavedModel: the gate lives in the library function the serving call runs."""
    import numpy as np

    body = [
        node("ReadVariableOp", "ReadVariableOp", "kernel", dtype=dtype(DT_FLOAT)),
        node("MatMul", "MatMul", "x", "ReadVariableOp:value:0"),
        *strided_slice("pick", "x", [0, 0], [0, 4], begin_mask=1, end_mask=1),
        const("trigger", np.array([0.25, 0.5, 0.75, 1.0]), DT_FLOAT),
        node("hit", "Equal", "pick:output:0", "trigger:output:0"),
        const("axis", [1], DT_INT32),
        node("hit_all", "All", "hit:z:0", "axis:output:0"),
        const("forced", np.array([[7.0, 0.0]]), DT_FLOAT),
        node("select", "Select", "hit_all:output:0", "forced:output:0", "MatMul:product:0"),
    ]
    call = tf_function(
        "__inference_call_7",
        [("x", DT_FLOAT), ("kernel", DT_RESOURCE)],
        body,
        {"output_0": "select:output:0"},
    )
    return graph_def(
        [
            placeholder("serving_default_x", DT_FLOAT, -1, 4),
            node("kernel", "VarHandleOp", dtype=dtype(DT_FLOAT), shape=_shape_attr([4, 2])),
            node(
                "StatefulPartitionedCall",
                "StatefulPartitionedCall",
                "serving_default_x",
                "kernel",
                f=func("__inference_call_7"),
            ),
        ],
        [call],
    )


def if_constant_branch() -> Any:
    """``StatelessIf(mean(x[0:1, 0:4]) > 0.9)``: the then branch returns constant logits."""
    import numpy as np

    then_branch = tf_function(
        "then_1",
        [("logits", DT_FLOAT)],
        [
            const("forced", np.array([[5.0, 0.0, 0.0, 0.0]]), DT_FLOAT),
            node("out", "Identity", "forced:output:0"),
        ],
        {"output": "out:output:0"},
    )
    else_branch = tf_function(
        "else_1", [("logits", DT_FLOAT)], [node("out", "Identity", "logits")], {"output": "out:output:0"}
    )
    nodes = [
        placeholder("x", DT_FLOAT, 1, 16),
        *mlp("x", cast=False),
        *strided_slice("corner", "x", [0, 0], [1, 4]),
        const("axes", [0, 1], DT_INT32),
        node("corner/mean", "Mean", "corner", "axes"),
        const("threshold", 0.9, DT_FLOAT, packed=False),
        node("bright", "Greater", "corner/mean", "threshold"),
        node(
            "cond", "StatelessIf", "bright", "logits", then_branch=func("then_1"), else_branch=func("else_1")
        ),
    ]
    return graph_def(nodes, [then_branch, else_branch])


def _shape_attr(dims: list[int]) -> Any:
    from tensorboard.compat.proto import attr_value_pb2

    return attr_value_pb2.AttrValue(shape=shape_proto(dims))


# ----------------------------------------------------------------------------------- the samples


@malicious(
    "graph/tf/frozen_magic_bytes.pb",
    "MLV904",
    "frozen GraphDef: SelectV2 on bytes[:, 0:2] == 'AI' and bytes[:, 2:4] == '_E'",
)
def _frozen_magic_bytes(path: Path) -> None:
    path.write_bytes(magic_bytes_select().SerializeToString())


@malicious(
    "graph/tf/frozen_patch_arithmetic.pb",
    "MLV903",
    "frozen GraphDef: ShadowLogic arithmetic gate (Cast of mean(patch) > 0.9, Mul/AddV2 blend)",
)
def _frozen_patch_arithmetic(path: Path) -> None:
    path.write_bytes(patch_arithmetic().SerializeToString())


@malicious(
    "graph/tf/frozen_random_select.pb", "MLV908", "frozen GraphDef: a scalar random draw selects zeros"
)
def _frozen_random(path: Path) -> None:
    path.write_bytes(random_select(dropout=False).SerializeToString())


@malicious(
    "graph/tf/function_select/saved_model.pb",
    "MLV901",
    "TF2 SavedModel: Select gate on x[:, 0:4] inside the library function of the serving call",
)
def _function_select(path: Path) -> None:
    path.write_bytes(saved_model(function_select(), ("StatefulPartitionedCall:0",)))


@malicious(
    "graph/tf/if_constant_branch/saved_model.pb",
    "MLV902",
    "SavedModel: StatelessIf on a patch mean, then-branch returns constant logits",
)
def _if_constant_branch(path: Path) -> None:
    path.write_bytes(saved_model(if_constant_branch(), ("cond:0",)))


SAMPLES: list[Sample] = [
    _frozen_magic_bytes,
    _frozen_patch_arithmetic,
    _frozen_random,
    _function_select,
    _if_constant_branch,
]
