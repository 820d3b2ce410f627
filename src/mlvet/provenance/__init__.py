"""Signing and verification of models (OpenSSF Model Signing v1.0), and the crypto core of provenance.

``sign`` and ``verify`` are the public entry points; ``keys``, ``dsse`` and ``manifest`` are the
building blocks that attestations and lineage reuse.
"""

from __future__ import annotations

from mlvet.provenance.keyless import SigstoreIdentity
from mlvet.provenance.manifest import build_manifest, model_digest
from mlvet.provenance.signing import SigningIdentity, default_signature_path, sign
from mlvet.provenance.trust import TrustInputs
from mlvet.provenance.verifying import verify

__all__ = [
    "SigningIdentity",
    "SigstoreIdentity",
    "TrustInputs",
    "build_manifest",
    "default_signature_path",
    "model_digest",
    "sign",
    "verify",
]
