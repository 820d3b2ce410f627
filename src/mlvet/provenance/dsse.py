"""DSSE v1 envelopes: the pre-authentication encoding, signing, and verification.

An envelope is ``{"payloadType", "payload" (base64), "signatures": [{"keyid", "sig" (base64)}]}``;
each signature covers ``PAE(payloadType, payload)``, never the JSON around it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mlvet.errors import InputError
from mlvet.provenance.keys import Signer, Verifier

INTOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"


class MalformedEnvelope(InputError):
    """A DSSE envelope whose structure is broken (missing fields, bad base64)."""

    hint = "the envelope is damaged or not DSSE; re-create it from the signer"


@dataclass(frozen=True)
class VerifiedEnvelope:
    """The payload of an envelope and the keyids of the given verifiers whose signature held."""

    payload: bytes
    payload_type: str
    signed_by: tuple[str, ...]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload`` with ``payload_type``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_envelope(
    payload: bytes,
    signers: Sequence[Signer],
    payload_type: str = INTOTO_PAYLOAD_TYPE,
) -> dict[str, Any]:
    """A DSSE envelope over ``payload`` with one signature per signer."""
    if not signers:
        raise ValueError("sign_envelope needs at least one signer")
    message = pae(payload_type, payload)
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {"keyid": signer.keyid, "sig": base64.b64encode(signer.sign(message)).decode("ascii")}
            for signer in signers
        ],
    }


def decode_base64(text: object, what: str) -> bytes:
    """Standard or URL-safe base64 (DSSE allows both), padding optional; MalformedEnvelope if not."""
    if not isinstance(text, str):
        raise MalformedEnvelope(f"{what} is not a base64 string")
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEnvelope(f"{what} is not valid base64") from None


def envelope_parts(envelope: Mapping[str, Any]) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    """(payload type, payload, [(keyid, signature)]) of a structurally sound envelope."""
    if not isinstance(envelope, Mapping):
        raise MalformedEnvelope("the DSSE envelope is not a JSON object")
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise MalformedEnvelope("the DSSE envelope has no payloadType")
    if "payload" not in envelope:
        raise MalformedEnvelope("the DSSE envelope has no payload")
    payload = decode_base64(envelope["payload"], "the DSSE payload")
    raw_signatures = envelope.get("signatures")
    if not isinstance(raw_signatures, list) or not raw_signatures:
        raise MalformedEnvelope("the DSSE envelope carries no signatures")
    signatures: list[tuple[str, bytes]] = []
    for index, entry in enumerate(raw_signatures):
        if not isinstance(entry, Mapping) or "sig" not in entry:
            raise MalformedEnvelope(f"DSSE signature #{index} has no 'sig'")
        keyid = entry.get("keyid") or ""
        if not isinstance(keyid, str):
            raise MalformedEnvelope(f"DSSE signature #{index} has a non-string keyid")
        signatures.append((keyid, decode_base64(entry["sig"], f"DSSE signature #{index}")))
    return payload_type, payload, signatures


def verify_envelope(envelope: Mapping[str, Any], verifiers: Sequence[Verifier]) -> VerifiedEnvelope:
    """Check every signature against every verifier; ``signed_by`` lists the keyids that held.

    A signature's own ``keyid`` is only a hint (it may be empty, as model-signing writes it), so each
    signature is tried with every verifier; a verifier counts once however many signatures it made.
    """
    payload_type, payload, signatures = envelope_parts(envelope)
    message = pae(payload_type, payload)
    signed_by: list[str] = []
    for verifier in verifiers:
        keyid = verifier.keyid
        if keyid in signed_by:
            continue
        if any(verifier.verify(sig, message) for _, sig in signatures):
            signed_by.append(keyid)
    return VerifiedEnvelope(payload, payload_type, tuple(signed_by))
