"""The gate policy file: which checks must pass and which approvals are needed, validated strictly.

A typo is never a silently skipped check: a malformed option is an error, and a check mlvet does not
know is a requirement that cannot be met, so the gate denies on it. Paths inside the policy are
relative to the policy file. The format is documented in ``docs/gate.md``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet.errors import ConfigError
from mlvet.findings import Severity

ROLES = ("weights", "framework", "deploy")

CHECK_OPTIONS: Mapping[str, frozenset[str]] = {
    "scan": frozenset({"fail_on"}),
    "graph": frozenset(),
    "lineage": frozenset({"policy", "check_equivalence"}),
    "environment": frozenset({"lock", "path"}),
    "diff": frozenset({"known_good", "max_severity"}),
}
"""Every check a policy may name, with the options it accepts."""

_TOP_LEVEL = frozenset({"gate", "checks", "approvers", "approvals"})


@dataclass(frozen=True)
class RoleRequirement:
    """N approvals from distinct approvers for one role (for ``framework``: of the lock's digest)."""

    role: str
    required: int
    lock: Path | None = None


@dataclass(frozen=True)
class Policy:
    """A validated gate policy."""

    path: Path
    name: str
    checks: Mapping[str, Mapping[str, Any]]
    approvers: Mapping[str, Path] = field(default_factory=dict)
    """Approver name -> public key (or certificate) file."""
    roles: tuple[RoleRequirement, ...] = ()
    unknown_checks: tuple[str, ...] = ()
    """Checks the policy requires that mlvet does not know: requirements that cannot be met, so they deny."""


def load_policy(path: Path) -> Policy:
    """Read and validate ``path``; ConfigError names the offending key."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such policy file", hint="see docs/gate.md for the policy format"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the policy: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    base = path.parent
    _only(document, _TOP_LEVEL, "the policy", path)
    gate = _table(document.get("gate", {}), "[gate]", path)
    _only(gate, frozenset({"name"}), "[gate]", path)
    requested = _table(document.get("checks", {}), "[checks]", path)
    unknown = tuple(name for name in requested if name not in CHECK_OPTIONS)
    checks = _checks({k: v for k, v in requested.items() if k not in unknown}, base, path)
    approvers = {
        name: _path(value, base, f"approvers.{name}", path)
        for name, value in _table(document.get("approvers", {}), "[approvers]", path).items()
    }
    roles = _roles(_table(document.get("approvals", {}), "[approvals]", path), base, path)
    if roles and not approvers:
        raise ConfigError(f"{path}: [approvals] requires approvals but [approvers] names no keys")
    if not checks and not roles and not unknown:
        raise ConfigError(
            f"{path}: the policy requires nothing", hint="add [checks.*] tables or [approvals.*]"
        )
    return Policy(path, str(gate.get("name", path.stem)), checks, approvers, roles, unknown)


def _checks(table: Mapping[str, Any], base: Path, path: Path) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    for name, raw in table.items():
        options = dict(_table(raw, f"[checks.{name}]", path))
        _only(options, CHECK_OPTIONS[name], f"[checks.{name}]", path)
        for key in ("fail_on", "max_severity"):
            if key in options:
                options[key] = _severity(options[key], f"checks.{name}.{key}", path)
        for key in ("policy", "lock", "path", "known_good"):
            if key in options:
                options[key] = _path(options[key], base, f"checks.{name}.{key}", path)
        if "check_equivalence" in options and not isinstance(options["check_equivalence"], bool):
            raise ConfigError(f"{path}: checks.{name}.check_equivalence must be true or false")
        for required in {"lineage": "policy", "environment": "lock", "diff": "known_good"}.get(
            name, ""
        ).split():
            if required not in options:
                raise ConfigError(f"{path}: [checks.{name}] needs '{required}'")
        checks[name] = options
    return checks


def _roles(table: Mapping[str, Any], base: Path, path: Path) -> tuple[RoleRequirement, ...]:
    roles = []
    for role, raw in table.items():
        if role not in ROLES:
            raise ConfigError(
                f"{path}: unknown approval role [approvals.{role}]", hint=f"roles: {', '.join(ROLES)}"
            )
        options = _table(raw, f"[approvals.{role}]", path)
        _only(options, frozenset({"required", "lock"}), f"[approvals.{role}]", path)
        required = options.get("required")
        if not isinstance(required, int) or isinstance(required, bool) or required < 1:
            raise ConfigError(f"{path}: approvals.{role}.required must be a whole number of at least 1")
        lock = _path(options["lock"], base, f"approvals.{role}.lock", path) if "lock" in options else None
        if role == "framework" and lock is None:
            raise ConfigError(
                f"{path}: [approvals.framework] needs 'lock' (framework approvals sign the lock)"
            )
        roles.append(RoleRequirement(role, required, lock))
    return tuple(roles)


def _table(value: object, where: str, path: Path) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: {where} must be a table")
    return value


def _only(table: Mapping[str, Any], allowed: frozenset[str], where: str, path: Path) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "no options"
        raise ConfigError(
            f"{path}: unknown key '{unknown[0]}' in {where}", hint=f"{where} accepts: {accepted}"
        )


def _severity(value: object, where: str, path: Path) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"{path}: {where}: {exc}") from None


def _path(value: object, base: Path, where: str, path: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {where} must be a path string")
    return base / value
