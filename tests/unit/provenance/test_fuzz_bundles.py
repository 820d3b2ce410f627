"""Damaged signatures never crash verification and never verify."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.errors import InputError
from mlvet.provenance import TrustInputs, sign, verify
from tests.unit.provenance.material import KeyPair


def test_byte_flips_in_a_bundle(model_dir: Path, p256: KeyPair, tmp_path: Path) -> None:
    sign(model_dir, key=p256.private)
    original = (model_dir / "model.sig").read_bytes()
    damaged = tmp_path / "damaged.sig"
    trust = TrustInputs(key=p256.public)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(1, 255)), min_size=1, max_size=4)
    )
    def flip(changes: list[tuple[int, int]]) -> None:
        data = bytearray(original)
        for offset, mask in changes:
            data[offset] ^= mask
        damaged.write_bytes(bytes(data))
        try:
            report = verify(model_dir, trust, signature=damaged)
        except InputError:
            return
        if bytes(data) != original:
            # Only changes that leave the meaning intact (JSON whitespace, an unknown key name,
            # the keyid hint, base64 padding) may still verify.
            assert report.details["verified"] is False or _same_meaning(bytes(data), original)

    flip()


def test_truncations_of_a_bundle(model_dir: Path, p256: KeyPair, tmp_path: Path) -> None:
    sign(model_dir, key=p256.private)
    original = (model_dir / "model.sig").read_bytes()
    damaged = tmp_path / "damaged.sig"
    outcomes = set()
    for length in range(0, len(original), 37):
        damaged.write_bytes(original[:length])
        try:
            verify(model_dir, TrustInputs(key=p256.public), signature=damaged)
            outcomes.add("verified")
        except InputError as exc:
            outcomes.add(type(exc).__name__)
    assert outcomes <= {"MalformedBundle", "InputError"}


def _same_meaning(data: bytes, original: bytes) -> bool:
    try:
        changed, first = json.loads(data), json.loads(original)
    except ValueError:
        return False
    envelope, reference = changed.get("dsseEnvelope", {}), first["dsseEnvelope"]
    return (
        envelope.get("payload") == reference["payload"]
        and envelope.get("payloadType") == reference["payloadType"]
    )
