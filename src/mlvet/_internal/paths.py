"""Paths that a model file references: do they stay inside the model's directory?"""

from __future__ import annotations

import posixpath
from pathlib import Path, PureWindowsPath


def location_escape(location: str, model_file: Path | None) -> str | None:
    """Why a referenced path leaves the model's directory, or None when it stays inside.

    Absolute paths, drive letters and '..' are judged on the text; when the model is a file on disk
    (``model_file``), the path is also resolved through symlinks against the model's directory.
    """
    if "\x00" in location:
        return "contains a NUL byte"
    windows = PureWindowsPath(location)
    if location.startswith(("/", "\\")):
        return "absolute path"
    if windows.drive:
        return "drive-qualified path"
    if ".." in location.replace("\\", "/").split("/"):
        return "climbs with '..'"
    if model_file is None or location in {"", "."}:
        return None
    base = model_file.parent
    try:
        resolved = Path(posixpath.normpath(base / location)).resolve()
        inside = resolved.is_relative_to(base.resolve())
    except (OSError, RuntimeError, ValueError):
        return "cannot be resolved"
    return None if inside else f"resolves to {resolved} through a symlink"
