"""Python files that a ``pyproject.toml`` on disk names as build code, whatever they are called.

An in-tree backend (``backend-path``), a hatch custom hook with its own ``path`` and the modules of
``[tool.setuptools.cmdclass]`` run at build time like ``setup.py`` does. In a source directory the
file and the ``pyproject.toml`` beside it can both be read, so such a file gets the build analysis
instead of the model-code one. (Inside an archive each member is scanned on its own; there they keep
the model-code analysis.)
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path
from typing import Any

from mlvet.scan.build_systems.pyproject import builds_itself

MAX_LEVELS = 4
"""How many parent directories are searched for the ``pyproject.toml`` that names a file."""
MAX_PYPROJECT_BYTES = 1 << 20


def build_role(path: Path) -> str | None:
    """What ``path`` is to the build (``"in-tree build backend"`` ...); ``None`` if no pyproject names it."""
    try:
        target = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    for parent in list(Path(target).parents)[:MAX_LEVELS]:
        pyproject = parent / "pyproject.toml"
        try:
            stat = pyproject.stat()
        except OSError:
            continue
        role = _roles(str(parent), stat.st_mtime_ns, stat.st_size).get(target)
        if role is not None:
            return role
    return None


@functools.lru_cache(maxsize=256)
def _roles(directory: str, mtime_ns: int, size: int) -> dict[str, str]:
    """``{real path: role}`` for one ``pyproject.toml`` (cached per directory and version of the file)."""
    del mtime_ns  # part of the cache key only
    if size > MAX_PYPROJECT_BYTES:
        return {}
    try:
        document = tomllib.loads(Path(directory, "pyproject.toml").read_text("utf-8", "replace"))
    except (OSError, tomllib.TOMLDecodeError, RecursionError):
        return {}
    root = Path(directory)
    found: dict[str, str] = {}
    for candidate in _backend_files(document, root):
        found.setdefault(candidate, "in-tree build backend")
    for candidate in _hatch_hooks(document, root):
        found.setdefault(candidate, "hatch build hook")
    for candidate in _cmdclass_modules(document, root):
        found.setdefault(candidate, "setuptools command module")
    return found


def _table(value: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def _module_files(root: Path, module: str) -> list[str]:
    parts = [p for p in module.split(".") if p]
    if not parts or any(not p.isidentifier() for p in parts):
        return []
    stem = root.joinpath(*parts)
    return [os.path.realpath(f"{stem}.py"), os.path.realpath(stem / "__init__.py")]


def _backend_files(document: dict[str, Any], root: Path) -> list[str]:
    build_system = _table(document, "build-system")
    backend, paths = build_system.get("build-backend"), build_system.get("backend-path")
    if not isinstance(backend, str) or not isinstance(paths, list) or builds_itself(document):
        return []  # a backend building itself is that backend's own code, analysed as a library
    module = backend.split(":", 1)[0].strip()
    files: list[str] = []
    for entry in paths:
        if isinstance(entry, str):
            files += _module_files(root / entry, module)
    return files


def _hatch_hooks(document: dict[str, Any], root: Path) -> list[str]:
    build = _table(document, "tool", "hatch", "build")
    hooks = [_table(build, "hooks", "custom")] if "custom" in _table(build, "hooks") else []
    hooks += [
        _table(target, "hooks", "custom")
        for target in _table(build, "targets").values()
        if isinstance(target, dict) and "custom" in _table(target, "hooks")
    ]
    paths = [hook.get("path", "hatch_build.py") for hook in hooks]
    return [os.path.realpath(root / path) for path in paths if isinstance(path, str)]


def _cmdclass_modules(document: dict[str, Any], root: Path) -> list[str]:
    files: list[str] = []
    for target in _table(document, "tool", "setuptools", "cmdclass").values():
        if isinstance(target, str) and "." in target:
            module = target.rsplit(".", 1)[0]
            files += _module_files(root, module) + _module_files(root / "src", module)
    return files
