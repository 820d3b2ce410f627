"""mlvet: secure machine-learning pipelines against their supply chain."""

from __future__ import annotations

__version__ = "0.1.0"

from mlvet.config import Settings, load_settings
from mlvet.diff import diff
from mlvet.findings import Finding, Location, Problem, Report, Rule, Severity, Subject
from mlvet.provenance import SigningIdentity, SigstoreIdentity, TrustInputs, model_digest, sign, verify
from mlvet.provenance.lineage import attest, stage, verify_lineage
from mlvet.scan import scan, scan_bytes

__all__ = [
    "Finding",
    "Location",
    "Problem",
    "Report",
    "Rule",
    "Settings",
    "Severity",
    "SigningIdentity",
    "SigstoreIdentity",
    "Subject",
    "TrustInputs",
    "__version__",
    "attest",
    "diff",
    "load_settings",
    "model_digest",
    "scan",
    "scan_bytes",
    "sign",
    "stage",
    "verify",
    "verify_lineage",
]
