"""The Python API of signing and verification, and the CLI's progress bar."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mlvet.cli.sign import hashing_progress
from mlvet.errors import InputError
from mlvet.provenance import SigningIdentity, model_digest, sign, verify
from mlvet.provenance.signing import default_signature_path
from tests.unit.provenance.material import KeyPair, write_key_pair


def test_shorthand_keywords_and_string_paths(model_dir: Path, p256: KeyPair) -> None:
    report = sign(str(model_dir), key=str(p256.private))
    assert report.details["root_digest"] == model_digest(model_dir)
    assert report.subjects[0].sha256 == model_digest(model_dir)
    checked = verify(str(model_dir), key=str(p256.public))
    assert checked.details["verified"] is True
    assert checked.details["subject"] == {"name": "model", "digest": model_digest(model_dir)}


def test_signing_again_is_stable_and_ignores_the_old_signature(model_dir: Path, p256: KeyPair) -> None:
    first = sign(model_dir, key=p256.private).details["root_digest"]
    second = sign(model_dir, key=p256.private).details["root_digest"]
    assert first == second
    bundle = json.loads((model_dir / "model.sig").read_text())
    assert set(bundle) == {"mediaType", "verificationMaterial", "dsseEnvelope"}
    assert not list(model_dir.glob(".model.sig.*"))  # the temporary file was renamed into place


def test_default_signature_paths(tmp_path: Path, model_dir: Path) -> None:
    assert default_signature_path(model_dir) == model_dir / "model.sig"
    weights = model_dir / "model.safetensors"
    assert default_signature_path(weights) == model_dir / "model.safetensors.sig"


def test_signature_outside_the_model_is_not_ignored_by_name(
    model_dir: Path, p256: KeyPair, tmp_path: Path
) -> None:
    (model_dir / "model.sig").write_text("a file that happens to have this name")
    report = sign(model_dir, key=p256.private, signature=tmp_path / "elsewhere.sig")
    assert report.details["files"] == 4
    assert "model.sig" not in report.details["serialization"]["ignore_paths"]


def test_certificate_chain_without_certificate_is_refused(model_dir: Path, p256: KeyPair) -> None:
    identity = SigningIdentity(key=p256.private, certificate_chain=(p256.public,))
    with pytest.raises(InputError, match="--certificate-chain needs --certificate"):
        sign(model_dir, identity)


def test_ignore_path_outside_the_model_is_refused(model_dir: Path, p256: KeyPair, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is outside the model"):
        sign(model_dir, key=p256.private, ignore_paths=[str(tmp_path)])
    with pytest.raises(InputError, match="climbs out"):
        sign(model_dir, key=p256.private, ignore_paths=["../x"])


def test_progress_bar_shows_bytes_on_a_terminal_only() -> None:
    from rich.console import Console

    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    with hashing_progress("hashing", show=True, console=console) as sink:
        assert sink is not None
        sink.start(2_000_000)
        sink.advance(1_500_000)
    assert "hashing" in stream.getvalue()
    assert "1.5/2.0 MB" in stream.getvalue()
    with hashing_progress("hashing", show=False) as nothing:
        assert nothing is None


def test_ed25519_extension_signs_and_verifies(tmp_path: Path, model_dir: Path) -> None:
    pair = write_key_pair(tmp_path, "ed25519")
    report = sign(model_dir, key=pair.private)
    assert report.details["extension"] is True
    assert report.findings[0].severity.name == "INFO"
