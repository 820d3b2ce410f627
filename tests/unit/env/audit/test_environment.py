from __future__ import annotations

import sysconfig
from collections.abc import Callable
from pathlib import Path

from mlvet.env.audit import audit_environment, installed_distributions
from mlvet.env.audit.indexes import IndexConfig
from mlvet.env.audit.models import find_models, model_kind
from mlvet.findings import Report, Severity

NO_INDEX_SETTINGS = [IndexConfig("pip")]


def rules_by_package(report: Report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.evidence.get("package", finding.subject.path), set()).add(finding.rule.id)
    return found


def test_installed_distributions_are_read_from_dist_info(make_site: Callable[..., Path]) -> None:
    site = make_site(("torch", "2.5.1+cpu"), ("Huggingface_Hub", "0.30.0"))
    (site / "broken-1.0.dist-info").mkdir()
    (site / "broken-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\n\n")
    distributions, problems = installed_distributions([site])
    assert [(d.name, d.version) for d in distributions] == [
        ("huggingface-hub", "0.30.0"),
        ("torch", "2.5.1+cpu"),
    ]
    assert len(problems) == 1 and "Name" in problems[0].message


def test_old_torch_beside_a_torch_checkpoint_is_critical(
    make_site: Callable[..., Path], torch_checkpoint: Path
) -> None:
    site = make_site(("torch", "2.5.1+cpu"))
    report = audit_environment([site], model_roots=[torch_checkpoint], index_configs=NO_INDEX_SETTINGS)
    (escalated,) = [f for f in report.findings if f.evidence.get("advisory") == "GHSA-53q9-r3pm-6pq6"]
    assert escalated.rule.id == "MLV2103" and escalated.severity is Severity.CRITICAL
    assert escalated.evidence["model_files"] == [str(torch_checkpoint / "classifier.pt")]
    assert "CVE-2025-32434" in escalated.evidence["aliases"]
    assert escalated.evidence["hint"] == "upgrade to torch>=2.6.0"
    assert report.details["models"]["model_files"] == {"pytorch": 1}


def test_old_torch_without_model_files_keeps_the_advisory_severity(
    make_site: Callable[..., Path], tmp_path: Path
) -> None:
    site = make_site(("torch", "2.5.1+cpu"))
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    report = audit_environment([site], model_roots=[empty], index_configs=NO_INDEX_SETTINGS)
    (plain,) = [f for f in report.findings if f.evidence.get("advisory") == "GHSA-53q9-r3pm-6pq6"]
    assert plain.rule.id == "MLV2101" and plain.severity is Severity.CRITICAL
    (memory,) = [f for f in report.findings if f.evidence.get("advisory") == "GHSA-63cw-57p8-fm3p"]
    assert memory.rule.id == "MLV2101" and memory.severity is Severity.HIGH


def test_a_compromised_ultralytics_release_is_critical(make_site: Callable[..., Path]) -> None:
    site = make_site(("ultralytics", "8.3.41"), ("lightning", "2.6.3"), ("litellm", "1.82.8"))
    report = audit_environment([site], search_models=False, index_configs=NO_INDEX_SETTINGS)
    compromised = {f.evidence["package"]: f for f in report.findings if f.rule.id == "MLV2102"}
    assert set(compromised) == {"ultralytics", "lightning", "litellm"}
    assert all(f.severity is Severity.CRITICAL for f in compromised.values())
    assert compromised["litellm"].evidence["iocs"] == ["litellm_init.pth", "models.litellm.cloud"]


def test_clean_versions_give_a_clean_report(make_site: Callable[..., Path], torch_checkpoint: Path) -> None:
    site = make_site(
        ("torch", "2.13.0+cpu"), ("ultralytics", "8.3.47"), ("keras", "3.15.1"), ("transformers", "5.24.0"),
        ("onnx", "1.23.2"), ("lightning", "2.6.1"), ("pytorch-lightning", "2.6.3"), ("joblib", "1.6.0"),
    )  # fmt: skip
    report = audit_environment([site], model_roots=[torch_checkpoint], index_configs=NO_INDEX_SETTINGS)
    assert report.findings == () and report.problems == ()
    assert report.details["environment"]["distributions"] == 8
    assert report.details["vulnerable"] == []


def test_a_tensorflow_build_distribution_gets_the_tensorflow_advisory(make_site: Callable[..., Path]) -> None:
    site = make_site(("tensorflow-cpu", "2.4.1"), ("tf-nightly", "2.3.0.dev20200601"))
    report = audit_environment([site], search_models=False, index_configs=[])
    yaml = {
        f.evidence["package"]: f
        for f in report.findings
        if f.evidence.get("advisory") == "GHSA-r6jx-9g48-2r5r"
    }
    assert set(yaml) == {"tensorflow-cpu", "tf-nightly"}
    assert yaml["tensorflow-cpu"].evidence["hint"] == "upgrade to tensorflow-cpu>=2.4.3"
    assert "tf-nightly ships the code of tensorflow" in yaml["tf-nightly"].evidence["shipped_as"]
    assert yaml["tf-nightly"].evidence["hint"] == "upgrade to tf-nightly>=2.3.4"


def test_an_installed_typosquat_is_reported_once(make_site: Callable[..., Path]) -> None:
    site = make_site(("torchvisions", "0.1"), ("tоrch", "1.0"), ("torch-utils", "0.0.1"))
    report = audit_environment([site], search_models=False, index_configs=[])
    rules = rules_by_package(report)
    assert rules["torchvisions"] == {"MLV2102"}  # known malicious: the advisory, not also the heuristic
    assert rules["torch-utils"] == {"MLV2203"}


def test_model_files_are_recognised_by_content_not_name(torch_checkpoint: Path, tmp_path: Path) -> None:
    disguised = tmp_path / "weights.txt"
    disguised.write_bytes((torch_checkpoint / "classifier.pt").read_bytes())
    text = tmp_path / "model.pt"
    text.write_text("not a model at all, just text\n")
    assert model_kind(disguised) == "pytorch"
    assert model_kind(text) is None
    inventory = find_models([tmp_path])
    assert inventory.of_kinds(["pytorch"]) == sorted([disguised, torch_checkpoint / "classifier.pt"])


def test_the_model_search_stops_at_its_budget(tmp_path: Path) -> None:
    for index in range(5):
        (tmp_path / f"f{index}.bin").write_bytes(b"\x80\x04K\x01.")
    inventory = find_models([tmp_path], max_files=3)
    assert inventory.truncated and inventory.examined == 3


def test_this_machines_environment_has_no_advisory_or_typosquat_findings() -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    report = audit_environment([site], search_models=False, index_configs=[])
    assert report.details["environment"]["distributions"] > 50
    assert [f.message for f in report.findings] == []
