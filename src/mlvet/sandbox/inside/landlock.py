"""Landlock through raw system calls (ctypes): read-only file system except named paths, no TCP.

Landlock needs no privileges and no namespaces. The ruleset handles every access right the running
kernel knows (by ABI version); "/" gets read and execute only, each writable path gets everything,
TCP bind/connect are handled with no port allowed (ABI >= 4), and signals and abstract UNIX sockets
are scoped to the sandbox (ABI >= 6). The restriction binds the calling thread and all it creates.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence

_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
_ABI1_ALL = (1 << 13) - 1
REFER = 1 << 13
TRUNCATE = 1 << 14
IOCTL_DEV = 1 << 15
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The Landlock ABI the kernel offers; 0 when Landlock is absent, disabled or unsupported here."""
    numbers = _SYSCALLS.get(os.uname().machine)
    if numbers is None:
        return 0
    version = _libc().syscall(
        ctypes.c_long(numbers[0]), None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
    )
    return int(version) if version > 0 else 0


def _handled_fs(abi: int) -> int:
    rights = _ABI1_ALL
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(writable: Sequence[str], *, writable_files: Sequence[str] = ()) -> dict[str, int | bool]:
    """Confine this thread (and its future threads/children); OSError when the kernel refuses.

    ``writable`` directories get every right; ``writable_files`` (``/dev/null``) get file rights.
    Returns what was enforced: the ABI, and whether TCP and signal scoping are covered.
    """
    abi = abi_version()
    if abi == 0:
        raise OSError("Landlock is not available on this kernel")
    create, add_rule, restrict_self = _SYSCALLS[os.uname().machine]
    libc = _libc()
    handled = _handled_fs(abi)
    attr = _RulesetAttr(
        handled_access_fs=handled,
        handled_access_net=(NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
        scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0,
    )
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(
        ctypes.c_long(create), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
    if ruleset < 0:
        raise _error("landlock_create_ruleset")
    try:
        _allow(libc, add_rule, ruleset, "/", (EXECUTE | READ_FILE | READ_DIR) & handled)
        for path in writable:
            _allow(libc, add_rule, ruleset, path, handled)
        for path in writable_files:
            _allow(libc, add_rule, ruleset, path, _FILE_RIGHTS & handled & ~EXECUTE)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _error("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(ctypes.c_long(restrict_self), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise _error("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return {"abi": abi, "tcp": abi >= 4, "scoped_signals": abi >= 6}


def _allow(libc: ctypes.CDLL, add_rule: int, ruleset: int, path: str, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        if (
            libc.syscall(
                ctypes.c_long(add_rule),
                ctypes.c_int(ruleset),
                ctypes.c_int(_RULE_PATH_BENEATH),
                ctypes.byref(rule),
                ctypes.c_uint32(0),
            )
            != 0
        ):
            raise _error(f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def _error(call: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{call}: {os.strerror(code)}")
