"""Requirement sets as installers read them: requirements.txt, pyproject.toml, pylock.toml, uv.lock."""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from mlvet.env.audit.indexes import IndexConfig, IndexEntry, apply_uv_table, entry
from mlvet.env.audit.versions import normalize_name
from mlvet.errors import InputError

MAX_INCLUDE_DEPTH = 16
_HASH_OPTION = re.compile(r"--hash[=\s]+(\S+)")
_COMMENT = re.compile(r"(^|\s)#.*$")
_PINNED_COMMIT = re.compile(r"[@#][0-9a-f]{40}(?:[#&]|$)")


@dataclass(frozen=True)
class Pin:
    """One requirement: what a user asked for and how tightly it is held."""

    name: str
    requested: str
    """As written (``torch==2.5.1``, ``numpy>=1.26``, a URL)."""
    origin: str
    line: int | None = None
    version: str | None = None
    """The exact version when pinned with ``==``/``===`` (or locked)."""
    hashes: tuple[str, ...] = ()
    url: str | None = None
    index: str | None = None
    """Lock files: the index the artifact was locked from."""
    pinning_expected: bool = True
    """False for pyproject dependency ranges, which libraries rightly leave open."""
    immutable: bool = False
    """A VCS URL pinned to a commit, or a local path: no index involved."""

    @property
    def pinned(self) -> bool:
        return self.version is not None or self.immutable


@dataclass
class RequirementSet:
    """Requirements from one or more files, plus the index settings those files carry."""

    pins: list[Pin] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    pip_options: list[IndexEntry] = field(default_factory=list)
    pip_no_index: bool = False
    require_hashes: bool = False
    uv: IndexConfig | None = None
    errors: list[tuple[str, int | None, str]] = field(default_factory=list)
    """(file, line, message) for lines that could not be understood."""


def read_requirement_file(path: Path, into: RequirementSet | None = None) -> RequirementSet:
    """Parse ``path`` by its kind: pyproject.toml, pylock*.toml, uv.lock, else a pip requirements file."""
    result = RequirementSet() if into is None else into
    try:
        _read_by_kind(path, result)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise InputError(
            f"{path}: unexpected structure ({type(exc).__name__}: {exc})",
            hint="the file does not follow its format's specification",
        ) from None
    return result


def _read_by_kind(path: Path, result: RequirementSet) -> None:
    name = path.name.lower()
    if name == "pyproject.toml":
        _read_pyproject(path, result)
    elif name == "uv.toml":
        result.files.append(str(path))
        _apply_uv(result, _toml(path), str(path))
    elif name == "uv.lock":
        _read_uv_lock(path, result)
    elif re.fullmatch(r"pylock(\.[^.]+)?\.toml", name):
        _read_pylock(path, result)
    else:
        _read_requirements_txt(path, result, depth=0, seen=set())


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{path} does not exist", hint="pass a requirements file, pyproject.toml, pylock.toml or uv.lock"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"cannot read {path}: {reason or exc}") from None


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}", hint="fix the file and run again") from None


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw) if not raw.lstrip().startswith("#") else ""
        if not buffer:
            start = number
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            yield start, buffer.strip()
        buffer = ""
    if buffer.strip():
        yield start, buffer.strip()


def _read_requirements_txt(path: Path, result: RequirementSet, *, depth: int, seen: set[Path]) -> None:
    resolved = path.resolve()
    if resolved in seen or depth > MAX_INCLUDE_DEPTH:
        return
    seen.add(resolved)
    text = _text(path)
    result.files.append(str(path))
    origin = str(path)
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            _option(line, path, number, result, depth, seen)
            continue
        hashes = tuple(_HASH_OPTION.findall(line))
        spec = _HASH_OPTION.sub("", line).strip()
        if hashes:
            result.require_hashes = True
        pin = _parse_requirement(spec, origin, number, hashes)
        if isinstance(pin, str):
            result.errors.append((origin, number, pin))
        else:
            result.pins.append(pin)


def _option(line: str, path: Path, number: int, result: RequirementSet, depth: int, seen: set[Path]) -> None:
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    flag, _, inline = words[0].partition("=")
    value = inline or (words[1] if len(words) > 1 else "")
    origin = str(path)
    if flag in ("-i", "--index-url"):
        result.pip_options.append(entry(value, "index", origin, line=number))
    elif flag == "--extra-index-url":
        result.pip_options.append(entry(value, "extra", origin, line=number))
    elif flag in ("-f", "--find-links"):
        result.pip_options.append(entry(value, "find-links", origin, line=number))
    elif flag == "--no-index":
        result.pip_no_index = True
    elif flag == "--require-hashes":
        result.require_hashes = True
    elif flag in ("-r", "--requirement", "-c", "--constraint"):
        included = path.parent / value
        if "://" in value:
            result.errors.append((origin, number, f"remote include {value} was not followed"))
        elif not included.is_file():
            result.errors.append((origin, number, f"included file {value} does not exist"))
        else:
            _read_requirements_txt(included, result, depth=depth + 1, seen=seen)
    elif flag in ("-e", "--editable"):
        result.pins.append(Pin(value, line, origin, number, url=value, immutable=not _is_vcs(value)))


def _is_vcs(text: str) -> bool:
    return text.split("+", 1)[0] in ("git", "hg", "svn", "bzr")


