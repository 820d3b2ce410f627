"""Errors that stop an operation as a whole; a single bad file is a ``Problem`` instead.

The tree::

    MlvetError                  base; ``diagnostics()`` gives the user-facing text and a hint
    ├── ConfigError             a settings file or option is invalid
    └── InputError              a path given by the user cannot be used at all
"""

from __future__ import annotations


class MlvetError(Exception):
    """Base of every error mlvet raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def diagnostics(self) -> str:
        """One line saying what happened, then the hint when there is one."""
        text = str(self)
        return f"{text}\nhint: {self.hint}" if self.hint else text


class ConfigError(MlvetError):
    """A settings file or command-line option is invalid."""

    hint = "check the option or the [tool.mlvet] / mlvet.toml setting named above"


class InputError(MlvetError):
    """A path given by the user does not exist or cannot be read."""

    hint = "check the path and its permissions"
