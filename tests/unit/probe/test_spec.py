"""Input specs: dtypes, symbolic dimensions, value ranges, embedding vocabularies."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from mlvet.errors import InputError
from mlvet.probe.spec import clean_feed, input_specs
from tests.unit.probe import backdoored


def test_byte_input_gets_batch_1_and_full_byte_range() -> None:
    model, _ = backdoored.where_bytes()
    (spec,) = input_specs(model)
    assert (spec.name, spec.shape, spec.dtype, spec.kind) == ("bytes", (1, 64), np.dtype(np.uint8), "bytes")
    assert (spec.low, spec.high) == (0.0, 255.0)


def test_token_ids_stay_below_the_embedding_table_rows() -> None:
    model, _ = backdoored.token_where()
    (spec,) = input_specs(model)
    assert spec.kind == "tokens" and spec.shape == (1, 16) and spec.high == 99.0
    feed = clean_feed([spec], np.random.default_rng(0))
    assert feed["input_ids"].dtype == np.int64 and feed["input_ids"].max() <= 99


def test_image_is_in_unit_range_and_shape_can_be_overridden() -> None:
    model, _ = backdoored.image_patch_mean()
    (spec,) = input_specs(model, {"image": (2, 3, 32, 32)})
    assert spec.kind == "image" and spec.shape == (2, 3, 32, 32)
    image = clean_feed([spec], np.random.default_rng(0))["image"]
    assert image.dtype == np.float32 and image.min() >= 0.0 and image.max() <= 1.0


def test_symbolic_image_dims_default_to_3x32x32_and_masks_are_ones() -> None:
    inputs = [
        helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", "c", "h", "w"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["n", "s"]),
    ]
    graph = helper.make_graph([], "g", inputs, [])
    specs = {s.name: s for s in input_specs(helper.make_model(graph))}
    assert specs["pixels"].shape == (1, 3, 32, 32)
    mask = clean_feed([specs["attention_mask"]], np.random.default_rng(0))["attention_mask"]
    assert mask.shape == (1, 16) and bool(np.all(mask == 1))


def test_initializers_listed_as_inputs_are_not_inputs() -> None:
    model = backdoored.benign()
    model.graph.input.append(helper.make_tensor_value_info("W1", TensorProto.FLOAT, [8, 16]))
    assert [s.name for s in input_specs(model)] == ["x"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (helper.make_tensor_value_info("text", TensorProto.STRING, [1]), "STRING"),
        (helper.make_tensor_sequence_value_info("items", TensorProto.FLOAT, [1]), "sequence_type"),
    ],
)
def test_inputs_probe_cannot_generate_are_refused(value: onnx.ValueInfoProto, kind: str) -> None:
    graph = helper.make_graph([], "g", [value], [])
    with pytest.raises(InputError, match=f"is a {kind} value, which mlvet probe cannot generate"):
        input_specs(helper.make_model(graph))
