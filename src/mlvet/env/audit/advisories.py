"""OSV advisories (schema 1.7) as mlvet matches them: per-source ranges, distribution families, verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from packaging.version import Version

from mlvet.env.audit.cvss import base_score
from mlvet.env.audit.versions import (
    Event,
    describe_range,
    in_range,
    normalize_name,
    parse_events,
    public_version,
)
from mlvet.findings import Severity

_GHSA_SEVERITY = {"LOW": Severity.LOW, "MODERATE": Severity.MEDIUM, "MEDIUM": Severity.MEDIUM}
_GHSA_SEVERITY |= {"HIGH": Severity.HIGH, "CRITICAL": Severity.CRITICAL}


@dataclass(frozen=True)
class SourceRanges:
    """What one source (a CVE record, PYSEC, GHSA, Safety DB, an imported scan) says is affected."""

    source: str
    ranges: tuple[tuple[Event, ...], ...]
    versions: frozenset[Version] = frozenset()
    fixed_versions: tuple[str, ...] = ()
    """Fixed versions a source names without ranges (pip-audit's ``fix_versions``)."""

    def affects(self, version: Version) -> bool:
        return version in self.versions or any(in_range(version, events) for events in self.ranges)

    def fixes_after(self, version: Version) -> tuple[str, ...]:
        """The ``fixed`` bounds of the ranges that contain ``version``, and named fixes above it."""
        bounds = [
            e.version
            for events in self.ranges
            if in_range(version, events)
            for e in events
            if e.kind == "fixed"
        ]
        return tuple(v for v in (*bounds, *self.fixed_versions) if public_version(v) > version)

    def describe(self) -> str:
        parts = [describe_range(events) for events in self.ranges]
        if self.versions:
            parts.append("==" + ", ==".join(sorted(str(v) for v in self.versions)))
        return "; ".join(parts)


@dataclass(frozen=True)
class Affected:
    """One affected distribution of an advisory and what each source says about its versions."""

    package: str
    sources: tuple[SourceRanges, ...]


@dataclass(frozen=True, eq=False)
class Advisory:
    """One OSV record, reduced to what matching and reporting need."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    details: str
    severity: Severity
    kind: str
    """``vulnerability``, ``compromised`` (a hijacked release of a real project) or ``malicious``."""
    affected: tuple[Affected, ...]
    loads: frozenset[str] = frozenset()
    """Model-file kinds the vulnerable code loads (``pytorch``, ``pickle``, ``keras``, ``gguf`` ...)."""
    exact_distributions: bool = False
    """True when only the named distributions are affected (a compromised upload, not shared code)."""
    references: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    """Which databases or imported scans contributed this advisory."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset((self.id, *self.aliases))


@dataclass(frozen=True)
class Match:
    """An advisory that applies to one installed or pinned distribution."""

    advisory: Advisory
    name: str
    version: str
    advisory_package: str
    affected_per: tuple[str, ...]
    not_affected_per: tuple[str, ...]
    fixed: tuple[str, ...]
    """Per source, the first fixed version above ``version``; the strictest (highest) last."""

    @property
    def disputed_bound(self) -> bool:
        """The sources disagree about whether this version is affected."""
        return bool(self.not_affected_per)


def parse_advisory(record: Mapping[str, Any], origin: str) -> Advisory:
    """An :class:`Advisory` from an OSV record; ValueError naming the defect when it is malformed."""
    ident = record.get("id")
    if not isinstance(ident, str) or not ident:
        raise ValueError("an OSV record needs a string 'id'")
    if "modified" not in record:
        raise ValueError(f"{ident}: an OSV record needs 'modified'")
    raw_affected = record.get("affected", [])
    if not isinstance(raw_affected, list):
        raise ValueError(f"{ident}: 'affected' must be a list")
    mlvet = _mlvet_extras(record)
    affected = tuple(a for a in (_parse_affected(item, ident) for item in raw_affected) if a is not None)
    aliases = record.get("aliases") or []
    refs = [r.get("url", "") for r in record.get("references") or [] if isinstance(r, Mapping)]
    kind = str(mlvet.get("kind") or ("malicious" if ident.startswith("MAL-") else "vulnerability"))
    return Advisory(
        id=ident,
        aliases=tuple(str(a) for a in aliases if a != ident),
        summary=str(record.get("summary") or record.get("details", "")[:120] or ident),
        details=str(record.get("details") or ""),
        severity=_severity(record, mlvet, kind),
        kind=kind,
        affected=affected,
        loads=frozenset(str(k) for k in mlvet.get("loads", ())),
        exact_distributions=bool(mlvet.get("exact_distributions", False)),
        references=tuple(str(r) for r in refs if r),
        origins=(origin,),
        extra={k: v for k, v in mlvet.items() if k in ("iocs", "confidence", "disputed", "remediation")},
    )


def _mlvet_extras(record: Mapping[str, Any]) -> Mapping[str, Any]:
    specific = record.get("database_specific")
    extras = specific.get("mlvet") if isinstance(specific, Mapping) else None
    return extras if isinstance(extras, Mapping) else {}


def _parse_affected(item: Any, ident: str) -> Affected | None:
    if not isinstance(item, Mapping) or not isinstance(item.get("package"), Mapping):
        raise ValueError(f"{ident}: each 'affected' entry needs a 'package'")
    package = item["package"]
    if package.get("ecosystem") != "PyPI":
        return None
    name = package.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{ident}: an affected package needs a 'name'")
    own = _source_ranges(ident, item)
    specific = item.get("database_specific")
    mlvet = specific.get("mlvet") if isinstance(specific, Mapping) else None
    listed = mlvet.get("source_ranges") if isinstance(mlvet, Mapping) else None
    if isinstance(listed, list) and listed:
        per_source = tuple(
            _source_ranges(str(s.get("source", "?")), s) for s in listed if isinstance(s, Mapping)
        )
        return Affected(normalize_name(name), per_source or (own,))
    return Affected(normalize_name(name), (own,))


def _source_ranges(source: str, item: Mapping[str, Any]) -> SourceRanges:
    ranges: list[tuple[Event, ...]] = []
    for raw in item.get("ranges") or []:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("events"), list):
            raise ValueError(f"{source}: a range needs an 'events' list")
        if raw.get("type") == "ECOSYSTEM":
            try:
                ranges.append(parse_events(raw["events"]))
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
    versions: set[Version] = set()
    for text in item.get("versions") or []:
        try:
            versions.add(public_version(str(text)))
        except ValueError:
            continue  # osv.dev lists every upload; one unparsable legacy version is not fatal
    return SourceRanges(source, tuple(ranges), frozenset(versions))


