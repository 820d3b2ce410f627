from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from mlvet.errors import InputError
from mlvet.provenance.keys import load_signer, load_verifier
from tests.unit.provenance.material import write_key_pair, write_pki


@pytest.mark.parametrize(
    ("kind", "algorithm", "extension"),
    [
        ("p256", "ecdsa-p256-sha256", False),
        ("p384", "ecdsa-p384-sha384", False),
        ("p521", "ecdsa-p521-sha512", False),
        ("ed25519", "ed25519", True),
    ],
)
def test_sign_and_verify_each_algorithm(tmp_path: Path, kind: str, algorithm: str, extension: bool) -> None:
    pair = write_key_pair(tmp_path, kind)
    signer = load_signer(pair.private)
    verifier = load_verifier(pair.public)
    assert signer.algorithm == verifier.algorithm == algorithm
    assert signer.extension is extension
    signature = signer.sign(b"model manifest")
    assert verifier.verify(signature, b"model manifest")
    assert not verifier.verify(signature, b"model manifest!")
    assert not verifier.verify(b"\x30\x02garbage", b"model manifest")
    assert signer.verifier().verify(signature, b"model manifest")


def test_keyid_is_sha256_of_der_spki_and_hint_of_pem(tmp_path: Path) -> None:
    pair = write_key_pair(tmp_path, "p256")
    verifier = load_verifier(pair.public)
    der = serialization.load_pem_public_key(pair.public.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert verifier.keyid == hashlib.sha256(der).hexdigest()
    assert load_signer(pair.private).keyid == verifier.keyid
    assert verifier.pem_hint == hashlib.sha256(pair.public.read_bytes()).hexdigest()
    assert load_signer(pair.private).public_key_pem() == pair.public.read_bytes()


def test_encrypted_key_with_password(tmp_path: Path) -> None:
    pair = write_key_pair(tmp_path, "p384", password=b"s3cret")
    assert load_signer(pair.private, b"s3cret").algorithm == "ecdsa-p384-sha384"
    with pytest.raises(InputError, match="is encrypted") as info:
        load_signer(pair.private)
    assert "--password-file" in info.value.hint
    with pytest.raises(InputError, match="wrong password"):
        load_signer(pair.private, b"nope")


def test_verifier_from_certificate_uses_the_leaf_key(tmp_path: Path) -> None:
    pki = write_pki(tmp_path)
    verifier = load_verifier(pki.leaf)
    signer = load_signer(pki.leaf_key)
    assert verifier.keyid == signer.keyid
    assert len(verifier.certificates) == 1
    assert verifier.verify(signer.sign(b"x"), b"x")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"just some text", "not a PEM file"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot load private key"),
    ],
)
def test_bad_private_key_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_signer(path)


@pytest.mark.parametrize(
    ("kind", "message"), [("rsa", "unsupported key type RSA"), ("secp256k1", "unsupported elliptic curve")]
)
def test_unsupported_keys_are_refused_with_a_hint(tmp_path: Path, kind: str, message: str) -> None:
    pair = write_key_pair(tmp_path, kind)
    with pytest.raises(InputError, match=message) as info:
        load_signer(pair.private)
    assert "P-256" in info.value.hint
    with pytest.raises(InputError, match=message):
        load_verifier(pair.public)


def test_key_roles_are_not_confused(tmp_path: Path) -> None:
    pair = write_key_pair(tmp_path, "p256")
    with pytest.raises(InputError, match="holds no private key"):
        load_signer(pair.public)
    with pytest.raises(InputError, match="holds a private key"):
        load_verifier(pair.private)
    with pytest.raises(InputError, match="is a directory"):
        load_verifier(tmp_path)
