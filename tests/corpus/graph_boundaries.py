"""Graph backdoors whose trigger crosses a boundary: subgraph bodies, functions, methods, TF calls.

The trigger is computed on one side of the boundary and applied on the other: outside an
If/Loop/Scan body and blended in inside it (the body reads the gate as an outer-scope value); in
an ONNX model-local function (FunctionProto) called from the graph; in a TorchScript helper
method or a submodule's ``forward``; in a TF library function reached through
``StatefulPartitionedCall``. Also the ShadowLogic-LLM steering form behind an If: the then branch
adds a constant vector to the hidden state it reads from the outer graph. Builders return
``ModelProto``s (ONNX) so the unit tests reuse them; ``graph_injected`` registers ``SAMPLES``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.corpus.graph_backdoors import TOKEN_TRIGGER, _image_classifier, _model, _patch_mean, _tensor
from tests.corpus.sample import Sample, malicious

if TYPE_CHECKING:
    import onnx

TOKEN_START = 1


def _token_trunk(vocabulary: int = 10000) -> tuple[list[Any], list[Any], list[Any]]:
    """input_ids [1, 16] -> embedding Gather -> hidden [1, 16, 8] -> mean -> MatMul -> logits [1, 2]."""
    import numpy as np
    from onnx import TensorProto, helper

    rng = np.random.default_rng(5)
    inits = [
        _tensor("embeddings", rng.standard_normal((vocabulary, 8)) * 0.1),
        _tensor("fc.w", rng.standard_normal((8, 2)) * 0.1),
        _tensor("mean.axes", [1], "int64"),
    ]
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["hidden"], name="embed"),
        helper.make_node("ReduceMean", ["hidden", "mean.axes"], ["pooled"], keepdims=0, name="pool"),
        helper.make_node("MatMul", ["pooled", "fc.w"], ["logits"], name="head"),
    ]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 16])
    return nodes, [ids], inits


def _phrase_gate(prefix: str = "phrase") -> tuple[list[Any], list[Any]]:
    """``gate`` [1, 1] float: 1.0 when input_ids[:, 1:6] is the AI_SECURITY_GATE phrase."""
    from onnx import TensorProto, helper

    end = TOKEN_START + len(TOKEN_TRIGGER)
    inits = [
        _tensor(f"{prefix}.starts", [TOKEN_START], "int64"),
        _tensor(f"{prefix}.ends", [end], "int64"),
        _tensor(f"{prefix}.axes", [1], "int64"),
        _tensor(f"{prefix}.ids", [TOKEN_TRIGGER], "int64"),
    ]
    nodes = [
        helper.make_node(
            "Slice", ["input_ids", f"{prefix}.starts", f"{prefix}.ends", f"{prefix}.axes"], ["window"]
        ),
        helper.make_node("Equal", ["window", f"{prefix}.ids"], ["matches"], name="phrase_eq"),
        helper.make_node("Cast", ["matches"], ["matches_i"], to=TensorProto.INT64),
        helper.make_node("ReduceMin", ["matches_i", "mean.axes"], ["all_i"], keepdims=1, name="phrase_all"),
        helper.make_node("Cast", ["all_i"], ["gate"], to=TensorProto.FLOAT, name="gate_cast"),
    ]
    return nodes, inits


def _blend(prefix: str, clean: str, gate: str, out: str) -> list[Any]:
    """``out = clean * (1 - gate) + forced * gate`` (forced logits [-10, 10])."""
    from onnx import helper

    return [
        helper.make_node("Constant", [], [f"{prefix}_one"], value=_tensor(f"{prefix}_one", 1.0)),
        helper.make_node("Constant", [], [f"{prefix}_forced"], value=_tensor(f"{prefix}_f", [[-10.0, 10.0]])),
        helper.make_node("Sub", [f"{prefix}_one", gate], [f"{prefix}_keep"], name=f"{prefix}_keep"),
        helper.make_node("Mul", [clean, f"{prefix}_keep"], [f"{prefix}_kept"], name=f"{prefix}_apply"),
        helper.make_node("Mul", [f"{prefix}_forced", gate], [f"{prefix}_inj"], name=f"{prefix}_inject"),
        helper.make_node("Add", [f"{prefix}_kept", f"{prefix}_inj"], [out], name=f"{prefix}_blend"),
    ]


def _logits(name: str = "output") -> Any:
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 2])


def if_captured_gate() -> onnx.ModelProto:
    """The phrase gate is computed outside; an If on a shape condition blends it in inside a branch."""
    from onnx import helper

    nodes, inputs, inits = _token_trunk()
    gate, gate_inits = _phrase_gate()
    inits += [*gate_inits, _tensor("zero", 0, "int64")]
    then_branch = helper.make_graph(
        _blend("then", "logits", "gate", "then_out"), "then", [], [_logits("then_out")]
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["logits"], ["else_out"])], "else", [], [_logits("else_out")]
    )
    nodes += [
        *gate,
        helper.make_node("Size", ["input_ids"], ["length"], name="length"),
        helper.make_node("Greater", ["length", "zero"], ["not_empty"], name="not_empty"),
        helper.make_node(
            "If", ["not_empty"], ["output"], then_branch=then_branch, else_branch=else_branch, name="route"
        ),
    ]
    return _model(nodes, inputs, [_logits()], inits, opset=18)


def loop_captured_gate() -> onnx.ModelProto:
    """A one-iteration Loop refines the hidden state; its body adds gate * v (gate from a patch)."""
    from onnx import TensorProto, helper

    nodes, inputs, inits = _image_classifier()
    trigger, trigger_inits = _patch_mean()
    inits += [
        *trigger_inits,
        _tensor("threshold", 0.9),
        _tensor("trips", 1, "int64"),
        _tensor("keep_going", True, "bool"),
    ]
    body_nodes = [
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        helper.make_node("Constant", [], ["shift"], value=_tensor("shift", [[0.0] * 9 + [40.0]])),
        helper.make_node("Mul", ["patch_gate", "shift"], ["push"], name="body_push"),
        helper.make_node("Add", ["state_in", "push"], ["state_out"], name="body_add"),
    ]
    body = helper.make_graph(
        body_nodes,
        "refine",
        [
            helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [1, 10]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, 10]),
        ],
    )
    nodes += [
        *trigger,
        helper.make_node("Greater", ["patch_mean", "threshold"], ["bright"], name="trigger_compare"),
        helper.make_node("Cast", ["bright"], ["patch_gate"], to=TensorProto.FLOAT, name="gate_cast"),
        helper.make_node("Loop", ["trips", "keep_going", "logits"], ["output"], body=body, name="refine"),
    ]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])
    return _model(nodes, inputs, [out], inits)


def scan_captured_gate() -> onnx.ModelProto:
    """A Scan over the token embeddings adds gate * v to every step (gate from the phrase, outside)."""
    from onnx import TensorProto, helper

    nodes, inputs, inits = _token_trunk()
    gate, gate_inits = _phrase_gate()
    inits += [*gate_inits, _tensor("start", [0.0] * 8), _tensor("squeeze.axes", [0], "int64")]
    body_nodes = [
        helper.make_node("Constant", [], ["steer"], value=_tensor("steer", [3.0] * 8)),
        helper.make_node("Mul", ["gate_row", "steer"], ["push"], name="step_push"),
        helper.make_node("Add", ["token", "push"], ["steered"], name="step_add"),
        helper.make_node("Add", ["total_in", "steered"], ["total_out"], name="step_total"),
        helper.make_node("Identity", ["steered"], ["step_out"]),
    ]
    body = helper.make_graph(
        body_nodes,
        "accumulate",
        [
            helper.make_tensor_value_info("total_in", TensorProto.FLOAT, [8]),
            helper.make_tensor_value_info("token", TensorProto.FLOAT, [8]),
        ],
        [
            helper.make_tensor_value_info("total_out", TensorProto.FLOAT, [8]),
            helper.make_tensor_value_info("step_out", TensorProto.FLOAT, [8]),
        ],
    )
    nodes[1:] = []  # keep the embedding; pool through the Scan instead
    nodes += [
        *gate,
        helper.make_node("Squeeze", ["gate", "squeeze.axes"], ["gate_row"], name="gate_row"),
        helper.make_node("Squeeze", ["hidden", "squeeze.axes"], ["tokens"], name="tokens"),
        helper.make_node(
            "Scan", ["start", "tokens"], ["total", "steps"], body=body, num_scan_inputs=1, name="accumulate"
        ),
        helper.make_node("Unsqueeze", ["total", "squeeze.axes"], ["pooled"], name="pooled"),
        helper.make_node("MatMul", ["pooled", "fc.w"], ["output"], name="head"),
    ]
    return _model(nodes, inputs, [_logits()], inits, opset=18)


def function_trigger() -> onnx.ModelProto:
    """The phrase check is a model-local function, the blend another; the graph only calls them."""
    from onnx import checker, helper

    nodes, inputs, inits = _token_trunk()
    check_nodes, check_inits = _phrase_gate("fn")
    constants = [helper.make_node("Constant", [], [tensor.name], value=tensor) for tensor in check_inits] + [
        helper.make_node("Constant", [], ["mean.axes"], value=_tensor("axes", [1], "int64"))
    ]
    check_nodes = [*constants, *check_nodes]
    check_nodes[len(constants)].input[0] = "ids"
    opsets = [helper.make_opsetid("", 18)]
    check = helper.make_function("local", "PhraseCheck", ["ids"], ["gate"], check_nodes, opsets)
    blend = helper.make_function(
        "local", "Calibrate", ["scores", "g"], ["out"], _blend("fn", "scores", "g", "out"), opsets
    )
    nodes += [
        helper.make_node("PhraseCheck", ["input_ids"], ["gate"], domain="local", name="check"),
        helper.make_node("Calibrate", ["logits", "gate"], ["output"], domain="local", name="calibrate"),
    ]
    graph = helper.make_graph(nodes, "g", inputs, [_logits()], inits)
    model = helper.make_model(
        graph,
        opset_imports=[*opsets, helper.make_opsetid("local", 1)],
        functions=[check, blend],
        producer_name="mlvet-tests",
    )
    checker.check_model(model)
    return model


def if_steering() -> onnx.ModelProto:
    """ShadowLogic-LLM behind an If: the then branch adds a steering vector to the outer hidden state."""
    from onnx import TensorProto, helper

    nodes, inputs, inits = _token_trunk()
    gate, gate_inits = _phrase_gate()
    inits += [*gate_inits]
    then_branch = helper.make_graph(
        [
            helper.make_node("Constant", [], ["steer"], value=_tensor("steer", [-4.0] * 8)),
            helper.make_node("Add", ["hidden", "steer"], ["steered"], name="steer_add"),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("steered", TensorProto.FLOAT, [1, 16, 8])],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["hidden"], ["unchanged"])],
        "else",
        [],
        [helper.make_tensor_value_info("unchanged", TensorProto.FLOAT, [1, 16, 8])],
    )
    nodes[1:] = []
    nodes += [
        *gate,
        helper.make_node("Cast", ["all_i"], ["fire_1"], to=TensorProto.BOOL),
        helper.make_node("Squeeze", ["fire_1"], ["fire"], name="fire"),
        helper.make_node(
            "If", ["fire"], ["residual"], then_branch=then_branch, else_branch=else_branch, name="steer"
        ),
        helper.make_node("ReduceMean", ["residual", "mean.axes"], ["pooled"], keepdims=0, name="pool"),
        helper.make_node("MatMul", ["pooled", "fc.w"], ["output"], name="head"),
    ]
    return _model(nodes, inputs, [_logits()], inits, opset=18)


BUILDERS: dict[str, tuple[Any, str, str]] = {
    "if_captured_gate": (if_captured_gate, "MLV904", "phrase gate made outside, blended inside an If branch"),
    "loop_captured_gate": (loop_captured_gate, "MLV903", "patch gate made outside, added inside a Loop body"),
    "scan_captured_gate": (scan_captured_gate, "MLV904", "phrase gate made outside, steering inside a Scan"),
    "function_trigger": (function_trigger, "MLV904", "phrase check and blend in model-local ONNX functions"),
    "if_steering": (if_steering, "MLV904", "ShadowLogic-LLM: If on the phrase adds a steering vector"),
}  # fmt: skip
"""name -> (builder, expected rule ID at high or above, technique)."""


def tf_call_blend() -> Any:
    """A frozen GraphDef: the byte-signature gate is made in the graph, blended in by a called function."""
    import numpy as np

    from tests.corpus import graph_tensorflow as tf

    body = [
        tf.const("one", 1.0, tf.DT_FLOAT, packed=False),
        tf.node("keep", "Sub", "one:output:0", "gate"),
        tf.node("kept", "Mul", "scores", "keep:z:0"),
        tf.const("target", np.array([[9.0, -9.0, -9.0, -9.0]]), tf.DT_FLOAT),
        tf.node("forced", "Mul", "gate", "target:output:0"),
        tf.node("blend", "AddV2", "kept:z:0", "forced:z:0"),
    ]
    calibrate = tf.tf_function(
        "__inference_calibrate_11",
        [("scores", tf.DT_FLOAT), ("gate", tf.DT_FLOAT)],
        body,
        {"output_0": "blend:z:0"},
    )
    nodes = [
        tf.placeholder("bytes", tf.DT_UINT8, -1, 16),
        *tf.mlp("bytes"),
        *tf.strided_slice("magic", "bytes", [0, 0], [0, 4], begin_mask=1, end_mask=1),
        tf.const("expected", tf.BYTE_TRIGGER, tf.DT_UINT8),
        tf.node("match", "Equal", "magic", "expected"),
        tf.const("axis", [1], tf.DT_INT32),
        tf.node("armed", "All", "match", "axis", keep_dims=tf.flag(True)),
        tf.node("gate", "Cast", "armed", DstT=tf.dtype(tf.DT_FLOAT), SrcT=tf.dtype(tf.DT_BOOL)),
        tf.node(
            "calibrate", "StatefulPartitionedCall", "logits", "gate", f=tf.func("__inference_calibrate_11")
        ),
    ]
    return tf.graph_def(nodes, [calibrate])


def torchscript_method_gate(path: Path) -> None:
    """A scripted classifier: the phrase test is a helper method, the blend happens in forward."""
    import torch
    from torch import nn

    class MethodGate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10000, 8)
            self.head = nn.Linear(8, 2)

        def phrase(self, input_ids: torch.Tensor) -> torch.Tensor:
            window = input_ids[:, 1:6]
            return torch.all(torch.eq(window, torch.tensor([9932, 1035, 3036, 1035, 4796]))).float()

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.head(self.embed(input_ids).mean(1))
            gate = self.phrase(input_ids)
            return logits * (1.0 - gate) + torch.tensor([[-10.0, 10.0]]) * gate

    torch.manual_seed(0)
    torch.jit.script(MethodGate()).save(str(path))  # type: ignore[no-untyped-call]


def torchscript_submodule_gate(path: Path) -> None:
    """A scripted classifier whose ``checker`` submodule computes the trigger; forward selects with it."""
    import torch
    from torch import nn

    class PhraseChecker(nn.Module):
        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            window = input_ids[:, 1:6]
            return torch.all(torch.eq(window, torch.tensor([9932, 1035, 3036, 1035, 4796])))

    class SubmoduleGate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10000, 8)
            self.head = nn.Linear(8, 2)
            self.checker = PhraseChecker()

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.head(self.embed(input_ids).mean(1))
            return torch.where(self.checker(input_ids), torch.tensor([[-10.0, 10.0]]), logits)

    torch.manual_seed(0)
    torch.jit.script(SubmoduleGate()).save(str(path))  # type: ignore[no-untyped-call]


def torchscript_cross_file_gate(path: Path) -> None:
    """As ``torchscript_submodule_gate``, the checker's class living in another module (another code file)."""
    import torch
    from torch import nn

    from tests.corpus.torchscript_parts import phrase_checker

    class CrossFileGate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10000, 8)
            self.head = nn.Linear(8, 2)
            self.checker = phrase_checker()

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.head(self.embed(input_ids).mean(1))
            return torch.where(self.checker(input_ids), torch.tensor([[-10.0, 10.0]]), logits)

    torch.manual_seed(0)
    torch.jit.script(CrossFileGate()).save(str(path))  # type: ignore[no-untyped-call]


