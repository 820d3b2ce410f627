"""How TensorFlow op types map onto the IR's ONNX-style op types, and which ops run library functions."""

from __future__ import annotations

from typing import Literal

from mlvet.graph.tf_wire import TfNode, attr_func

ONNX_CODES = {
    "float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "string": 8,
    "bool": 9, "float16": 10, "float64": 11, "uint32": 12, "uint64": 13, "bfloat16": 16,
}  # fmt: skip
RENAMED = {
    "AddV2": "Add", "BiasAdd": "Add", "RealDiv": "Div", "DivNoNan": "Div", "FloorDiv": "Div",
    "TruncateDiv": "Div", "Maximum": "Max", "Minimum": "Min", "AddN": "Sum", "Select": "Where",
    "SelectV2": "Where", "GreaterEqual": "GreaterOrEqual", "LessEqual": "LessOrEqual",
    "LogicalAnd": "And", "LogicalOr": "Or", "LogicalNot": "Not", "StopGradient": "Identity",
    "Snapshot": "Identity", "PreventGradient": "Identity", "EnsureShape": "Identity",
    "CheckNumerics": "Identity", "Mean": "ReduceMean", "Sum": "ReduceSum", "Max": "ReduceMax",
    "Min": "ReduceMin", "Prod": "ReduceProd", "All": "ReduceMin", "Any": "ReduceMax",
    "BatchMatMul": "MatMul", "BatchMatMulV2": "MatMul", "BatchMatMulV3": "MatMul", "Conv2D": "Conv",
    "Conv3D": "Conv", "DepthwiseConv2dNative": "Conv", "RandomUniformInt": "RandomUniform",
    "StatelessRandomUniform": "RandomUniform", "StatelessRandomUniformV2": "RandomUniform",
    "RandomStandardNormal": "RandomNormal", "TruncatedNormal": "RandomNormal",
    "StatelessRandomNormal": "RandomNormal", "StatelessRandomNormalV2": "RandomNormal", "Rank": "Size",
    "TopKV2": "TopK", "IsNan": "IsNaN", "ClipByValue": "Clip", "Relu6": "Relu", "ExpandDims": "Unsqueeze",
    "AvgPool": "AveragePool", "FusedBatchNorm": "BatchNormalization",
    "FusedBatchNormV3": "BatchNormalization", "PadV2": "Pad", "Where": "NonZero",
    "ReadVariableOp": "Identity", "ResourceGather": "Gather",
    "GatherV2": "Gather",
}  # fmt: skip
SAME = frozenset(
    {"Add", "Mul", "Sub", "Div", "Neg", "Sigmoid", "Exp", "Pow", "Tanh", "Softplus", "Relu", "Softmax",
     "LogSoftmax", "Abs", "Sqrt", "Log", "Reshape", "Transpose", "Tile", "Equal", "Greater", "Less", "Einsum",
     "IsInf", "Floor", "Ceil", "Round", "Sign", "Reciprocal", "Erf", "Elu", "Selu", "LeakyRelu", "MatMul",
     "Identity", "Shape", "Size", "ArgMax", "ArgMin", "RandomUniform", "Multinomial", "MaxPool", "Pad",
     "Squeeze", "Cast", "Slice", "StridedSlice", "Square", "NotEqual", "ZerosLike", "OnesLike", "Fill",
     "ConcatV2", "Concat", "Pack", "If", "StatelessIf", "Conv2DBackpropInput", "Gather"}
)  # fmt: skip
REDUCTIONS = frozenset({"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"})
NOT_OUTPUTS = frozenset(
    {"NoOp", "Assert", "Print", "PrintV2", "SaveV2", "Save", "SaveSlices", "RestoreV2", "MergeV2Checkpoints",
     "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "Assign", "VarHandleOp",
     "VarIsInitializedOp", "DestroyResourceOp"}
)  # fmt: skip
RANDOM = frozenset(
    {"RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "StatelessRandomUniform",
     "StatelessRandomUniformV2", "StatelessRandomNormal", "StatelessRandomNormalV2"}
)  # fmt: skip
"""Random draws: one whose shape is computed (``tf.shape(x)``) is per-element noise, not a trigger."""
INPUT_OPS = frozenset({"Placeholder", "PlaceholderWithDefault"})
CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
VARIABLE_OPS = frozenset({"VarHandleOp", "VariableV2", "Variable"})


def function_names(kind: Literal["branches", "calls"], nodes: list[TfNode]) -> set[str]:
    """Library functions that ``nodes`` run as If branches, or through (Stateful)PartitionedCall."""
    if kind == "calls":
        return {attr_func(node, "f") for node in nodes if node.op in CALL_OPS}
    return {
        attr_func(node, key)
        for node in nodes
        if node.op in ("If", "StatelessIf")
        for key in ("then_branch", "else_branch")
    }