def _parse_requirement(spec: str, origin: str, line: int | None, hashes: tuple[str, ...] = ()) -> Pin | str:
    if "://" in spec and "@" not in spec.split("://")[0] and not re.match(r"^[A-Za-z0-9._-]+\s*@", spec):
        return Pin(
            spec, spec, origin, line, hashes=hashes, url=spec, immutable=_url_is_immutable(spec, hashes)
        )
    if spec.startswith((".", "/")) or spec.endswith((".whl", ".tar.gz", ".zip")):
        return Pin(spec, spec, origin, line, hashes=hashes, url=spec, immutable=True)
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        return f"not a requirement: {spec!r} ({exc})"
    name = normalize_name(requirement.name)
    if requirement.url:
        immutable = _url_is_immutable(requirement.url, hashes)
        return Pin(name, spec, origin, line, hashes=hashes, url=requirement.url, immutable=immutable)
    exact = [s for s in requirement.specifier if s.operator in ("==", "===") and not s.version.endswith("*")]
    version = exact[0].version if len(exact) == 1 and len(requirement.specifier) == 1 else None
    return Pin(name, spec, origin, line, version=version, hashes=hashes)


def _url_is_immutable(url: str, hashes: tuple[str, ...]) -> bool:
    if _is_vcs(url) or url.startswith("git+"):
        return bool(_PINNED_COMMIT.search(url))
    return bool(hashes) or "#sha256=" in url or url.startswith("file:")


def _read_pyproject(path: Path, result: RequirementSet) -> None:
    document = _toml(path)
    result.files.append(str(path))
    origin = str(path)
    project = document.get("project") or {}
    specs: list[tuple[str, str]] = [(s, "project.dependencies") for s in project.get("dependencies") or []]
    for extra, items in (project.get("optional-dependencies") or {}).items():
        specs.extend((s, f"project.optional-dependencies.{extra}") for s in items)
    for group, items in (document.get("dependency-groups") or {}).items():
        specs.extend((s, f"dependency-groups.{group}") for s in items if isinstance(s, str))
    specs.extend(
        (s, "build-system.requires") for s in (document.get("build-system") or {}).get("requires") or []
    )
    for spec, where in specs:
        pin = _parse_requirement(str(spec), f"{origin} [{where}]", None)
        if isinstance(pin, str):
            result.errors.append((origin, None, pin))
        else:
            result.pins.append(Pin(**{**pin.__dict__, "pinning_expected": False}))
    uv = (document.get("tool") or {}).get("uv")
    if isinstance(uv, Mapping):
        _apply_uv(result, uv, f"{origin} [tool.uv]")


def _apply_uv(result: RequirementSet, table: Mapping[str, Any], origin: str) -> None:
    if result.uv is None:
        result.uv = IndexConfig("uv", strategy="first-index", strategy_origin="uv default")
    apply_uv_table(result.uv, table, origin)


def _read_pylock(path: Path, result: RequirementSet) -> None:
    document = _toml(path)
    if not str(document.get("lock-version", "")).startswith("1"):
        raise InputError(
            f"{path}: unsupported pylock lock-version {document.get('lock-version')!r}",
            hint="mlvet reads PEP 751 lock-version 1.x",
        )
    result.files.append(str(path))
    for number, package in enumerate(document.get("packages") or [], 1):
        if not isinstance(package, Mapping) or not isinstance(package.get("name"), str):
            result.errors.append((str(path), None, f"packages[{number}] has no name"))
            continue
        artifacts = [*(package.get("wheels") or []), package.get("sdist"), package.get("archive")]
        hashes = tuple(
            f"{algo}:{digest}"
            for artifact in artifacts
            if isinstance(artifact, Mapping)
            for algo, digest in (artifact.get("hashes") or {}).items()
        )
        vcs = package.get("vcs")
        immutable = (isinstance(vcs, Mapping) and bool(vcs.get("commit-id"))) or "directory" in package
        name = normalize_name(package["name"])
        version = package.get("version")
        result.pins.append(
            Pin(
                name,
                f"{name}=={version}" if version else name,
                f"{path} [packages.{name}]",
                version=version,
                hashes=hashes,
                index=package.get("index"),
                immutable=immutable,
            )
        )


def _read_uv_lock(path: Path, result: RequirementSet) -> None:
    document = _toml(path)
    result.files.append(str(path))
    for package in document.get("package") or []:
        if not isinstance(package, Mapping) or not isinstance(package.get("name"), str):
            continue
        source = package.get("source") or {}
        if any(k in source for k in ("editable", "virtual", "path", "directory")):
            continue  # the project itself and its workspace members
        artifacts = [package.get("sdist"), *(package.get("wheels") or [])]
        hashes = tuple(
            a["hash"] for a in artifacts if isinstance(a, Mapping) and isinstance(a.get("hash"), str)
        )
        name = normalize_name(package["name"])
        version = package.get("version")
        git = source.get("git")
        result.pins.append(
            Pin(
                name,
                f"{name}=={version}",
                f"{path} [package.{name}]",
                version=version,
                hashes=hashes,
                index=source.get("registry"),
                url=git,
                immutable=bool(git and _PINNED_COMMIT.search(git)),
            )
        )
