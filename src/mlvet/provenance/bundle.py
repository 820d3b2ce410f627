"""Sigstore bundles (v0.3) as OMS uses them: write key and certificate bundles, read any of the three.

The signing method is told by ``verificationMaterial``: ``publicKey`` (key), ``x509CertificateChain``
(certificate: leaf first, then the CA chain) or ``certificate`` with a transparency-log entry
(Sigstore keyless).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mlvet.errors import InputError
from mlvet.provenance.dsse import decode_base64
from mlvet.provenance.keys import Verifier

BUNDLE_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
ACCEPTED_MEDIA_TYPES: Final = (
    BUNDLE_MEDIA_TYPE,
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
)
MAX_BUNDLE_BYTES: Final = 64 << 20


class MalformedBundle(InputError):
    """A signature file that is not a readable Sigstore bundle."""

    hint = "the signature file is truncated, damaged or not a model signature; sign the model again"


@dataclass(frozen=True)
class Bundle:
    """A parsed bundle: its signing method, DSSE envelope and verification material."""

    method: str
    """``key``, ``certificate`` or ``sigstore``."""
    envelope: Mapping[str, Any]
    raw: Mapping[str, Any]
    key_hint: str | None = None
    raw_public_key: bytes | None = None
    certificates: tuple[x509.Certificate, ...] = field(default=())
    data: bytes = field(default=b"", repr=False)
    """The bundle's bytes as read (Sigstore verification parses them itself)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_bundle(envelope: Mapping[str, Any], verifier: Verifier) -> dict[str, Any]:
    """A bundle naming the signing key by ``publicKey.hint`` (SHA-256 of the PEM SPKI), as OMS does."""
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": verifier.pem_hint}, "tlogEntries": []},
        "dsseEnvelope": dict(envelope),
    }


def certificate_bundle(
    envelope: Mapping[str, Any], certificates: tuple[x509.Certificate, ...]
) -> dict[str, Any]:
    """A bundle carrying the signing certificate and its chain (leaf first), base64 DER."""
    chain = [{"rawBytes": _b64(cert.public_bytes(Encoding.DER))} for cert in certificates]
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"x509CertificateChain": {"certificates": chain}, "tlogEntries": []},
        "dsseEnvelope": dict(envelope),
    }


def _certificate(entry: object, what: str) -> x509.Certificate:
    if not isinstance(entry, Mapping):
        raise MalformedBundle(f"{what} is not an object")
    try:
        return x509.load_der_x509_certificate(decode_base64(entry.get("rawBytes"), what))
    except ValueError as exc:
        raise MalformedBundle(f"{what} is not a DER certificate: {exc}") from None


def parse_bundle(data: bytes, origin: str) -> Bundle:
    """Parse the JSON bytes of a bundle; MalformedBundle when they are not one."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedBundle(f"{origin} is not text (UTF-8 JSON expected)") from None
    except json.JSONDecodeError as exc:
        raise MalformedBundle(f"{origin} is not valid JSON ({exc.msg} at byte {exc.pos})") from None
    if not isinstance(raw, Mapping):
        raise MalformedBundle(f"{origin} is not a JSON object")
    media_type = raw.get("mediaType")
    if media_type not in ACCEPTED_MEDIA_TYPES:
        raise MalformedBundle(f"{origin} has media type {media_type!r}, not a Sigstore bundle")
    envelope = raw.get("dsseEnvelope")
    if not isinstance(envelope, Mapping):
        raise MalformedBundle(
            f"{origin} carries no DSSE envelope (a message signature is not a model signature)"
        )
    material = raw.get("verificationMaterial")
    if not isinstance(material, Mapping):
        raise MalformedBundle(f"{origin} has no verificationMaterial")
    if "publicKey" in material:
        public_key = material["publicKey"]
        if not isinstance(public_key, Mapping):
            raise MalformedBundle(f"{origin}: verificationMaterial.publicKey is not an object")
        hint = public_key.get("hint")
        raw_key = public_key.get("rawBytes")
        return Bundle(
            "key",
            envelope,
            raw,
            key_hint=hint.lower() if isinstance(hint, str) and hint else None,
            raw_public_key=decode_base64(raw_key, "publicKey.rawBytes") if raw_key else None,
            data=data,
        )
    if "x509CertificateChain" in material:
        chain = material["x509CertificateChain"]
        entries = chain.get("certificates") if isinstance(chain, Mapping) else None
        if not isinstance(entries, list) or not entries:
            raise MalformedBundle(f"{origin}: the certificate chain is empty")
        certificates = tuple(
            _certificate(entry, f"certificate #{index}") for index, entry in enumerate(entries)
        )
        return Bundle("certificate", envelope, raw, certificates=certificates, data=data)
    if "certificate" in material:
        leaf = _certificate(material["certificate"], "verificationMaterial.certificate")
        return Bundle("sigstore", envelope, raw, certificates=(leaf,), data=data)
    raise MalformedBundle(f"{origin}: verificationMaterial has no key, certificate chain or certificate")


def read_bundle(path: Path) -> Bundle:
    """Read and parse the signature file at ``path``."""
    try:
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise MalformedBundle(f"signature {path} is larger than 64 MiB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"signature {path} does not exist", hint="sign the model first, or give --signature PATH"
        ) from None
    except IsADirectoryError:
        raise InputError(f"signature {path} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read signature {path}: {exc.strerror or exc}") from None
    return parse_bundle(data, str(path))
