"""Which files make up a model: the OMS enumeration with ignore paths and the symlink policy.

Names are relative POSIX paths from the model root (for a single-file model: its basename).
Directories are never entries. Symlinks are recorded whatever the policy; they are followed only
when ``allow_symlinks`` is set, and then hashed under the link's own name (OMS §6.3).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from mlvet.errors import InputError

GIT_PATHS: Final = (".git", ".gitattributes", ".github", ".gitignore")
"""Ignored at the model root by default, as OMS §6.2.1 and model-signing do."""


@dataclass(frozen=True)
class ModelFile:
    """A regular file of the model: its manifest name, the path to read, and its size."""

    name: str
    path: Path
    size: int
    via_symlink: bool = False


@dataclass(frozen=True)
class Symlink:
    """A symbolic link met while listing; ``outside_root`` when its target leaves the model."""

    name: str
    target: str
    outside_root: bool
    followed: bool


@dataclass(frozen=True)
class Listing:
    """The files of a model, the links met on the way, and entries that cannot be hashed."""

    root: Path
    single_file: bool
    files: tuple[ModelFile, ...]
    symlinks: tuple[Symlink, ...] = ()
    unhashable: tuple[tuple[str, str], ...] = ()
    """(name, reason): special files, dangling links, link cycles, names that are not UTF-8."""


def normalize_ignore_path(text: str, root: Path) -> str:
    """A user ignore path as a canonical root-relative POSIX name (absolute paths are made relative)."""
    candidate = Path(text)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(root.resolve())
        except ValueError:
            raise InputError(
                f"ignore path {text} is outside the model {root}",
                hint="give paths relative to the model directory",
            ) from None
    parts = [part for part in PurePosixPath(candidate.as_posix()).parts if part not in ("", ".")]
    if ".." in parts:
        raise InputError(f"ignore path {text} climbs out with '..'", hint="give paths inside the model")
    return "/".join(parts)


def is_ignored(name: str, ignored: Iterable[str]) -> bool:
    """True when ``name`` is an ignore path or lies below one (exact paths, no globs)."""
    return any(name == path or name.startswith(path + "/") for path in ignored if path)


def _utf8_name(raw: str) -> bool:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Walker:
    def __init__(self, root: Path, ignored: frozenset[str], allow_symlinks: bool) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.ignored = ignored
        self.allow_symlinks = allow_symlinks
        self.files: list[ModelFile] = []
        self.symlinks: list[Symlink] = []
        self.unhashable: list[tuple[str, str]] = []
        self.active_dirs: set[str] = set()

    def _inside(self, target: Path) -> bool:
        return target == self.real_root or target.is_relative_to(self.real_root)

    def walk(self, directory: Path, prefix: str, via_symlink: bool) -> None:
        real = os.path.realpath(directory)
        if real in self.active_dirs:
            self.unhashable.append((prefix.rstrip("/") or ".", "symlink cycle"))
            return
        self.active_dirs.add(real)
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            self.unhashable.append((prefix.rstrip("/") or ".", f"cannot list: {exc.strerror or exc}"))
            entries = []
        for entry in entries:
            name = f"{prefix}{entry.name}"
            if not _utf8_name(entry.name):
                self.unhashable.append((name.encode("utf-8", "replace").decode(), "name is not UTF-8"))
                continue
            if is_ignored(name, self.ignored):
                continue
            self._visit(Path(entry.path), name, entry.is_symlink(), via_symlink)
        self.active_dirs.discard(real)

    def _visit(self, path: Path, name: str, is_link: bool, via_symlink: bool) -> None:
        if is_link:
            target_text = str(path.readlink())
            resolved = Path(os.path.realpath(path))
            self.symlinks.append(Symlink(name, target_text, not self._inside(resolved), self.allow_symlinks))
            if not self.allow_symlinks:
                return
            via_symlink = True
        try:
            info = path.stat()
        except OSError:
            self.unhashable.append((name, "dangling symlink" if is_link else "cannot stat"))
            return
        if stat.S_ISDIR(info.st_mode):
            self.walk(path, f"{name}/", via_symlink)
        elif stat.S_ISREG(info.st_mode):
            self.files.append(ModelFile(name, path, info.st_size, via_symlink))
        else:
            self.unhashable.append((name, "not a regular file (device, pipe or socket)"))


def list_model(path: Path, ignore_paths: Iterable[str] = (), *, allow_symlinks: bool = False) -> Listing:
    """The files of the model at ``path`` (a directory, or a single file), in code-point name order."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"model {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read model {path}: {exc.strerror or exc}") from None
    if stat.S_ISREG(info.st_mode):
        return Listing(path, True, (ModelFile(path.name, path, info.st_size),))
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"model {path} is neither a regular file nor a directory")
    walker = _Walker(path, frozenset(ignore_paths), allow_symlinks)
    walker.walk(path, "", False)
    files = tuple(sorted(walker.files, key=lambda item: item.name))
    return Listing(path, False, files, tuple(walker.symlinks), tuple(walker.unhashable))
