"""Build-system tampering in source trees, sdists and wheels: what runs when a package is built or installed.

Build files are defined by their names (pip finds ``setup.py`` and ``pyproject.toml``, CMake finds
``CMakeLists.txt``, meson ``meson.build``, site.py runs ``.pth`` files), so ``scanner_for`` routes a
text or Python file to its build analysis by name, wherever the walk meets it: a directory, a tar or zip
sdist, a wheel. Everything else keeps its content-detected scanner. Nothing is built, imported or run.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from mlvet.artifacts import Buffer, Format
from mlvet.findings import ProblemKind, Subject
from mlvet.scan import python
from mlvet.scan.base import ScanContext, Scanner
from mlvet.scan.build_systems.cmake import analyse_cmake
from mlvet.scan.build_systems.issues import report_issues
from mlvet.scan.build_systems.meson import analyse_meson
from mlvet.scan.build_systems.pyproject import analyse_pyproject
from mlvet.scan.build_systems.references import build_role
from mlvet.scan.build_systems.rules import RULES
from mlvet.scan.build_systems.setup_script import analyse_build_python
from mlvet.scan.build_systems.wheel_files import analyse_entry_points, analyse_pth, analyse_wheel_script
from mlvet.scan.python.names import parse_module

__all__ = ["RULES", "scanner_for"]

MAX_BUILD_FILE_BYTES = 8 << 20
_ROUTED_FORMATS = frozenset({Format.PYTHON, Format.TEXT})
_SITE_PTH = re.compile(r"[^/]+\.pth|[^/]+\.data/(purelib|platlib)/[^/]+\.pth")
_WHEEL_SCRIPT = re.compile(r"[^/]+\.data/scripts/[^/]+")
_ENTRY_POINTS = re.compile(r"(?:^|/)(?P<distribution>[^/-]+)-[^/]*\.dist-info/entry_points\.txt$")
_BUILD_PYTHON = {"setup.py": "setup.py", "hatch_build.py": "hatch build hook"}


def scanner_for(subject: Subject, fmt: Format) -> Scanner | None:
    """The build analysis for a text or Python file whose name makes it a build file, else ``None``."""
    if fmt not in _ROUTED_FORMATS:
        return None
    inner = (subject.member.rsplit("!/", 1)[-1] if subject.member else subject.path).replace("\\", "/")
    base = inner.rsplit("/", 1)[-1]
    if base in _BUILD_PYTHON:
        return scan_build_python
    if fmt is Format.PYTHON and subject.member is None and (role := build_role(Path(subject.path))):
        return functools.partial(scan_build_python, role=role)
    if base == "pyproject.toml":
        return scan_pyproject
    if base == "CMakeLists.txt" or base.endswith(".cmake"):
        return scan_cmake
    if base == "meson.build":
        return scan_meson
    if base.endswith(".pth") and (subject.member is None or _SITE_PTH.fullmatch(inner)):
        return scan_startup_file
    if subject.member is not None and _WHEEL_SCRIPT.fullmatch(inner):
        return scan_wheel_script
    if _ENTRY_POINTS.search(inner):
        return scan_entry_points
    return None


def _bounded(data: Buffer, ctx: ScanContext) -> bytes | None:
    if len(data) > MAX_BUILD_FILE_BYTES:
        ctx.problem(ProblemKind.LIMIT, f"build file larger than {MAX_BUILD_FILE_BYTES} bytes not analysed")
        return None
    return bytes(data)


def _text(data: Buffer, ctx: ScanContext) -> str | None:
    raw = _bounded(data, ctx)
    return None if raw is None else raw.decode("utf-8", "replace")


def scan_build_python(data: Buffer, ctx: ScanContext, role: str | None = None) -> None:
    """setup.py, a build hook or an in-tree backend (``role``): the whole module runs at build time."""
    raw = _bounded(data, ctx)
    if raw is None:
        return
    try:
        tree = parse_module(raw)
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError, LookupError):
        python.scan_python(data, ctx)  # reports why it does not parse
        return
    base = (ctx.subject.member or ctx.subject.path).replace("\\", "/").rsplit("/", 1)[-1]
    try:
        issues = analyse_build_python(tree, role or _BUILD_PYTHON.get(base, base))
    except RecursionError:
        ctx.problem(ProblemKind.LIMIT, "build script nested too deeply to analyse")
        return
    report_issues(issues, ctx)


def scan_pyproject(data: Buffer, ctx: ScanContext) -> None:
    """pyproject.toml: the backend, its origin and the build requirements."""
    text = _text(data, ctx)
    if text is not None:
        report_issues(analyse_pyproject(text), ctx)


def scan_cmake(data: Buffer, ctx: ScanContext) -> None:
    """CMakeLists.txt and *.cmake: downloads, fetched dependencies and commands run at build time."""
    text = _text(data, ctx)
    if text is not None:
        report_issues(analyse_cmake(text), ctx)


def scan_meson(data: Buffer, ctx: ScanContext) -> None:
    """meson.build: commands run at configure and build time."""
    text = _text(data, ctx)
    if text is not None:
        report_issues(analyse_meson(text), ctx)


def scan_startup_file(data: Buffer, ctx: ScanContext) -> None:
    """A .pth file at the top of site-packages (or of a wheel): its import lines run at every start."""
    text = _text(data, ctx)
    if text is not None:
        report_issues(analyse_pth(text), ctx)


def scan_wheel_script(data: Buffer, ctx: ScanContext) -> None:
    """A wheel's ``*.data/scripts`` file, installed onto PATH."""
    raw = _bounded(data, ctx)
    if raw is not None:
        report_issues(analyse_wheel_script(raw, ctx.subject.member or ctx.subject.path), ctx)


def scan_entry_points(data: Buffer, ctx: ScanContext) -> None:
    """``*.dist-info/entry_points.txt``: console scripts that shadow common commands."""
    text = _text(data, ctx)
    inner = (ctx.subject.member or ctx.subject.path).replace("\\", "/").rsplit("!/", 1)[-1]
    match = _ENTRY_POINTS.search(inner)
    if text is not None and match is not None:
        report_issues(analyse_entry_points(text, match.group("distribution")), ctx)
