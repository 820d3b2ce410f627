"""Each tool's report read as one verdict per corpus sample, at the tool's own failing threshold.

- mlvet (``--format json``): a finding at or above ``high`` (its default ``--fail-on``) whose
  ``subject.path`` lies in the sample -> malicious; a problem of kind ``unsupported`` -> unscanned; any
  other problem -> error (mlvet exits 2 on problems).
- modelscan (``-r json``): modelscan exits 1 on *any* issue, so any entry of ``issues`` whose ``source``
  (relative to the scanned directory, ``file:member`` inside archives) lies in the sample -> malicious;
  an entry of ``errors`` -> error; a sample with no ``summary.scanned.scanned_files`` entry -> unscanned
  (modelscan routes by file extension and silently skips the rest).
- ModelAudit (``--format json``): it exits 1 on an issue of severity ``warning`` or ``critical`` (or a
  failed check of that severity), so such an issue or failed check whose ``location`` (absolute path,
  then ``:member`` or `` (pos N)``) lies in the sample -> malicious (a failed check located outside the
  corpus, such as an ONNX external-data target, goes to the file scanned just before it);
  ``file_metadata`` marking an operational error or an inconclusive scan (what makes it exit 2) -> error;
  a sample absent from ``assets`` -> unscanned. ModelAudit is started through ``modelaudit_launcher.py``
  (see there: without it, its TensorFlow scanners cannot load on this interpreter).
- picklescan (no JSON: its Python API, see ``picklescan_probe.py``): ``issues_count > 0`` (a
  "dangerous" global, what makes its CLI exit 1) -> malicious; ``scan_err`` or an exception -> error;
  ``scanned_files == 0`` -> unscanned. "Suspicious" globals do not fail without ``--strict``.

A sample is **malicious** if flagged (even when the tool also reported an error for it), else **error**,
else **unscanned**, else **clean**; ``error`` also records separately whether any error was reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MALICIOUS, CLEAN, ERROR, UNSCANNED, NOT_RUN = "malicious", "clean", "error", "unscanned", "not run"

MLVET_FAILING = {"high", "critical"}
MODELAUDIT_FAILING = {"warning", "critical"}


@dataclass
class Verdict:
    """What one tool said about one sample."""

    outcome: str = CLEAN
    error: bool = False
    """The tool reported an error (crash, exit-2 condition) for this sample, whatever the outcome."""
    reasons: list[str] = field(default_factory=list)
    """Short evidence: rule IDs, issue texts or error messages, deduplicated, in report order."""

    def flag(self, reason: str) -> None:
        self.outcome = MALICIOUS
        self._note(reason)

    def fail(self, reason: str) -> None:
        self.error = True
        if self.outcome != MALICIOUS:
            self.outcome = ERROR
        self._note(f"error: {reason}")

    def unscanned(self, reason: str) -> None:
        if self.outcome == CLEAN:
            self.outcome = UNSCANNED
        self._note(f"unscanned: {reason}")

    def _note(self, reason: str) -> None:
        reason = " ".join(reason.split())[:160]
        if reason not in self.reasons:
            self.reasons.append(reason)


class Attribution:
    """Maps a path a tool reported (relative to the corpus root) to the sample it belongs to.

    With ``single`` (a run over one sample) everything the tool reported belongs to that sample. With
    ``root``, a sample that is a symbolic link is also known by its resolved absolute path, which is
    what some tools report.
    """

    SEPARATORS = ("/", ":", " ")

    def __init__(self, samples: Iterable[str], single: bool = False, root: Path | None = None) -> None:
        self.samples = sorted(samples, key=len, reverse=True)
        self.single = single
        self.aliases: dict[str, str] = {}
        if root is not None:
            links = [s for s in self.samples if (root / s).is_symlink()]
            self.aliases = {str((root / s).resolve()): s for s in links}

    def sample(self, relative: str) -> str | None:
        if self.single:
            return self.samples[0]
        for sample in self.samples:
            if self._within(relative, sample):
                return sample
        for resolved, sample in self.aliases.items():
            if self._within(relative, resolved):
                return sample
        return None

    def _within(self, reported: str, prefix: str) -> bool:
        return reported == prefix or (
            reported.startswith(prefix) and reported[len(prefix)] in self.SEPARATORS
        )


class Verdicts(dict[str, Verdict]):
    """Sample -> verdict for one tool, plus what could not be attributed to any sample."""

    def __init__(self, samples: Iterable[str], single: bool = False, root: Path | None = None) -> None:
        super().__init__((s, Verdict()) for s in samples)
        if single and len(self) != 1:
            raise ValueError("a single-sample run needs exactly one sample")
        self.attribution = Attribution(self, single, root)
        self.unattributed: list[str] = []

    def at(self, relative: str, what: str) -> Verdict | None:
        sample = self.attribution.sample(relative)
        if sample is None:
            self.unattributed.append(f"{relative}: {what}"[:200])
            return None
        return self[sample]

    def summary(self) -> dict[str, Any]:
        return {
            name: {"outcome": v.outcome, "error": v.error, "reasons": v.reasons} for name, v in self.items()
        }


def relative_to(root: Path, reported: str) -> str:
    """``reported`` (absolute or relative to ``root``, maybe with a ``:member`` tail) relative to ``root``."""
    prefix = str(root).rstrip("/") + "/"
    return reported[len(prefix) :] if reported.startswith(prefix) else reported


def mlvet(document: dict[str, Any], root: Path, samples: Iterable[str]) -> Verdicts:
    verdicts = Verdicts(samples, root=root)
    for finding in document.get("findings", []):
        if finding.get("severity") not in MLVET_FAILING:
            continue
        subject = finding.get("subject", {})
        verdict = verdicts.at(relative_to(root, subject.get("path", "")), finding.get("rule_id", "?"))
        if verdict is not None:
            verdict.flag(finding.get("rule_id", "?"))
    for problem in document.get("problems", []):
        subject = problem.get("subject", {})
        where = subject.get("path", "") + (f":{subject['member']}" if subject.get("member") else "")
        message = f"{problem.get('kind')}: {problem.get('message', '')}"
        verdict = verdicts.at(relative_to(root, where), message)
        if verdict is None:
            continue
        if problem.get("kind") == "unsupported":
            verdict.unscanned(message)
        else:
            verdict.fail(message)
    return verdicts


def modelscan(document: dict[str, Any], samples: Iterable[str], single: bool = False) -> Verdicts:
    """``document`` from ``modelscan -p ROOT -r json``: its paths are relative to ROOT (``single``: one
    sample was scanned, and paths are relative to it, or to its directory when it is a file)."""
    verdicts = Verdicts(samples, single)
    for issue in document.get("issues", []):
        what = f"{issue.get('severity')} {issue.get('module')}.{issue.get('operator')}"
        verdict = verdicts.at(issue.get("source", ""), what)
        if verdict is not None:
            verdict.flag(what)
    for error in document.get("errors", []):
        what = f"{error.get('category')}: {error.get('description')}"
        verdict = verdicts.at(error.get("source", ""), what) if error.get("source") else None
        if verdict is not None:
            verdict.fail(what)
        elif not error.get("source"):
            verdicts.unattributed.append(what)
    scanned = document.get("summary", {}).get("scanned", {}).get("scanned_files", [])
    touched = {verdicts.attribution.sample(path) for path in scanned}
    for name, verdict in verdicts.items():
        if name not in touched:
            verdict.unscanned("not among modelscan's scanned files")
    return verdicts


def modelaudit(document: dict[str, Any], root: Path, samples: Iterable[str]) -> Verdicts:
    verdicts = Verdicts(samples, root=root)
    # Issues are repeated as failed checks, and ``checks`` lists every check in scan order, passed ones
    # included ("Path Exists" at each file first): a check located outside any sample (ONNX external-data
    # findings are located at the external target) belongs to the file whose checks came just before.
    current: str | None = None
    for check in document.get("checks", []):
        location = check.get("location") or ""
        sample = verdicts.attribution.sample(relative_to(root, location)) if location else None
        if sample is not None:
            current = sample
        severity = str(check.get("severity", "")).lower()
        if check.get("status") != "failed" or severity not in MODELAUDIT_FAILING:
            continue
        what = f"{severity} {check.get('name', '')}: {check.get('message', '')}"
        owner = sample or current
        if owner is None:
            verdicts.unattributed.append(f"{location}: {what}"[:200])
        else:
            verdicts[owner].flag(what)
    for issue in document.get("issues", []):
        severity = str(issue.get("severity", "")).lower()
        location = issue.get("location") or ""
        sample = verdicts.attribution.sample(relative_to(root, location)) if location else None
        if severity in MODELAUDIT_FAILING and sample is not None:
            verdicts[sample].flag(f"{severity} {issue.get('rule_code') or ''}: {issue.get('message', '')}")
    for path, metadata in (document.get("file_metadata") or {}).items():
        reason = _modelaudit_failure(metadata)
        if reason:
            verdict = verdicts.at(relative_to(root, path), reason)
            if verdict is not None:
                verdict.fail(reason)
    scanned = {
        verdicts.attribution.sample(relative_to(root, a.get("path", "")))
        for a in document.get("assets") or []
    }
    scanned |= {
        verdicts.attribution.sample(relative_to(root, p)) for p in document.get("file_metadata") or {}
    }
    for name, verdict in verdicts.items():
        if name not in scanned:
            verdict.unscanned("not among ModelAudit's assets")
    return verdicts


def _modelaudit_failure(metadata: dict[str, Any]) -> str | None:
    if not isinstance(metadata, dict):
        return None
    if metadata.get("operational_error"):
        return (
            f"operational error: {metadata.get('operational_error_reason') or metadata['operational_error']}"
        )
    if metadata.get("scan_outcome") == "inconclusive" or metadata.get("analysis_incomplete") is True:
        reasons = metadata.get("scan_outcome_reasons") or metadata.get("scan_outcome_reason") or ""
        return f"inconclusive: {reasons}"
    return None


def picklescan(document: dict[str, Any], samples: Iterable[str]) -> Verdicts:
    """``document`` from ``picklescan_probe.py verdicts``."""
    verdicts = Verdicts(samples)
    for name, result in document.items():
        verdict = verdicts[name]
        if "exception" in result:
            verdict.fail(result["exception"])
            continue
        dangerous = [g for g in result.get("globals", []) if g.endswith(":dangerous")]
        if result.get("issues_count", 0) > 0:
            for item in dangerous or ["dangerous global"]:
                verdict.flag(item.removesuffix(":dangerous"))
        if result.get("scan_err"):
            verdict.fail("scan_err (parse error)")
        if not result.get("scanned_files"):
            verdict.unscanned("no file scanned (extension filter)")
    return verdicts
