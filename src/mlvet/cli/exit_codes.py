"""The exit codes every subcommand shares."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """0 passed · 1 the answer is no · 2 could not decide (2 wins when both apply)."""

    PASSED = 0
    NO = 1
    UNDECIDED = 2
