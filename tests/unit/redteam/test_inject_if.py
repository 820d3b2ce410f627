"""The L0 ``If`` gate (``gate=GateOp.IF``): valid, clean outputs kept, fires for the whole batch."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from mlvet.cli import main
from mlvet.redteam import GateOp, InjectError, Level, Payload, PayloadKind, Trigger, inject
from tests.unit.redteam import base_models
from tests.unit.redteam.test_inject import ATOL, CASES, Case, _built, interface, run


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[Case, onnx.ModelProto]:
    spec: Case = request.param
    if spec.name not in _built:  # torch export runs here, in a fixture (outside the armed test body)
        _built[spec.name] = spec.build()
    return spec, _built[spec.name]


def inject_if(base: onnx.ModelProto, trigger: Trigger, payload: Payload) -> onnx.ModelProto:
    return inject(base, trigger=trigger, payload=payload, level=Level.L0, gate=GateOp.IF)


@pytest.mark.parametrize("kind", ["force_class", "constant"])
def test_batch_of_one_clean_unchanged_and_trigger_fires(
    case: tuple[Case, onnx.ModelProto], kind: str
) -> None:
    spec, base = case
    before = base.SerializeToString()
    target = spec.classes - 1
    payload = Payload.force_class(target) if kind == "force_class" else Payload.constant(3.5)
    injected = inject_if(base, spec.trigger, payload)

    onnx.checker.check_model(injected, full_check=True)
    assert base.SerializeToString() == before, "inject must not modify its argument"
    assert interface(injected) == interface(base)
    for seed in range(3):
        clean = spec.clean(np.random.default_rng(seed))[:1]
        np.testing.assert_allclose(run(injected, clean), run(base, clean), atol=ATOL)
        fired = run(injected, spec.trigger.apply(clean))
        assert fired.shape == run(base, clean).shape
        if payload.kind is PayloadKind.FORCE_CLASS:
            assert fired.reshape(1, -1).argmax(axis=1).tolist() == [target]
        else:
            np.testing.assert_allclose(fired, 3.5, atol=1e-4)


def test_the_gate_is_an_if_on_a_reduced_condition() -> None:
    base = base_models.byte_mlp()
    injected = inject_if(base, Trigger.of_bytes(b"AI_E"), Payload.force_class(1))
    added = Counter(n.op_type for n in injected.graph.node) - Counter(n.op_type for n in base.graph.node)
    assert {"If", "ReduceMax", "Cast", "Equal", "Expand", "Shape"} <= set(added)
    assert "Where" not in added and added["If"] == 1
    gate = next(n for n in injected.graph.node if n.op_type == "If")
    condition = next(n for n in injected.graph.node if gate.input[0] in n.output)
    assert condition.op_type == "Cast" and condition.attribute[0].i == onnx.TensorProto.BOOL
    branches = {a.name: a.g for a in gate.attribute}
    assert [n.op_type for n in branches["then_branch"].node] == ["Constant"]  # payload reads nothing outside
    (identity,) = branches["else_branch"].node
    assert identity.op_type == "Identity" and identity.input[0].startswith("/gate/clean")
    assert not branches["then_branch"].input and not branches["else_branch"].input


def test_a_batch_fires_as_a_whole_when_any_row_carries_the_trigger() -> None:
    base = base_models.byte_mlp()
    trigger = Trigger.of_bytes(b"AI_E", position=5)
    injected = inject_if(base, trigger, Payload.constant([-1.0, 1.0]))
    rows = np.random.default_rng(7).integers(0, 256, (5, base_models.BYTE_LENGTH)).astype(np.uint8)
    np.testing.assert_allclose(run(injected, rows), run(base, rows), atol=ATOL)
    one = rows.copy()
    one[3] = trigger.apply(rows[3:4])[0]
    np.testing.assert_allclose(run(injected, one), np.tile([-1.0, 1.0], (5, 1)), atol=ATOL)


def test_near_miss_does_not_fire() -> None:
    base = base_models.byte_mlp()
    injected = inject_if(base, Trigger.of_bytes(b"AI_E"), Payload.constant(3.5))
    clean = np.random.default_rng(3).integers(0, 256, (1, base_models.BYTE_LENGTH)).astype(np.uint8)
    near = Trigger.of_bytes(b"AI_F").apply(clean)  # last byte off by one
    np.testing.assert_allclose(run(injected, near), run(base, near), atol=ATOL)


def test_steering_vector_through_the_if() -> None:
    base = base_models.token_classifier()
    trigger = Trigger.of_tokens(base_models.TOKEN_TRIGGER, position=2)
    vector = np.linspace(-1, 1, 8)
    injected = inject_if(base, trigger, Payload.steer("pooled", list(vector)))
    onnx.checker.check_model(injected, full_check=True)
    ids = np.random.default_rng(4).integers(0, base_models.VOCAB, (1, base_models.SEQ_LENGTH))
    np.testing.assert_allclose(run(injected, ids), run(base, ids), atol=ATOL)
    weight = next(
        onnx.numpy_helper.to_array(i) for i in base.graph.initializer if i.name == "classifier.weight"
    )
    shift = run(injected, trigger.apply(ids)) - run(base, trigger.apply(ids))
    np.testing.assert_allclose(shift, (vector @ weight)[None, :], atol=1e-4)


@pytest.mark.parametrize("level", [Level.L1, Level.L2, Level.L3])
def test_if_gate_exists_at_level_0_only(level: Level) -> None:
    with pytest.raises(InjectError) as info:
        inject(
            base_models.byte_mlp(),
            trigger=Trigger.of_bytes(b"AI_E"),
            payload=Payload.force_class(0),
            level=level,
            gate=GateOp.IF,
        )
    assert str(info.value) == f"the If gate exists at level 0 only, not at level {level.value}"
    assert "--gate where" in info.value.hint


# -- the CLI flag ----------------------------------------------------------------------------------


@pytest.fixture
def byte_model(tmp_path: Path) -> Path:
    path = tmp_path / "byte_mlp.onnx"
    onnx.save(base_models.byte_mlp(), str(path))
    return path


def _argv(model: Path, out: Path, *extra: str) -> list[str]:
    return ["redteam", "inject", str(model), "--kind", "bytes", "--trigger", "AI_E", "-o", str(out), *extra]


def test_cli_gate_if_writes_a_working_if_backdoor(
    byte_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "if.onnx"
    assert main(_argv(byte_model, out, "--gate", "if", "--payload", "class:1")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{out}: L0 If backdoor, bytes[0:4] == 41 49 5F 45 -> force class 1"
    assert "If" in lines[1] and "ReduceMax" in lines[1] and "inputs and outputs unchanged" in lines[1]
    model = onnx.load(str(out))
    assert [n.op_type for n in model.graph.node].count("If") == 1
    clean = np.zeros((1, base_models.BYTE_LENGTH), np.uint8)
    assert run(model, Trigger.of_bytes(b"AI_E").apply(clean)).argmax() == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--gate", "maybe"), "argument --gate: invalid choice: 'maybe' (choose from"),
        (("--gate", "if", "--level", "2"), "--gate if exists at level 0 only, not with --level 2"),
    ],
)
def test_cli_bad_gate_is_one_line_and_a_hint(
    byte_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "x.onnx"
    try:
        code = main(_argv(byte_model, out, *extra))
    except SystemExit as exc:  # argparse rejects the choice while parsing
        code = int(exc.code or 0)
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and message in lines[0] and lines[1].startswith("hint: ")
    assert not out.exists()