def _severity(record: Mapping[str, Any], mlvet: Mapping[str, Any], kind: str) -> Severity:
    if kind in ("malicious", "compromised"):
        return Severity.CRITICAL
    for candidate in (mlvet.get("severity"), _ghsa_severity(record)):
        if isinstance(candidate, str):
            try:
                return Severity.parse(candidate)
            except ValueError:
                mapped = _GHSA_SEVERITY.get(candidate.upper())
                if mapped is not None:
                    return mapped
    scores = [
        base_score(str(s.get("score", ""))) for s in record.get("severity") or [] if isinstance(s, Mapping)
    ]
    known = [s for s in scores if s is not None]
    return severity_from_score(max(known)) if known else Severity.MEDIUM


def _ghsa_severity(record: Mapping[str, Any]) -> str | None:
    specific = record.get("database_specific")
    value = specific.get("severity") if isinstance(specific, Mapping) else None
    return value if isinstance(value, str) else None


def severity_from_score(score: float) -> Severity:
    """CVSS base score bands (NVD): 9.0 critical, 7.0 high, 4.0 medium, 0.1 low."""
    for floor, severity in ((9.0, Severity.CRITICAL), (7.0, Severity.HIGH), (4.0, Severity.MEDIUM)):
        if score >= floor:
            return severity
    return Severity.LOW if score > 0 else Severity.INFO


def match(advisory: Advisory, name: str, version: str, family: Sequence[str] = ()) -> Match | None:
    """The match of ``advisory`` on distribution ``name`` at ``version`` (local label ignored), or None.

    ``family`` holds the other distribution names that ship the same code (tensorflow for
    tensorflow-cpu); they count unless the advisory is about specific uploads.
    """
    try:
        parsed = public_version(version)
    except ValueError:
        return None
    canonical = normalize_name(name)
    names = (canonical,) if advisory.exact_distributions else (canonical, *family)
    for affected in advisory.affected:
        if affected.package not in names:
            continue
        verdicts = [(source, source.affects(parsed)) for source in affected.sources]
        if not any(hit for _, hit in verdicts):
            continue
        fixed: set[Version] = set()
        for source, hit in verdicts:
            fixes = [public_version(v) for v in source.fixes_after(parsed)] if hit else []
            if fixes:
                fixed.add(min(fixes))
        return Match(
            advisory=advisory,
            name=canonical,
            version=version,
            advisory_package=affected.package,
            affected_per=tuple(f"{s.source} ({s.describe()})" for s, hit in verdicts if hit),
            not_affected_per=tuple(f"{s.source} ({s.describe()})" for s, hit in verdicts if not hit),
            fixed=tuple(str(v) for v in sorted(fixed)),
        )
    return None


def merge(first: Advisory, second: Advisory) -> Advisory:
    """One advisory from two records of the same vulnerability: every source kept, so the stricter wins."""
    by_package: dict[str, list[SourceRanges]] = {}
    for affected in (*first.affected, *second.affected):
        known = by_package.setdefault(affected.package, [])
        known.extend(s for s in affected.sources if s not in known)
    return replace(
        first,
        aliases=tuple(sorted((first.ids | second.ids) - {first.id})),
        severity=max(first.severity, second.severity),
        affected=tuple(Affected(p, tuple(s)) for p, s in by_package.items()),
        loads=first.loads | second.loads,
        references=tuple(dict.fromkeys((*first.references, *second.references))),
        origins=tuple(dict.fromkeys((*first.origins, *second.origins))),
        details=first.details or second.details,
    )
