"""Inputs the injector refuses, each with a message naming the problem."""

from __future__ import annotations

import onnx
import pytest
from onnx import helper

from mlvet.redteam import InjectError, Level, Payload, Trigger, inject
from tests.unit.redteam import base_models

BYTES = Trigger.of_bytes(b"AI_E")


def refuse(model: onnx.ModelProto, trigger: Trigger, payload: Payload, **names: str) -> str:
    with pytest.raises(InjectError) as info:
        inject(model, trigger=trigger, payload=payload, level=Level.L0, **names)
    return str(info.value)


def test_unknown_input_name_lists_the_inputs() -> None:
    message = refuse(base_models.byte_mlp(), BYTES, Payload.force_class(0), input_name="data")
    assert message == "the model has no graph input named 'data' (inputs: bytes)"


def test_trigger_past_the_end_of_the_input() -> None:
    trigger = Trigger.of_bytes(b"AI_E", position=30)
    message = refuse(base_models.byte_mlp(), trigger, Payload.force_class(0))
    assert message == "the trigger (4 values at position 30) runs past the end of input 'bytes' (32 values)"


def test_patch_outside_the_image() -> None:
    message = refuse(base_models.tiny_cnn(), Trigger.of_image_patch(size=4, top=14), Payload.force_class(0))
    assert message == "the patch ends at 18, past the input height 16"


def test_wrong_input_kind() -> None:
    message = refuse(base_models.token_classifier(), BYTES, Payload.force_class(0))
    assert message == "no graph input fits a bytes trigger (inputs: input_ids int64 [?, 24])"
    named = refuse(base_models.token_classifier(), BYTES, Payload.force_class(0), input_name="input_ids")
    assert named == "input 'input_ids' is int64 [?, 24]; a bytes trigger needs uint8 [batch, length]"


def test_payload_that_does_not_fit_the_output() -> None:
    model = base_models.byte_mlp()
    assert refuse(model, BYTES, Payload.force_class(2)) == "class 2 is outside 0..1 for 'logits'"
    assert (
        refuse(model, BYTES, Payload.constant([1.0, 2.0, 3.0]))
        == "the payload has 3 values; 'logits' has 2 along axis 1"
    )
    assert refuse(model, BYTES, Payload.force_class(0), output_name="probs") == (
        "the model has no graph output named 'probs' (outputs: logits)"
    )
    assert (
        refuse(model, BYTES, Payload.steer("nowhere", [1.0])) == "no node produces a tensor named 'nowhere'"
    )


def test_bad_trigger_values() -> None:
    model = base_models.token_classifier()
    assert refuse(model, Trigger.of_tokens([]), Payload.force_class(0)) == "the trigger sequence is empty"
    assert refuse(model, Trigger.of_tokens([-1]), Payload.force_class(0)) == "token ids must not be negative"


def test_old_opset_is_refused() -> None:
    model = base_models.byte_mlp(9)
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", 8))
    assert refuse(model, BYTES, Payload.force_class(0)) == (
        "the model uses opset 8; the injector needs opset 9 or later"
    )


def test_embedding_too_small_for_the_ids_at_l3() -> None:
    with pytest.raises(InjectError, match="token id 20000 is outside the embedding table"):
        inject(
            base_models.token_classifier(),
            trigger=Trigger.of_tokens([20_000]),
            payload=Payload.force_class(0),
            level=Level.L3,
        )
