"""The supervisor: start the planned runner, read its event log and output, enforce the wall clock.

The runner gets the write end of a pipe (its event log) and pipes for stdout/stderr; the supervisor
reads all three until they close, kills the runner's whole process group when the timeout expires or
once it has exited (nothing it started may outlive it), and returns an ``Observation``: the parsed
events, the markers seen, how the process ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet.sandbox.launch import Plan

MAX_LOG_BYTES = 4 << 20
MAX_EVENTS = 5000
MAX_OUTPUT_BYTES = 64 << 10
_DRAIN_AFTER_EXIT_S = 1.0
_LOG_CLOSE_GRACE_S = 0.5


@dataclass
class Observation:
    """Everything the supervisor saw of one run (before it is judged)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    """Audit events, each with ``phase``: ``load`` (between BEGIN and END) or ``exit`` (after END)."""
    begin: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    setup_failure: dict[str, Any] | None = None
    canary_seen: bool = False
    log_closed_early: bool = False
    malformed_lines: int = 0
    dropped_events: int = 0
    returncode: int | None = None
    signal: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    files_before: set[str] = field(default_factory=set)
    files_written: list[str] = field(default_factory=list)


def supervise(
    plan: Plan, read_fd: int, write_fd: int, timeout_s: float, work: Path, *, bwrap: bool
) -> Observation:
    """Run ``plan`` to completion (or the timeout) and collect what it did."""
    seen = Observation()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            plan.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(write_fd,),
            env=plan.env,
            cwd=plan.cwd,
            preexec_fn=plan.preexec,
            start_new_session=True,
        )
    finally:
        os.close(write_fd)
    assert proc.stdout is not None and proc.stderr is not None
    streams = {read_fd: bytearray(), proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    limits = {
        read_fd: MAX_LOG_BYTES,
        proc.stdout.fileno(): MAX_OUTPUT_BYTES,
        proc.stderr.fileno(): MAX_OUTPUT_BYTES,
    }
    selector = selectors.DefaultSelector()
    for fd in streams:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    pending = b""
    deadline = started + timeout_s
    exited_at: float | None = None
    try:
        while selector.get_map():
            now = time.monotonic()
            if proc.poll() is not None and exited_at is None:
                exited_at = now
            if exited_at is not None and now - exited_at > _DRAIN_AFTER_EXIT_S:
                break
            if now >= deadline:
                seen.timed_out = True
                break
            for key, _ in selector.select(timeout=min(0.25, deadline - now)):
                fd = int(key.fd)
                chunk = os.read(fd, 65536)
                if not chunk:
                    selector.unregister(fd)
                    if fd == read_fd and seen.end is None and not _exits_soon(proc):
                        seen.log_closed_early = True
                    continue
                if fd == read_fd:
                    pending = _consume(seen, pending + chunk, work)
                elif len(streams[fd]) < limits[fd]:
                    streams[fd] += chunk[: limits[fd] - len(streams[fd])]
    finally:
        selector.close()
        _kill_group(proc)
        os.close(read_fd)
    if pending.strip():
        seen.malformed_lines += 1
    seen.duration_s = time.monotonic() - started
    _exit_status(seen, proc.returncode, bwrap=bwrap)
    seen.stdout = streams[proc.stdout.fileno()].decode("utf-8", "replace")
    seen.stderr = streams[proc.stderr.fileno()].decode("utf-8", "replace")
    proc.stdout.close()
    proc.stderr.close()
    seen.files_written = sorted(_listing(work) - seen.files_before)
    return seen


def _exits_soon(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the runner ends within a moment of its log closing (killed, not closing it and going on)."""
    try:
        proc.wait(timeout=_LOG_CLOSE_GRACE_S)
    except subprocess.TimeoutExpired:
        return False
    return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the runner's process group (its session), then reap the runner."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _exit_status(seen: Observation, returncode: int, *, bwrap: bool) -> None:
    seen.returncode = returncode
    if returncode < 0:
        seen.signal = -returncode
    elif bwrap and returncode > 128 and seen.end is None and (returncode - 128) in signal.valid_signals():
        seen.signal = returncode - 128  # bwrap reports a child killed by signal N as exit 128 + N


def _consume(seen: Observation, data: bytes, work: Path) -> bytes:
    """Parse every complete line of ``data``; return the incomplete tail."""
    *lines, tail = data.split(b"\n")
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            seen.malformed_lines += 1
            continue
        if not isinstance(record, dict):
            seen.malformed_lines += 1
            continue
        _record(seen, record, work)
    if len(tail) > MAX_LOG_BYTES:
        seen.malformed_lines += 1
        return b""
    return tail


def _record(seen: Observation, record: dict[str, Any], work: Path) -> None:
    kind = record.get("k")
    if kind == "begin" and seen.begin is None:
        seen.begin = record
        seen.files_before = _listing(work)
    elif kind == "end" and seen.end is None:
        seen.end = record
    elif kind == "setup-failed":
        seen.setup_failure = record
    elif isinstance(record.get("e"), str) and seen.begin is not None:
        if record["e"] == "mlvet.canary":
            seen.canary_seen = True
            return
        if len(seen.events) >= MAX_EVENTS:
            seen.dropped_events += 1
            return
        record["phase"] = "exit" if seen.end is not None else "load"
        seen.events.append(record)
    else:
        seen.malformed_lines += 1


def _listing(root: Path) -> set[str]:
    found: set[str] = set()
    for directory, subdirs, files in os.walk(root):
        for name in (*files, *subdirs):
            found.add(str((Path(directory) / name).relative_to(root)))
    return found
