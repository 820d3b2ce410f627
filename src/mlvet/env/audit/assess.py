"""Findings from matches, index settings, requirement pins and names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mlvet.env.audit import rules
from mlvet.env.audit.advisories import Match
from mlvet.env.audit.catalog import catalog, known_index
from mlvet.env.audit.indexes import IndexConfig, IndexEntry
from mlvet.env.audit.models import ModelInventory
from mlvet.env.audit.requirements import Pin
from mlvet.env.audit.typosquat import look_alike
from mlvet.findings import Finding, Location, Severity, Subject

MAX_LISTED_FILES = 10
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def advisory_finding(
    found: Match, subject: Subject, location: Location, models: ModelInventory | None = None
) -> Finding:
    """One finding for one advisory on one distribution, raised to critical beside loadable model files."""
    advisory = found.advisory
    label = f"{found.name} {found.version}"
    ids = ", ".join((advisory.id, *advisory.aliases))
    evidence: dict[str, Any] = {
        "package": found.name,
        "version": found.version,
        "advisory": advisory.id,
        "aliases": list(advisory.aliases),
        "kind": advisory.kind,
        "summary": advisory.summary,
        "affected": list(found.affected_per),
        "sources": list(advisory.origins),
        "references": list(advisory.references[:5]),
        **{k: v for k, v in advisory.extra.items() if k != "remediation"},
    }
    if found.advisory_package != found.name:
        evidence["shipped_as"] = f"{found.name} ships the code of {found.advisory_package}"
    if found.not_affected_per:
        evidence["disagreement"] = {
            "affected_per": list(found.affected_per),
            "not_affected_per": list(found.not_affected_per),
        }
    fix = _fix_hint(found)
    evidence["hint"] = fix
    if advisory.kind in ("malicious", "compromised"):
        message = f"{label}: {advisory.summary} ({ids}); {fix}"
        return Finding(rules.COMPROMISED_RELEASE, Severity.CRITICAL, subject, location, message, evidence)
    models_at_risk = models.of_kinds(advisory.loads) if models is not None and advisory.loads else []
    message = f"{label}: {advisory.summary} ({ids}); {fix}"
    if found.not_affected_per:
        message += " [sources disagree on the bound; the stricter one is used]"
    if models_at_risk:
        evidence["model_files"] = [str(p) for p in models_at_risk[:MAX_LISTED_FILES]]
        evidence["model_files_total"] = len(models_at_risk)
        message = (
            f"{label} loads model files unsafely ({ids}: {advisory.summary}) and {len(models_at_risk)} such "
            f"file(s) are present, e.g. {models_at_risk[0]}; {fix}"
        )
        return Finding(
            rules.VULNERABLE_LOADER_WITH_MODELS, Severity.CRITICAL, subject, location, message, evidence
        )
    return Finding(rules.VULNERABLE_PACKAGE, advisory.severity, subject, location, message, evidence)


def _fix_hint(found: Match) -> str:
    remediation = found.advisory.extra.get("remediation")
    if isinstance(remediation, str):
        return remediation
    if found.advisory.kind == "malicious":
        return "uninstall it and treat the machine's credentials as stolen"
    if found.advisory.kind == "compromised":
        return f"uninstall {found.name} {found.version}, rotate credentials, reinstall from a hashed lock"
    if not found.fixed:
        return "no fixed release is known: avoid loading untrusted input with it"
    strict = found.fixed[-1]
    if len(found.fixed) > 1:
        return f"upgrade to {found.name}>={strict} (sources name {', '.join(found.fixed)} as the fix)"
    return f"upgrade to {found.name}>={strict}"


def typosquat_findings(
    names: Iterable[tuple[str, Subject, Location]], skip: frozenset[str] = frozenset()
) -> list[Finding]:
    """A finding for every name that imitates a curated ML package (names in ``skip`` already reported)."""
    findings = []
    for name, subject, location in names:
        found = look_alike(name)
        if found is None or name in skip:
            continue
        target = f"'{found.target}'" if found.target != "?" else "a real package"
        message = (
            f"'{name}' looks like {target} ({found.technique}: {found.detail}); install the real package"
        )
        evidence = {
            "package": name,
            "imitates": found.target,
            "technique": found.technique,
            "detail": found.detail,
        }
        findings.append(
            Finding(rules.TYPOSQUAT, rules.TYPOSQUAT.severity, subject, location, message, evidence)
        )
    return findings


def insecure_index_findings(entries: Iterable[IndexEntry]) -> list[Finding]:
    findings = []
    for item in entries:
        subject, location = Subject(item.origin), Location(line=item.line)
        if item.url.startswith("http://") and item.host not in _LOCAL_HOSTS:
            message = f"index {item.url} is fetched over plain HTTP: anyone on the path can swap packages"
            evidence = {"url": item.url, "issue": "plain-http", "hint": "use https"}
            findings.append(
                Finding(rules.INSECURE_INDEX, Severity.HIGH, subject, location, message, evidence)
            )
        if item.has_credentials:
            message = f"index {item.url} carries credentials in its URL (stored in plain text here)"
            evidence = {"url": item.url, "issue": "credentials-in-url", "hint": "use keyring or .netrc"}
            findings.append(
                Finding(rules.INSECURE_INDEX, Severity.MEDIUM, subject, location, message, evidence)
            )
    return findings


def merging(config: IndexConfig) -> bool:
    """Whether installs search several indexes and take the best version among them."""
    sources = config.effective()
    if len({e.url.rstrip("/") for e in sources}) < 2:
        return False
    return config.installer == "pip" or config.strategy in ("unsafe-best-match", "unsafe-first-match")


def index_findings(config: IndexConfig, installed: Sequence[str] = ()) -> list[Finding]:
    """Configuration-level findings: merged indexes (naming installed packages a known index serves)."""
    findings: list[Finding] = []
    sources = config.effective()
    extra = [e for e in sources if e.host not in catalog().public_hosts]
    if merging(config) and extra:
        how = (
            "pip merges every index" if config.installer == "pip" else f"uv index-strategy {config.strategy}"
        )
        for item in extra:
            served = known_index(item.host)
            local = item.url.startswith(("file:", "/", ".")) or item.host in _LOCAL_HOSTS
            names = sorted(set(installed) & served.serves) if served else []
            who = served.name if served else "a local directory" if local else "a private or unknown index"
            message = (
                f"{item.url} ({who}) is searched beside {_others(sources, item)}: {how} "
                "and installs the highest version found"
            )
            if names:
                message += f"; installed packages it serves: {', '.join(names)}"
            evidence = {
                "index": item.url,
                "origin": item.origin,
                "strategy": config.strategy,
                "installer": config.installer,
                "packages": names,
                "hint": "use one index (a vetted mirror), or uv with explicit indexes and tool.uv.sources",
            }
            severity = Severity.MEDIUM if served or local else Severity.HIGH
            subject, location = Subject(item.origin), Location(line=item.line)
            findings.append(Finding(rules.MERGED_INDEXES, severity, subject, location, message, evidence))
    if config.installer == "uv":
        for item in config.entries:
            served = known_index(item.host)
            if item.role == "uv-index" and not item.explicit and served is not None:
                label = item.name or item.url
                message = (
                    f"uv index '{label}' ({served.name}) is not explicit: uv asks it first for every package"
                )
                evidence = {
                    "index": item.url,
                    "note": served.note,
                    "hint": "set explicit = true and route packages to it with [tool.uv.sources]",
                }
                findings.append(
                    Finding(
                        rules.MERGED_INDEXES,
                        Severity.LOW,
                        Subject(item.origin),
                        Location(line=item.line),
                        message,
                        evidence,
                    )
                )
    return findings


def confusion_findings(config: IndexConfig, pins: Sequence[Pin]) -> list[Finding]:
    """A finding for every requirement that can come from more than one index and no hash holds in place."""
    if not merging(config):
        return []
    sources = config.effective()
    findings = []
    for pin in pins:
        if pin.url or pin.immutable or (pin.version and pin.hashes) or pin.index:
            continue
        named = [known_index(e.host) for e in sources]
        public_name = catalog().is_known(pin.name)
        served_by_known = any(k is not None and pin.name in k.serves for k in named)
        all_known = all(
            k is not None or e.host in catalog().public_hosts for k, e in zip(named, sources, strict=True)
        )
        severity = Severity.MEDIUM if (public_name and all_known) else Severity.HIGH
        where = ", ".join(e.url for e in sources)
        message = f"'{pin.name}' can resolve on any of {where}; the highest version wins"
        if served_by_known and not public_name:
            message += (
                " (a third-party index serves it; anyone can claim the name on PyPI: the torchtriton attack)"
            )
        elif served_by_known:
            message += " (served by a third-party index and by PyPI)"
        elif not public_name:
            message += " (an internal name? anyone can publish it on the public index)"
        evidence = {
            "package": pin.name,
            "indexes": [e.url for e in sources],
            "strategy": config.strategy,
            "hint": "pin with == and --hash, or serve it from one index only",
        }
        findings.append(
            Finding(
                rules.DEPENDENCY_CONFUSION,
                severity,
                Subject(_file(pin)),
                Location(line=pin.line),
                message,
                evidence,
            )
        )
    return findings


def pin_findings(pins: Sequence[Pin], require_hashes: bool) -> list[Finding]:
    """Unpinned application requirements, and pinned ones without hashes."""
    findings = []
    for pin in pins:
        subject, location = Subject(_file(pin)), Location(line=pin.line)
        if pin.pinning_expected and not pin.pinned:
            message = (
                f"'{pin.requested}' is not pinned to one version: the next install takes whatever is newest"
            )
            evidence = {
                "package": pin.name,
                "requested": pin.requested,
                "hint": f"pin it: {pin.name}==<vetted version> --hash=sha256:...",
            }
            findings.append(
                Finding(rules.UNPINNED, rules.UNPINNED.severity, subject, location, message, evidence)
            )
        elif pin.pinning_expected and pin.version and not pin.hashes and not pin.immutable:
            message = f"'{pin.requested}' has no artifact hash: any file published as that version installs"
            severity = Severity.MEDIUM if require_hashes else Severity.LOW
            evidence = {
                "package": pin.name,
                "version": pin.version,
                "hint": "generate hashes: pip-compile --generate-hashes, uv lock, or mlvet env lock",
            }
            findings.append(Finding(rules.UNHASHED, severity, subject, location, message, evidence))
    return findings


def _others(sources: Sequence[IndexEntry], item: IndexEntry) -> str:
    return ", ".join(e.url for e in sources if e is not item) or "the default index"


def _file(pin: Pin) -> str:
    return pin.origin.split(" [", 1)[0]
