"""``mlvet.diff.diff``: findings and details for each kind of pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvet.diff import Tolerance, diff
from mlvet.errors import InputError
from mlvet.findings import Severity
from mlvet.redteam import Level
from tests.unit.diff.builders import (
    EVIL_TEMPLATE,
    backdoored_byte_mlp,
    fine_tuned,
    hf_directory,
    save_gguf,
    save_onnx,
    save_safetensors,
    save_torch,
    weights,
)


def _rules(report: object) -> dict[str, Severity]:
    return {f.rule.id: f.severity for f in report.findings}  # type: ignore[attr-defined]


def test_benign_fine_tune_gives_low_findings_only(tmp_path: Path) -> None:
    original = weights()
    tuned = fine_tuned(original, scale=0.01)
    report = diff(save_torch(tmp_path / "a.pt", original), save_torch(tmp_path / "b.pt", tuned))
    assert _rules(report) == {"MLV4006": Severity.LOW}
    assert not report.at_or_above(Severity.MEDIUM)
    summary = report.details["summary"]["tensors"]
    assert summary["changed"] == summary["compared"] == len(original)


def test_tiny_fine_tune_within_tolerance_has_no_findings(tmp_path: Path) -> None:
    original = weights()
    report = diff(
        save_safetensors(tmp_path / "a.safetensors", dict(original)),
        save_safetensors(tmp_path / "b.safetensors", dict(fine_tuned(original, scale=1e-6))),
        tolerance=Tolerance(rel_l2=1e-3),
    )
    assert report.findings == ()
    assert report.details["summary"]["tensors"]["changed"] == len(original)


def test_one_edited_layer_is_an_outlier(tmp_path: Path) -> None:
    original = weights(layers=8)
    tuned = fine_tuned(original, scale=0.001)
    tuned["layers.5.weight"] = tuned["layers.5.weight"] * 3
    report = diff(
        save_safetensors(tmp_path / "a.safetensors", dict(original)),
        save_safetensors(tmp_path / "b.safetensors", dict(tuned)),
    )
    (finding,) = report.findings
    assert finding.evidence["outliers"] == ["layers.5.weight"]
    rows = {row["name"]: row for row in report.details["tensors"]}
    assert rows["layers.5.weight"]["outlier"] and not rows["layers.4.weight"]["outlier"]


def test_backdoored_onnx_names_the_new_gate(tmp_path: Path) -> None:
    clean, bad = backdoored_byte_mlp(Level.L0)
    report = diff(save_onnx(tmp_path / "a.onnx", clean), save_onnx(tmp_path / "b.onnx", bad))
    gate = next(f for f in report.findings if f.rule.id == "MLV4001")
    assert gate.severity is Severity.HIGH
    assert gate.location.nodes[0] == gate.evidence["join_node"]
    assert "bytes[:, 0:4] == 41 49 5F 45" in gate.message
    assert _rules(report)["MLV4003"] is Severity.HIGH
    topology = report.details["topology"]["b.onnx"]
    assert topology["new_gates"][0]["predicate"] == gate.evidence["predicate"]
    assert report.details["summary"]["new_gates"] == 1


def test_gguf_pair_with_template_and_eos_changes(tmp_path: Path) -> None:
    tensors = weights(layers=1)
    known = save_gguf(tmp_path / "a.gguf", tensors)
    candidate = save_gguf(
        tmp_path / "b.gguf", tensors, template=EVIL_TEMPLATE, eos=7, tokens=("<s>", "</s>", "<unk>", "a", "x")
    )
    report = diff(known, candidate)
    rules = _rules(report)
    assert rules["MLV4009"] is Severity.HIGH
    assert rules["MLV4010"] is Severity.HIGH
    assert rules["MLV4011"] is Severity.MEDIUM
    assert report.details["vocabulary"]["added_tokens"] == ["x"]
    assert report.details["summary"]["tensors"]["unchanged"] == 2


def test_hf_directories_pair_documents_by_role(tmp_path: Path) -> None:
    report = diff(
        hf_directory(tmp_path / "good", candidate=False), hf_directory(tmp_path / "new", candidate=True)
    )
    rules = _rules(report)
    assert rules["MLV4009"] is Severity.HIGH  # the template gains a sandbox-escape gadget
    specials = {(s["document"], s["pointer"]) for s in report.details["special_tokens"]}
    assert ("special_tokens_map.json", "/eos_token") in specials
    assert ("tokenizer.json", "/added_tokens[content='<|im_end|>']") in specials
    generation = report.details["documents"]["generation_config.json"]
    assert generation[0]["pointer"] == "/max_new_tokens"
    template = report.details["chat_templates"][0]
    assert template["status"] == "changed" and any("__globals__" in c for c in template["new_constructs"])
    assert report.details["files"] == {
        "added": [],
        "removed": [],
        "changed": sorted(  # model.safetensors is diffed tensor by tensor, not listed here
            [
                "tokenizer.json",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "generation_config.json",
            ]
        ),
    }


def test_directory_with_a_corrupt_weight_file_is_a_problem(tmp_path: Path) -> None:
    good = hf_directory(tmp_path / "good", candidate=False)
    bad = hf_directory(tmp_path / "bad", candidate=False)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[:-40])
    report = diff(good, bad)
    assert any("model.safetensors" in p.message for p in report.problems)


def test_mismatched_kinds_and_missing_paths_raise(tmp_path: Path) -> None:
    tensors = weights(layers=1)
    torch_file = save_torch(tmp_path / "a.pt", tensors)
    st_file = save_safetensors(tmp_path / "a.safetensors", dict(tensors))
    with pytest.raises(InputError, match="mismatched formats: the known-good is a PyTorch checkpoint"):
        diff(torch_file, st_file)
    with pytest.raises(InputError, match="does not exist"):
        diff(torch_file, tmp_path / "nope.pt")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(InputError, match="not a model format"):
        diff(torch_file, tmp_path / "junk.bin")


def test_symlinks_in_a_directory_are_recorded_never_followed(tmp_path: Path) -> None:
    good = hf_directory(tmp_path / "good", candidate=False)
    bad = hf_directory(tmp_path / "bad", candidate=False)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read", encoding="utf-8")
    (bad / "notes.txt").symlink_to(secret)
    (good / "notes.txt").write_text("do not read", encoding="utf-8")  # same bytes as the link's target
    report = diff(good, bad)
    assert report.details["files"]["changed"] == ["notes.txt"]  # a link is not its target's content
    assert not report.problems


def test_directory_with_onnx_models_pairs_them_by_path(tmp_path: Path) -> None:
    clean, bad = backdoored_byte_mlp(Level.L2)
    for name, model in (("good", clean), ("bad", bad)):
        (tmp_path / name / "onnx").mkdir(parents=True)
        save_onnx(tmp_path / name / "onnx" / "model.onnx", model)
        (tmp_path / name / "config.json").write_text('{"model_type": "bytes"}', encoding="utf-8")
    report = diff(tmp_path / "good", tmp_path / "bad")
    assert list(report.details["topology"]) == ["onnx/model.onnx"]
    (gate,) = [f for f in report.findings if f.rule.id == "MLV4001"]
    assert gate.location.member == "onnx/model.onnx"
    assert report.details["files"]["changed"] == []  # the compared weights are diffed, not hashed
