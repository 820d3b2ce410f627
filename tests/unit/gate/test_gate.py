"""``mlvet approve`` and ``mlvet gate``: real keys, real signed approvals, real models, one decision."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.unit.provenance.material import write_key_pair

from mlvet.cli import main
from mlvet.errors import ConfigError
from mlvet.gate import approve, evaluate_gate, load_policy
from mlvet.gate.approvals import approvals_path
from mlvet.provenance.keys import load_signer


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    directory = tmp_path_factory.mktemp("keys")
    pairs = {name: write_key_pair(directory, name=name) for name in ("alice", "bob", "carol", "mallory")}
    return {name: (pair.private, pair.public) for name, pair in pairs.items()}


def _classifier() -> object:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.eye(16, 4, dtype=np.float32), "weight")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["bytes"], ["xf"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["xf", "weight"], ["logits"]),
        ],
        "byte_classifier",
        [helper.make_tensor_value_info("bytes", TensorProto.UINT8, ["batch", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture
def model(tmp_path: Path) -> Path:
    import onnx

    path = tmp_path / "release" / "classifier.onnx"
    path.parent.mkdir()
    onnx.save(_classifier(), str(path))  # type: ignore[arg-type]
    return path


@pytest.fixture
def backdoored(tmp_path: Path) -> Path:
    import onnx

    from mlvet.redteam import Level, Payload, Trigger, inject

    path = tmp_path / "candidate" / "classifier.onnx"
    path.parent.mkdir()
    model = inject(
        _classifier(), trigger=Trigger.of_bytes(b"AI_E"), payload=Payload.force_class(0), level=Level.L0
    )  # type: ignore[arg-type]
    onnx.save(model, str(path))
    return path


def _policy(directory: Path, keys: dict[str, tuple[Path, Path]], body: str) -> Path:
    approvers = "\n".join(f'{name} = "{public}"' for name, (_, public) in keys.items() if name != "mallory")
    path = directory / "policy.toml"
    path.write_text(f'[gate]\nname = "production"\n\n[approvers]\n{approvers}\n\n{body}')
    return path


WEIGHTS_2 = '[checks.scan]\nfail_on = "high"\n[checks.graph]\n\n[approvals.weights]\nrequired = 2\n'


def _approve(model: Path, keys: dict[str, tuple[Path, Path]], name: str, role: str = "weights") -> None:
    approve(model, load_signer(keys[name][0]), role, f"{name} reviewed it")


def _rules(report: object) -> set[str]:
    return {f.rule.id for f in report.findings}  # type: ignore[attr-defined]


def test_two_distinct_approvers_on_a_clean_model_pass(
    model: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    _approve(model, keys, "alice")
    _approve(model, keys, "bob")
    report = evaluate_gate(model, _policy(model.parent, keys, WEIGHTS_2))
    assert report.details["decision"] == "pass", report.findings
    assert report.findings == ()
    (role,) = report.details["approvals"]
    assert role["approved_by"] == ["alice", "bob"]


def test_one_missing_approval_denies(model: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    _approve(model, keys, "alice")
    report = evaluate_gate(model, _policy(model.parent, keys, WEIGHTS_2))
    assert report.details["decision"] == "deny"
    assert _rules(report) == {"MLV5006"}
    assert "1 of 2 required approvals (alice)" in report.findings[0].message


def test_duplicated_approver_counts_once(model: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    _approve(model, keys, "alice")
    _approve(model, keys, "alice")
    report = evaluate_gate(model, _policy(model.parent, keys, WEIGHTS_2))
    assert report.details["decision"] == "deny"
    assert _rules(report) == {"MLV5006", "MLV5008"}


def test_approval_of_other_bytes_does_not_count(
    model: Path, backdoored: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    _approve(model, keys, "alice")
    _approve(model, keys, "bob")
    shutil.copy(approvals_path(model), approvals_path(backdoored))
    report = evaluate_gate(
        backdoored, _policy(backdoored.parent, keys, "[approvals.weights]\nrequired = 2\n")
    )
    assert report.details["decision"] == "deny"
    assert _rules(report) == {"MLV5007", "MLV5006"}
    assert "not this artifact" in next(f.message for f in report.findings if f.rule.id == "MLV5007")


def test_approval_by_an_unknown_key_does_not_count(model: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    _approve(model, keys, "alice")
    _approve(model, keys, "mallory")
    report = evaluate_gate(model, _policy(model.parent, keys, WEIGHTS_2))
    assert _rules(report) == {"MLV5010", "MLV5006"}


def test_a_tampered_approval_line_does_not_count(model: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    _approve(model, keys, "alice")
    _approve(model, keys, "bob")
    path = approvals_path(model)
    lines = path.read_text().splitlines()
    envelope = json.loads(lines[1])
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAAA="
    path.write_text(lines[0] + "\n" + json.dumps(envelope) + "\n")
    report = evaluate_gate(model, _policy(model.parent, keys, WEIGHTS_2))
    assert "MLV5010" in _rules(report)
    assert report.details["decision"] == "deny"


def test_approval_by_the_producer_does_not_count(model: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    from mlvet.provenance.lineage.record import attest

    source = model.parent / "float.onnx"
    shutil.copy(model, source)
    attest("quantize", inputs=[source], output=model, keys=[keys["alice"][0]], detect_code=False)
    _approve(model, keys, "alice")
    _approve(model, keys, "bob")
    report = evaluate_gate(model, _policy(model.parent, keys, WEIGHTS_2))
    assert _rules(report) == {"MLV5009", "MLV5006"}
    assert "alice produced the artifact" in next(f.message for f in report.findings if f.rule.id == "MLV5009")


def test_a_new_trigger_subgraph_denies_through_the_graph_check(
    backdoored: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    _approve(backdoored, keys, "alice")
    _approve(backdoored, keys, "bob")
    report = evaluate_gate(backdoored, _policy(backdoored.parent, keys, WEIGHTS_2))
    assert report.details["decision"] == "deny"
    assert "MLV5002" in _rules(report)


def test_framework_role_approves_the_lock_digest(
    model: Path, tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\ncreated-by = "test"\n')
    approve(model, load_signer(keys["carol"][0]), "framework", "env vetted", lock=lock)
    body = '[approvals.framework]\nrequired = 1\nlock = "../pylock.toml"\n'
    assert evaluate_gate(model, _policy(model.parent, keys, body)).details["decision"] == "pass"
    lock.write_text('lock-version = "1.0"\ncreated-by = "someone else"\n')
    assert _rules(evaluate_gate(model, _policy(model.parent, keys, body))) == {"MLV5007", "MLV5006"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[checks.scan]\nfail-on = "high"\n', "unknown key 'fail-on' in [checks.scan]"),
        ('[checks.scan]\nfail_on = "severe"\n', "unknown severity 'severe'"),
        ("[approvals.weights]\nrequired = 0\n", "required must be a whole number of at least 1"),
        ("[approvals.reviewers]\nrequired = 1\n", "unknown approval role [approvals.reviewers]"),
        ("[approvals.framework]\nrequired = 1\n", "needs 'lock'"),
        ("[checks.lineage]\n", "[checks.lineage] needs 'policy'"),
        ("[checks]\n", "the policy requires nothing"),
        ("[checks.scan\n", "not valid TOML"),
    ],
)
def test_policy_mistakes_are_errors_not_silent_passes(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]], body: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_policy(_policy(tmp_path, keys, body))


def test_cli_prints_every_reason_and_exits_1_on_deny(
    model: Path, keys: dict[str, tuple[Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy(model.parent, keys, WEIGHTS_2)
    assert (
        main(["approve", str(model), "--key", str(keys["alice"][0]), "--role", "weights", "--comment", "ok"])
        == 0
    )
    assert "for role weights" in capsys.readouterr().out
    assert main(["gate", str(model), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "✗ approvals    weights: 1/2 (alice)" in out
    assert "decision: DENY (1 reason)" in out
    assert (
        main(["approve", str(model), "--key", str(keys["bob"][0]), "--role", "weights", "--comment", "ok"])
        == 0
    )
    capsys.readouterr()
    assert main(["gate", str(model), "--policy", str(policy), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["details"]["decision"] == "pass"


def test_cli_policy_typo_exits_2(
    model: Path, keys: dict[str, tuple[Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy(model.parent, keys, '[checks.scan]\nfail-on = "high"\n')
    assert main(["gate", str(model), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'fail-on' in [checks.scan]" in err and "hint: [checks.scan] accepts: fail_on" in err


def test_a_policy_requiring_an_unknown_check_denies(
    model: Path, keys: dict[str, tuple[Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy(model.parent, keys, "[checks.scan]\n[checks.scna]\n")
    report = evaluate_gate(model, policy)
    assert report.details["decision"] == "deny"
    (finding,) = report.findings
    assert finding.rule.id == "MLV5011"
    assert (
        "the policy requires check 'scna', which mlvet does not know (known: scan, graph" in finding.message
    )
    assert main(["gate", str(model), "--policy", str(policy)]) == 1
    assert "✗ scna" in capsys.readouterr().out


def test_cli_approve_with_an_unreadable_key_exits_2(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    assert main(["approve", str(model), "--key", str(bad), "--role", "weights", "--comment", "x"]) == 2
    assert "is not a PEM file" in capsys.readouterr().err


def test_diff_check_denies_a_candidate_with_a_new_trigger_subgraph(
    model: Path, backdoored: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    body = f'[checks.diff]\nknown_good = "{model}"\nmax_severity = "medium"\n'
    report = evaluate_gate(backdoored, _policy(backdoored.parent, keys, body))
    assert report.details["decision"] == "deny"
    reasons = [f.message for f in report.findings if f.rule.id == "MLV5005"]
    assert any(r.startswith("MLV4001 high: new") for r in reasons), reasons
    assert evaluate_gate(model, _policy(model.parent, keys, body)).details["decision"] == "pass"


def test_lineage_check_denies_a_model_without_attested_history(
    model: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    lineage = model.parent / "lineage.toml"
    lineage.write_text(
        f'version = 1\nrequired = ["train"]\n\n[keys]\nalice = "{keys["alice"][1]}"\n\n'
        '[stages.train]\nsigners = ["alice"]\n'
    )
    report = evaluate_gate(model, _policy(model.parent, keys, '[checks.lineage]\npolicy = "lineage.toml"\n'))
    assert report.details["decision"] == "deny"
    assert {f.rule.id for f in report.findings} == {"MLV5003"}


def _site_with_one_distribution(root: Path) -> Path:
    import base64
    import hashlib

    site = root / "site-packages"
    (site / "demo_pkg").mkdir(parents=True)
    (site / "demo_pkg" / "__init__.py").write_text("VALUE = 1\n")
    info = site / "demo_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n")
    rows = []
    for path in (site / "demo_pkg" / "__init__.py", info / "METADATA"):
        data = path.read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path.relative_to(site).as_posix()},sha256={digest},{len(data)}")
    (info / "RECORD").write_text("\n".join([*rows, "demo_pkg-1.0.dist-info/RECORD,,"]) + "\n")
    return site


def test_environment_check_denies_a_modified_framework_file(
    tmp_path: Path, model: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    site = _site_with_one_distribution(tmp_path)
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "demo-pkg"\nversion = "1.0"\n\n'
        '[[packages.wheels]]\nname = "demo_pkg-1.0-py3-none-any.whl"\nurl = "https://files.example/demo.whl"\n'
        f'hashes = {{sha256 = "{"12" * 32}"}}\n'
    )
    body = f'[checks.environment]\nlock = "{lock}"\npath = "{site}"\n'
    assert evaluate_gate(model, _policy(model.parent, keys, body)).details["decision"] == "pass"
    (site / "demo_pkg" / "__init__.py").write_text("import os\nVALUE = 1\n")
    report = evaluate_gate(model, _policy(model.parent, keys, body))
    assert report.details["decision"] == "deny"
    assert any("MLV2001" in f.message for f in report.findings if f.rule.id == "MLV5004")


def test_lineage_check_passes_an_attested_model(model: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    from mlvet.provenance.lineage import attest

    attest("train", inputs=[], output=model, keys=[keys["alice"][0]], detect_code=False)
    lineage = model.parent / "lineage.toml"
    lineage.write_text(
        f'version = 1\nrequired = ["train"]\n\n[keys]\nalice = "{keys["alice"][1]}"\n\n'
        '[stages.train]\nsigners = ["alice"]\n'
    )
    report = evaluate_gate(model, _policy(model.parent, keys, '[checks.lineage]\npolicy = "lineage.toml"\n'))
    assert report.details["decision"] == "pass", [f.message for f in report.findings]
