"""Settings from ``mlvet.toml`` or ``[tool.mlvet]`` in ``pyproject.toml``, typed once here."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mlvet.errors import ConfigError
from mlvet.findings import Severity

GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile input from exhausting the scanner."""

    max_member_bytes: int = 4 * GiB
    """Largest archive member or decompressed stream read into memory."""
    max_total_bytes: int = 16 * GiB
    """Largest total of bytes decompressed out of one top-level file."""
    max_ratio: int = 250
    """Largest compression ratio accepted for a member over 1 MiB (zip/tar/compressed streams)."""
    max_entries: int = 100_000
    """Most members examined in one archive."""
    max_depth: int = 8
    """Deepest nesting of containers (archive in archive, pickle in pickle...)."""


@dataclass(frozen=True)
class Settings:
    """Everything a scan can be told, with the defaults a careful user wants."""

    fail_on: Severity = Severity.HIGH
    ignore: frozenset[str] = frozenset()
    allow_globals: frozenset[str] = frozenset()
    """Exact ``module.qualname`` names the user vouches for: pickle globals and Keras custom objects.

    Never overrides the denylist: a dangerous callable stays dangerous whatever this says.
    """
    limits: Limits = field(default_factory=Limits)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(explicit: Path | None = None, start: Path | None = None) -> Settings:
    """Settings from ``explicit``, else the nearest ``mlvet.toml`` / ``pyproject.toml`` above ``start``."""
    path = explicit if explicit is not None else _find_settings_file(start or Path.cwd())
    if path is None:
        return Settings()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"settings file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc}") from None
    table = document.get("tool", {}).get("mlvet", {}) if path.name == "pyproject.toml" else document
    return _settings_from_table(table, path)


def _find_settings_file(start: Path) -> Path | None:
    for directory in (start.resolve(), *start.resolve().parents):
        if (directory / "mlvet.toml").is_file():
            return directory / "mlvet.toml"
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "[tool.mlvet" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return pyproject
    return None


def _settings_from_table(table: dict[str, Any], origin: Path) -> Settings:
    known = {"fail-on", "ignore", "allow-globals", "limits"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{origin}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    settings = Settings()
    try:
        if "fail-on" in table:
            settings = replace(settings, fail_on=Severity.parse(str(table["fail-on"])))
    except ValueError as exc:
        raise ConfigError(f"{origin}: fail-on: {exc}") from None
    if "ignore" in table:
        settings = replace(settings, ignore=frozenset(_string_list(table["ignore"], "ignore", origin)))
    if "allow-globals" in table:
        names = _string_list(table["allow-globals"], "allow-globals", origin)
        settings = replace(settings, allow_globals=frozenset(names))
    if "limits" in table:
        settings = replace(settings, limits=_limits(table["limits"], origin))
    return settings


def _string_list(value: Any, key: str, origin: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: {key} must be a list of strings")
    return list(value)


def _limits(table: Any, origin: Path) -> Limits:
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: limits must be a table")
    names = {f.name.replace("_", "-"): f.name for f in fields(Limits)}
    values: dict[str, int] = {}
    for key, value in table.items():
        if key not in names:
            raise ConfigError(f"{origin}: unknown limit {key!r} (known: {', '.join(sorted(names))})")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{origin}: limits.{key} must be a positive integer")
        values[names[key]] = value
    return Limits(**values)
