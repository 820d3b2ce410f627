"""``check_requirements``: a requirement set against confusion, look-alikes, loose pins and advisories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlvet.env.audit.assess import (
    advisory_finding,
    confusion_findings,
    index_findings,
    insecure_index_findings,
    pin_findings,
    typosquat_findings,
)
from mlvet.env.audit.database import AdvisoryDatabase, load_database
from mlvet.env.audit.indexes import IndexConfig, pip_config, uv_config
from mlvet.env.audit.requirements import RequirementSet, read_requirement_file
from mlvet.errors import InputError
from mlvet.findings import Finding, Location, Problem, ProblemKind, Report, Subject

_REQUIREMENT_FILES = ("pylock.toml", "uv.lock", "pyproject.toml", "uv.toml", "requirements.txt")


def discover(path: Path) -> list[Path]:
    """``path`` itself, or the requirement files a project directory holds."""
    if not path.is_dir():
        return [path]
    found = [path / n for n in _REQUIREMENT_FILES if (path / n).is_file()]
    found += sorted(p for p in path.glob("pylock.*.toml") if p not in found)
    found += sorted(p for p in path.glob("requirements*.txt") if p not in found)
    if not found:
        raise InputError(
            f"{path} holds no requirements*.txt, pyproject.toml, pylock.toml or uv.lock",
            hint="pass the requirement file itself",
        )
    return found


def check_requirements(
    paths: Sequence[Path],
    *,
    database: AdvisoryDatabase | None = None,
    use_config: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Report:
    """Check requirement files; ``use_config`` adds this machine's pip/uv settings (pip.conf, PIP_*, UV_*)."""
    started = datetime.now(UTC)
    db = database if database is not None else load_database()
    files = [f for p in paths for f in discover(p)]
    requirements = RequirementSet()
    for path in files:
        read_requirement_file(path, requirements)
    pip = pip_config(environ=environ) if use_config else IndexConfig("pip")
    pip.entries.extend(requirements.pip_options)
    pip.no_index = pip.no_index or requirements.pip_no_index
    uv_settings = [] if requirements.uv is None else [requirements.uv]
    configs: list[IndexConfig] = [pip]
    if uv_settings or any(f.name in ("uv.lock", "pyproject.toml", "uv.toml") for f in files):
        uv = uv_config(environ=environ) if use_config else IndexConfig("uv", strategy="first-index")
        for settings in uv_settings:
            uv.entries.extend(settings.entries)
            uv.sources.update(settings.sources)
            if settings.strategy_origin != "uv default":
                uv.strategy, uv.strategy_origin = settings.strategy, settings.strategy_origin
        configs.append(uv)
    pins = requirements.pins
    findings: list[Finding] = []
    for pin in pins:
        if pin.version is None:
            anything = (m for m in db.matches(pin.name, "0") if m.advisory.kind == "malicious")
            found = [replace(m, version="(any version)") for m in anything]
        else:
            found = db.matches(pin.name, pin.version)
        subject = Subject(pin.origin.split(" [", 1)[0])
        findings.extend(advisory_finding(m, subject, Location(line=pin.line)) for m in found)
    reported = frozenset(f.evidence["package"] for f in findings if f.rule.id == "MLV2102")
    names = [(p.name, Subject(p.origin.split(" [", 1)[0]), Location(line=p.line)) for p in pins if not p.url]
    findings.extend(typosquat_findings(names, skip=reported))
    for config in configs:
        findings.extend(confusion_findings(config, [p for p in pins if p.name not in config.sources]))
        findings.extend(index_findings(config))
        findings.extend(insecure_index_findings(config.entries))
    findings.extend(pin_findings(pins, requirements.require_hashes))
    findings.sort(key=lambda f: (-f.severity, f.rule.id, f.subject.path, f.location.line or 0))
    problems = [
        Problem(Subject(f), ProblemKind.CORRUPT, f"line {n}: {why}" if n else why)
        for f, n, why in requirements.errors
    ]
    problems += [Problem(Subject(p), ProblemKind.UNREADABLE, why) for c in configs for p, why in c.unreadable]
    details: dict[str, Any] = {
        "files": requirements.files,
        "requirements": len(pins),
        "pinned": sum(1 for p in pins if p.pinned),
        "hashed": sum(1 for p in pins if p.hashes),
        "indexes": [c.to_json() for c in configs],
        "database": {"advisories": len(db.advisories)},
    }
    return Report(
        tool_version=_version(),
        started=started,
        finished=datetime.now(UTC),
        subjects=tuple(Subject(f) for f in requirements.files),
        findings=tuple(findings),
        problems=tuple(problems),
        details=details,
    )


def _version() -> str:
    from mlvet import __version__

    return __version__
