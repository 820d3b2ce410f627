"""Sigstore keyless signing and verification, through the optional ``sigstore`` package.

Signing needs the network (Fulcio, Rekor) and an OIDC identity token. Verification is offline by
default: against a pinned ``trusted_root.json`` when given, else against the trusted root that the
``sigstore`` package embeds (production, or staging on request), with no TUF refresh.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvet.errors import InputError

_INSTALL_HINT = "pip install 'mlvet[sigstore]'"


@dataclass(frozen=True)
class SigstoreIdentity:
    """The signer a Sigstore bundle must name: the certificate identity and the OIDC issuer."""

    identity: str
    issuer: str


@dataclass(frozen=True)
class KeylessResult:
    """The outcome of a Sigstore verification; ``payload`` is set when it held."""

    verified: bool
    reason: str
    payload_type: str = ""
    payload: bytes = b""


class _OfflineNotice(logging.Filter):
    """Drop sigstore's warning that an offline trusted root is not refreshed: offline is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "offline mode" not in record.getMessage()


logging.getLogger("sigstore._internal.tuf").addFilter(_OfflineNotice())


def _require_sigstore() -> None:
    try:
        import sigstore  # noqa: F401
    except ImportError:
        raise InputError("Sigstore support needs the 'sigstore' package", hint=_INSTALL_HINT) from None


def verify_keyless(
    bundle_json: bytes,
    identity: SigstoreIdentity,
    *,
    trusted_root: Path | None = None,
    staging: bool = False,
) -> KeylessResult:
    """Verify a Sigstore DSSE bundle offline against a trusted root and an identity policy."""
    _require_sigstore()
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import VerificationError
    from sigstore.models import Bundle, InvalidBundle, TrustedRoot
    from sigstore.verify import Verifier, policy

    try:
        bundle = Bundle.from_json(bundle_json)
    except (InvalidBundle, ValueError) as exc:
        raise InputError(f"not a valid Sigstore keyless bundle: {exc}") from None
    try:
        if trusted_root is not None:
            verifier = Verifier(trusted_root=TrustedRoot.from_file(str(trusted_root)))
        elif staging:
            verifier = Verifier.staging(offline=True)
        else:
            verifier = Verifier.production(offline=True)
    except (OSError, ValueError, SigstoreError) as exc:
        raise InputError(
            f"cannot load the Sigstore trusted root: {exc}",
            hint="give a trusted_root.json with --trusted-root",
        ) from None
    try:
        payload_type, payload = verifier.verify_dsse(
            bundle, policy.Identity(identity=identity.identity, issuer=identity.issuer)
        )
    except VerificationError as exc:
        return KeylessResult(False, str(exc))
    except (SigstoreError, ValueError) as exc:  # a damaged log entry, certificate or proof
        return KeylessResult(False, f"the Sigstore bundle could not be verified: {exc}")
    return KeylessResult(True, f"signed by {identity.identity} ({identity.issuer})", payload_type, payload)


def sign_keyless(
    statement: bytes, *, identity_token: str | None = None, staging: bool = False
) -> dict[str, Any]:
    """A Sigstore bundle over ``statement`` (needs the network and an OIDC identity)."""
    _require_sigstore()
    from sigstore import dsse, oidc
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig
    from sigstore.sign import SigningContext

    try:
        token_text = identity_token or oidc.detect_credential()
        if not token_text:
            raise InputError(
                "no OIDC identity token for Sigstore signing",
                hint="give --identity-token TOKEN, or run where ambient credentials exist (CI)",
            )
        token = oidc.IdentityToken(token_text)
        config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        context = SigningContext.from_trust_config(config)
        with context.signer(token, cache=False) as signer:
            bundle = signer.sign_dsse(dsse.Statement(statement))
    except SigstoreError as exc:
        raise InputError(
            f"Sigstore signing failed: {exc}", hint="check the network and the identity token"
        ) from None
    result: dict[str, Any] = json.loads(bundle.to_json())
    return result
