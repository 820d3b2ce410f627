"""Whether a file is a model's custom code or a package's library code, judged from the files around it.

A Python file is *library code* when a directory above it (up to the scanned root, or the archive's top)
holds a package's markers: ``pyproject.toml``, ``setup.py`` or ``setup.cfg`` (a source tree, an sdist
beside its ``PKG-INFO``) or a ``*.dist-info`` folder with a ``RECORD`` (a wheel, site-packages). A file
beside ``config.json`` or ``modules.json`` is a model's code whatever lies above it (transformers and
sentence-transformers import custom modules from the model's own folder), and so is a file with no
package above it or given alone: those keep the strict model-code grading.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

from mlvet._internal.streams import BufferFile
from mlvet._internal.zipreader import ZipError, open_zip
from mlvet.artifacts import Buffer, Format
from mlvet.findings import Subject
from mlvet.scan.base import CodeOrigin, ScanContext, Surroundings

MODEL_MARKERS = frozenset({"config.json", "modules.json"})
"""Files that make their folder a model repository (custom code is imported from beside them)."""
SOURCE_MARKERS = frozenset({"pyproject.toml", "setup.py", "setup.cfg"})
"""Files at the root of a source tree or an sdist (an sdist also has ``PKG-INFO`` there)."""
LISTED_FORMATS = frozenset({Format.ZIP, Format.TAR})
_NOT_IMPORTED_DIRS = re.compile(
    r"(^|/)([^/]*\btests?\b[^/]*|testing|tools|scripts|benchmarks?|examples?|docs?|ci)(/|$)", re.IGNORECASE
)
_NOT_IMPORTED_FILES = re.compile(
    r"test_[^/]*\.py|[^/]*_test\.py|conftest\.py|noxfile\.py|tasks\.py|fabfile\.py"
)

Entries = Callable[[str], frozenset[str]]


def decide(directory: str, ancestors: list[str], entries: Entries) -> CodeOrigin | None:
    """The origin of a file in ``directory``; ``None`` when nothing around it says (the caller's default)."""
    if entries(directory) & MODEL_MARKERS:
        return CodeOrigin.MODEL
    for folder in [directory, *ancestors]:
        names = entries(folder)
        if names & SOURCE_MARKERS:
            return CodeOrigin.LIBRARY_SOURCE
        if any(_is_dist_info(posixpath.join(folder, n), n, entries) for n in names):
            return CodeOrigin.LIBRARY_BUILT
    return None


def imported_module(relative_folder: str, base: str, beside: frozenset[str], *, built: bool) -> bool:
    """Whether importing the package runs this file: not a test, a tool script, an example or
    documentation (judged by its name and the folders between the package's root and it), and, in a
    source package, a module of a package folder (``__init__.py`` among the names ``beside`` it) or at
    the package's top. Everything else a built package installs is importable (namespace packages too)."""
    if _NOT_IMPORTED_FILES.fullmatch(base) or _NOT_IMPORTED_DIRS.search(relative_folder):
        return False
    return (
        built
        or "__init__.py" in beside
        or bool(beside & SOURCE_MARKERS)
        or any(n.endswith(".dist-info") for n in beside)
    )


def _is_dist_info(path: str, name: str, entries: Entries) -> bool:
    if not name.endswith(".dist-info"):
        return False
    inside = entries(path)
    return "RECORD" in inside and bool(inside & {"WHEEL", "METADATA"})


class DirectoryLayout:
    """A directory given to ``scan``: files below a package root inside it are library code.

    The search stops at the scanned root, except that a ``*.dist-info`` folder beside the root also
    counts (``mlvet scan site-packages/torch`` scans an installed package).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self._entries: dict[str, frozenset[str]] = {}

    def origin(self, subject: Subject) -> CodeOrigin:
        directory = Path(subject.path).absolute().parent
        if directory != self.root and self.root not in directory.parents:
            return CodeOrigin.MODEL
        ancestors = [str(p) for p in directory.parents if p == self.root or self.root in p.parents]
        found = decide(str(directory), ancestors, self._listing)
        if found is None and self.root.parent != self.root:
            names = self._listing(str(self.root.parent))
            if any(_is_dist_info(str(self.root.parent / n), n, self._listing) for n in names):
                return CodeOrigin.LIBRARY_BUILT
        return found or CodeOrigin.MODEL

    def is_imported(self, subject: Subject, *, built: bool) -> bool:
        """Whether the file would run when its package is imported (see ``imported_module``)."""
        if subject.member is not None:
            return True  # an archive member without a layout of its own: assume the worst
        path = Path(subject.path).absolute()
        relative = path.parent.relative_to(self.root).as_posix() if self.root in path.parents else ""
        return imported_module(relative, path.name, self._listing(str(path.parent)), built=built)

    def _listing(self, directory: str) -> frozenset[str]:
        names = self._entries.get(directory)
        if names is None:
            try:
                names = frozenset(entry.name for entry in Path(directory).iterdir())
            except OSError:
                names = frozenset()
            self._entries[directory] = names
        return names


class ArchiveLayout:
    """A zip or tar archive's member names (read when a member first asks, then kept)."""

    def __init__(self, data: Buffer, fmt: Format, ctx: ScanContext) -> None:
        self._data: Buffer | None = data
        self._format = fmt
        self._max_entries = ctx.settings.limits.max_entries
        self.container = ctx.subject
        self.parent = ctx.surroundings
        self._folders: dict[str, frozenset[str]] | None = None

    def origin(self, subject: Subject) -> CodeOrigin:
        inner = self._relative(subject)
        found = None
        if inner is not None:
            directory = posixpath.dirname(inner)
            ancestors = []
            while directory:
                directory = posixpath.dirname(directory)
                ancestors.append(directory)
            found = decide(posixpath.dirname(inner), ancestors, self._listing)
        if found is not None:
            return found
        return CodeOrigin.MODEL if self.parent is None else self.parent.origin(self.container)

    def is_imported(self, subject: Subject, *, built: bool) -> bool:
        """Whether the member would run when its package is imported (see ``imported_module``)."""
        inner = self._relative(subject)
        if inner is None:
            return True
        folder = posixpath.dirname(inner)
        return imported_module(folder, posixpath.basename(inner), self._listing(folder), built=built)

    def _relative(self, subject: Subject) -> str | None:
        """The member's path inside this archive (up to a nested container's own ``!/``)."""
        member = subject.member or ""
        prefix = f"{self.container.member}!/" if self.container.member else ""
        if subject.path != self.container.path or not member.startswith(prefix):
            return None
        return _normalise(member[len(prefix) :].split("!/", 1)[0])

    def _listing(self, directory: str) -> frozenset[str]:
        if self._folders is None:
            self._folders = folder_contents(self._names())
            self._data = None
        return self._folders.get(directory, frozenset())

    def _names(self) -> list[str]:
        data = self._data
        if data is None:
            return []
        if self._format is Format.ZIP:
            try:
                return [entry.name for entry in open_zip(data, max_entries=self._max_entries).entries]
            except ZipError:
                return []
        names: list[str] = []
        try:
            with tarfile.open(fileobj=BufferFile(data), mode="r:") as archive:
                while len(names) < self._max_entries and (info := archive.next()) is not None:
                    names.append(info.name)
        except (tarfile.TarError, OSError, ValueError, EOFError, UnicodeError):
            pass
        return names


def _normalise(name: str) -> str:
    return name.replace("\\", "/").lstrip("/").removeprefix("./")


def folder_contents(names: list[str]) -> dict[str, frozenset[str]]:
    """``{folder: names directly inside it}`` for every folder implied by the member names."""
    found: dict[str, set[str]] = {}
    for name in names:
        path = _normalise(name).rstrip("/")
        while path:
            folder, _, base = path.rpartition("/")
            found.setdefault(folder, set()).add(base)
            path = folder
    return {folder: frozenset(items) for folder, items in found.items()}


def archive_layout(data: Buffer, fmt: Format, ctx: ScanContext) -> Surroundings | None:
    """The surroundings for the members of a zip or tar archive (``None`` for other formats)."""
    return ArchiveLayout(data, fmt, ctx) if fmt in LISTED_FORMATS else None
