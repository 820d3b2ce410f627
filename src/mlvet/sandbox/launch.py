"""How each rung starts the runner: the command line, environment, paths and the runner's config.

The work directory (host side) holds ``out/`` (the runner's working directory), ``home/``, ``tmp/``
and ``in/``; it is the only place the runner may write. Under bwrap it appears at ``/tmp/mlvet/work``
over a private tmpfs ``/tmp``, the artifact is bound read-only at ``/tmp/mlvet/in/<name>``, the rest of
the root is bound read-only, and home directories are hidden behind empty tmpfs mounts (the interpreter
and site-packages re-bound where they live under one). Without bwrap the runner sees host paths and
Landlock does the confining.
"""

from __future__ import annotations

import secrets
import site
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet.sandbox import capabilities
from mlvet.sandbox.inside import seccomp_filter
from mlvet.sandbox.ladder import Isolation

INSIDE_MAIN = Path(__file__).resolve().parent / "inside" / "__main__.py"
_BWRAP_WORK = "/tmp/mlvet/work"
_BWRAP_IN = "/tmp/mlvet/in"
_MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What the runner may consume."""

    memory_mb: int = 4096
    timeout_s: float = 60.0
    file_mb: int = 64
    open_files: int = 512
    processes: int = 4096

    def for_runner(self) -> dict[str, int]:
        return {
            "memory_bytes": self.memory_mb * _MIB,
            "cpu_seconds": max(1, int(self.timeout_s) + 1),
            "file_bytes": self.file_mb * _MIB,
            "open_files": self.open_files,
            "processes": self.processes,
        }


@dataclass(frozen=True)
class Plan:
    """One ready-to-start runner."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    preexec: Callable[[], None] | None
    config: dict[str, Any]
    layers: list[str] = field(default_factory=list)
    """The layers this rung sets up outside the runner (the runner reports its own)."""


def runner_paths() -> list[str]:
    """The import paths the runner needs beyond the standard library: site-packages of this interpreter."""
    paths = [p for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages")]
    paths += [p for p in site.getsitepackages() if p not in paths]
    return [p for p in paths if Path(p).is_dir()]


def plan(
    rung: Isolation, artifact: Path, inside_name: str, loader: str, work: Path, limits: Limits, log_fd: int
) -> Plan:
    """The command that runs ``loader`` on ``artifact`` under ``rung``, logging to ``log_fd``."""
    for part in ("out", "home", "tmp", "in"):
        (work / part).mkdir(exist_ok=True)
    if rung is Isolation.BWRAP:
        work_inside, artifact_inside = _BWRAP_WORK, f"{_BWRAP_IN}/{inside_name}"
        if loader == "onnx":  # external tensor data lives beside the model
            artifact_inside = f"{_BWRAP_IN}/{artifact.name}"
    else:
        work_inside = str(work)
        link = work / "in" / inside_name
        link.symlink_to(artifact.resolve())
        artifact_inside = str(artifact.resolve()) if loader == "onnx" else str(link)
    config = {
        "log_fd": log_fd,
        "artifact": artifact_inside,
        "loader": loader,
        "writable": [work_inside],
        "limits": limits.for_runner(),
        "sys_path": runner_paths(),
        "canary": secrets.token_hex(8),
        "landlock": "try" if rung is Isolation.BWRAP else "require",
        "seccomp": "try" if rung is Isolation.BWRAP else "require",
    }
    for layer in ("landlock", "seccomp"):
        if layer in capabilities.disabled():
            config[layer] = "off"  # simulating a machine without it: the runner must not apply it either
    if config["seccomp"] != "off" and capabilities.probe().seccomp.ok:
        config["bpf"] = seccomp_filter.compiled()
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": f"{work_inside}/home",
        "TMPDIR": f"{work_inside}/tmp",
        "XDG_CACHE_HOME": f"{work_inside}/home/.cache",
        "KERAS_BACKEND": "torch",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    python = [sys.executable, "-I", "-S", "-B", str(INSIDE_MAIN)]
    if rung is Isolation.BWRAP:
        return _bwrap_plan(artifact, inside_name, loader, work, env, python, config)
    layers = (
        ["user namespace", "network namespace", "IPC namespace", "UTS namespace"]
        if rung is Isolation.UNSHARE
        else []
    )
    preexec = capabilities.enter_namespaces(capabilities.NAMESPACES) if rung is Isolation.UNSHARE else None
    argv = [*python, _json(config)]
    return Plan(argv, env, f"{work_inside}/out", preexec, config, ["process session", *layers])


def _bwrap_plan(
    artifact: Path,
    inside_name: str,
    loader: str,
    work: Path,
    env: dict[str, str],
    python: list[str],
    config: dict[str, Any],
) -> Plan:
    bwrap = capabilities.probe().bwrap_path or "bwrap"
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--hostname", "mlvet-sandbox"]
    argv += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for masked in _MASKED:
        if masked == "/tmp" or Path(masked).is_dir():
            argv += ["--tmpfs", masked]
    for path in _needed_under_masks():
        argv += ["--ro-bind", path, path]
    for secret in _SECRET_FILES:
        if Path(secret).exists():
            argv += ["--ro-bind", "/dev/null", secret]
    argv += ["--bind", str(work), _BWRAP_WORK]
    if loader == "onnx":
        argv += ["--ro-bind", str(artifact.resolve().parent), _BWRAP_IN]
    else:
        argv += ["--ro-bind", str(artifact.resolve()), f"{_BWRAP_IN}/{inside_name}"]
    argv += ["--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", f"{_BWRAP_WORK}/out", "--", *python, _json(config)]
    layers = [
        "bwrap",
        "user namespace",
        "mount namespace (read-only root, private /tmp, homes hidden)",
        "PID namespace",
        "network namespace",
        "IPC namespace",
        "UTS namespace",
    ]
    return Plan(argv, {}, str(work), None, config, layers)


_MASKED = ("/tmp", "/root", "/home", str(Path.home()))
"""Hidden behind empty tmpfs mounts: a private /tmp, and every home directory with its keys and tokens."""
_SECRET_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers")
"""Files a root-mapped sandbox could otherwise read; replaced by an empty file."""


def _needed_under_masks() -> list[str]:
    """Paths the runner needs that a mask hides (a venv or an interpreter under a home), outermost first."""
    needed = {
        sys.prefix,
        sys.base_prefix,
        str(Path(sys.executable).resolve().parent),
        str(INSIDE_MAIN.parent.parent.parent),
    }
    needed.update(runner_paths())
    masks = tuple(m.rstrip("/") + "/" for m in _MASKED)
    hidden = sorted({str(Path(p).resolve()) for p in needed if str(Path(p).resolve()).startswith(masks)})
    kept: list[str] = []
    for path in hidden:
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def _json(config: dict[str, Any]) -> str:
    import json

    return json.dumps(config, separators=(",", ":"))
