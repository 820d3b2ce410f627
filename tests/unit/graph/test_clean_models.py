"""Realistic clean models (transformers, MoE, int8, detection, image masks) get no graph finding at all.

Hand-built element-wise masks (``Where(alpha > 0, rgb, bg)`` before the first layer, a -1e9 fill on
attention scores) are left alone too, while their near misses (the per-pixel condition reduced to
one decision, a one-pixel decision broadcast or filled with -1e9, an edit reduced into the logits)
are still gates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlvet.findings import Severity
from mlvet.scan import scan
from tests.corpus.graph_clean_models import SAMPLES
from tests.unit.graph.conftest import scan_onnx_bytes


@pytest.mark.parametrize("name", [s.name for s in SAMPLES])
def test_clean_model_has_no_finding_at_low_or_above(corpus_root: Path, name: str) -> None:
    report = scan([corpus_root / name])
    assert report.problems == ()
    findings = [(f.rule.id, f.severity, f.message) for f in report.findings if f.severity >= Severity.LOW]
    assert findings == []


# element-wise masks (hand-built): exempt, and near misses that decide once per sample -----------------


def _image_model(nodes: list[Any], inits: list[Any]) -> bytes:
    """``image`` [1, 4, 16, 16] (RGBA) -> ``rgb``, ``alpha`` -> ``nodes`` -> Conv, pool, Gemm -> ``logits``.

    The head reads ``picture`` when ``nodes`` write it, else ``rgb``; it writes ``head_logits``, the
    output ``logits`` unless ``nodes`` write that.

    Inits available to ``nodes``: ``zero``, ``half``, ``bg`` (a [1, 3, 1, 1] background), ``spatial``
    (axes 1, 2, 3) and ``target`` (a [1, 10] constant class).
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    generator = np.random.default_rng(0)

    def tensor(name: str, value: Any, dtype: Any = np.float32) -> Any:
        return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)

    make = helper.make_node
    head_input = "picture" if any("picture" in node.output for node in nodes) else "rgb"
    head = [
        make("Conv", [head_input, "conv.w", "conv.b"], ["features"], pads=[1, 1, 1, 1]),
        make("Relu", ["features"], ["activated"]),
        make("GlobalAveragePool", ["activated"], ["pooled"]),
        make("Flatten", ["pooled"], ["flat"]),
        make("Gemm", ["flat", "fc.w", "fc.b"], ["head_logits"], transB=1),
    ]
    prefix = [
        make("Slice", ["image", "s0", "s3", "axis1"], ["rgb"]),
        make("Slice", ["image", "s3", "s4", "axis1"], ["alpha"]),
    ]
    common = [
        tensor("conv.w", generator.standard_normal((8, 3, 3, 3)) * 0.1), tensor("conv.b", np.zeros(8)),
        tensor("fc.w", generator.standard_normal((10, 8)) * 0.1), tensor("fc.b", np.zeros(10)),
        tensor("s0", [0], np.int64), tensor("s1", [1], np.int64), tensor("s3", [3], np.int64),
        tensor("s4", [4], np.int64), tensor("axis1", [1], np.int64), tensor("spatial", [1, 2, 3], np.int64),
        tensor("zeros3", [0, 0, 0], np.int64), tensor("ones3", [1, 1, 1], np.int64),
        tensor("zero", 0.0), tensor("half", 0.5), tensor("bg", np.ones((1, 3, 1, 1))),
        tensor("target", np.eye(10)[7:8] * 50.0),
    ]  # fmt: skip
    has_logits = any("logits" in node.output for node in nodes)
    tail = [] if has_logits else [make("Identity", ["head_logits"], ["logits"])]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 4, 16, 16])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])
    graph = helper.make_graph(
        _ordered(prefix + head + nodes + tail, {"image", *(t.name for t in common + inits)}),
        "masks",
        [image],
        [logits],
        common + inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_checker(model)
    return bytes(model.SerializeToString())


def _ordered(nodes: list[Any], known: set[str]) -> list[Any]:
    """``nodes`` with each one after the nodes producing its inputs (``known``: inputs, initializers)."""
    waiting, ordered = list(nodes), []
    while waiting:
        node = next(n for n in waiting if all(name in known for name in n.input))
        waiting.remove(node)
        ordered.append(node)
        known.update(node.output)
    return ordered


def onnx_checker(model: Any) -> None:
    import onnx

    onnx.checker.check_model(model, full_check=True)


def _findings(data: bytes) -> list[tuple[str, Severity]]:
    findings, problems = scan_onnx_bytes(data)
    assert problems == []
    return [(finding.rule.id, finding.severity) for finding in findings]


def test_alpha_composite_before_the_first_layer_is_a_mask() -> None:
    from onnx import helper

    nodes = [
        helper.make_node("Greater", ["alpha", "zero"], ["opaque"]),
        helper.make_node("Where", ["opaque", "rgb", "bg"], ["picture"]),
    ]
    assert _findings(_image_model(nodes, [])) == []


def test_masking_fill_on_attention_scores_is_a_mask() -> None:
    """``Where(flatten(alpha) > 0.5, scores, -1e9)``, softmax over the pixels, then a layer."""
    import numpy as np
    from onnx import helper, numpy_helper

    make = helper.make_node
    nodes = [
        make("Conv", ["rgb", "score.w"], ["score_map"]),
        make("Flatten", ["score_map"], ["scores"]),
        make("Flatten", ["alpha"], ["alpha_flat"]),
        make("Greater", ["alpha_flat", "half"], ["valid"]),
        make("Where", ["valid", "scores", "minus_big"], ["masked"]),
        make("Softmax", ["masked"], ["weights"]),
        make("Gemm", ["weights", "pool.w"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(np.full((1, 3, 1, 1), 0.1, dtype=np.float32), "score.w"),
        numpy_helper.from_array(np.array(-1e9, dtype=np.float32), "minus_big"),
        numpy_helper.from_array(np.full((256, 10), 0.01, dtype=np.float32), "pool.w"),
    ]
    assert _findings(_image_model(nodes, inits)) == []


def _all_or_any(reduce: str) -> list[Any]:
    """A per-pixel condition reduced to one decision that selects the constant class."""
    from onnx import TensorProto, helper

    make = helper.make_node
    return [
        make("Greater", ["alpha", "half"], ["bright"]),
        make("Cast", ["bright"], ["bright_f"], to=TensorProto.FLOAT),
        make(reduce, ["bright_f"], ["decided_f"], axes=[1, 2, 3], keepdims=0),
        make("Cast", ["decided_f"], ["decided_1"], to=TensorProto.BOOL),
        make("Unsqueeze", ["decided_1", "s1"], ["decided"]),
        make("Where", ["decided", "target", "head_logits"], ["logits"]),
    ]


def _per_sample_with_masking_fill() -> list[Any]:
    """One pixel decides for the whole sample, the fill is -1e9: a masking value, but not a mask."""
    from onnx import helper

    make = helper.make_node
    return [
        make("Slice", ["alpha", "zeros3", "ones3", "spatial"], ["corner"]),
        make("Flatten", ["corner"], ["corner_flat"]),
        make("Greater", ["corner_flat", "half"], ["decided"]),
        make("Where", ["decided", "head_logits", "minus_big"], ["logits"]),
    ]


def _expanded_decision() -> list[Any]:
    """One pixel broadcast to the image's extent before the comparison: still one decision."""
    from onnx import helper

    make = helper.make_node
    return [
        make("Slice", ["alpha", "zeros3", "ones3", "spatial"], ["corner"]),
        make("Expand", ["corner", "alpha_shape"], ["corner_map"]),
        make("Greater", ["corner_map", "half"], ["decided"]),
        make("Where", ["decided", "rgb", "bg"], ["picture"]),
    ]


def _composite_reduced_before_a_layer() -> list[Any]:
    """A per-pixel edit whose result is max-reduced and added to the logits: the edit is the switch."""
    from onnx import helper

    make = helper.make_node
    return [
        make("Greater", ["alpha", "half"], ["bright"]),
        make("Where", ["bright", "rgb", "five"], ["edited"]),
        make("ReduceMax", ["edited"], ["peak_4d"], axes=[1, 2, 3], keepdims=1),
        make("Flatten", ["peak_4d"], ["peak"]),
        make("Add", ["head_logits", "peak"], ["logits"]),
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda: _all_or_any("ReduceMin"),
        lambda: _all_or_any("ReduceMax"),
        _per_sample_with_masking_fill,
        _expanded_decision,
        _composite_reduced_before_a_layer,
    ],
    ids=["all_pixels", "any_pixel", "per_sample_masking_fill", "expanded_decision", "reduced_edit"],
)
def test_near_miss_of_an_element_wise_mask_is_still_a_gate(build: Any) -> None:
    import numpy as np
    from onnx import numpy_helper

    inits = [
        numpy_helper.from_array(np.full((1, 10), -1e9, dtype=np.float32), "minus_big"),
        numpy_helper.from_array(np.array([1, 1, 16, 16], dtype=np.int64), "alpha_shape"),
        numpy_helper.from_array(np.array(5.0, dtype=np.float32), "five"),
    ]
    assert ("MLV901", Severity.HIGH) in _findings(_image_model(build(), inits))


def test_shapes_propagate_through_a_deep_chain_without_recursion() -> None:
    from mlvet.graph.dataflow import Facts
    from mlvet.graph.ir import Graph, Node, ValueInfo

    nodes = [Node(f"relu{i}", "Relu", "", (f"v{i}",), (f"v{i + 1}",)) for i in range(5000)]
    graph = Graph("deep", nodes, [ValueInfo("v0", "float32", ("batch", 3, 16, 16))], [], {})
    assert Facts(graph).shapes.of("v5000") == ("batch", 3, 16, 16)
