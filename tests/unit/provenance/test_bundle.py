from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mlvet.provenance.bundle import BUNDLE_MEDIA_TYPE, MalformedBundle, parse_bundle
from mlvet.provenance.manifest import ManifestError
from mlvet.provenance.statement import PREDICATE_TYPE, STATEMENT_TYPE, parse_statement

ENVELOPE = {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": [{"sig": "AA=="}]}


def _bundle(material: object, **extra: object) -> bytes:
    return json.dumps(
        {"mediaType": BUNDLE_MEDIA_TYPE, "verificationMaterial": material, "dsseEnvelope": ENVELOPE, **extra}
    ).encode()


def test_methods_are_told_by_the_verification_material() -> None:
    assert parse_bundle(_bundle({"publicKey": {"hint": "AB"}}), "b").method == "key"
    assert parse_bundle(_bundle({"publicKey": {"hint": "AB"}}), "b").key_hint == "ab"
    raw = parse_bundle(_bundle({"publicKey": {"rawBytes": base64.b64encode(b"k").decode()}}), "b")
    assert raw.raw_public_key == b"k"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"mediaType": ', "is not valid JSON"),
        (b"\xff\xfe", "is not text"),
        (b"[]", "is not a JSON object"),
        (json.dumps({"mediaType": "application/json"}).encode(), "not a Sigstore bundle"),
        (json.dumps({"mediaType": BUNDLE_MEDIA_TYPE}).encode(), "carries no DSSE envelope"),
        (
            json.dumps({"mediaType": BUNDLE_MEDIA_TYPE, "dsseEnvelope": ENVELOPE}).encode(),
            "has no verificationMaterial",
        ),
        (_bundle({"x509CertificateChain": {"certificates": []}}), "the certificate chain is empty"),
        (
            _bundle({"x509CertificateChain": {"certificates": [{"rawBytes": "AAAA"}]}}),
            "is not a DER certificate",
        ),
        (_bundle({"timestampVerificationData": {}}), "has no key, certificate chain or certificate"),
    ],
)
def test_malformed_bundles(data: bytes, message: str) -> None:
    with pytest.raises(MalformedBundle, match=message):
        parse_bundle(data, "model.sig")


def _statement(**changes: object) -> bytes:
    statement: dict[str, object] = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "m", "digest": {"sha256": "00" * 32}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
            "resources": [{"name": "a", "algorithm": "sha256", "digest": "AA" * 32}],
        },
    }
    statement.update(changes)
    return json.dumps(statement).encode()


def test_statement_is_read_with_unknown_fields_ignored() -> None:
    signed = parse_statement(_statement(extra={"ignored": True}))
    assert signed.resources[0].digest == "aa" * 32
    assert signed.serialization.ignore_paths == ()
    assert not signed.consistent


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (_statement(_type="https://in-toto.io/Statement/v0.1"), "not an in-toto Statement v1"),
        (_statement(predicateType="https://model_signing/Digests/v0.1"), "not an OMS v1.0 signature"),
        (_statement(subject=[]), "exactly one subject"),
        (_statement(subject=[{"name": "m", "digest": {"sha512": "00"}}]), "no sha256 digest"),
        (_statement(predicate={"serialization": {"method": "files"}, "resources": []}), "lists no resources"),
        (
            _statement(
                predicate={
                    "serialization": {"method": "files"},
                    "resources": [{"name": "a", "algorithm": "sha256", "digest": "xyz"}],
                }
            ),
            "not hex",
        ),
        (
            _statement(
                predicate={
                    "serialization": {"method": "files"},
                    "resources": [{"name": "a", "algorithm": "sha256", "digest": "00"}] * 2,
                }
            ),
            "a resource twice",
        ),
        (_statement(predicate={"resources": []}), "serialization is missing"),
    ],
)
def test_broken_statements(payload: bytes, message: str, tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_statement(payload)
