"""Sigstore identities in the policy: issuer + SAN, checked offline against a real keyless bundle.

The bundle is model-transparency's real v1.1.0 Sigstore vector (signed by stefanb@us.ibm.com through
IBM's OIDC issuer); its statement is an OMS signature, not a stage, so a lineage skips it, but its
signature and identity go through the same check a keyless stage attestation gets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import mlvet.provenance.lineage as lineage
from mlvet.errors import ConfigError
from mlvet.provenance.lineage.policy import load_policy
from mlvet.provenance.lineage.verify import sigstore_signers
from tests.unit.provenance.lineage.pipeline import Models, write_policy

VECTOR = Path(__file__).parents[1] / "data" / "model_transparency" / "v1.1.0-sigstore" / "model.sig"
ISSUER = "https://sigstore.verify.ibm.com/oauth2"


def _bundle() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(VECTOR.read_text(encoding="utf-8"))
    return document


def _policy(directory: Path, identity: str) -> Path:
    return write_policy(directory, extra=f'\n[keys.release]\nidentity = "{identity}"\nissuer = "{ISSUER}"\n')


def test_a_sigstore_identity_is_a_signer(models: Models) -> None:
    policy = load_policy(_policy(models.directory, "stefanb@us.ibm.com"))
    (key,) = policy.identities()
    assert key.keyid == f"sigstore:{ISSUER}#stefanb@us.ibm.com"
    assert policy.key_name(key.keyid) == "release"


def test_the_bundle_verifies_as_the_declared_identity_only(models: Models) -> None:
    good = load_policy(_policy(models.directory, "stefanb@us.ibm.com"))
    assert sigstore_signers(_bundle(), good) == ([f"sigstore:{ISSUER}#stefanb@us.ibm.com"], [])
    impostor = load_policy(_policy(models.directory, "someone@example.com"))
    signed_by, (reason,) = sigstore_signers(_bundle(), impostor)
    assert signed_by == []
    assert reason.startswith("not release: ")


def test_a_keyless_line_that_is_no_stage_is_skipped(models: Models) -> None:
    lineage.attest(
        "train", inputs=[], output=models.float, keys=[models.keys.private("alice")], detect_code=False
    )
    bundle = models.directory / "model.onnx.intoto.jsonl"
    with bundle.open("a", encoding="utf-8") as out:
        out.write(json.dumps(_bundle()) + "\n")
    policy = _policy(models.directory, "stefanb@us.ibm.com")
    policy.write_text(
        policy.read_text().replace('required = ["train", "quantize", "convert"]', "required = []")
    )
    report = lineage.verify_lineage(models.float, policy)
    assert report.findings == ()
    (skipped,) = report.details["skipped"]
    assert skipped["line"] == 2
    assert "https://model_signing/signature/v1.0" in skipped["reason"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('identity = "a@example.org"\n', "needs both identity"),
        (
            f'identity = "a@example.org"\nissuer = "{ISSUER}"\ntrusted-root = "nowhere.json"\n',
            "is not a file",
        ),
        (f'identity = "a@example.org"\nissuer = "{ISSUER}"\nsan = "x"\n', r"unknown key keys\.ci\.san"),
    ],
)
def test_sigstore_entry_mistakes(models: Models, entry: str, message: str) -> None:
    path = write_policy(models.directory, extra="\n[keys.ci]\n" + entry)
    with pytest.raises(ConfigError, match=message):
        load_policy(path)
