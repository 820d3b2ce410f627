"""Stage attestations and lineage: record each pipeline stage, verify the chain under a policy.

``attest`` / ``stage`` record one stage as a DSSE-signed SLSA provenance v1 statement in the
output's ``<output>.intoto.jsonl`` bundle (which carries the whole chain); ``verify_lineage``
walks that chain back from a deployed model and judges it under an identity policy
(``load_policy``), optionally testing quantize/convert/compile stages for equivalence.
"""

from __future__ import annotations

from mlvet.provenance.lineage.bundle import default_bundle
from mlvet.provenance.lineage.policy import Policy, load_policy
from mlvet.provenance.lineage.record import Attestation, Stage, attest, stage
from mlvet.provenance.lineage.rules import RULES
from mlvet.provenance.lineage.verify import verify_lineage

__all__ = [
    "RULES",
    "Attestation",
    "Policy",
    "Stage",
    "attest",
    "default_bundle",
    "load_policy",
    "stage",
    "verify_lineage",
]
