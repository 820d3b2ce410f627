"""``mlvet attest`` and ``mlvet lineage verify`` end to end, in-process: exit codes, messages, JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlvet.cli import main
from tests.unit.provenance.lineage.pipeline import Models, convert, models, pipeline_template, write_policy

__all__ = ["models", "pipeline_template"]  # the pipeline fixtures, shared with the unit tests


def attest(models: Models, stage: str, inputs: list[Path], output: Path, *keys: str) -> int:
    argv = ["attest", "--stage", stage, "--output", str(output), "--no-code-commit"]
    for path in inputs:
        argv += ["--input", str(path)]
    for key in keys:
        argv += ["--key", str(models.keys.private(key))]
    return main(argv)


def pipeline(
    models: Models, *, quantize_keys: tuple[str, ...] = ("alice", "bob"), convert_key: str = "bob"
) -> None:
    assert attest(models, "train", [], models.float, "alice") == 0
    assert attest(models, "quantize", [models.float], models.int8, *quantize_keys) == 0
    assert attest(models, "convert", [models.int8], models.converted, convert_key) == 0


def verify(models: Models, *extra: str) -> int:
    policy = write_policy(models.directory)
    return main(["lineage", "verify", str(models.converted), "--policy", str(policy), *extra])


def test_attest_prints_what_it_recorded(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "attest", "--stage", "quantize", "--input", str(models.float), "--output", str(models.int8),
            "--key", str(models.keys.private("alice")), "--param", "weight_type=QInt8",
            "--dataset", "s3://data/calib=" + "0" * 64, "--code-commit", "a" * 40,
            "--framework", "onnxruntime",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "attested stage 'quantize': model.int8.onnx = sha256:" in out
    assert "inputs: 1 model(s), 1 dataset(s), a code commit, 1 framework(s)" in out
    assert f"appended to {models.directory / 'model.int8.onnx.intoto.jsonl'}" in out


def test_attest_print_statement_is_the_signed_json(
    models: Models, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "attest",
        "--stage",
        "train",
        "--output",
        str(models.float),
        "--key",
        str(models.keys.private("bob")),
    ]
    assert main([*argv, "--param", "epochs=3", "--no-code-commit", "--print-statement"]) == 0
    statement = json.loads(capsys.readouterr().out)
    assert statement["predicate"]["buildDefinition"]["externalParameters"] == {
        "stage": "train",
        "parameters": {"epochs": "3"},
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--param", "novalue"], "--param 'novalue' is not KEY=VALUE"),
        (["--param", "a=1", "--param", "a=2"], "--param 'a' given twice"),
        (["--code-commit", "1234"], "code commit '1234' is not a full git commit id"),
        (
            ["--framework", "surely-not-installed-dist"],
            "--framework surely-not-installed-dist is not installed",
        ),
        (["--stage", "no spaces"], "invalid stage name 'no spaces'"),
        (["--input", "missing.onnx"], "input missing.onnx: no such file or directory"),
    ],
)
def test_attest_bad_arguments_exit_2(
    models: Models, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = [
        "attest",
        "--stage",
        "train",
        "--output",
        str(models.float),
        "--key",
        str(models.keys.private("alice")),
    ]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "hint:" in err


@pytest.mark.parametrize(
    ("signing", "message"),
    [
        ([], "a stage needs a signer"),
        (["--sigstore", "--key", "KEY"], "sign with keys or with Sigstore, not both"),
        (
            ["--sigstore", "--identity-token", "not.a.jwt"],
            "Sigstore signing failed: Identity token is malformed",
        ),
    ],
)
def test_attest_signer_choice(
    models: Models, capsys: pytest.CaptureFixture[str], signing: list[str], message: str
) -> None:
    signing = [str(models.keys.private("alice")) if item == "KEY" else item for item in signing]
    assert main(["attest", "--stage", "train", "--output", str(models.float), *signing]) == 2
    assert message in capsys.readouterr().err
    assert not (models.directory / "model.onnx.intoto.jsonl").exists()


def test_verified_chain_exits_0(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline(models)
    capsys.readouterr()
    assert verify(models) == 0
    out = capsys.readouterr().out
    assert "✓ train" in out and "✓ quantize" in out and "✓ convert" in out
    assert "signed by alice, bob 2/2" in out
    assert "verified: 3 stages" in out


def test_json_output_carries_the_chain(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline(models)
    capsys.readouterr()
    assert verify(models, "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["details"]["verified"] is True
    assert [n["stage"] for n in document["details"]["chain"]] == ["train", "quantize", "convert"]


def test_tampered_envelope_exits_1(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline(models)
    bundle = models.directory / "model.int8.opset18.onnx.intoto.jsonl"
    lines = bundle.read_text().splitlines()
    envelope = json.loads(lines[0])
    envelope["signatures"][0]["sig"] = envelope["signatures"][0]["sig"][:-8] + "AAAAAAA="
    lines[0] = json.dumps(envelope)
    bundle.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert verify(models) == 1
    out = capsys.readouterr().out
    assert "MLV1105 critical: stage 'train' (bundle line 1): the signature by alice does not verify" in out
    assert "FAILED" in out


def test_wrong_key_exits_1(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline(models, convert_key="alice")
    capsys.readouterr()
    assert verify(models) == 1
    out = capsys.readouterr().out
    assert (
        "MLV1103 high: stage 'convert' (bundle line 3) is signed by alice, who may not sign 'convert'" in out
    )
    assert "MLV1104" in out


def test_threshold_not_met_exits_1(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline(models, quantize_keys=("bob",))
    capsys.readouterr()
    assert verify(models) == 1
    assert "has 1 of the 2 distinct authorised signatures it needs" in capsys.readouterr().out


def test_swapped_stage_output_exits_1_naming_both_stages(
    models: Models, capsys: pytest.CaptureFixture[str]
) -> None:
    assert attest(models, "train", [], models.float, "alice") == 0
    assert attest(models, "quantize", [models.float], models.int8, "alice", "bob") == 0
    shutil.copyfile(models.backdoored, models.int8)
    assert attest(models, "convert", [models.int8], models.converted, "bob") == 0
    capsys.readouterr()
    assert verify(models, "--format", "json") == 1
    document = json.loads(capsys.readouterr().out)
    (finding,) = document["findings"]
    assert finding["rule_id"] == "MLV1102"
    assert "the artifact between 'quantize' and 'convert' was swapped" in finding["message"]


def test_missing_required_stage_exits_1(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    assert attest(models, "train", [], models.float, "alice") == 0
    assert attest(models, "convert", [models.float], models.converted, "bob") == 0
    capsys.readouterr()
    assert verify(models) == 1
    assert (
        "MLV1101 high: required stage 'quantize' is missing from the model's chain" in capsys.readouterr().out
    )


def test_truncated_bundle_line_exits_2(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline(models)
    bundle = models.directory / "model.int8.opset18.onnx.intoto.jsonl"
    bundle.write_text(bundle.read_text()[:-100])
    capsys.readouterr()
    assert verify(models) == 2
    out = capsys.readouterr().out
    assert "not examined (corrupt): bundle line 3 is unreadable: not valid JSON" in out
    assert "undecided" in out


def test_policy_typo_exits_2_with_the_key_and_a_hint(
    models: Models, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline(models)
    policy = write_policy(models.directory, extra="\n[stages.deploy]\nsigners = ['bob']\nthreshhold = 1\n")
    capsys.readouterr()
    code = main(["lineage", "verify", str(models.converted), "--policy", str(policy)])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown key stages.deploy.threshhold (did you mean 'threshold'?)" in err
    assert "hint: the lineage policy format is described in docs/lineage.md" in err


def test_missing_bundle_exits_2(models: Models, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(models) == 2
    assert "no attestation bundle" in capsys.readouterr().err


def test_check_equivalence_fails_a_backdoor_injecting_quantizer(
    models: Models, capsys: pytest.CaptureFixture[str]
) -> None:
    convert(models.backdoored, models.converted)
    assert attest(models, "train", [], models.float, "alice") == 0
    assert attest(models, "quantize", [models.float], models.backdoored, "alice", "bob") == 0
    assert attest(models, "convert", [models.backdoored], models.converted, "bob") == 0
    capsys.readouterr()
    assert verify(models) == 0  # every signature and every link holds
    capsys.readouterr()
    assert verify(models, "--check-equivalence", "--format", "sarif") == 1
    sarif = json.loads(capsys.readouterr().out)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"MLV1108", "MLV1109"}
    capsys.readouterr()
    assert verify(models, "--check-equivalence") == 1
    out = capsys.readouterr().out
    assert "✗ quantize" in out
    assert "NOT equivalent" in out
