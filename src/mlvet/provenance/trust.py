"""Check a bundle's signature and its signer against what the user trusts: a key, a CA, an identity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from mlvet.errors import InputError
from mlvet.findings import Rule
from mlvet.provenance.bundle import Bundle, MalformedBundle
from mlvet.provenance.certificates import describe, validate_chain
from mlvet.provenance.dsse import INTOTO_PAYLOAD_TYPE, envelope_parts, verify_envelope
from mlvet.provenance.keyless import SigstoreIdentity, verify_keyless
from mlvet.provenance.keys import (
    Verifier,
    load_certificates,
    load_verifier,
    public_key_from_bytes,
    verifier_from_certificates,
)
from mlvet.provenance.rules import SIGNATURE_INVALID, SIGNER_NOT_TRUSTED


@dataclass(frozen=True)
class TrustInputs:
    """What the verifier trusts: a public key, CA certificates, or a Sigstore identity."""

    key: Path | None = None
    certificate_chain: Sequence[Path] = ()
    identity: SigstoreIdentity | None = None
    trusted_root: Path | None = None
    staging: bool = False


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome: ``payload`` is the signed statement when the signature verified."""

    valid: bool
    trusted: bool
    signer: str
    algorithm: str
    reason: str
    failed_rule: Rule | None = None
    payload: bytes | None = None
    extension: bool = False
    chain: tuple[str, ...] = field(default=())


_WHICH_FLAG = {
    "key": "--key PUB.pem",
    "certificate": "--certificate-chain CA.pem (or --key PUB.pem)",
    "sigstore": "--identity EMAIL_OR_URI --identity-provider ISSUER_URL",
}


def _mismatch(bundle: Bundle, given: str) -> InputError:
    return InputError(
        f"the signature was made with the {bundle.method} method, but {given} was given",
        hint=f"verify it with {_WHICH_FLAG[bundle.method]}",
    )


def _check_with_key(bundle: Bundle, verifier: Verifier) -> SignatureCheck:
    result = verify_envelope(bundle.envelope, [verifier])
    payload = result.payload if result.signed_by else None
    if payload is not None:
        return SignatureCheck(
            True,
            True,
            f"key {verifier.keyid[:16]}",
            verifier.algorithm,
            "signature verified with the given key",
            payload=payload,
            extension=verifier.extension,
        )
    named = _named_key(bundle)
    other = named is not None and named != verifier.pem_hint
    reason = f"the signature does not verify with key {verifier.keyid[:16]}"
    if other:
        reason += " (the bundle names another key: wrong key, or a signature made by someone else)"
    else:
        reason += " (the signed content or the signature was altered)"
    return SignatureCheck(
        False,
        False,
        f"key {verifier.keyid[:16]}",
        verifier.algorithm,
        reason,
        SIGNATURE_INVALID,
        extension=verifier.extension,
    )


def _named_key(bundle: Bundle) -> str | None:
    """The PEM hint of the key the bundle says it was signed with, when it says so readably."""
    try:
        if bundle.certificates:
            return verifier_from_certificates(bundle.certificates, "the bundle").pem_hint
        if bundle.raw_public_key:
            return public_key_from_bytes(bundle.raw_public_key, "the bundle").pem_hint
    except InputError:
        return None
    return bundle.key_hint


def _check_certificate(bundle: Bundle, anchors_files: Sequence[Path]) -> SignatureCheck:
    anchors: list[x509.Certificate] = []
    for path in anchors_files:
        anchors.extend(load_certificates(path))
    leaf = bundle.certificates[0]
    verifier = verifier_from_certificates(bundle.certificates, "the bundle's signing certificate")
    result = verify_envelope(bundle.envelope, [verifier])
    signer = describe(leaf)
    if not result.signed_by:
        return SignatureCheck(
            False,
            False,
            signer,
            verifier.algorithm,
            "the signature does not verify with the bundle's signing certificate",
            SIGNATURE_INVALID,
            extension=verifier.extension,
        )
    chain = validate_chain(leaf, bundle.certificates[1:], anchors)
    if not chain.trusted:
        return SignatureCheck(
            True,
            False,
            signer,
            verifier.algorithm,
            chain.reason,
            SIGNER_NOT_TRUSTED,
            extension=verifier.extension,
        )
    return SignatureCheck(
        True,
        True,
        signer,
        verifier.algorithm,
        "signature verified; " + chain.reason,
        payload=result.payload,
        extension=verifier.extension,
        chain=chain.chain,
    )


def _check_sigstore(bundle: Bundle, trust: TrustInputs) -> SignatureCheck:
    assert trust.identity is not None
    envelope_parts(bundle.envelope)  # structural check before handing over
    result = verify_keyless(
        bundle.data, trust.identity, trusted_root=trust.trusted_root, staging=trust.staging
    )
    signer = f"{trust.identity.identity} ({trust.identity.issuer})"
    try:
        algorithm = verifier_from_certificates(bundle.certificates, "the Fulcio certificate").algorithm
    except InputError:
        algorithm = "unknown"
    if result.verified:
        if result.payload_type != INTOTO_PAYLOAD_TYPE:
            raise MalformedBundle(f"the signed payload is {result.payload_type!r}, not an in-toto statement")
        return SignatureCheck(True, True, signer, algorithm, result.reason, payload=result.payload)
    identity_problem = "Certificate's" in result.reason or "identity" in result.reason.lower()
    rule = SIGNER_NOT_TRUSTED if identity_problem else SIGNATURE_INVALID
    leaf = describe(bundle.certificates[0])
    return SignatureCheck(False, False, f"{leaf} (expected {signer})", algorithm, result.reason, rule)


def check_signature(bundle: Bundle, trust: TrustInputs) -> SignatureCheck:
    """Verify the bundle's DSSE signature and its signer against ``trust``.

    A mismatch between the bundle's method and what the user gave (a key for a Sigstore bundle) is
    an InputError (exit 2): nothing was decided.
    """
    given = [
        name
        for name, value in (
            ("--key", trust.key),
            ("--certificate-chain", trust.certificate_chain),
            ("a Sigstore identity", trust.identity),
        )
        if value
    ]
    if not given:
        raise InputError(
            "nothing to verify against", hint=f"this signature needs {_WHICH_FLAG[bundle.method]}"
        )
    if len(given) > 1:
        raise InputError(
            f"give one of {', '.join(given)}, not several",
            hint=f"this signature needs {_WHICH_FLAG[bundle.method]}",
        )
    if bundle.method == "sigstore":
        if trust.identity is None:
            raise _mismatch(bundle, given[0])
        check = _check_sigstore(bundle, trust)
    elif trust.key is not None:
        check = _check_with_key(bundle, load_verifier(trust.key))
    elif bundle.method == "certificate" and trust.certificate_chain:
        check = _check_certificate(bundle, trust.certificate_chain)
    else:
        raise _mismatch(bundle, given[0])
    if check.payload is not None and bundle.method != "sigstore":
        payload_type = envelope_parts(bundle.envelope)[0]
        if payload_type != INTOTO_PAYLOAD_TYPE:
            raise MalformedBundle(f"the signed payload is {payload_type!r}, not an in-toto statement")
    return check
