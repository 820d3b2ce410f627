"""Signing and verification keys: PEM private keys, PEM public keys and X.509 certificates.

Supported: ECDSA on P-256/P-384/P-521 with the digest tied to the curve (SHA-256/384/512), as the
OpenSSF Model Signing algorithm registry and Sigstore use them, and Ed25519 as an **mlvet
extension** (``Signer.extension`` / ``Verifier.extension`` is True): other OMS verifiers reject it.
Signatures are DER-encoded for ECDSA and raw 64 bytes for Ed25519.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mlvet.errors import InputError

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

ED25519: Final = "ed25519"
"""Algorithm name of the mlvet Ed25519 extension (not in the OMS algorithm registry)."""

_CURVES: Final[dict[str, tuple[str, hashes.HashAlgorithm]]] = {
    "secp256r1": ("ecdsa-p256-sha256", hashes.SHA256()),
    "secp384r1": ("ecdsa-p384-sha384", hashes.SHA384()),
    "secp521r1": ("ecdsa-p521-sha512", hashes.SHA512()),
}
_SIGSTORE_DETAILS: Final[dict[str, str]] = {
    "ecdsa-p256-sha256": "PKIX_ECDSA_P256_SHA_256",
    "ecdsa-p384-sha384": "PKIX_ECDSA_P384_SHA_384",
    "ecdsa-p521-sha512": "PKIX_ECDSA_P521_SHA_512",
    ED25519: "PKIX_ED25519",
}
_KEY_HINT: Final = (
    "use a PEM EC key on P-256, P-384 or P-521 (openssl ecparam -name prime256v1 -genkey -noout), "
    "or an Ed25519 key (an mlvet extension)"
)
_MAX_KEY_FILE: Final = 1 << 20


def _algorithm_of(key: PublicKey) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ED25519
    entry = _CURVES.get(key.curve.name)
    if entry is None:
        raise InputError(f"unsupported elliptic curve {key.curve.name}", hint=_KEY_HINT)
    return entry[0]


def _spki_der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _spki_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures; ``certificates`` holds the chain it came from, leaf first."""

    public_key: PublicKey
    certificates: tuple[x509.Certificate, ...] = ()

    @property
    def algorithm(self) -> str:
        return _algorithm_of(self.public_key)

    @property
    def extension(self) -> bool:
        """True for an algorithm outside the OMS registry (Ed25519)."""
        return self.algorithm == ED25519

    @property
    def keyid(self) -> str:
        """Hex SHA-256 of the DER SubjectPublicKeyInfo."""
        return hashlib.sha256(_spki_der(self.public_key)).hexdigest()

    @property
    def pem_hint(self) -> str:
        """Hex SHA-256 of the PEM SubjectPublicKeyInfo: the OMS ``publicKey.hint``."""
        return hashlib.sha256(_spki_pem(self.public_key)).hexdigest()

    @property
    def sigstore_key_details(self) -> str:
        """The Sigstore ``PublicKeyDetails`` name of the algorithm."""
        return _SIGSTORE_DETAILS[self.algorithm]

    def public_key_pem(self) -> bytes:
        return _spki_pem(self.public_key)

    def public_key_der(self) -> bytes:
        return _spki_der(self.public_key)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` is a valid signature of ``data``; False otherwise, never raises."""
        try:
            if isinstance(self.public_key, ed25519.Ed25519PublicKey):
                self.public_key.verify(signature, data)
            else:
                digest = _CURVES[self.public_key.curve.name][1]
                self.public_key.verify(signature, data, ec.ECDSA(digest))
        except (InvalidSignature, ValueError, KeyError, TypeError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key that signs; ``certificates`` is an optional chain (leaf first) to ship along."""

    private_key: PrivateKey
    certificates: tuple[x509.Certificate, ...] = ()

    def verifier(self) -> Verifier:
        return Verifier(self.private_key.public_key(), self.certificates)

    @property
    def algorithm(self) -> str:
        return self.verifier().algorithm

    @property
    def extension(self) -> bool:
        return self.verifier().extension

    @property
    def keyid(self) -> str:
        return self.verifier().keyid

    def public_key_pem(self) -> bytes:
        return self.verifier().public_key_pem()

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return self.private_key.sign(data)
        digest = _CURVES[self.private_key.curve.name][1]
        return self.private_key.sign(data, ec.ECDSA(digest))


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > _MAX_KEY_FILE:
            raise InputError(f"{what} {path} is larger than 1 MiB", hint=_KEY_HINT)
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a directory, not a PEM file") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _check_supported(key: object, path: Path) -> None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise InputError(f"{path}: unsupported elliptic curve {key.curve.name}", hint=_KEY_HINT)
        return
    kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "")
    raise InputError(f"{path}: unsupported key type {kind or 'unknown'}", hint=_KEY_HINT)


def load_signer(
    path: Path,
    password: bytes | None = None,
    certificates: tuple[x509.Certificate, ...] = (),
) -> Signer:
    """The private key in PEM file ``path`` (decrypted with ``password`` when given)."""
    data = _read_key_file(path, "private key")
    if b"-----BEGIN" not in data:
        raise InputError(f"{path} is not a PEM file", hint=_KEY_HINT)
    if b"PRIVATE KEY-----" not in data:
        raise InputError(
            f"{path} holds no private key (a public key or certificate?)",
            hint="sign with the private key; give the public key or certificate to verify",
        )
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        if password is None:
            raise InputError(
                f"private key {path} is encrypted", hint="give its password with --password-file"
            ) from None
        raise InputError(
            f"private key {path} is not encrypted, but a password was given",
            hint="drop --password-file",
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        reason = "wrong password or damaged key" if password is not None else str(exc).split("\n")[0]
        raise InputError(f"cannot load private key {path}: {reason}", hint=_KEY_HINT) from None
    _check_supported(key, path)
    assert isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return Signer(key, certificates)


def load_certificates(path: Path) -> tuple[x509.Certificate, ...]:
    """Every certificate in PEM file ``path``, in file order."""
    data = _read_key_file(path, "certificate file")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise InputError(f"{path} holds no PEM certificate", hint="give a PEM X.509 certificate")
    try:
        return tuple(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise InputError(f"cannot parse certificates in {path}: {exc}") from None


def verifier_from_certificates(certificates: tuple[x509.Certificate, ...], origin: str) -> Verifier:
    """A verifier for the leaf (first) certificate's key, carrying the whole chain."""
    key = certificates[0].public_key()
    _check_supported(key, Path(origin))
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return Verifier(key, certificates)


def public_key_from_bytes(data: bytes, origin: str) -> Verifier:
    """A verifier for a PEM or DER SubjectPublicKeyInfo (as carried in a bundle's ``rawBytes``)."""
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputError(f"cannot load public key from {origin}: {exc}", hint=_KEY_HINT) from None
    _check_supported(key, Path(origin))
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return Verifier(key)


def load_verifier(path: Path) -> Verifier:
    """The public key in PEM file ``path``: a SubjectPublicKeyInfo, or X.509 certificate(s), leaf first."""
    data = _read_key_file(path, "public key")
    if b"-----BEGIN" not in data:
        raise InputError(f"{path} is not a PEM file", hint=_KEY_HINT)
    if b"-----BEGIN CERTIFICATE-----" in data:
        return verifier_from_certificates(load_certificates(path), str(path))
    if b"PRIVATE KEY-----" in data:
        raise InputError(
            f"{path} holds a private key; verification takes the public key",
            hint="export it: openssl ec -in key.pem -pubout -out pub.pem",
        )
    return public_key_from_bytes(data, str(path))
