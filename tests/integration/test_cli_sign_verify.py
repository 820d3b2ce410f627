"""``mlvet sign`` and ``mlvet verify`` end to end, in-process: exit codes, messages, JSON, bad input."""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from mlvet.cli import main
from mlvet.provenance.dsse import sign_envelope
from mlvet.provenance.keys import load_signer
from mlvet.provenance.manifest import Resource, root_digest
from tests.unit.provenance.material import KeyPair, write_key_pair, write_model, write_pki


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return write_key_pair(tmp_path, "p256", name="signer")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model")


@pytest.fixture
def signed(model: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["sign", str(model), "--key", str(keys.private)]) == 0
    capsys.readouterr()
    return model


def _verify_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["verify", *argv, "-f", "json"])
    return code, json.loads(capsys.readouterr().out)


def _rules(document: dict[str, Any]) -> list[str]:
    return [finding["rule_id"] for finding in document["findings"]]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err


def test_sign_then_verify(model: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sign", str(model), "--key", str(keys.private)]) == 0
    out = capsys.readouterr().out
    assert f"signed {model}: 3 files" in out
    assert f"signature    {model}/model.sig" in out
    assert "model.sig" in out.split("ignored", 1)[1]
    assert main(["verify", str(model), "--key", str(keys.public)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"VERIFIED  {model}\n")
    assert "3 ok" in out


def test_verify_json_details(signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _verify_json(capsys, str(signed), "--key", str(keys.public))
    assert code == 0
    details = document["details"]
    assert details["verified"] is True
    assert details["signature_valid"] and details["signer_trusted"]
    assert details["method"] == "key"
    assert details["counts"] == {
        "ok": 3,
        "changed": 0,
        "missing": 0,
        "extra": 0,
        "symlink": 0,
        "unhashable": 0,
    }
    assert [row["name"] for row in details["files"]] == [
        "config.json",
        "model.safetensors",
        "tokenizer/vocab.json",
    ]
    assert details["root_digest_consistent"] is True
    assert details["serialization"]["ignore_paths"][-1] == "model.sig"


def test_changed_missing_and_extra_files_exit_1(
    signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    (signed / "config.json").write_text('{"hidden_size": 17}')
    (signed / "tokenizer" / "vocab.json").unlink()
    (signed / "extra.pkl").write_bytes(b"\x80\x04N.")
    assert main(["verify", str(signed), "--key", str(keys.public)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"NOT VERIFIED  {signed}\n")
    assert "1 ok, 1 changed, 1 missing, 1 extra" in out
    assert "  changed    config.json\n" in out
    assert "  missing    tokenizer/vocab.json\n" in out
    assert "  extra      extra.pkl\n" in out
    code, document = _verify_json(capsys, str(signed), "--key", str(keys.public))
    assert code == 1
    assert _rules(document) == ["MLV1002", "MLV1004", "MLV1003"]


def test_ignore_unsigned_files(signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    (signed / "README.md").write_text("notes")
    assert main(["verify", str(signed), "--key", str(keys.public)]) == 1
    assert main(["verify", str(signed), "--key", str(keys.public), "--ignore-unsigned-files"]) == 0
    assert main(["verify", str(signed), "--key", str(keys.public), "--ignore-paths", "README.md"]) == 0


def test_sarif_output(signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    (signed / "config.json").write_text("{}")
    assert main(["verify", str(signed), "--key", str(keys.public), "-f", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["runs"][0]["results"][0]["ruleId"] == "MLV1002"


# --- bad input: one test per case, each checking the message and the exit code -------------------


def test_truncated_bundle_exits_2(signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    signature = signed / "model.sig"
    signature.write_bytes(signature.read_bytes()[:200])
    assert main(["verify", str(signed), "--key", str(keys.public)]) == 2
    err = _error(capsys)
    assert "model.sig is not valid JSON" in err
    assert "hint: the signature file is truncated, damaged" in err


def test_tampered_payload_exits_1(signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    signature = signed / "model.sig"
    bundle = json.loads(signature.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "00" * 32
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    signature.write_text(json.dumps(bundle))
    code, document = _verify_json(capsys, str(signed), "--key", str(keys.public))
    assert code == 1
    assert _rules(document) == ["MLV1001"]
    assert "signed content or the signature was altered" in document["findings"][0]["message"]
    assert document["details"]["files"] == []


def test_damaged_envelope_exits_2(signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    signature = signed / "model.sig"
    bundle = json.loads(signature.read_text())
    bundle["dsseEnvelope"]["payload"] = "%%% not base64 %%%"
    signature.write_text(json.dumps(bundle))
    assert main(["verify", str(signed), "--key", str(keys.public)]) == 2
    assert "the DSSE payload is not valid base64" in _error(capsys)


def test_wrong_key_exits_1(signed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = write_key_pair(tmp_path, "p256", name="other")
    assert main(["verify", str(signed), "--key", str(other.public)]) == 1
    out = capsys.readouterr().out
    assert "signature  INVALID" in out
    assert "the bundle names another key" in out


def test_expired_certificate_exits_1(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki = write_pki(tmp_path, leaf_days=(-30, -1))
    argv = ["sign", str(model), "--key", str(pki.leaf_key), "--certificate", str(pki.leaf)]
    assert main([*argv, "--certificate-chain", str(pki.intermediate)]) == 0
    capsys.readouterr()
    code, document = _verify_json(capsys, str(model), "--certificate-chain", str(pki.root))
    assert code == 1
    assert _rules(document) == ["MLV1007"]
    assert "the signing certificate expired on" in document["findings"][0]["message"]
    assert document["details"]["signature_valid"] is True
    assert document["details"]["signer_trusted"] is False


def test_certificate_from_another_ca_exits_1(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = write_pki(tmp_path)
    stranger = write_pki(tmp_path, prefix="other-")
    argv = ["sign", str(model), "--key", str(pki.leaf_key), "--certificate", str(pki.leaf)]
    assert main([*argv, "--certificate-chain", str(pki.intermediate)]) == 0
    capsys.readouterr()
    code, document = _verify_json(capsys, str(model), "--certificate-chain", str(stranger.root))
    assert code == 1
    assert "does not lead to a trusted root" in document["findings"][0]["message"]
    assert main(["verify", str(model), "--certificate-chain", str(pki.root)]) == 0


def test_certificate_not_for_signing_exits_1(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = write_pki(tmp_path, code_signing=False)
    assert (
        main(
            [
                "sign",
                str(model),
                "--key",
                str(pki.leaf_key),
                "--certificate",
                str(pki.leaf),
                "--certificate-chain",
                str(pki.intermediate),
            ]
        )
        == 0
    )
    capsys.readouterr()
    code, document = _verify_json(capsys, str(model), "--certificate-chain", str(pki.root))
    assert code == 1
    assert "does not allow digital signatures" in document["findings"][0]["message"]


def test_certificate_for_another_key_is_refused(
    model: Path, tmp_path: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = write_pki(tmp_path)
    assert main(["sign", str(model), "--key", str(keys.private), "--certificate", str(pki.leaf)]) == 2
    assert "is not for the key" in _error(capsys)


def _resign(model: Path, keys: KeyPair, edit: Any) -> None:
    """Re-sign the model's statement after ``edit`` changed it: a signer that made a bad manifest."""
    signature = model / "model.sig"
    bundle = json.loads(signature.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    edit(statement)
    envelope = sign_envelope(json.dumps(statement).encode(), [load_signer(keys.private)])
    bundle["dsseEnvelope"] = envelope
    signature.write_text(json.dumps(bundle))


def test_reordered_resources(signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    original = (signed / "model.sig").read_bytes()
    # Reordered by someone without the key: the payload bytes changed, so the signature fails.
    bundle = json.loads(original)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"].reverse()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (signed / "model.sig").write_text(json.dumps(bundle))
    code, document = _verify_json(capsys, str(signed), "--key", str(keys.public))
    assert (code, _rules(document)) == (1, ["MLV1001"])
    # Reordered and signed: the root digest no longer matches the listed order.
    (signed / "model.sig").write_bytes(original)
    _resign(signed, keys, lambda s: s["predicate"]["resources"].reverse())
    code, document = _verify_json(capsys, str(signed), "--key", str(keys.public))
    assert (code, _rules(document)) == (1, ["MLV1006"])
    assert document["details"]["root_digest_consistent"] is False
    assert document["details"]["counts"]["ok"] == 3


def test_consistent_but_reordered_manifest_still_verifies(
    signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    def reorder(statement: dict[str, Any]) -> None:
        resources = statement["predicate"]["resources"][::-1]
        statement["predicate"]["resources"] = resources
        listed = [Resource(r["name"], r["algorithm"], r["digest"]) for r in resources]
        statement["subject"][0]["digest"]["sha256"] = root_digest(listed)

    _resign(signed, keys, reorder)
    assert main(["verify", str(signed), "--key", str(keys.public)]) == 0


def test_symlink_to_outside_in_place_of_a_signed_file(
    signed: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "outside.json"
    shutil.copy(signed / "config.json", secret)  # the same bytes: only the link itself is wrong
    (signed / "config.json").unlink()
    (signed / "config.json").symlink_to(secret)
    code, document = _verify_json(capsys, str(signed), "--key", str(keys.public))
    assert code == 1
    assert _rules(document) == ["MLV1008"]
    message = document["findings"][0]["message"]
    assert "config.json is a symlink -> " in message
    assert "outside the model; not followed) in place of a signed file" in message


def test_signed_symlink_swapped_for_a_file(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared-vocab.json"
    shared.write_text('{"a": 1}')
    (model / "vocab-link.json").symlink_to(shared)
    assert main(["sign", str(model), "--key", str(keys.private)]) == 2
    assert "contains symlinks: vocab-link.json" in _error(capsys)
    assert main(["sign", str(model), "--key", str(keys.private), "--allow-symlinks"]) == 0
    capsys.readouterr()
    code, document = _verify_json(capsys, str(model), "--key", str(keys.public))
    assert code == 1  # the signed policy allows the link, but it leaves the model: reported
    assert [(f["rule_id"], f["severity"]) for f in document["findings"]] == [("MLV1008", "medium")]
    (model / "vocab-link.json").unlink()
    (model / "vocab-link.json").write_text('{"a": 2}')
    code, document = _verify_json(capsys, str(model), "--key", str(keys.public))
    assert (code, _rules(document)) == (1, ["MLV1002"])


def test_bundle_for_another_model_exits_1(
    signed: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_model(tmp_path / "other", seed=7)
    code, document = _verify_json(
        capsys, str(other), "--key", str(keys.public), "--signature", str(signed / "model.sig")
    )
    assert code == 1
    assert _rules(document) == ["MLV1005"]
    assert "the signature is for another model (signed as 'model')" in document["findings"][0]["message"]


def test_unhashable_entry_is_reported(
    signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    os.mkfifo(signed / "pipe")
    code, document = _verify_json(capsys, str(signed), "--key", str(keys.public))
    assert (code, _rules(document)) == (1, ["MLV1010"])


def test_missing_signature_exits_2(model: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(model), "--key", str(keys.public)]) == 2
    err = _error(capsys)
    assert f"signature {model}/model.sig does not exist" in err
    assert "hint: sign the model first" in err


def test_missing_model_and_bad_key_exit_2(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", str(tmp_path / "nope"), "--key", str(keys.private)]) == 2
    assert "does not exist" in _error(capsys)
    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("hello")
    assert main(["sign", str(model), "--key", str(not_a_key)]) == 2
    assert "is not a PEM file" in _error(capsys)
    rsa = write_key_pair(tmp_path, "rsa")
    assert main(["sign", str(model), "--key", str(rsa.private)]) == 2
    assert "unsupported key type RSA" in _error(capsys)


def test_encrypted_key_needs_the_password_file(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = write_key_pair(tmp_path, "p384", password=b"correct horse", name="locked")
    assert main(["sign", str(model), "--key", str(pair.private)]) == 2
    assert "hint: give its password with --password-file" in _error(capsys)
    password = tmp_path / "password.txt"
    password.write_text("correct horse\n")
    assert main(["sign", str(model), "--key", str(pair.private), "--password-file", str(password)]) == 0


def test_method_mismatch_exits_2(signed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki = write_pki(tmp_path)
    assert main(["verify", str(signed), "--certificate-chain", str(pki.root)]) == 2
    err = _error(capsys)
    assert "made with the key method" in err
    assert "hint: verify it with --key PUB.pem" in err
    assert main(["verify", str(signed)]) == 2
    assert "nothing to verify against" in _error(capsys)
    assert main(["verify", str(signed), "--identity", "a@b.c"]) == 2
    assert "--identity and --identity-provider go together" in _error(capsys)


def test_not_a_model_signature_exits_2(
    signed: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    _resign(signed, keys, lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"))
    assert main(["verify", str(signed), "--key", str(keys.public)]) == 2
    assert "not an OMS v1.0 signature" in _error(capsys)


def test_sign_usage_errors_exit_2(model: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sign", str(model)]) == 2
    assert "exactly one of --key KEY.pem and --sigstore" in _error(capsys)
    assert main(["sign", str(model), "--key", str(keys.private), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in _error(capsys)


def test_missing_sigstore_package_says_which_extra(
    model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sigstore", None)  # as if the extra were not installed
    assert main(["sign", str(model), "--sigstore"]) == 2
    assert "hint: pip install 'mlvet[sigstore]'" in _error(capsys)


def test_sigstore_signing_with_a_malformed_token_exits_2(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", str(model), "--sigstore", "--identity-token", "not-a-jwt"]) == 2
    err = _error(capsys)
    assert "Sigstore signing failed: Identity token is malformed" in err
    assert not (model / "model.sig").exists()


def test_sign_json_and_output_file(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", str(model), "--key", str(keys.private), "-f", "json"]) == 0
    details = json.loads(capsys.readouterr().out)["details"]
    assert details["method"] == "key"
    assert details["files"] == 3
    assert details["keyid"] == load_signer(keys.private).keyid
    summary = tmp_path / "verify.txt"
    assert main(["verify", str(model), "--key", str(keys.public), "-o", str(summary)]) == 0
    assert capsys.readouterr().out == ""
    assert summary.read_text().startswith("VERIFIED  ")
