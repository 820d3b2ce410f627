"""The sandboxed runner: confine this process, arm the recorder, load the file, report how it ended.

Order matters (sandbox_runtime.md §3.1): resource limits, Landlock and the attack-surface seccomp
filter first (nothing untrusted has run yet); the recorder next, unarmed; then the loader's framework
is imported; then process creation is closed by a second seccomp filter, the recorder is armed, BEGIN
is written, the file is loaded, a canary event proves the recorder still sees, and END is written.
The interpreter then exits normally, still armed, so exit-time payloads (atexit, finalizers) are seen.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from mlvet.sandbox.inside import landlock, limits, loading, recorder, seccomp_filter

SETUP_FAILED = 3
"""Exit status when a required layer could not be applied (the file was never opened)."""
LOG_LOST = 4
"""Exit status when the END record could not be written: the event log was closed under the runner."""


def main(config: dict[str, Any]) -> int:
    fd = int(config["log_fd"])

    def emit(record: dict[str, Any]) -> None:
        os.write(fd, (json.dumps(record) + "\n").encode())

    applied: dict[str, Any] = {}
    failure = _confine(config, applied)
    if failure is not None:
        emit({"k": "setup-failed", "layer": failure[0], "error": failure[1], "applied": applied})
        return SETUP_FAILED
    arm = recorder.install(fd)
    applied["audit_hook"] = True
    try:
        load = loading.prepare(config["loader"])
    except ImportError as exc:
        emit(
            {
                "k": "setup-failed",
                "layer": "loader",
                "error": f"{type(exc).__name__}: {exc}",
                "applied": applied,
            }
        )
        return SETUP_FAILED
    if config["seccomp"] != "off" and "seccomp" in applied:
        try:
            seccomp_filter.install(config["bpf"]["spawn"], all_threads=True)
            applied["seccomp"]["spawn"] = True
        except OSError as exc:
            if config["seccomp"] == "require":
                emit({"k": "setup-failed", "layer": "seccomp", "error": str(exc), "applied": applied})
                return SETUP_FAILED
    emit({"k": "begin", "applied": applied, "pid": os.getpid(), "uid": os.getuid()})
    arm()
    outcome = _load(load, config["artifact"])
    sys.audit("mlvet.canary", config["canary"])
    try:
        emit({"k": "end", **outcome})
    except OSError:  # the payload closed or replaced the log descriptor
        return LOG_LOST
    sys.stdout.flush()
    return 0


def _confine(config: dict[str, Any], applied: dict[str, Any]) -> tuple[str, str] | None:
    """Apply rlimits, Landlock and the surface filter; the failing required layer, or None."""
    try:
        applied["rlimits"] = limits.apply(**config["limits"])
    except (OSError, ValueError) as exc:
        return ("rlimits", str(exc))
    if config["landlock"] != "off":
        try:
            applied["landlock"] = landlock.restrict(config["writable"], writable_files=["/dev/null"])
        except OSError as exc:
            if config["landlock"] == "require":
                return ("landlock", str(exc))
    if config["seccomp"] != "off":
        try:
            seccomp_filter.install(config["bpf"]["surface"])
            applied["seccomp"] = {"surface": True, "spawn": False}
        except (KeyError, OSError) as exc:
            if config["seccomp"] == "require":
                return ("seccomp", f"{type(exc).__name__}: {exc}")
    return None


def _load(load: loading.Load, path: str) -> dict[str, Any]:
    try:
        loaded = load(path)
    except BaseException as exc:
        return {
            "loaded": False,
            "error": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "message": _safe_str(exc),
            "errno": exc.errno if isinstance(exc, OSError) else None,
        }
    kind = type(loaded)
    return {"loaded": True, "type": f"{kind.__module__}.{kind.__qualname__}"}


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:500]
    except BaseException:
        return "<unprintable>"
