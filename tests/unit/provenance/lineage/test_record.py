"""Recording stages: the statement's content, the DSSE signature, the bundle, the Python API."""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import onnx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import mlvet.provenance.lineage as lineage
from mlvet.errors import ConfigError, InputError
from mlvet.provenance.keys import load_signer
from mlvet.provenance.lineage.environment import git_commit, installed_frameworks
from mlvet.provenance.lineage.statement import BUILD_TYPE, SLSA_PROVENANCE, STATEMENT_TYPE
from tests.unit.provenance.lineage.pipeline import Models, quantize


def _lines(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in bundle.read_text(encoding="utf-8").splitlines()]


def _payload(envelope: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return statement


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_attest_writes_a_signed_slsa_statement_beside_the_output(models: Models) -> None:
    attestation = lineage.attest(
        "quantize",
        inputs=[models.float],
        output=models.int8,
        keys=[models.keys.private("alice")],
        params={"weight_type": "QInt8", "per_channel": False},
        datasets=["s3://bucket/calib.npz=" + "ab" * 32],
        code="0123456789abcdef0123456789abcdef01234567",
    )
    assert attestation.bundle == models.directory / "model.int8.onnx.intoto.jsonl"
    (envelope,) = _lines(attestation.bundle)
    statement = _payload(envelope)
    assert statement == attestation.statement
    assert statement["_type"] == STATEMENT_TYPE
    assert statement["predicateType"] == SLSA_PROVENANCE
    assert statement["subject"][0]["name"] == "model.int8.onnx"
    assert statement["subject"][0]["digest"] == {"sha256": _sha256(models.int8)}
    definition = statement["predicate"]["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"] == {
        "stage": "quantize",
        "parameters": {"weight_type": "QInt8", "per_channel": False},
    }
    by_role: dict[str, list[dict[str, Any]]] = {}
    for dependency in definition["resolvedDependencies"]:
        by_role.setdefault(dependency["annotations"]["mlvet.role"], []).append(dependency)
    assert by_role["model"] == [
        {
            "name": "model.onnx",
            "digest": {"sha256": _sha256(models.float)},
            "annotations": {"mlvet.role": "model", "mlvet.digest": "file"},
        }
    ]
    assert by_role["dataset"][0] == {
        "uri": "s3://bucket/calib.npz",
        "digest": {"sha256": "ab" * 32},
        "annotations": {"mlvet.role": "dataset"},
    }
    assert by_role["code"][0]["digest"] == {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}
    builder = statement["predicate"]["runDetails"]["builder"]["id"]
    assert builder.endswith("#keyid:" + load_signer(models.keys.private("alice")).keyid)


def test_the_signature_verifies_with_plain_cryptography(models: Models) -> None:
    attestation = lineage.attest(
        "train", inputs=[], output=models.float, keys=[models.keys.private("alice")], detect_code=False
    )
    envelope = attestation.envelope
    payload = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    signed = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    public = serialization.load_pem_public_key(models.keys.public("alice").read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(envelope["signatures"][0]["sig"]), signed, ec.ECDSA(hashes.SHA256()))
    assert envelope["payloadType"] == "application/vnd.in-toto+json"


def test_frameworks_are_recorded_with_their_installed_record_hash(models: Models) -> None:
    (onnx_framework,) = installed_frameworks(["onnx"])
    distribution = metadata.distribution("onnx")
    record = distribution.read_text("RECORD")
    assert record is not None
    assert onnx_framework.version == distribution.version == onnx.__version__
    assert onnx_framework.record_sha256 == hashlib.sha256(record.encode()).hexdigest()
    attestation = lineage.attest(
        "convert",
        inputs=[models.int8],
        output=models.converted,
        keys=[models.keys.private("bob")],
        frameworks=[onnx_framework],
        detect_code=False,
    )
    dependencies = attestation.statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    (framework,) = [d for d in dependencies if d["annotations"]["mlvet.role"] == "framework"]
    assert framework["uri"] == f"pkg:pypi/onnx@{onnx.__version__}"
    assert framework["digest"] == {"sha256": onnx_framework.record_sha256}
    assert installed_frameworks(["no-such-distribution-xyz"]) == []


def test_each_stage_carries_the_chain_of_its_inputs(models: Models) -> None:
    alice, bob = models.keys.private("alice"), models.keys.private("bob")
    lineage.attest("train", inputs=[], output=models.float, keys=[alice], detect_code=False)
    lineage.attest(
        "quantize", inputs=[models.float], output=models.int8, keys=[alice, bob], detect_code=False
    )
    lineage.attest("convert", inputs=[models.int8], output=models.converted, keys=[bob], detect_code=False)
    chain = _lines(models.directory / "model.int8.opset18.onnx.intoto.jsonl")
    assert [_payload(e)["predicate"]["buildDefinition"]["externalParameters"]["stage"] for e in chain] == [
        "train",
        "quantize",
        "convert",
    ]
    assert len(chain[1]["signatures"]) == 2
    # a second signer appending to the same bundle adds one line and duplicates nothing
    lineage.attest("convert", inputs=[models.int8], output=models.converted, keys=[alice], detect_code=False)
    assert len(_lines(models.directory / "model.int8.opset18.onnx.intoto.jsonl")) == 4


def test_stage_context_manager_records_on_success(models: Models) -> None:
    target = models.directory / "again.int8.onnx"
    with lineage.stage(
        "quantize", inputs=[models.float], key=models.keys.private("alice"), params={"bits": 8}
    ) as recorded:
        quantize(models.float, target)
        recorded.output(target)
    assert recorded.attestation is not None
    (envelope,) = _lines(models.directory / "again.int8.onnx.intoto.jsonl")
    statement = _payload(envelope)
    assert statement["subject"][0]["digest"]["sha256"] == _sha256(target)
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    names = {d.get("name") for d in dependencies if d["annotations"]["mlvet.role"] == "framework"}
    assert {"onnx", "onnxruntime"} <= names


def test_stage_context_manager_writes_nothing_when_the_body_raises(models: Models) -> None:
    target = models.directory / "broken.onnx"
    with (
        pytest.raises(RuntimeError, match="quantizer crashed"),
        lineage.stage("quantize", inputs=[models.float], key=models.keys.private("alice")) as recorded,
    ):
        recorded.output(target)
        raise RuntimeError("quantizer crashed")
    assert not (models.directory / "broken.onnx.intoto.jsonl").exists()


def test_stage_without_output_is_a_config_error(models: Models) -> None:
    with (
        pytest.raises(ConfigError, match="ended without naming its output"),
        lineage.stage("quantize", inputs=[models.float], key=models.keys.private("alice")),
    ):
        pass


def test_inputs_are_measured_when_the_stage_starts(models: Models) -> None:
    before = _sha256(models.float)
    with lineage.stage("quantize", inputs=[models.float], key=models.keys.private("alice")) as recorded:
        quantize(models.float, models.int8)
        models.float.write_bytes(models.float.read_bytes() + b"\0")
        recorded.output(models.int8)
    assert recorded.attestation is not None
    dependencies = recorded.attestation.statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dependencies[0]["digest"]["sha256"] == before


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"stage": "bad name!"}, "invalid stage name"),
        ({"keys": []}, "a stage needs a signer"),
        ({"code": "abc123"}, "not a full git commit id"),
        ({"params": {"x": float("nan")}}, "not JSON-ready"),
        ({"datasets": [""]}, "empty --dataset"),
    ],
)
def test_bad_arguments_are_config_errors(models: Models, call: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "stage": "train",
        "inputs": [],
        "output": models.float,
        "keys": [models.keys.private("alice")],
        "detect_code": False,
    }
    arguments.update(call)
    with pytest.raises(ConfigError, match=message):
        lineage.attest(arguments.pop("stage"), **arguments)


def test_missing_output_and_public_key_are_input_errors(models: Models) -> None:
    with pytest.raises(InputError, match=r"output .*missing\.onnx: no such file"):
        lineage.attest(
            "train", output=models.directory / "missing.onnx", inputs=[], keys=[models.keys.private("alice")]
        )
    with pytest.raises(InputError, match="holds no private key"):
        lineage.attest("train", output=models.float, inputs=[], keys=[models.keys.public("alice")])


def test_git_commit_is_read_from_the_repository(git_repository: tuple[Path, str]) -> None:
    root, expected = git_repository
    commit = git_commit(root / "train.py")
    assert commit is not None
    assert commit.commit == expected
    assert commit.uri == "https://example.org/team/pipeline.git"  # credentials never recorded


def test_git_commit_outside_a_repository_is_none(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
