"""X.509 chain validation for the OMS certificate method (a private PKI).

The bundle carries the signing certificate and its intermediates; the user names the trust anchors
(``--certificate-chain``). The chain is built and checked with ``cryptography.x509.verification``
at the current time: OMS §8.2 requires the leaf to be within its validity period (model-signing
1.1.1 checks at the leaf's notBefore instead, so it accepts expired leaves that mlvet refuses).
The leaf must allow digital signatures (KeyUsage) or code signing (EKU).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError


@dataclass(frozen=True)
class ChainResult:
    """Whether the chain reached a trust anchor, and why not when it did not."""

    trusted: bool
    reason: str
    subject: str
    chain: tuple[str, ...] = ()


def describe(certificate: x509.Certificate) -> str:
    """The subject of a certificate as RFC 4514 text, or its SAN e-mail / URI when the subject is empty."""
    text = certificate.subject.rfc4514_string()
    if text:
        return text
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "(no subject)"
    names = san.get_values_for_type(x509.RFC822Name) + san.get_values_for_type(x509.UniformResourceIdentifier)
    return names[0] if names else "(no subject)"


def _usage_problem(leaf: x509.Certificate) -> str | None:
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if usage.digital_signature:
            return None
    except x509.ExtensionNotFound:
        usage = None
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING in eku:
            return None
    except x509.ExtensionNotFound:
        pass
    if usage is None:
        return "the signing certificate has neither KeyUsage digitalSignature nor EKU codeSigning"
    return "the signing certificate's KeyUsage does not allow digital signatures"


def validate_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    at: datetime.datetime | None = None,
) -> ChainResult:
    """Build a path from ``leaf`` through ``intermediates`` to one of ``anchors``, valid at ``at`` (now)."""
    when = at or datetime.datetime.now(datetime.UTC)
    subject = describe(leaf)
    if not anchors:
        return ChainResult(False, "no trust anchors given", subject)
    if when < leaf.not_valid_before_utc:
        return ChainResult(
            False,
            f"the signing certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC",
            subject,
        )
    if when > leaf.not_valid_after_utc:
        return ChainResult(
            False,
            f"the signing certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
            subject,
        )
    usage = _usage_problem(leaf)
    if usage:
        return ChainResult(False, usage, subject)
    builder = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(when)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
    )
    try:
        verified = builder.build_client_verifier().verify(leaf, list(intermediates))
    except VerificationError as exc:
        return ChainResult(False, f"the certificate chain does not lead to a trusted root: {exc}", subject)
    return ChainResult(
        True, "chain leads to a trust anchor", subject, tuple(describe(c) for c in verified.chain)
    )
