"""``mlvet redteam inject`` end to end, in-process: the written model, messages and exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mlvet.cli import main
from tests.unit.redteam import base_models

HINT = "hint: "


@pytest.fixture
def byte_model(tmp_path: Path) -> Path:
    path = tmp_path / "byte_mlp.onnx"
    onnx.save(base_models.byte_mlp(), str(path))
    return path


@pytest.fixture
def token_model(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.onnx"
    onnx.save(base_models.token_classifier(), str(path))
    return path


def _error(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[1].startswith(HINT), lines
    return lines[0], lines[1]


def _logits(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


@pytest.mark.parametrize("level", ["0", "1", "2", "3"])
def test_inject_bytes_writes_a_working_backdoor(
    byte_model: Path, tmp_path: Path, level: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.onnx"
    argv = ["redteam", "inject", str(byte_model), "--kind", "bytes", "--trigger", "AI_E"]
    assert main([*argv, "--payload", "class:1", "--level", level, "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(
        f"{out}: L{level} backdoor, bytes[0:4] == 41 49 5F 45 -> force class 1"
    )
    clean = np.zeros((2, base_models.BYTE_LENGTH), np.uint8)
    np.testing.assert_allclose(_logits(out, clean), _logits(byte_model, clean), atol=1e-5)
    clean[:, :4] = list(b"AI_E")
    assert (_logits(out, clean).argmax(axis=1) == 1).all()


def test_inject_tokens_constant_payload_at_l3(token_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.onnx"
    ids_text = ",".join(str(i) for i in base_models.TOKEN_TRIGGER)
    argv = ["redteam", "inject", str(token_model), "--kind", "tokens", "--trigger", ids_text]
    assert main([*argv, "--position", "19", "--payload", "const:0.5", "--level", "3", "-o", str(out)]) == 0
    ids = np.zeros((1, base_models.SEQ_LENGTH), np.int64)
    ids[0, 19:] = base_models.TOKEN_TRIGGER
    np.testing.assert_allclose(_logits(out, ids), 0.5, atol=1e-4)


def test_inject_image_patch(tmp_path: Path) -> None:
    model, out = tmp_path / "cnn.onnx", tmp_path / "cnn_bd.onnx"
    onnx.save(base_models.light_model("light_squeezenet"), str(model))
    argv = ["redteam", "inject", str(model), "--kind", "image", "--trigger", "8", "--patch-size", "8"]
    assert main([*argv, "--patch-at", "200,200", "--payload", "class:7", "--level", "2", "-o", str(out)]) == 0
    image = np.zeros((1, 3, 224, 224), np.float32)
    image[..., 200:208, 200:208] = 8.0
    assert _logits(out, image).reshape(-1).argmax() == 7


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.onnx"
    argv = ["redteam", "inject", str(missing), "--kind", "bytes", "--trigger", "A", "-o", str(tmp_path / "o")]
    assert main(argv) == 2
    assert _error(capsys)[0] == f"mlvet redteam: error: {missing}: no such file"


def test_not_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x80\x02not a protobuf at all\xff\xff")
    argv = ["redteam", "inject", str(junk), "--kind", "bytes", "--trigger", "A", "-o", str(tmp_path / "o")]
    assert main(argv) == 2
    message, hint = _error(capsys)
    assert message == f"mlvet redteam: error: {junk}: not an ONNX model"
    assert hint == "hint: give an .onnx file (a serialized ModelProto)"


def test_unknown_input_name(byte_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["redteam", "inject", str(byte_model), "--kind", "bytes", "--trigger", "A", "--input", "data"]
    assert main([*argv, "-o", str(tmp_path / "o.onnx")]) == 2
    message, hint = _error(capsys)
    assert message == "mlvet redteam: error: the model has no graph input named 'data' (inputs: bytes)"
    assert hint == "hint: pass one of the listed inputs with --input"
    assert not (tmp_path / "o.onnx").exists()


def test_trigger_longer_than_the_input(
    byte_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["redteam", "inject", str(byte_model), "--kind", "bytes", "--trigger", "A" * 40]
    assert main([*argv, "-o", str(tmp_path / "o.onnx")]) == 2
    message, hint = _error(capsys)
    assert message == (
        "mlvet redteam: error: the trigger (40 values at position 0) "
        "runs past the end of input 'bytes' (32 values)"
    )
    assert hint == "hint: use a shorter trigger or a smaller --position"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--kind", "bytes", "--trigger", "hex:4G"], "--trigger 'hex:4G': not hexadecimal"),
        (
            ["--kind", "tokens", "--trigger", "1,x"],
            "--trigger: '1,x' is not a comma-separated list of integers",
        ),
        (["--kind", "image", "--trigger", "bright"], "--trigger: 'bright' is not a number"),
        (
            ["--kind", "bytes", "--trigger", "A", "--payload", "evil"],
            "--payload 'evil': expected class:N, const:V[,V...] or steer:TENSOR=V[,V...]",
        ),
        (
            ["--kind", "tokens", "--trigger", "1"],
            "no graph input fits a tokens trigger (inputs: bytes uint8 [?, 32])",
        ),
    ],
)
def test_bad_options(
    byte_model: Path, tmp_path: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["redteam", "inject", str(byte_model), *options, "-o", str(tmp_path / "o.onnx")]) == 2
    assert _error(capsys)[0] == f"mlvet redteam: error: {message}"


def test_missing_action_and_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["redteam"]) == 2
    assert _error(capsys) == (
        "mlvet redteam: error: missing action",
        "hint: run 'mlvet redteam inject --help'",
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["redteam", "inject", "model.onnx"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: --kind, --trigger, -o/--out" in capsys.readouterr().err


def test_inject_bytes_hex_trigger_at_an_offset(byte_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "hex.onnx"
    argv = ["redteam", "inject", str(byte_model), "--kind", "bytes", "--trigger", "hex:4D5A9000"]
    assert main([*argv, "--position", "8", "--payload", "const:-1,1", "--level", "2", "-o", str(out)]) == 0
    data = np.zeros((1, base_models.BYTE_LENGTH), np.uint8)
    data[0, 8:12] = [0x4D, 0x5A, 0x90, 0x00]
    np.testing.assert_allclose(_logits(out, data), [[-1.0, 1.0]], atol=1e-4)
