"""``pyproject.toml``: which backend runs at build time, where it comes from, and what it requires."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlvet.findings import Severity
from mlvet.scan.build_systems import rules
from mlvet.scan.build_systems.issues import BuildIssue

WELL_KNOWN_BACKENDS: dict[str, str] = {
    "setuptools.build_meta": "setuptools",
    "hatchling.build": "hatchling",
    "hatchling.ouroboros": "hatchling",
    "flit_core.buildapi": "flit-core",
    "flit.buildapi": "flit",
    "poetry.core.masonry.api": "poetry-core",
    "poetry.masonry.api": "poetry",
    "pdm.backend": "pdm-backend",
    "pdm.backend.intree": "pdm-backend",
    "pdm.pep517.api": "pdm-pep517",
    "scikit_build_core.build": "scikit-build-core",
    "scikit_build_core.setuptools.build_meta": "scikit-build-core",
    "mesonpy": "meson-python",
    "maturin": "maturin",
    "sipbuild.api": "sip",
    "pbr.build": "pbr",
    "enscons.api": "enscons",
    "whey": "whey",
    "uv_build": "uv-build",
    "jupyter_packaging.build_api": "jupyter-packaging",
    "py_build_cmake.build": "py-build-cmake",
    "cmeel.build": "cmeel",
    "pymsbuild": "pymsbuild",
    "poetry_dynamic_versioning.backend": "poetry-dynamic-versioning",
    "setuptools_scm._integration.pyproject_reading": "setuptools-scm",
    "trampolim": "trampolim",
    "mina.backend": "mina-build",
}
"""PEP 517 backend modules in common use, and the distribution that provides each."""
_HEADER = re.compile(r"^\s*\[\s*build-system\s*\]", re.MULTILINE)


def analyse_pyproject(text: str) -> list[BuildIssue]:
    """Issues in the ``[build-system]`` table and the setuptools/hatch build configuration."""
    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        line = _error_line(str(exc))
        return [
            BuildIssue(
                rules.BUILD_SCRIPT_UNPARSEABLE,
                Severity.LOW,
                line,
                f"pyproject.toml is not valid TOML ({str(exc)[:160]})",
                {"error": str(exc)[:200]},
            )
        ]
    locator = _Locator(text)
    issues: list[BuildIssue] = []
    build_system = document.get("build-system")
    if build_system is not None and not isinstance(build_system, dict):
        issues.append(
            BuildIssue(
                rules.BUILD_SCRIPT_UNPARSEABLE, Severity.LOW, None, "[build-system] is not a table", {}
            )
        )
    elif isinstance(build_system, dict):
        issues += _backend(build_system, builds_itself(document), locator)
        issues += _requirements(build_system.get("requires"), locator)
    issues += _setuptools_cmdclass(document, locator)
    return issues


def builds_itself(document: dict[str, Any]) -> bool:
    """The project is a well-known backend that builds itself from its own tree (flit-core, hatchling ...)."""
    build_system = document.get("build-system")
    backend = build_system.get("build-backend") if isinstance(build_system, dict) else None
    if not isinstance(backend, str):
        return False
    provider = WELL_KNOWN_BACKENDS.get(backend.split(":", 1)[0].strip())
    project = _project_name(document)
    return provider is not None and project is not None and canonicalize_name(provider) == project


def _project_name(document: dict[str, Any]) -> str | None:
    project = document.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    if not isinstance(name, str):
        poetry = document.get("tool", {}).get("poetry") if isinstance(document.get("tool"), dict) else None
        name = poetry.get("name") if isinstance(poetry, dict) else None
    return canonicalize_name(name) if isinstance(name, str) else None


def _backend(build_system: dict[str, Any], self_hosting: bool, locator: _Locator) -> Iterator[BuildIssue]:
    backend = build_system.get("build-backend")
    paths = build_system.get("backend-path")
    if not isinstance(backend, str):
        return
    module = backend.split(":", 1)[0].strip()
    provider = WELL_KNOWN_BACKENDS.get(module)
    line = locator.key_line("build-backend")
    if paths is not None:
        shown = paths if isinstance(paths, list) else [paths]
        evidence = {"build-backend": backend, "backend-path": [str(p) for p in shown]}
        where = locator.key_line("backend-path") or line
        if self_hosting:
            return  # a backend building itself (setuptools, hatchling, flit-core ...)
        if provider is not None:
            yield BuildIssue(
                rules.IN_TREE_BACKEND,
                Severity.HIGH,
                where,
                f"the build imports {module} from the package's own files ({', '.join(map(str, shown))}), "
                f"shadowing the well-known {provider} backend",
                evidence,
            )
            return
        yield BuildIssue(
            rules.IN_TREE_BACKEND,
            Severity.MEDIUM,
            where,
            f"the build backend {module} is imported from the package's own files "
            f"({', '.join(map(str, shown))})",
            evidence,
        )
    elif provider is None:
        yield BuildIssue(
            rules.UNKNOWN_BACKEND,
            Severity.MEDIUM,
            line,
            f"the build backend {module} is not a well-known PEP 517 backend",
            {"build-backend": backend},
        )


def _requirements(requires: Any, locator: _Locator) -> Iterator[BuildIssue]:
    if not isinstance(requires, list):
        return
    unpinned: list[str] = []
    for entry in requires:
        if not isinstance(entry, str):
            continue
        try:
            requirement = Requirement(entry)
        except InvalidRequirement:
            unpinned.append(entry)
            continue
        if requirement.url is not None:
            yield BuildIssue(
                rules.URL_BUILD_REQUIREMENT,
                Severity.HIGH,
                locator.string_line(entry),
                f"build requirement {requirement.name} is fetched from {requirement.url[:120]}",
                {"requirement": entry},
            )
        elif not any(s.operator in ("==", "===") and "*" not in s.version for s in requirement.specifier):
            unpinned.append(entry)
    if unpinned:
        yield BuildIssue(
            rules.UNPINNED_BUILD_REQUIREMENT,
            Severity.INFO,
            locator.key_line("requires"),
            f"{len(unpinned)} build requirement(s) not pinned to an exact version: {', '.join(unpinned[:6])}",
            {"requirements": unpinned},
        )


def _setuptools_cmdclass(document: dict[str, Any], locator: _Locator) -> Iterator[BuildIssue]:
    tool = document.get("tool")
    setuptools = tool.get("setuptools") if isinstance(tool, dict) else None
    cmdclass = setuptools.get("cmdclass") if isinstance(setuptools, dict) else None
    if not isinstance(cmdclass, dict):
        return
    for command, target in cmdclass.items():
        yield BuildIssue(
            rules.SETUPTOOLS_CMDCLASS,
            Severity.MEDIUM,
            locator.string_line(str(target)) or locator.table_line("tool.setuptools.cmdclass"),
            f"the setuptools {command} command is replaced by {target}",
            {"command": str(command), "class": str(target)},
        )


class _Locator:
    """Approximate line numbers for keys and strings of a TOML document (tomllib keeps none)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        header = _HEADER.search(text)
        self.build_system_start = text.count("\n", 0, header.start()) if header else 0

    def key_line(self, key: str) -> int | None:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for index in range(self.build_system_start, len(self.lines)):
            if pattern.match(self.lines[index]):
                return index + 1
        return None

    def string_line(self, value: str) -> int | None:
        for quote in ('"', "'"):
            needle = f"{quote}{value}{quote}"
            for index, line in enumerate(self.lines):
                if needle in line:
                    return index + 1
        return None

    def table_line(self, dotted: str) -> int | None:
        for index, line in enumerate(self.lines):
            if line.strip().replace(" ", "") == f"[{dotted}]":
                return index + 1
        return None


def _error_line(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None
