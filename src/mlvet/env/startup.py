"""What in site-packages runs or loads by itself: start-up hooks, native libraries, hidden directories."""

from __future__ import annotations

import enum
import posixpath
from pathlib import Path

from mlvet.env.hashing import open_regular

NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
_CUSTOMIZE = frozenset({"sitecustomize", "usercustomize"})
_PTH_READ_LIMIT = 1 << 20


class FileKind(enum.Enum):
    """How dangerous an unexplained file is, by what the interpreter does with it."""

    STARTUP_PTH = "start-up .pth"
    """A .pth file with ``import`` lines: ``site`` executes them at every interpreter start."""
    PATH_PTH = "path .pth"
    """A .pth file that only adds directories to ``sys.path``."""
    CUSTOMIZE = "sitecustomize/usercustomize"
    NATIVE = "native library"
    CODE = "python code"
    BYTECODE_CACHE = "bytecode cache"
    OTHER = "other"


def executable_pth_lines(path: Path) -> list[tuple[int, str]]:
    """The lines of a .pth file that ``site`` executes: exactly those starting with ``import`` + blank."""
    try:
        handle = open_regular(str(path))
        if handle is None:
            return []
        with handle:
            data = handle.read(_PTH_READ_LIMIT)
    except OSError:
        return []
    lines = []
    for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if raw.startswith(("import ", "import\t")):
            lines.append((number, raw.rstrip()))
    return lines


def classify(path: str, site_dir: str) -> FileKind:
    """The kind of a file found in site-packages (content of .pth files is read, nothing is imported).

    Plain string operations: this runs once per file of environments with 100,000 files.
    """
    prefix = site_dir.rstrip("/") + "/"
    relative = path[len(prefix) :] if path.startswith(prefix) else posixpath.basename(path)
    parts = relative.split("/")
    name = parts[-1]
    parent = posixpath.basename(posixpath.dirname(path))
    if name.endswith((".pyc", ".pyo")) and parent == "__pycache__":
        return FileKind.BYTECODE_CACHE
    if name.endswith(".pth") and len(parts) == 1:
        return FileKind.STARTUP_PTH if executable_pth_lines(Path(path)) else FileKind.PATH_PTH
    if (len(parts) == 1 and name.split(".", 1)[0] in _CUSTOMIZE) or (
        len(parts) > 1 and parts[0] in _CUSTOMIZE
    ):
        return FileKind.CUSTOMIZE
    if name.endswith(NATIVE_SUFFIXES) or ".so." in name:
        return FileKind.NATIVE
    if name.endswith((".py", ".pyw", ".pyc", ".pyo")):
        return FileKind.CODE
    return FileKind.OTHER


def hidden_part(path: str, site_dir: str) -> str | None:
    """The first directory below ``site_dir`` whose name starts with a dot, if any."""
    prefix = site_dir.rstrip("/") + "/"
    if not path.startswith(prefix) or "/." not in path[len(prefix) - 1 :]:
        return None
    parts = path[len(prefix) :].split("/")[:-1]
    for index, part in enumerate(parts):
        if part.startswith("."):
            return "/".join(parts[: index + 1])
    return None
