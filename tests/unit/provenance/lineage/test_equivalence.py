"""Stage equivalence: a faithful quantizer passes; a backdoor-injecting one fails on the input showing it."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx

import mlvet.provenance.lineage as lineage
from mlvet.findings import ProblemKind, Report
from mlvet.provenance.lineage.equivalence import check_equivalence, structural_changes
from mlvet.provenance.lineage.policy import EXACT_TOLERANCE, QUANTIZE_TOLERANCE, Tolerance
from mlvet.provenance.lineage.sidepath import late_joins
from mlvet.redteam import GateOp, Level, Payload, Trigger, inject
from tests.unit.provenance.lineage.pipeline import Models, write_policy


def test_dynamic_quantization_is_equivalent_to_its_float_parent(models: Models) -> None:
    result = check_equivalence(models.float, models.int8, QUANTIZE_TOLERANCE)
    assert result.equivalent
    assert result.generated == QUANTIZE_TOLERANCE.samples
    assert result.gate_probes == 0
    assert 0 < result.max_abs_diff < 0.1  # int8 rounding moves the logits a little, never a lot
    assert result.structure == []


def test_opset_conversion_is_equivalent_at_float_precision(models: Models) -> None:
    result = check_equivalence(models.int8, models.converted, EXACT_TOLERANCE)
    assert result.equivalent
    assert result.max_abs_diff < 1e-6


def test_backdoored_quantization_fails_on_the_gate_opening_input(models: Models) -> None:
    result = check_equivalence(models.float, models.backdoored, QUANTIZE_TOLERANCE)
    assert not result.equivalent
    assert result.gate_probes >= 1
    origins = {d.origin for d in result.disagreements}
    assert all(origin.startswith("opens the output model's gate") for origin in origins)
    worst = max(result.disagreements, key=lambda d: d.max_abs_diff)
    assert worst.max_abs_diff > 10
    assert worst.argmax_flips == 1
    assert any("new suspected gate" in change for change in result.structure)
    assert any(change.startswith("new late join: Where") for change in result.structure)


def test_a_too_tight_tolerance_fails_on_generated_inputs(models: Models) -> None:
    result = check_equivalence(models.float, models.int8, Tolerance(atol=0.0, rtol=0.0, samples=4))
    assert not result.equivalent
    assert {d.origin for d in result.disagreements} <= {f"generated input #{i}" for i in range(1, 5)}


def test_an_if_gate_is_new_control_flow(models: Models, tmp_path: Path) -> None:
    evil = inject(
        onnx.load(models.int8),
        trigger=Trigger.of_image_patch(value=8.0, size=3, top=2, left=2),
        payload=Payload.force_class(1),
        level=Level.L0,
        gate=GateOp.IF,
    )
    changes = structural_changes(onnx.load(models.float), evil)
    assert any(change.startswith("new control flow: If") for change in changes)


def test_faithful_stages_keep_their_late_joins(models: Models) -> None:
    assert late_joins(onnx.load(models.float)) == []
    assert late_joins(onnx.load(models.int8)) == []
    (join,) = late_joins(onnx.load(models.backdoored))
    assert join.op_type == "Where"
    assert join.inputs == ("image",)


def _pipeline(models: Models, quantized: Path) -> None:
    alice, bob = models.keys.private("alice"), models.keys.private("bob")
    lineage.attest("train", inputs=[], output=models.float, keys=[alice], detect_code=False)
    lineage.attest("quantize", inputs=[models.float], output=quantized, keys=[alice, bob], detect_code=False)
    lineage.attest("convert", inputs=[quantized], output=models.converted, keys=[bob], detect_code=False)


def _verify(models: Models, target: Path | None = None) -> Report:
    return lineage.verify_lineage(
        target or models.converted, write_policy(models.directory), check_equivalence=True
    )


def test_verify_passes_a_faithful_pipeline(models: Models) -> None:
    _pipeline(models, models.int8)
    report = _verify(models)
    assert report.findings == ()
    assert report.problems == ()
    quantize, convert = report.details["chain"][1:]
    assert quantize["equivalence"]["equivalent"] is True
    assert convert["equivalence"]["equivalent"] is True
    assert report.details["chain"][0]["equivalence"] is None  # train has no parent to compare with


def test_verify_fails_a_signed_quantizer_that_injected_a_backdoor(models: Models) -> None:
    """The chain and every signature hold; only running both sides shows the quantizer lied."""
    from tests.unit.provenance.lineage.pipeline import convert

    convert(models.backdoored, models.converted)
    _pipeline(models, models.backdoored)
    report = _verify(models)
    assert sorted({f.rule.id for f in report.findings}) == ["MLV1108", "MLV1109"]
    failed = next(f for f in report.findings if f.rule.id == "MLV1108")
    assert failed.confirmed
    assert (
        "stage 'quantize' (bundle line 2): evil.int8.onnx disagrees with its input model.onnx"
        in failed.message
    )
    assert "on the input that opens the output model's gate" in failed.message
    assert (
        report.details["chain"][2]["equivalence"]["equivalent"] is True
    )  # convert kept the backdoor faithfully


def test_missing_intermediate_model_leaves_the_stage_undecided(models: Models) -> None:
    _pipeline(models, models.int8)
    models.int8.unlink()
    report = _verify(models)
    assert report.findings == ()
    assert [p.kind for p in report.problems] == [ProblemKind.UNSUPPORTED, ProblemKind.UNSUPPORTED]
    assert "equivalence not checked:" in report.problems[0].message
    assert "model.int8.onnx is not on disk" in report.problems[0].message


def test_intermediate_model_replaced_on_disk_is_not_run(models: Models) -> None:
    _pipeline(models, models.int8)
    shutil.copyfile(models.backdoored, models.int8)
    report = _verify(models)
    assert "model.int8.onnx on disk is not the attested sha256:" in report.problems[0].message


def test_a_swapped_deployed_model_is_a_no_even_when_its_stage_cannot_run(models: Models) -> None:
    _pipeline(models, models.int8)
    shutil.copyfile(models.backdoored, models.converted)
    report = _verify(models)
    assert [f.rule.id for f in report.findings] == ["MLV1102"]
    assert report.problems == ()
    convert = report.details["chain"][-1]["equivalence"]
    assert convert["checked"] is False
    assert "is not the attested sha256:" in convert["reason"]
