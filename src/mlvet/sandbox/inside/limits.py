"""Resource limits for the runner: memory, CPU, file size, open files, processes, no core dumps."""

from __future__ import annotations

import os
import resource
import signal
from typing import Any


def apply(
    memory_bytes: int, cpu_seconds: int, file_bytes: int, open_files: int, processes: int
) -> dict[str, Any]:
    """Set every limit (hard = soft, so the payload cannot raise them) and return what was set."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing
    wanted = {
        "RLIMIT_AS": memory_bytes,
        "RLIMIT_CPU": cpu_seconds,
        "RLIMIT_FSIZE": file_bytes,
        "RLIMIT_NOFILE": open_files,
        "RLIMIT_NPROC": processes,
        "RLIMIT_CORE": 0,
    }
    applied: dict[str, Any] = {}
    for name, value in wanted.items():
        which = getattr(resource, name)
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        # CPU: soft = the limit (SIGXCPU, recognisable), hard one second later (SIGKILL)
        limit = (
            (value, value + 1) if name == "RLIMIT_CPU" and hard == resource.RLIM_INFINITY else (value, value)
        )
        resource.setrlimit(which, limit)
        applied[name] = value
    applied["nproc_enforced"] = _nproc_enforced()
    return applied


def _nproc_enforced() -> bool:
    """RLIMIT_NPROC does not bind a process with CAP_SYS_RESOURCE in the initial user namespace (root)."""
    return os.getuid() != 0 or _in_user_namespace()


def _in_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map", encoding="ascii") as mapping:  # noqa: PTH123 - pathlib costs an import
            return mapping.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False