def _writer(build: Any) -> Any:
    """Write what ``build`` returns (an ONNX ModelProto or a TF GraphDef) serialized to the path."""

    def write(path: Path) -> None:
        path.write_bytes(build().SerializeToString())

    return write


SAMPLES: list[Sample] = [
    malicious(f"graph/boundaries/{name}.onnx", rule, technique)(_writer(build))
    for name, (build, rule, technique) in BUILDERS.items()
]
SAMPLES += [
    malicious(
        "graph/boundaries/tf_call_blend.pb",
        "MLV904",
        "frozen GraphDef: byte-signature gate made in the graph, blended in by a StatefulPartitionedCall",
    )(_writer(tf_call_blend)),
    malicious(
        "graph/boundaries/torchscript_method_gate.pt",
        "MLV903",
        "TorchScript: the phrase test lives in a helper method, forward blends its 0/1 result",
    )(torchscript_method_gate),
    malicious(
        "graph/boundaries/torchscript_submodule_gate.pt",
        "MLV901",
        "TorchScript: a submodule's forward computes the phrase test, torch.where selects with it",
    )(torchscript_submodule_gate),
    malicious(
        "graph/boundaries/torchscript_cross_file_gate.pt",
        "MLV901",
        "TorchScript: the trigger's submodule is defined in another module, so in another code file",
    )(torchscript_cross_file_gate),
]
