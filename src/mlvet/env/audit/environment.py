"""``audit_environment``: installed distributions against advisories, index settings and ML look-alikes."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlvet.env.audit.advisories import Advisory, Match, match, merge
from mlvet.env.audit.assess import (
    advisory_finding,
    index_findings,
    insecure_index_findings,
    typosquat_findings,
)
from mlvet.env.audit.catalog import family_of
from mlvet.env.audit.database import AdvisoryDatabase, load_database
from mlvet.env.audit.imports import ImportedResult, read_import
from mlvet.env.audit.indexes import IndexConfig, pip_config, uv_config
from mlvet.env.audit.models import ModelInventory, default_model_roots, find_models
from mlvet.env.audit.versions import normalize_name
from mlvet.findings import Finding, Location, Problem, ProblemKind, Report, Severity, Subject


@dataclass(frozen=True)
class InstalledDistribution:
    name: str
    version: str
    path: Path
    """The ``*.dist-info`` directory (or egg-info) that declares it."""


def installed_distributions(site_dirs: Sequence[Path]) -> tuple[list[InstalledDistribution], list[Problem]]:
    """Every distribution whose metadata lies in ``site_dirs``, read with ``importlib.metadata``."""
    found: dict[tuple[str, str], InstalledDistribution] = {}
    problems: list[Problem] = []
    for distribution in importlib.metadata.distributions(path=[str(d) for d in site_dirs]):
        location = Path(str(getattr(distribution, "_path", "?")))
        name = distribution.metadata["Name"] if distribution.metadata else None
        version = distribution.version if name else None
        if not name or not version:
            problems.append(
                Problem(Subject(str(location)), ProblemKind.CORRUPT, "metadata without Name or Version")
            )
            continue
        key = (normalize_name(name), version)
        found.setdefault(key, InstalledDistribution(key[0], version, location))
    return sorted(found.values(), key=lambda d: (d.name, d.version)), problems


def audit_environment(
    site_dirs: Sequence[Path],
    *,
    database: AdvisoryDatabase | None = None,
    model_roots: Sequence[Path] | None = None,
    search_models: bool = True,
    imports: Sequence[Path] = (),
    index_configs: Sequence[IndexConfig] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Audit the distributions in ``site_dirs``.

    ``database`` defaults to the bundled advisories plus the user's updated copy. Model files are searched
    under ``model_roots`` (default: the framework caches and the working directory) unless ``search_models``
    is False. ``imports`` are pip-audit / OSV-Scanner JSON reports merged into the result. ``index_configs``
    defaults to what pip and uv read on this machine.
    """
    started = datetime.now(UTC)
    db = database if database is not None else load_database()
    distributions, problems = installed_distributions(site_dirs)
    subjects = [Subject(str(d.path), format="python-distribution") for d in distributions]
    roots = (list(model_roots) if model_roots is not None else default_model_roots()) if search_models else []
    if progress and roots:
        progress("searching model files")
    models = find_models(roots) if roots else ModelInventory()
    if progress:
        progress("matching advisories")
    matches: dict[tuple[str, str], list[Match]] = {}
    where: dict[tuple[str, str], Subject] = {}
    for dist, subject in zip(distributions, subjects, strict=True):
        key = (dist.name, dist.version)
        where[key] = subject
        matches[key] = db.matches(dist.name, dist.version)
    imported = [result for path in imports for result in read_import(path)]
    for result in imported:
        key = (result.name, result.version)
        where.setdefault(key, Subject(result.origin, format=f"{result.tool} report"))
        for advisory in result.advisories:
            _add_imported(matches.setdefault(key, []), advisory, db, result)
    findings: list[Finding] = []
    for key, found in matches.items():
        findings.extend(advisory_finding(m, where[key], Location(), models) for m in found)
    reported = frozenset(f.evidence["package"] for f in findings if f.rule.id == "MLV2102")
    names = [(d.name, s, Location()) for d, s in zip(distributions, subjects, strict=True)]
    findings.extend(typosquat_findings(names, skip=reported))
    configs = list(index_configs) if index_configs is not None else [pip_config(), uv_config()]
    installed_names = [d.name for d in distributions]
    for config in configs:
        findings.extend(index_findings(config, installed_names))
        findings.extend(insecure_index_findings(config.entries))
        problems.extend(Problem(Subject(p), ProblemKind.UNREADABLE, why) for p, why in config.unreadable)
    if models.truncated and model_roots is not None:
        problems.append(
            Problem(
                Subject(", ".join(models.searched)),
                ProblemKind.LIMIT,
                f"model search stopped after {models.examined} files",
            )
        )
    findings.sort(key=lambda f: (-f.severity, f.rule.id, f.subject.path))
    details: dict[str, Any] = {
        "environment": {"site_dirs": [str(d) for d in site_dirs], "distributions": len(distributions)},
        "database": {
            "advisories": len(db.advisories),
            "sources": [
                {"name": s.name, "location": s.location, "advisories": s.advisories} for s in db.sources
            ],
        },
        "models": models.to_json(),
        "indexes": [c.to_json() for c in configs],
        "imported": [
            {"tool": r.tool, "origin": r.origin, "package": r.name, "version": r.version} for r in imported
        ],
        "vulnerable": _vulnerable(matches),
    }
    return Report(
        tool_version=_version(),
        started=started,
        finished=datetime.now(UTC),
        subjects=tuple(subjects),
        findings=tuple(findings),
        problems=tuple(problems),
        details=details,
    )


def _add_imported(
    found: list[Match], advisory: Advisory, db: AdvisoryDatabase, result: ImportedResult
) -> None:
    """Merge an imported advisory with the bundled one sharing an alias, and with matches already made."""
    known = next((db.lookup(i) for i in advisory.ids if db.lookup(i) is not None), None)
    combined = merge(known, advisory) if known is not None else advisory
    for index, existing in enumerate(found):
        if existing.advisory.ids & combined.ids:
            combined = merge(existing.advisory, combined)
            refreshed = match(combined, result.name, result.version, family_of(result.name))
            if refreshed is not None:
                found[index] = refreshed
            return
    fresh = match(combined, result.name, result.version, family_of(result.name))
    if fresh is not None:
        found.append(fresh)


def _vulnerable(matches: dict[tuple[str, str], list[Match]]) -> list[dict[str, Any]]:
    return [
        {"package": name, "version": version, "advisories": [m.advisory.id for m in found]}
        for (name, version), found in sorted(matches.items())
        if found
    ]


def _version() -> str:
    from mlvet import __version__

    return __version__


__all__ = ["InstalledDistribution", "Severity", "audit_environment", "installed_distributions"]
