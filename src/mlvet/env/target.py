"""Which environment to examine: the running interpreter, another interpreter, or a site-packages path."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from mlvet.errors import InputError

_PATHS_PROBE = "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"


@dataclass(frozen=True)
class Environment:
    """The site-packages directories of one environment and how they were found."""

    site_dirs: tuple[Path, ...]
    python: Path | None
    found_by: str
    """``running interpreter``, ``pyvenv.cfg``, ``interpreter query`` or ``--path``."""
    notes: tuple[str, ...] = ()


def current_environment() -> Environment:
    """The site-packages of the interpreter running mlvet."""
    paths = sysconfig.get_paths()
    return Environment(_dirs(paths["purelib"], paths["platlib"]), Path(sys.executable), "running interpreter")


def environment_at(site_dir: Path) -> Environment:
    """A site-packages directory given directly."""
    if not site_dir.is_dir():
        raise InputError(f"{site_dir} is not a directory", hint="pass the site-packages directory itself")
    if not any(p.name.endswith(".dist-info") for p in site_dir.iterdir()):
        raise InputError(
            f"{site_dir} holds no *.dist-info directory",
            hint="pass a site-packages directory, e.g. .venv/lib/python3.11/site-packages",
        )
    return Environment((site_dir.resolve(),), None, "--path")


def environment_of(python: Path) -> Environment:
    """The site-packages of another interpreter: read from its ``pyvenv.cfg``, else asked of it."""
    if not python.exists():
        raise InputError(f"{python} does not exist", hint="pass the path of a Python interpreter")
    if python.is_dir():
        python = _interpreter_in(python)
    from_cfg = _from_pyvenv_cfg(python)
    if from_cfg is not None:
        return from_cfg
    return _ask_interpreter(python)


def _interpreter_in(root: Path) -> Path:
    for candidate in (root / "bin" / "python", root / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    raise InputError(f"{root} holds no bin/python", hint="pass the interpreter, e.g. .venv/bin/python")


def _from_pyvenv_cfg(python: Path) -> Environment | None:
    """A virtual environment's layout, read without running anything: ``<root>/pyvenv.cfg`` + version."""
    for root in (python.parent.parent, python.parent):
        cfg = root / "pyvenv.cfg"
        if not cfg.is_file():
            continue
        settings = _read_cfg(cfg)
        version = settings.get("version_info") or settings.get("version") or ""
        major_minor = ".".join(version.split(".")[:2])
        candidates = [root / "Lib" / "site-packages"]
        if major_minor:
            candidates += [root / lib / f"python{major_minor}" / "site-packages" for lib in ("lib", "lib64")]
        found = [c for c in candidates if c.is_dir()]
        if not found:
            return None
        notes = []
        if settings.get("include-system-site-packages", "false").lower() == "true":
            notes.append(
                "include-system-site-packages = true: the base interpreter's packages are not examined"
            )
        return Environment(_dirs(*found), python, "pyvenv.cfg", tuple(notes))
    return None


def _ask_interpreter(python: Path) -> Environment:
    """Not a virtual environment: ask the interpreter itself (the user's own, not an artifact)."""
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _PATHS_PROBE], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run {python}: {exc}", hint="pass --path SITE_PACKAGES instead") from None
    if done.returncode != 0:
        raise InputError(
            f"{python} -c failed: {done.stderr.strip()[-200:]}", hint="pass --path SITE_PACKAGES instead"
        )
    try:
        paths = json.loads(done.stdout)
        purelib, platlib = str(paths["purelib"]), str(paths["platlib"])
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{python} did not report its paths", hint="pass --path SITE_PACKAGES") from None
    return Environment(_dirs(purelib, platlib), python, "interpreter query")


def _read_cfg(cfg: Path) -> dict[str, str]:
    settings = {}
    for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip().lower()] = value.strip()
    return settings


def _dirs(*paths: str | Path) -> tuple[Path, ...]:
    """Existing directories, each once (lib64 is often a symlink to lib)."""
    seen: dict[str, Path] = {}
    for path in paths:
        real = Path(path).resolve()
        if real.is_dir() and str(real) not in seen:
            seen[str(real)] = real
    return tuple(seen.values())
