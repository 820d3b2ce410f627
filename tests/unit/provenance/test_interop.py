"""Interoperability with the OMS reference implementation (model-signing), both ways, and real vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import model_signing
import pytest
import sigstore

from mlvet.provenance import SigningIdentity, SigstoreIdentity, TrustInputs, sign, verify
from tests.unit.provenance.conftest import FIXTURES
from tests.unit.provenance.material import write_key_pair, write_pki


def _verified(report: object) -> bool:
    return bool(report.details["verified"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["p256", "p384", "p521"])
def test_model_signing_key_bundles_verify_with_mlvet(tmp_path: Path, model_dir: Path, kind: str) -> None:
    pair = write_key_pair(tmp_path, kind)
    signature = tmp_path / "model.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=pair.private).sign(
        model_dir, signature
    )
    report = verify(model_dir, TrustInputs(key=pair.public), signature=signature)
    assert _verified(report), report.findings
    assert report.details["counts"]["ok"] == 3
    (model_dir / "config.json").write_text("{}")
    report = verify(model_dir, TrustInputs(key=pair.public), signature=signature)
    assert not _verified(report)
    assert [(f.rule.id, f.subject.member) for f in report.findings] == [("MLV1002", "config.json")]


@pytest.mark.parametrize("kind", ["p256", "p521"])
def test_mlvet_key_bundles_verify_with_model_signing(tmp_path: Path, model_dir: Path, kind: str) -> None:
    pair = write_key_pair(tmp_path, kind)
    sign(model_dir, SigningIdentity(key=pair.private))
    signature = model_dir / "model.sig"
    config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pair.public)
    config.verify(model_dir, signature)  # raises ValueError when not verified
    (model_dir / "tokenizer" / "vocab.json").write_text("{}")
    with pytest.raises(ValueError, match=r"vocab\.json"):
        config.verify(model_dir, signature)


def test_certificate_method_both_ways(tmp_path: Path, model_dir: Path) -> None:
    pki = write_pki(tmp_path)
    reference_sig = tmp_path / "reference.sig"
    model_signing.signing.Config().use_certificate_signer(
        private_key=pki.leaf_key, signing_certificate=pki.leaf, certificate_chain=[pki.intermediate]
    ).sign(model_dir, reference_sig)
    report = verify(model_dir, TrustInputs(certificate_chain=(pki.root,)), signature=reference_sig)
    assert _verified(report), report.findings
    assert report.details["chain"] == ["CN=model-signer", "CN=intermediate", "CN=root"]

    sign(
        model_dir,
        SigningIdentity(key=pki.leaf_key, certificate=pki.leaf, certificate_chain=(pki.intermediate,)),
    )
    model_signing.verifying.Config().use_certificate_verifier(certificate_chain=[pki.root]).verify(
        model_dir, model_dir / "model.sig"
    )
    assert _verified(verify(model_dir, TrustInputs(certificate_chain=(pki.root,))))


def test_model_signing_shard_bundles_verify_with_mlvet(tmp_path: Path, model_dir: Path) -> None:
    pair = write_key_pair(tmp_path, "p256")
    signature = tmp_path / "model.sig"
    config = model_signing.signing.Config().use_elliptic_key_signer(private_key=pair.private)
    config.set_hashing_config(model_signing.hashing.Config().use_shard_serialization(shard_size=500))
    config.sign(model_dir, signature)
    report = verify(model_dir, TrustInputs(key=pair.public), signature=signature)
    assert _verified(report), report.findings
    assert report.details["serialization"]["shard_size"] == 500  # written as 500.0 by model-signing
    blob = bytearray((model_dir / "model.safetensors").read_bytes())
    blob[-1] ^= 1
    (model_dir / "model.safetensors").write_bytes(bytes(blob))
    report = verify(model_dir, TrustInputs(key=pair.public), signature=signature)
    assert [(f.rule.id, f.subject.member) for f in report.findings] == [("MLV1002", "model.safetensors")]


def test_single_file_models_both_ways(tmp_path: Path, model_dir: Path) -> None:
    pair = write_key_pair(tmp_path, "p256")
    weights = model_dir / "model.safetensors"
    reference_sig = tmp_path / "reference.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=pair.private).sign(
        weights, reference_sig
    )
    assert _verified(verify(weights, TrustInputs(key=pair.public), signature=reference_sig))  # resource "."
    report = sign(weights, SigningIdentity(key=pair.private))
    assert report.details["signature"] == str(weights) + ".sig"
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pair.public).verify(
        weights, Path(str(weights) + ".sig")
    )


def test_ed25519_is_an_mlvet_extension_that_model_signing_refuses(tmp_path: Path, model_dir: Path) -> None:
    pair = write_key_pair(tmp_path, "ed25519")
    report = sign(model_dir, SigningIdentity(key=pair.private))
    assert [f.rule.id for f in report.findings] == ["MLV1009"]
    checked = verify(model_dir, TrustInputs(key=pair.public))
    assert _verified(checked)
    assert [f.rule.id for f in checked.findings] == ["MLV1009"]
    with pytest.raises(Exception):  # noqa: B017 - model-signing's own error type varies
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pair.public).verify(
            model_dir, model_dir / "model.sig"
        )


@pytest.fixture
def vectors(tmp_path: Path) -> Path:
    copy = tmp_path / "vectors"
    shutil.copytree(FIXTURES, copy)
    return copy


def test_real_model_signing_key_and_certificate_vectors(vectors: Path) -> None:
    key_report = verify(
        vectors / "v1.1.0-elliptic-key",
        TrustInputs(key=vectors / "keys" / "signing-key-pub.pem"),
        ignore_paths=["ignore-me"],
    )
    assert _verified(key_report), key_report.findings
    assert key_report.details["algorithm"] == "ecdsa-p384-sha384"
    cert_report = verify(
        vectors / "v1.1.0-certificate",
        TrustInputs(certificate_chain=(vectors / "keys" / "ca-cert.pem",)),
        ignore_paths=["ignore-me"],
    )
    assert _verified(cert_report), cert_report.findings
    (vectors / "v1.1.0-certificate" / "signme-2").write_text("changed")
    cert_report = verify(
        vectors / "v1.1.0-certificate",
        TrustInputs(certificate_chain=(vectors / "keys" / "ca-cert.pem",)),
        ignore_paths=["ignore-me"],
    )
    assert [f.rule.id for f in cert_report.findings] == ["MLV1002"]


def test_real_legacy_raw_key_vectors(vectors: Path, tmp_path: Path) -> None:
    key = vectors / "keys" / "signing-key-pub.pem"
    single = verify(
        vectors / "v1.0.0-elliptic-key" / "signme-1",
        TrustInputs(key=key),
        signature=vectors / "v1.0.0-elliptic-key" / "model.sig",
    )
    assert _verified(single), single.findings
    legacy = verify(vectors / "v1.0.1-elliptic-key", TrustInputs(key=key), ignore_paths=["ignore-me"])
    assert _verified(legacy), legacy.findings
    stranger = write_key_pair(tmp_path, "p384")
    refused = verify(
        vectors / "v1.0.1-elliptic-key", TrustInputs(key=stranger.public), ignore_paths=["ignore-me"]
    )
    assert [f.rule.id for f in refused.findings] == ["MLV1001"]
    assert "the bundle names another key" in refused.findings[0].message


SIGSTORE_SIGNER = SigstoreIdentity("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2")


def test_real_sigstore_bundle_verifies_offline(vectors: Path) -> None:
    model = vectors / "v1.1.0-sigstore"
    report = verify(model, TrustInputs(identity=SIGSTORE_SIGNER))
    assert _verified(report), report.findings
    assert report.details["method"] == "sigstore"
    assert report.details["counts"]["ok"] == 2

    store = Path(sigstore.__file__).parent / "_store"
    production = next(store.glob("*sigstore.dev*")) / "trusted_root.json"
    staging = next(store.glob("*sigstage.dev*")) / "trusted_root.json"
    pinned = verify(model, TrustInputs(identity=SIGSTORE_SIGNER, trusted_root=production))
    assert _verified(pinned)
    wrong_root = verify(model, TrustInputs(identity=SIGSTORE_SIGNER, trusted_root=staging))
    assert not _verified(wrong_root)
    assert [f.rule.id for f in wrong_root.findings] == ["MLV1001"]


def test_real_sigstore_bundle_with_another_identity_is_not_trusted(vectors: Path) -> None:
    model = vectors / "v1.1.0-sigstore"
    impostor = SigstoreIdentity("someone@example.com", SIGSTORE_SIGNER.issuer)
    report = verify(model, TrustInputs(identity=impostor))
    assert not _verified(report)
    assert [f.rule.id for f in report.findings] == ["MLV1007"]
    assert "someone@example.com" in report.findings[0].message
    issuer = SigstoreIdentity(SIGSTORE_SIGNER.identity, "https://accounts.google.com")
    assert [f.rule.id for f in verify(model, TrustInputs(identity=issuer)).findings] == ["MLV1007"]


def test_real_sigstore_bundle_detects_a_changed_file(vectors: Path) -> None:
    model = vectors / "v1.1.0-sigstore"
    (model / "signme-1").write_text("backdoor")
    report = verify(model, TrustInputs(identity=SIGSTORE_SIGNER))
    assert [(f.rule.id, f.subject.member) for f in report.findings] == [("MLV1002", "signme-1")]
    payload = json.loads((model / "model.sig").read_text())
    assert payload["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
