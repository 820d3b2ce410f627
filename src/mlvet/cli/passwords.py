"""Private-key passwords, read from the file a user names (never from the command line)."""

from __future__ import annotations

from pathlib import Path

from mlvet.errors import InputError


def read_password(path: Path | None) -> bytes | None:
    """The password in ``path`` without its trailing newline; None when no file was given."""
    if path is None:
        return None
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise InputError(f"cannot read password file {path}: {exc.strerror or exc}") from None
