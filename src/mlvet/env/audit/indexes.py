"""Where pip and uv look for packages: pip.conf files, environment variables, uv settings."""

from __future__ import annotations

import configparser
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

PYPI = "https://pypi.org/simple"


@dataclass(frozen=True)
class IndexEntry:
    """One package source named somewhere: ``role`` is index, extra, find-links or uv-index."""

    url: str
    """The URL with any password replaced by ``***``."""
    role: str
    origin: str
    line: int | None = None
    name: str | None = None
    explicit: bool = False
    has_credentials: bool = False

    @property
    def host(self) -> str:
        return (urlparse(self.url).hostname or self.url).lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "role": self.role,
            "origin": self.origin if self.line is None else f"{self.origin}:{self.line}",
            **({"name": self.name} if self.name else {}),
            **({"explicit": True} if self.explicit else {}),
        }


@dataclass
class IndexConfig:
    """The package sources one installer would use, and how it chooses between them."""

    installer: str
    """``pip`` or ``uv``."""
    entries: list[IndexEntry] = field(default_factory=list)
    strategy: str = "best-match"
    """pip: ``best-match`` (highest version from any index); uv: its ``index-strategy``."""
    strategy_origin: str = ""
    no_index: bool = False
    sources: dict[str, str] = field(default_factory=dict)
    """uv ``tool.uv.sources``: package -> index name it is pinned to."""
    read: list[str] = field(default_factory=list)
    """Config files that were found and read."""
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def effective(self) -> list[IndexEntry]:
        """The sources an install searches: the primary index (PyPI unless replaced), extras, find-links."""
        primary = [e for e in self.entries if e.role == "index"]
        extras = [e for e in self.entries if e.role in ("extra", "find-links", "uv-index") and not e.explicit]
        default = primary[-1:] if primary else [IndexEntry(PYPI, "index", "default")]
        return (
            (extras if self.no_index else default + extras) if self.installer == "pip" else extras + default
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "installer": self.installer,
            "strategy": self.strategy,
            "sources": [e.to_json() for e in self.effective()],
            "declared": [e.to_json() for e in self.entries],
            "config_files": self.read,
        }


def redact(url: str) -> tuple[str, bool]:
    """``url`` without its password, and whether it carried credentials."""
    parsed = urlparse(url.strip())
    if not parsed.username and not parsed.password:
        return url.strip(), False
    netloc = f"{parsed.username or ''}:***@{parsed.hostname or ''}"
    if parsed.port:
        netloc += f":{parsed.port}"
    return urlunparse(parsed._replace(netloc=netloc)), True


def entry(
    url: str, role: str, origin: str, *, line: int | None = None, name: str | None = None
) -> IndexEntry:
    shown, secret = redact(url)
    return IndexEntry(shown, role, origin, line=line, name=name, has_credentials=secret)


def pip_config_files(prefix: Path | None = None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """pip's configuration files in load order (later ones override): global, user, site, PIP_CONFIG_FILE."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    config_file = env.get("PIP_CONFIG_FILE")
    dirs = [d for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep) if d]
    files = [Path(d) / "pip" / "pip.conf" for d in dirs] + [Path("/etc/pip.conf")]
    if sys.platform == "darwin":
        user = [home / ".pip" / "pip.conf", home / "Library" / "Application Support" / "pip" / "pip.conf"]
    elif sys.platform == "win32":
        user = [home / "pip" / "pip.ini", Path(env.get("APPDATA", home)) / "pip" / "pip.ini"]
    else:
        user = [
            home / ".pip" / "pip.conf",
            Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf",
        ]
    if not (config_file and Path(config_file).exists()):
        files += user
    files.append((prefix or Path(sys.prefix)) / ("pip.ini" if sys.platform == "win32" else "pip.conf"))
    if config_file and config_file != os.devnull:
        files.append(Path(config_file))
    return files


def pip_config(
    prefix: Path | None = None, environ: Mapping[str, str] | None = None, files: Sequence[Path] | None = None
) -> IndexConfig:
    """What ``pip install`` would use from its config files and ``PIP_*`` variables."""
    env = os.environ if environ is None else environ
    config = IndexConfig("pip")
    values: dict[str, tuple[str, str]] = {}
    for path in pip_config_files(prefix, env) if files is None else files:
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
        except (OSError, UnicodeDecodeError, configparser.Error) as exc:
            config.unreadable.append((str(path), str(exc).splitlines()[0]))
            continue
        config.read.append(str(path))
        for section in ("global", "install"):
            if parser.has_section(section):
                for key, value in parser.items(section):
                    values[key.replace("_", "-")] = (value, f"{path} [{section}]")
    for variable in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        if env.get(variable):
            values[variable[4:].lower().replace("_", "-")] = (env[variable], variable)
    for key, role in (("index-url", "index"), ("extra-index-url", "extra"), ("find-links", "find-links")):
        if key in values:
            value, origin = values[key]
            config.entries.extend(entry(url, role, origin) for url in value.split())
    if "no-index" in values:
        config.no_index = values["no-index"][0].strip().lower() in ("1", "true", "yes", "on")
    return config


def uv_config_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """uv's system then user ``uv.toml`` (the project's own settings are read from its pyproject/uv.toml)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    dirs = [d for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep) if d]
    user = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "uv" / "uv.toml"
    return [Path("/etc/uv/uv.toml"), *(Path(d) / "uv" / "uv.toml" for d in dirs), user]


