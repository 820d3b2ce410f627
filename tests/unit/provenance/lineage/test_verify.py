"""Verifying a chain: what holds, and each way it breaks, named by stage and reason."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

import mlvet.provenance.lineage as lineage
from mlvet.errors import InputError
from mlvet.findings import ProblemKind, Report
from mlvet.provenance.dsse import sign_envelope
from mlvet.provenance.keys import load_signer
from tests.unit.provenance.lineage.pipeline import Models, write_policy

BUNDLE = "model.int8.opset18.onnx.intoto.jsonl"


def record(
    models: Models,
    *,
    train: tuple[str, ...] = ("alice",),
    quantize: tuple[str, ...] | None = ("alice", "bob"),
    convert: tuple[str, ...] = ("bob",),
    swap_before_convert: bool = False,
) -> None:
    """train -> quantize -> convert, each signed by the named keys (quantize None: skipped)."""
    keys = models.keys

    def sign(stage: str, inputs: list[Path], output: Path, names: tuple[str, ...]) -> None:
        lineage.attest(
            stage, inputs=inputs, output=output, keys=[keys.private(n) for n in names], detect_code=False
        )

    sign("train", [], models.float, train)
    if quantize is None:
        sign("convert", [models.float], models.converted, convert)
        return
    sign("quantize", [models.float], models.int8, quantize)
    if swap_before_convert:
        shutil.copyfile(models.backdoored, models.int8)
    sign("convert", [models.int8], models.converted, convert)


def rules(report: Report) -> list[str]:
    return sorted(f.rule.id for f in report.findings)


def verify(models: Models, **options: object) -> Report:
    policy = options.pop("policy", None) or write_policy(models.directory)
    return lineage.verify_lineage(models.converted, policy, **options)  # type: ignore[arg-type]


def test_an_intact_chain_verifies(models: Models) -> None:
    record(models)
    report = verify(models)
    assert report.findings == ()
    assert report.problems == ()
    details = report.details
    assert details["verified"] is True
    assert [node["stage"] for node in details["chain"]] == ["train", "quantize", "convert"]
    quantize = details["chain"][1]
    assert {s["name"] for s in quantize["signers"]} == {"alice", "bob"}
    assert all(s["authorised"] for s in quantize["signers"])
    assert quantize["inputs"][0]["sha256"] == details["chain"][0]["output"]["sha256"]
    assert details["chain"][-1]["output"]["sha256"] == details["sha256"]


def test_tampered_envelope_is_a_bad_signature_and_the_stage_does_not_count(models: Models) -> None:
    record(models)
    bundle = models.directory / BUNDLE
    lines = bundle.read_text(encoding="utf-8").splitlines()
    envelope = json.loads(lines[1])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["buildDefinition"]["externalParameters"]["parameters"] = {"calibration": "none"}
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    lines[1] = json.dumps(envelope)
    bundle.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = verify(models)
    assert rules(report) == ["MLV1105"]
    (bad,) = report.findings
    assert bad.location.line == 2
    assert "stage 'quantize' (bundle line 2): the signature by alice, bob does not verify" in bad.message
    quantize = report.details["chain"][1]
    assert quantize["stage"] == "quantize"
    assert quantize["ok"] is False
    assert quantize["signers"] == []


def test_a_key_the_policy_does_not_declare_is_refused(models: Models) -> None:
    record(models, convert=("mallory",))
    policy = write_policy(models.directory)
    policy.write_text(policy.read_text().replace('mallory = "keys/mallory.pub.pem"\n', ""), encoding="utf-8")
    report = verify(models, policy=policy)
    assert rules(report) == ["MLV1103"]
    (refused,) = report.findings
    assert "stage 'convert' (bundle line 3) is signed by a key the policy does not declare" in refused.message


def test_a_declared_key_signing_a_stage_it_may_not_is_unauthorised(models: Models) -> None:
    record(models, convert=("mallory",))
    report = verify(models)
    assert rules(report) == ["MLV1103", "MLV1104"]
    unauthorised = next(f for f in report.findings if f.rule.id == "MLV1103")
    assert "is signed by mallory, who may not sign 'convert' (allowed: bob)" in unauthorised.message
    assert report.details["chain"][-1]["ok"] is False


def test_threshold_not_met(models: Models) -> None:
    record(models, quantize=("alice",))
    report = verify(models)
    assert rules(report) == ["MLV1104"]
    (finding,) = report.findings
    assert "stage 'quantize' (bundle line 2) has 1 of the 2 distinct authorised signatures" in finding.message
    assert "signed by: alice; allowed: alice, bob" in finding.message


def test_threshold_met_by_two_separate_envelopes(models: Models) -> None:
    record(models, quantize=("alice",))
    lineage.attest(
        "quantize",
        inputs=[models.float],
        output=models.int8,
        keys=[models.keys.private("bob")],
        detect_code=False,
    )
    lineage.attest(
        "convert",
        inputs=[models.int8],
        output=models.converted,
        keys=[models.keys.private("bob")],
        detect_code=False,
    )
    report = verify(models)
    assert rules(report) == []
    assert report.details["chain"][1]["lines"] == [2, 4]


def test_swapped_intermediate_artifact_breaks_the_digest_chain(models: Models) -> None:
    record(models, swap_before_convert=True)
    report = verify(models)
    assert rules(report) == ["MLV1102"]
    (finding,) = report.findings
    assert finding.severity.name == "CRITICAL"
    assert "stage 'convert' (bundle line 3) consumed model.int8.onnx = sha256:" in finding.message
    assert "stage 'quantize' (bundle line 2) produced model.int8.onnx" in finding.message
    assert "the artifact between 'quantize' and 'convert' was swapped" in finding.message


def test_swapped_deployed_artifact(models: Models) -> None:
    record(models)
    shutil.copyfile(models.backdoored, models.converted)
    report = lineage.verify_lineage(models.converted, write_policy(models.directory))
    assert rules(report) == ["MLV1102"]
    assert (
        "is not the output of any attested stage: the last one, stage 'convert'" in report.findings[0].message
    )


def test_missing_required_stage(models: Models) -> None:
    record(models, quantize=None)
    report = verify(models)
    assert rules(report) == ["MLV1101"]
    assert "required stage 'quantize' is missing from the model's chain" in report.findings[0].message


def test_stages_out_of_order(models: Models) -> None:
    record(models)
    policy = write_policy(models.directory)
    text = policy.read_text().replace('["train", "quantize", "convert"]', '["quantize", "train", "convert"]')
    policy.write_text(text, encoding="utf-8")
    report = verify(models, policy=policy)
    assert rules(report) == ["MLV1107"]
    assert "the chain runs train -> quantize -> convert" in report.findings[0].message


def test_truncated_line_is_unreadable_and_undecided(models: Models) -> None:
    record(models)
    bundle = models.directory / BUNDLE
    text = bundle.read_text(encoding="utf-8")
    bundle.write_text(text[: len(text) - 200], encoding="utf-8")
    report = verify(models)
    assert "MLV1106" in rules(report)
    (problem,) = report.problems
    assert problem.kind is ProblemKind.CORRUPT
    assert problem.message.startswith("bundle line 3 is unreadable: not valid JSON")


def test_an_unlisted_stage_is_unauthorised_unless_allowed(models: Models) -> None:
    record(models)
    lineage.attest(
        "approve",
        inputs=[models.converted],
        output=models.converted,
        keys=[models.keys.private("bob")],
        detect_code=False,
    )
    report = verify(models)
    assert rules(report) == ["MLV1103"]
    assert "stage 'approve' (bundle line 4) is not listed in the policy" in report.findings[0].message
    policy = write_policy(models.directory, extra="\n[stages.approve]\nsigners = ['bob']\n")
    approved = verify(models, policy=policy)
    assert rules(approved) == []
    assert [n["stage"] for n in approved.details["chain"]] == ["train", "quantize", "convert", "approve"]


def test_foreign_statements_are_skipped(models: Models) -> None:
    record(models)
    other = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://example.org/scan/v1"}
    envelope = sign_envelope(json.dumps(other).encode(), [load_signer(models.keys.private("alice"))])
    with (models.directory / BUNDLE).open("a", encoding="utf-8") as out:
        out.write(json.dumps(envelope) + "\n")
    report = verify(models)
    assert rules(report) == []
    assert report.details["skipped"] == [
        {"line": 4, "reason": "not an mlvet stage statement (https://example.org/scan/v1)"}
    ]


def test_missing_bundle_is_an_input_error(models: Models) -> None:
    with pytest.raises(InputError, match="no attestation bundle"):
        verify(models)


def test_empty_bundle_has_no_provenance(models: Models) -> None:
    (models.directory / BUNDLE).write_text("\n", encoding="utf-8")
    report = verify(models)
    assert "MLV1101" in rules(report)
    assert "no verified stage attestation in the bundle" in report.findings[0].message
