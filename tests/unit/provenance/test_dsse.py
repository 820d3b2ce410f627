from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from mlvet.errors import InputError
from mlvet.provenance.dsse import (
    INTOTO_PAYLOAD_TYPE,
    MalformedEnvelope,
    pae,
    sign_envelope,
    verify_envelope,
)
from mlvet.provenance.keys import load_signer, load_verifier
from tests.unit.provenance.material import write_key_pair


def test_pae_matches_the_dsse_specification() -> None:
    # The example of the DSSE v1 protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("t", b"") == b"DSSEv1 1 t 0 "
    assert pae("é", b"x") == "DSSEv1 2 é 1 x".encode()


def test_two_signers_and_verification(tmp_path: Path) -> None:
    alice = write_key_pair(tmp_path, "p256", name="alice")
    bob = write_key_pair(tmp_path, "ed25519", name="bob")
    eve = write_key_pair(tmp_path, "p384", name="eve")
    payload = json.dumps({"_type": "https://in-toto.io/Statement/v1"}).encode()
    envelope = sign_envelope(payload, [load_signer(alice.private), load_signer(bob.private)])
    assert envelope["payloadType"] == INTOTO_PAYLOAD_TYPE
    assert base64.b64decode(envelope["payload"]) == payload
    assert [s["keyid"] for s in envelope["signatures"]] == [
        load_verifier(alice.public).keyid,
        load_verifier(bob.public).keyid,
    ]
    verifiers = [load_verifier(p.public) for p in (alice, bob, eve)]
    result = verify_envelope(envelope, verifiers)
    assert result.payload == payload
    assert result.payload_type == INTOTO_PAYLOAD_TYPE
    assert result.signed_by == (verifiers[0].keyid, verifiers[1].keyid)


def test_keyid_is_only_a_hint(tmp_path: Path) -> None:
    pair = write_key_pair(tmp_path, "p256")
    envelope = sign_envelope(b"{}", [load_signer(pair.private)])
    envelope["signatures"][0]["keyid"] = ""  # as model-signing writes it
    assert verify_envelope(envelope, [load_verifier(pair.public)]).signed_by
    del envelope["signatures"][0]["keyid"]
    assert verify_envelope(envelope, [load_verifier(pair.public)]).signed_by


def test_altered_payload_or_type_verifies_for_nobody(tmp_path: Path) -> None:
    pair = write_key_pair(tmp_path, "p256")
    envelope = sign_envelope(b'{"a": 1}', [load_signer(pair.private)])
    verifier = load_verifier(pair.public)
    tampered = dict(envelope, payload=base64.b64encode(b'{"a": 2}').decode())
    assert verify_envelope(tampered, [verifier]).signed_by == ()
    retyped = dict(envelope, payloadType="application/json")
    assert verify_envelope(retyped, [verifier]).signed_by == ()


def test_url_safe_base64_is_accepted(tmp_path: Path) -> None:
    pair = write_key_pair(tmp_path, "p256")
    envelope = sign_envelope(b"\xfb\xff" * 30, [load_signer(pair.private)])
    envelope["payload"] = base64.urlsafe_b64encode(b"\xfb\xff" * 30).decode().rstrip("=")
    assert verify_envelope(envelope, [load_verifier(pair.public)]).signed_by


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ([], "not a JSON object"),
        ({"payload": "e30="}, "no payloadType"),
        ({"payloadType": "x"}, "no payload"),
        ({"payloadType": "x", "payload": "!!!"}, "not valid base64"),
        ({"payloadType": "x", "payload": "e30=", "signatures": []}, "no signatures"),
        ({"payloadType": "x", "payload": "e30=", "signatures": [{"keyid": "k"}]}, "has no 'sig'"),
        ({"payloadType": "x", "payload": "e30=", "signatures": [{"sig": 5}]}, "not a base64 string"),
    ],
)
def test_malformed_envelopes(tmp_path: Path, envelope: Any, message: str) -> None:
    pair = write_key_pair(tmp_path, "p256")
    with pytest.raises(MalformedEnvelope, match=message) as info:
        verify_envelope(envelope, [load_verifier(pair.public)])
    assert isinstance(info.value, InputError)
