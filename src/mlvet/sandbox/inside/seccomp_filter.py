"""seccomp-bpf filters: compiled by the supervisor with ``pyseccomp``, loaded by the runner with ctypes.

The supervisor compiles each filter once (libseccomp adds the architecture check) and hands the BPF
program to the runner, which installs it with the ``seccomp(2)`` system call: the sandbox never imports
libseccomp (``ctypes.util.find_library`` alone costs tens of milliseconds per run).

Two filters, both failing calls with an error rather than killing, so the runner survives to report:

* ``surface``, loaded before the runner imports anything: no ptrace / cross-process memory, no
  bpf / perf / keyrings / io_uring, no mount / namespace / chroot / kexec / module loading, and no
  socket other than AF_UNIX (network fails even where no network namespace exists).
* ``spawn``, loaded after the loader's framework is imported (it may start threads, so the filter is
  synchronised to every thread): no execve/execveat, no fork/vfork, no clone without CLONE_THREAD,
  and clone3 reports ENOSYS so the C library falls back to clone. A payload can still ask; the audit
  hook records the request, the kernel refuses it, and no process is ever left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
from typing import Any

SURFACE_DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "open_by_handle_at",
    "name_to_handle_at",
    "acct",
    "quotactl",
    "syslog",
    "settimeofday",
    "clock_settime",
    "adjtimex",
)
SPAWN_DENIED = ("execve", "execveat", "fork", "vfork")
_CLONE_THREAD = 0x00010000
_AF_UNIX = 1
"""_AF_UNIX on Linux (the runner does not import socket just for the constant)."""


def _module() -> Any:
    import pyseccomp  # type: ignore[import-untyped]

    return pyseccomp


def available() -> bool:
    """Whether pyseccomp (and so libseccomp) can be loaded here."""
    try:
        _module()
    except (ImportError, OSError):
        return False
    return True


def surface_filter() -> Any:
    """The filter against kernel attack surface and non-UNIX sockets (a pyseccomp object, not loaded)."""
    seccomp = _module()
    denied = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in SURFACE_DENIED:
        _deny(rules, denied, name)
    rules.add_rule(denied, "socket", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
    return rules


def spawn_filter() -> Any:
    """The filter against new processes (a pyseccomp object, not loaded; load it with TSYNC)."""
    seccomp = _module()
    denied = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in SPAWN_DENIED:
        _deny(rules, denied, name)
    rules.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0))
    _deny(rules, seccomp.ERRNO(errno.ENOSYS), "clone3")
    return rules


def _deny(rules: Any, action: int, name: str) -> None:
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # a call this architecture lacks
        rules.add_rule(action, name)


@functools.cache
def compiled() -> dict[str, str]:
    """Both filters as BPF programs (hex), compiled once per supervisor process."""
    import tempfile  # supervisor side only: the runner never compiles

    programs = {}
    for name, build in (("surface", surface_filter), ("spawn", spawn_filter)):
        with tempfile.TemporaryFile() as sink:
            build().export_bpf(sink)
            sink.seek(0)
            programs[name] = sink.read().hex()
    return programs


_SECCOMP_SYSCALL = {"x86_64": 317, "aarch64": 277}
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1
_PR_SET_NO_NEW_PRIVS = 38


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(program_hex: str, *, all_threads: bool = False) -> None:
    """Install a compiled BPF program on this thread (or, with ``all_threads``, on every thread)."""
    number = _SECCOMP_SYSCALL.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, "seccomp: unsupported architecture")
    program = bytes.fromhex(program_hex)
    if not program or len(program) % 8:
        raise OSError(errno.EINVAL, "seccomp: malformed BPF program")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _error("prctl(PR_SET_NO_NEW_PRIVS)")
    flags = _SECCOMP_FILTER_FLAG_TSYNC if all_threads else 0
    result = libc.syscall(
        ctypes.c_long(number),
        ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(flags),
        ctypes.byref(fprog),
    )
    if result != 0:
        raise (
            _error("seccomp(SECCOMP_SET_MODE_FILTER)")
            if result < 0
            else OSError(errno.EBUSY, f"seccomp: thread {result} cannot be synchronised")
        )


def _error(call: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{call}: {os.strerror(code)}")
