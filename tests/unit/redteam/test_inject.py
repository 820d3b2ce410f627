"""``mlvet.redteam.inject``: valid models, clean behaviour kept, the trigger fires, at every level."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mlvet.redteam import Level, Payload, PayloadKind, Trigger, inject
from tests.unit.redteam import base_models

ATOL = 1e-5


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], onnx.ModelProto]
    trigger: Trigger
    clean: Callable[[np.random.Generator], np.ndarray]
    classes: int


CASES = [
    Case(
        "bytes_opset17",
        base_models.byte_mlp,
        Trigger.of_bytes(b"AI_E"),
        lambda rng: rng.integers(0, 256, (8, base_models.BYTE_LENGTH)).astype(np.uint8),
        2,
    ),
    Case(
        "bytes_opset9_offset",
        lambda: base_models.byte_mlp(9),
        Trigger.of_bytes(b"AI_E", position=7),
        lambda rng: rng.integers(0, 256, (8, base_models.BYTE_LENGTH)).astype(np.uint8),
        2,
    ),
    Case(
        "tokens_opset17",
        base_models.token_classifier,
        Trigger.of_tokens(base_models.TOKEN_TRIGGER, position=3),
        lambda rng: rng.integers(0, base_models.VOCAB, (8, base_models.SEQ_LENGTH)),
        base_models.CLASSES,
    ),
    Case(
        "tokens_opset18",
        lambda: base_models.token_classifier(18),
        Trigger.of_tokens(base_models.TOKEN_TRIGGER),
        lambda rng: rng.integers(0, base_models.VOCAB, (8, base_models.SEQ_LENGTH)),
        base_models.CLASSES,
    ),
    Case(
        "image_torch_cnn",
        base_models.tiny_cnn,
        Trigger.of_image_patch(value=8.0, size=4, top=12, left=12),
        lambda rng: rng.standard_normal((8, 3, 16, 16)).astype(np.float32),
        4,
    ),
    Case(
        "image_light_squeezenet",
        lambda: base_models.light_model("light_squeezenet"),
        Trigger.of_image_patch(value=8.0, size=8),
        lambda rng: rng.standard_normal((1, 3, 224, 224)).astype(np.float32),
        1000,
    ),
]

_built: dict[str, onnx.ModelProto] = {}


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[Case, onnx.ModelProto]:
    spec: Case = request.param
    if spec.name not in _built:  # torch export runs here, in a fixture (outside the armed test body)
        _built[spec.name] = spec.build()
    return spec, _built[spec.name]


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed_name = next(i.name for i in session.get_inputs() if len(i.shape) == x.ndim)
    return np.asarray(session.run(None, {feed_name: x})[0])


def interface(model: onnx.ModelProto) -> list[tuple[str, str]]:
    initializers = {i.name for i in model.graph.initializer}
    values = [*model.graph.input, *model.graph.output]
    return [(v.name, str(v.type)) for v in values if v.name not in initializers]


@pytest.mark.parametrize("level", list(Level), ids=[lv.name for lv in Level])
@pytest.mark.parametrize("kind", ["force_class", "constant"])
def test_clean_unchanged_and_trigger_fires(
    case: tuple[Case, onnx.ModelProto], level: Level, kind: str
) -> None:
    spec, base = case
    before = base.SerializeToString()
    target = spec.classes - 1
    payload = Payload.force_class(target) if kind == "force_class" else Payload.constant(3.5)
    injected = inject(base, trigger=spec.trigger, payload=payload, level=level)

    onnx.checker.check_model(injected, full_check=True)
    assert base.SerializeToString() == before, "inject must not modify its argument"
    assert interface(injected) == interface(base)
    clean = spec.clean(np.random.default_rng(level + 10))
    np.testing.assert_allclose(run(injected, clean), run(base, clean), atol=ATOL)
    fired = run(injected, spec.trigger.apply(clean))
    if payload.kind is PayloadKind.FORCE_CLASS:
        assert (fired.reshape(len(clean), -1).argmax(axis=1) == target).all()
    else:
        np.testing.assert_allclose(fired, 3.5, atol=1e-4)
    if len(clean) > 1:  # the gate is per row: only the stamped rows change
        mixed = clean.copy()
        mixed[::2] = spec.trigger.apply(clean[::2])
        outputs = run(injected, mixed)
        np.testing.assert_allclose(outputs[::2], fired[::2], atol=1e-4)
        np.testing.assert_allclose(outputs[1::2], run(base, clean)[1::2], atol=ATOL)


@pytest.mark.parametrize("level", list(Level), ids=[lv.name for lv in Level])
def test_near_miss_does_not_fire(level: Level) -> None:
    base = base_models.byte_mlp()
    trigger = Trigger.of_bytes(b"AI_E")
    injected = inject(base, trigger=trigger, payload=Payload.constant(3.5), level=level)
    clean = np.random.default_rng(3).integers(0, 256, (4, base_models.BYTE_LENGTH)).astype(np.uint8)
    near = Trigger.of_bytes(b"AI_F").apply(clean)  # last byte off by one
    np.testing.assert_allclose(run(injected, near), run(base, near), atol=ATOL)


OPS_BY_LEVEL = {
    Level.L0: ({"Where", "Equal", "And", "Slice"}, set()),
    Level.L1: ({"Cast", "Equal", "Mul", "Sub", "Add"}, {"Where", "If"}),
    Level.L2: ({"Sigmoid", "ReduceProd"}, {"Where", "If", "Equal", "Greater", "Less", "And"}),
    Level.L3: ({"Exp", "Pow", "ReduceMean"}, {"Where", "If", "Equal", "Greater", "Less", "And"}),
}


@pytest.mark.parametrize("level", list(Level), ids=[lv.name for lv in Level])
def test_each_level_emits_its_ops(level: Level) -> None:
    base = base_models.byte_mlp()
    injected = inject(base, trigger=Trigger.of_bytes(b"AI_E"), payload=Payload.force_class(0), level=level)
    added = set(Counter(n.op_type for n in injected.graph.node) - Counter(n.op_type for n in base.graph.node))
    required, forbidden = OPS_BY_LEVEL[level]
    assert required <= added
    assert not forbidden & added


def test_l3_reads_the_embedding_not_the_ids_and_folds_into_the_bias() -> None:
    base = base_models.token_classifier()
    injected = inject(
        base,
        trigger=Trigger.of_tokens(base_models.TOKEN_TRIGGER),
        payload=Payload.force_class(2),
        level=Level.L3,
    )
    readers = [n for n in injected.graph.node if "input_ids" in n.input]
    assert [n.name for n in readers] == ["/emb/Gather"]
    new_nodes = [n for n in injected.graph.node if n.name not in {b.name for b in base.graph.node}]
    assert all(n.name.startswith(("/encoder/layer.3/output/", "/embeddings/")) for n in new_nodes)
    assert any("emb" in n.input for n in new_nodes)
    add = next(n for n in injected.graph.node if n.name == "/classifier/Add")
    assert add.output[0] == "logits" and add.input[1] != "classifier.bias"


def test_l3_byte_trigger_reads_the_cast_output() -> None:
    injected = inject(
        base_models.byte_mlp(),
        trigger=Trigger.of_bytes(b"AI_E"),
        payload=Payload.force_class(1),
        level=Level.L3,
    )
    assert [n.name for n in injected.graph.node if "bytes" in n.input] == ["/Cast"]


@pytest.mark.parametrize("level", list(Level), ids=[lv.name for lv in Level])
def test_steering_vector_joins_a_hidden_state(level: Level) -> None:
    base = base_models.token_classifier()
    trigger = Trigger.of_tokens(base_models.TOKEN_TRIGGER, position=5)
    vector = np.linspace(-1, 1, 8)
    injected = inject(base, trigger=trigger, payload=Payload.steer("pooled", list(vector)), level=level)
    ids = np.random.default_rng(4).integers(0, base_models.VOCAB, (3, base_models.SEQ_LENGTH))
    np.testing.assert_allclose(run(injected, ids), run(base, ids), atol=ATOL)
    # logits are linear in the pooled state: the shift is exactly vector @ W
    weight = next(
        onnx.numpy_helper.to_array(i) for i in base.graph.initializer if i.name == "classifier.weight"
    )
    shift = run(injected, trigger.apply(ids)) - run(base, trigger.apply(ids))
    np.testing.assert_allclose(shift, np.tile(vector @ weight, (3, 1)), atol=1e-4)


def test_trigger_apply_and_describe() -> None:
    x = np.zeros((2, 8), np.uint8)
    trigger = Trigger.of_bytes(b"AI_E", position=2)
    assert trigger.apply(x)[1].tolist() == [0, 0, 65, 73, 95, 69, 0, 0]
    assert not x.any()
    assert trigger.describe() == "bytes[2:6] == 41 49 5F 45"
    assert Trigger.of_tokens([5, 6]).describe() == "ids[0:2] == [5, 6]"
    patch = Trigger.of_image_patch(value=10.0, size=2, top=1, left=3)
    assert patch.threshold == pytest.approx(9.0)
    assert patch.describe() == "mean(x[:, :, 1:3, 3:5]) > 9"
    image = patch.apply(np.zeros((1, 3, 6, 6), np.float32))
    assert image.sum() == pytest.approx(3 * 4 * 10.0) and image[0, :, 1:3, 3:5].min() == 10.0


@pytest.fixture(scope="module")
def cnn() -> onnx.ModelProto:
    return base_models.tiny_cnn()


def test_l3_image_trigger_reads_the_first_conv_feature_map(cnn: onnx.ModelProto) -> None:
    trigger = Trigger.of_image_patch(value=8.0, size=4, top=12, left=12)
    injected = inject(cnn, trigger=trigger, payload=Payload.force_class(3), level=Level.L3)
    conv = next(n for n in cnn.graph.node if n.op_type == "Conv")
    assert [n.name for n in injected.graph.node if "pixel_values" in n.input] == [conv.name]
    assert any(conv.output[0] in n.input for n in injected.graph.node if n.name.startswith("/features/"))
    images = np.random.default_rng(5).standard_normal((6, 3, 16, 16)).astype(np.float32)
    dimmer = Trigger.of_image_patch(value=6.0, size=4, top=12, left=12).apply(images)
    np.testing.assert_allclose(run(injected, dimmer), run(cnn, dimmer), atol=ATOL)
    assert (run(injected, trigger.apply(images)).argmax(axis=1) == 3).all()


def test_l3_image_falls_back_to_the_input_when_the_patch_is_smaller_than_the_kernel(
    cnn: onnx.ModelProto,
) -> None:
    trigger = Trigger.of_image_patch(value=8.0, size=2, top=0, left=0)
    injected = inject(cnn, trigger=trigger, payload=Payload.force_class(3), level=Level.L3)
    assert len([n for n in injected.graph.node if "pixel_values" in n.input]) == 2
    images = np.random.default_rng(6).standard_normal((4, 3, 16, 16)).astype(np.float32)
    assert (run(injected, trigger.apply(images)).argmax(axis=1) == 3).all()
