"""What isolation this machine offers: bubblewrap, namespaces, seccomp, Landlock, rlimits, audit hooks.

Each probe starts at most a trivial process (``true`` under bwrap, or in fresh namespaces) and never
confines mlvet itself. Two environment variables make the fallback ladder testable:
``MLVET_BWRAP`` names the bwrap binary to use (``/nonexistent`` simulates its absence) and
``MLVET_SANDBOX_DISABLE`` (comma-separated: ``bwrap``, ``userns``, ``seccomp``, ``landlock``) makes
the probes report those layers as missing.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlvet.sandbox.inside import landlock, seccomp_filter

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
NAMESPACES = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
"""What the ``unshare`` rung enters: a user namespace (no privileges outside), an empty network."""

DISABLE_VARIABLE = "MLVET_SANDBOX_DISABLE"
BWRAP_VARIABLE = "MLVET_BWRAP"
_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Check:
    """One capability: whether it is usable here, and the detail that says why (not)."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Capabilities:
    """Everything the ladder and ``mlvet doctor`` need to know about this machine."""

    bwrap_path: str | None
    bwrap: Check
    user_namespaces: Check
    network_namespaces: Check
    seccomp: Check
    landlock: Check
    landlock_abi: int
    rlimits: Check
    audit_hooks: Check

    @property
    def checks(self) -> tuple[Check, ...]:
        return (
            self.bwrap,
            self.user_namespaces,
            self.network_namespaces,
            self.seccomp,
            self.landlock,
            self.rlimits,
            self.audit_hooks,
        )


_cache: dict[tuple[str, str], Capabilities] = {}


def probe(*, fresh: bool = False) -> Capabilities:
    """Probe the machine (cached per process and per value of the two variables above)."""
    key = (os.environ.get(BWRAP_VARIABLE, ""), os.environ.get(DISABLE_VARIABLE, ""))
    if fresh or key not in _cache:
        _cache[key] = _probe(disabled(), key[0] or None)
    return _cache[key]


def disabled() -> frozenset[str]:
    """The layers ``MLVET_SANDBOX_DISABLE`` asks to treat as missing."""
    raw = os.environ.get(DISABLE_VARIABLE, "")
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def _probe(off: frozenset[str], bwrap_override: str | None) -> Capabilities:
    bwrap_path = bwrap_override or shutil.which("bwrap")
    bwrap = _check_bwrap(bwrap_path, "bwrap" in off)
    users = _check_namespaces("user namespaces", CLONE_NEWUSER, "userns" in off)
    network = _check_namespaces("network namespaces", CLONE_NEWUSER | CLONE_NEWNET, "userns" in off)
    seccomp = _check_seccomp("seccomp" in off)
    abi = 0 if "landlock" in off else landlock.abi_version()
    if "landlock" in off:
        landlock_check = Check("Landlock", False, f"disabled by {DISABLE_VARIABLE}")
    elif abi:
        landlock_check = Check(
            "Landlock", True, f"ABI {abi}" + (" (file system, TCP, signal scoping)" if abi >= 6 else "")
        )
    else:
        landlock_check = Check(
            "Landlock", False, "not offered by this kernel (needs Linux 5.13+ with Landlock enabled)"
        )
    return Capabilities(
        bwrap_path=bwrap_path,
        bwrap=bwrap,
        user_namespaces=users,
        network_namespaces=network,
        seccomp=seccomp,
        landlock=landlock_check,
        landlock_abi=abi,
        rlimits=_check_rlimits(),
        audit_hooks=Check(
            "audit hooks",
            hasattr(sys, "addaudithook"),
            f"PEP 578, CPython {platform.python_version()} (a recorder, not a wall)",
        ),
    )


def _check_bwrap(path: str | None, off: bool) -> Check:
    if off:
        return Check("bubblewrap", False, f"disabled by {DISABLE_VARIABLE}")
    if path is None:
        return Check("bubblewrap", False, "bwrap not found on PATH (apt-get install bubblewrap)")
    if not os.access(path, os.X_OK):
        return Check("bubblewrap", False, f"{path}: not an executable file")
    try:
        version = _run([path, "--version"]).stdout.strip() or "bwrap"
        started = _run([path, *BWRAP_PROBE, "true"])
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("bubblewrap", False, f"{path}: cannot run: {exc}")
    if started.returncode != 0:
        reason = started.stderr.strip().splitlines()[-1:] or [f"exit {started.returncode}"]
        return Check("bubblewrap", False, f"{version} at {path} cannot start a sandbox: {reason[0]}")
    return Check("bubblewrap", True, f"{version} at {path}, starts a sandbox with all namespaces")


BWRAP_PROBE = (
    "--unshare-all",
    "--die-with-parent",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=_PROBE_TIMEOUT, check=False, stdin=subprocess.DEVNULL
    )


def enter_namespaces(flags: int) -> Callable[[], None]:
    """A ``preexec_fn`` that unshares ``flags`` in the child (libc bound here, before the fork)."""
    unshare = ctypes.CDLL(None, use_errno=True).unshare

    def enter() -> None:
        if unshare(flags) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"unshare: {os.strerror(code)}")

    return enter


def _check_namespaces(name: str, flags: int, off: bool) -> Check:
    if off:
        return Check(name, False, f"disabled by {DISABLE_VARIABLE}")
    if sys.platform != "linux":
        return Check(name, False, "Linux only")
    true = shutil.which("true") or sys.executable
    argv = [true] if true != sys.executable else [true, "-I", "-S", "-c", ""]
    try:
        subprocess.run(
            argv,
            preexec_fn=enter_namespaces(flags),
            timeout=_PROBE_TIMEOUT,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(name, False, f"unshare refused: {exc}")
    return Check(name, True, "unshare(2) works for this user")


def _check_seccomp(off: bool) -> Check:
    if off:
        return Check("seccomp", False, f"disabled by {DISABLE_VARIABLE}")
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
        kernel = any(line.startswith("Seccomp:") for line in status.splitlines())
    except OSError:
        kernel = False
    if not kernel:
        return Check("seccomp", False, "the kernel offers no seccomp filter mode")
    if not seccomp_filter.available():
        return Check("seccomp", False, "pyseccomp/libseccomp missing (pip install 'mlvet[sandbox]')")
    return Check("seccomp", True, "seccomp-bpf filters through pyseccomp (libseccomp)")


def _check_rlimits() -> Check:
    try:
        import resource
    except ImportError:
        return Check("rlimits", False, "the resource module is missing (not a POSIX system)")
    names = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC")
    present = [name.removeprefix("RLIMIT_") for name in names if hasattr(resource, name)]
    note = "; NPROC does not bind root outside a user namespace" if os.getuid() == 0 else ""
    return Check("rlimits", len(present) == len(names), " ".join(present) + note)
