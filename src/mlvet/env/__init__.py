"""The installed Python environment: verify it file by file against RECORD, lock it, audit it.

``verify_environment(environment, lock=...)`` returns a ``Report``; ``lock_environment`` and
``lock_requirements`` return the ``Lock`` and a ``Report`` of what could not be hash-locked;
``read_lock`` reads ``pylock.toml``, ``uv.lock`` and hash-pinned requirements files.
"""

from __future__ import annotations

from mlvet.env.lock import LockResult, LockSources, RecordFetch, lock_environment, lock_requirements
from mlvet.env.lockfile import Lock, LockedFile, LockedPackage, read_lock, write_pylock
from mlvet.env.target import Environment, current_environment, environment_at, environment_of
from mlvet.env.verify import verify_environment

__all__ = [
    "Environment",
    "Lock",
    "LockResult",
    "LockSources",
    "LockedFile",
    "LockedPackage",
    "RecordFetch",
    "current_environment",
    "environment_at",
    "environment_of",
    "lock_environment",
    "lock_requirements",
    "read_lock",
    "verify_environment",
    "write_pylock",
]
