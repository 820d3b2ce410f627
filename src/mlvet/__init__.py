"""mlvet: secure machine-learning pipelines against their supply chain."""

from __future__ import annotations

__version__ = "0.1.0"

from mlvet.bom import build_bom
from mlvet.config import Settings, load_settings
from mlvet.diff import diff
from mlvet.env import lock_environment, read_lock, verify_environment
from mlvet.env.audit import audit_environment, check_requirements
from mlvet.findings import Finding, Location, Problem, Report, Rule, Severity, Subject
from mlvet.gate import approve, evaluate_gate
from mlvet.provenance import SigningIdentity, SigstoreIdentity, TrustInputs, model_digest, sign, verify
from mlvet.provenance.lineage import attest, stage, verify_lineage
from mlvet.sandbox import detonate
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
    "approve",
    "attest",
    "audit_environment",
    "build_bom",
    "check_requirements",
    "detonate",
    "diff",
    "evaluate_gate",
    "load_settings",
    "lock_environment",
    "model_digest",
    "read_lock",
    "scan",
    "scan_bytes",
    "sign",
    "stage",
    "verify",
    "verify_environment",
    "verify_lineage",
]
