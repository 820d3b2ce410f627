"""A real virtual environment with real wheels installed by pip, built once per session, copied per test.

The wheels are downloaded once into ``tests/.cache/wheels`` (git-ignored) with ``pip download``, then
installed with ``pip install --no-index --find-links`` into a venv created without pip, so the
environment holds exactly these distributions: a pure package (six, idna), one with a native
extension (MarkupSafe) and one with a console script (pyflakes).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

WHEEL_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "wheels"
REQUIREMENTS = ("six==1.17.0", "idna==3.10", "markupsafe==3.0.2", "pyflakes==3.2.0")
_PYTHON_DIR = f"python{sysconfig.get_python_version()}"
_BUILT: dict[str, Venv] = {}


@dataclass(frozen=True)
class Venv:
    """A virtual environment on disk."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def site(self) -> Path:
        return (self.root / "lib" / _PYTHON_DIR / "site-packages").resolve()

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def copy(self, target: Path) -> Venv:
        shutil.copytree(self.root, target, symlinks=True)
        return Venv(target)


def _run(*command: str | Path) -> None:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr[-2000:]}")


def _wheels() -> Path:
    names = [r.split("==")[0] for r in REQUIREMENTS]
    have = {p.name.split("-")[0].lower() for p in WHEEL_CACHE.glob("*.whl")}
    if not all(n in have for n in names):
        WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
        _run(
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary",
            ":all:",
            "-d",
            WHEEL_CACHE,
            *REQUIREMENTS,
        )
    return WHEEL_CACHE


@pytest.fixture(scope="session")
def pristine_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The untouched environment (do not modify: copy it with ``venv_copy``); built once per run."""
    if "pristine" in _BUILT:  # the fixture is registered by two conftests/modules; build once
        return _BUILT["pristine"]
    wheels = _wheels()
    venv = Venv(tmp_path_factory.mktemp("pristine") / "venv")
    _run(sys.executable, "-m", "venv", "--without-pip", venv.root)
    _run(
        sys.executable, "-m", "pip", "--python", venv.python, "install", "--quiet", "--no-index",
        "--find-links", wheels, *REQUIREMENTS,
    )  # fmt: skip
    _BUILT["pristine"] = venv
    return venv


@pytest.fixture
def venv_copy(pristine_venv: Venv, tmp_path: Path) -> Callable[[], Venv]:
    """A fresh copy of the pristine environment, to tamper with."""
    return lambda: pristine_venv.copy(tmp_path / "venv")
