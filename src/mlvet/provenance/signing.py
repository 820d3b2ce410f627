"""Sign a model (a file or a directory) in the OpenSSF Model Signing v1.0 format.

The bundle is a Sigstore bundle v0.3 holding a DSSE envelope holding an in-toto Statement v1 whose
predicate lists every file's SHA-256 (``https://model_signing/signature/v1.0``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from mlvet import __version__
from mlvet.errors import InputError
from mlvet.findings import Finding, Location, Report, Subject
from mlvet.provenance.bundle import certificate_bundle, key_bundle
from mlvet.provenance.dsse import sign_envelope
from mlvet.provenance.hashing import ProgressSink
from mlvet.provenance.keyless import sign_keyless
from mlvet.provenance.keys import Signer, load_certificates, load_signer
from mlvet.provenance.listing import normalize_ignore_path
from mlvet.provenance.manifest import (
    DEFAULT_SIGNATURE_NAME,
    Manifest,
    Serialization,
    build_manifest,
    default_ignores,
)
from mlvet.provenance.rules import ED25519_EXTENSION
from mlvet.provenance.statement import statement_bytes


def default_signature_path(model: Path) -> Path:
    """``MODEL_DIR/model.sig`` for a directory, ``FILE.sig`` beside a single file."""
    if model.is_dir():
        return model / DEFAULT_SIGNATURE_NAME
    return model.with_name(model.name + ".sig")


@dataclass(frozen=True)
class SigningIdentity:
    """How to sign: a key (optionally with its certificate chain), or Sigstore keyless."""

    key: Path | None = None
    password: bytes | None = None
    certificate: Path | None = None
    certificate_chain: Sequence[Path] = ()
    sigstore: bool = False
    identity_token: str | None = None
    staging: bool = False


def _load_signer(identity: SigningIdentity) -> Signer:
    if identity.key is None:
        raise InputError("no signing key", hint="give --key KEY.pem, or --sigstore for keyless signing")
    certificates: tuple[x509.Certificate, ...] = ()
    if identity.certificate is not None:
        certificates = load_certificates(identity.certificate)
        for extra in identity.certificate_chain:
            certificates += load_certificates(extra)
    elif identity.certificate_chain:
        raise InputError(
            "--certificate-chain needs --certificate (the signing certificate)",
            hint="give the leaf with --certificate and its CA chain with --certificate-chain",
        )
    signer = load_signer(identity.key, identity.password, certificates)
    if certificates and certificates[0].public_key() != signer.private_key.public_key():
        raise InputError(
            f"the certificate {identity.certificate} is not for the key {identity.key}",
            hint="give the certificate issued for this private key",
        )
    return signer


def _write_atomically(path: Path, data: bytes) -> None:
    directory = path.parent if str(path.parent) else Path()
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        Path(temporary).replace(path)
    except OSError as exc:
        raise InputError(f"cannot write signature {path}: {exc.strerror or exc}") from None


def sign(
    model: Path | str,
    identity: SigningIdentity | None = None,
    *,
    key: Path | str | None = None,
    signature: Path | str | None = None,
    ignore_paths: Sequence[str] = (),
    ignore_git_paths: bool = True,
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: ProgressSink | None = None,
) -> Report:
    """Hash ``model``, sign its manifest, write the bundle to ``signature``; a Report of what was signed.

    ``key`` is a shorthand for ``identity=SigningIdentity(key=...)``.
    """
    model = Path(model)
    if identity is None:
        identity = SigningIdentity(key=Path(key) if key is not None else None)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    signature = Path(signature) if signature is not None else default_signature_path(model)
    if not model.exists():
        raise InputError(f"model {model} does not exist")
    signer = None if identity.sigstore else _load_signer(identity)
    user_ignores = [normalize_ignore_path(path, model) for path in ignore_paths]
    serialization = Serialization(
        allow_symlinks=allow_symlinks,
        ignore_paths=default_ignores(model, signature, user_ignores, git=ignore_git_paths),
    )
    manifest = build_manifest(model, serialization, workers=workers, progress=progress)
    payload = statement_bytes(manifest)
    bundle: dict[str, Any]
    if signer is None:
        bundle = sign_keyless(payload, identity_token=identity.identity_token, staging=identity.staging)
    else:
        envelope = sign_envelope(payload, [signer])
        if signer.certificates:
            bundle = certificate_bundle(envelope, signer.certificates)
        else:
            bundle = key_bundle(envelope, signer.verifier())
    _write_atomically(signature, json.dumps(bundle).encode())
    return _report(model, signature, manifest, signer, started, time.perf_counter() - clock)


def _report(
    model: Path,
    signature: Path,
    manifest: Manifest,
    signer: Signer | None,
    started: datetime,
    seconds: float,
) -> Report:
    total = sum(item.size for item in manifest.listing.files) if manifest.listing else 0
    method = "sigstore" if signer is None else ("certificate" if signer.certificates else "key")
    model_subject = Subject(str(model), format="model", sha256=manifest.root_digest, size=total)
    findings: tuple[Finding, ...] = ()
    if signer is not None and signer.extension:
        findings = (
            Finding(
                ED25519_EXTENSION,
                ED25519_EXTENSION.severity,
                Subject(str(signature), format="sigstore-bundle"),
                Location(pointer="/dsseEnvelope/signatures/0"),
                "signed with Ed25519, an mlvet extension: model-signing and other OMS verifiers reject it",
            ),
        )
    details = {
        "model": str(model),
        "signature": str(signature),
        "method": method,
        "algorithm": signer.algorithm if signer else "sigstore",
        "extension": bool(signer and signer.extension),
        "keyid": signer.keyid if signer else None,
        "root_digest": manifest.root_digest,
        "files": len(manifest.resources),
        "bytes": total,
        "seconds": round(seconds, 3),
        "serialization": manifest.serialization.to_json(),
    }
    return Report(
        tool_version=__version__,
        started=started,
        finished=datetime.now(UTC),
        subjects=(model_subject,),
        findings=findings,
        details=details,
    )
