"""The fallback ladder: the strongest isolation this machine supports, or a refusal that says why."""

from __future__ import annotations

import enum

from mlvet.errors import MlvetError
from mlvet.sandbox.capabilities import Capabilities


class Isolation(enum.Enum):
    """The rungs, strongest first."""

    BWRAP = "bwrap"
    """bubblewrap: user, mount, PID, network, IPC, UTS namespaces; read-only root; plus every rung below."""
    UNSHARE = "unshare"
    """No bwrap: fresh user + network + IPC + UTS namespaces via unshare(2); Landlock for the file system."""
    SECCOMP_LANDLOCK = "seccomp-landlock"
    """No namespaces: seccomp (no sockets, no processes) and Landlock (read-only, no TCP) only."""


class SandboxUnavailable(MlvetError):
    """No isolation strong enough is available (or the forced rung is not): the file was not opened."""

    hint = (
        "run 'mlvet doctor' to see what this machine supports; installing bubblewrap gives the strongest rung"
    )


def requirements(rung: Isolation, caps: Capabilities) -> list[str]:
    """What ``rung`` needs that this machine lacks (empty when it can run)."""
    missing: list[str] = []
    if rung is Isolation.BWRAP and not caps.bwrap.ok:
        missing.append(f"bubblewrap ({caps.bwrap.detail})")
    if rung is Isolation.UNSHARE:
        if not caps.network_namespaces.ok:
            missing.append(f"user + network namespaces ({caps.network_namespaces.detail})")
        if not caps.landlock.ok:
            missing.append(f"Landlock ({caps.landlock.detail})")
    if rung is Isolation.SECCOMP_LANDLOCK:
        if not caps.seccomp.ok:
            missing.append(f"seccomp ({caps.seccomp.detail})")
        if not caps.landlock.ok:
            missing.append(f"Landlock ({caps.landlock.detail})")
    if not caps.rlimits.ok:
        missing.append(f"rlimits ({caps.rlimits.detail})")
    return missing


def choose(caps: Capabilities, forced: Isolation | None = None) -> Isolation:
    """``forced`` if it can run, else the strongest rung that can; SandboxUnavailable otherwise."""
    if forced is not None:
        missing = requirements(forced, caps)
        if missing:
            raise SandboxUnavailable(
                f"refusing to detonate: --isolation {forced.value} needs " + "; ".join(missing)
            )
        return forced
    for rung in Isolation:
        if not requirements(rung, caps):
            return rung
    reasons = "; ".join(dict.fromkeys(m for rung in Isolation for m in requirements(rung, caps)))
    raise SandboxUnavailable(f"refusing to detonate: no isolation rung can run here: {reasons}")


def best_available(caps: Capabilities) -> Isolation | None:
    """The rung ``choose`` would pick, or None when it would refuse."""
    try:
        return choose(caps)
    except SandboxUnavailable:
        return None