def uv_config(
    project_settings: Sequence[tuple[Mapping[str, Any], str]] = (),
    environ: Mapping[str, str] | None = None,
    files: Sequence[Path] | None = None,
) -> IndexConfig:
    """What uv would use: system/user ``uv.toml``, the project's ``[tool.uv]``, then ``UV_*`` variables."""
    env = os.environ if environ is None else environ
    config = IndexConfig("uv", strategy="first-index", strategy_origin="uv default")
    tables: list[tuple[Mapping[str, Any], str]] = []
    for path in uv_config_files(env) if files is None else files:
        if path.is_file():
            try:
                tables.append((tomllib.loads(path.read_text(encoding="utf-8")), str(path)))
                config.read.append(str(path))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                config.unreadable.append((str(path), str(exc)))
    for table, origin in (*tables, *project_settings):
        try:
            apply_uv_table(config, table, origin)
        except (AttributeError, TypeError, ValueError) as exc:
            config.unreadable.append((origin, f"unexpected structure: {exc}"))
    if env.get("UV_INDEX_STRATEGY"):
        config.strategy, config.strategy_origin = env["UV_INDEX_STRATEGY"], "UV_INDEX_STRATEGY"
    for variable, role in (
        ("UV_INDEX_URL", "index"),
        ("UV_DEFAULT_INDEX", "index"),
        ("UV_EXTRA_INDEX_URL", "extra"),
    ):
        for url in env.get(variable, "").split():
            config.entries.append(entry(url, role, variable))
    for item in env.get("UV_INDEX", "").split():
        name, _, url = item.rpartition("=") if "=" in item.split("://")[0] else ("", "", item)
        config.entries.append(entry(url, "uv-index", "UV_INDEX", name=name or None))
    return config


def apply_uv_table(config: IndexConfig, table: Mapping[str, Any], origin: str) -> None:
    """Fold one ``[tool.uv]`` table (or a ``uv.toml`` document) into ``config``."""
    strategy = table.get("index-strategy")
    if isinstance(strategy, str):
        config.strategy, config.strategy_origin = strategy, origin
    if isinstance(table.get("index-url"), str):
        config.entries.append(entry(table["index-url"], "index", origin))
    for url in _strings(table.get("extra-index-url")):
        config.entries.append(entry(url, "extra", origin))
    for url in _strings(table.get("find-links")):
        config.entries.append(entry(url, "find-links", origin))
    if table.get("no-index") is True:
        config.no_index = True
    for index in table.get("index") or []:
        if not isinstance(index, Mapping) or not isinstance(index.get("url"), str):
            continue
        role = "index" if index.get("default") is True else "uv-index"
        item = entry(index["url"], role, f"{origin} [[index]]", name=str(index.get("name") or "") or None)
        config.entries.append(IndexEntry(**{**item.__dict__, "explicit": index.get("explicit") is True}))
    for package, source in (table.get("sources") or {}).items():
        if isinstance(source, Mapping) and isinstance(source.get("index"), str):
            config.sources[package] = source["index"]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
