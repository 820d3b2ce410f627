"""The peer scanners in their own virtualenv: ``python -m benchmarks.peers [--recreate] [--latest]``.

modelscan, picklescan and ModelAudit are installed from PyPI into ``benchmarks/.work/peers-venv``
(git-ignored), never into the project venv, with the optional extras each needs to parse the formats in
our corpus (h5py, TensorFlow, ONNX, py7zr, safetensors, torch...), so that a peer never fails on a
sample only because we left out one of its own optional dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
WORK = BENCHMARKS / ".work"
VENV = WORK / "peers-venv"
STAMP = VENV / "mlvet-peers.json"

TOOLS = {"modelscan": "0.8.8", "picklescan": "1.0.5", "modelaudit": "0.2.54"}
"""The peers and the versions measured; ``--latest`` installs the newest instead."""

EXTRAS = {
    "modelscan": "h5py,tensorflow",
    "picklescan": "7z",
    "modelaudit": "h5,onnx,safetensors,sevenzip,joblib,dill,flax,tensorflow,pytorch",
}
SUPPORT = ["torch==2.13.0"]
"""The project's torch pin (CPU wheel where the machine has one); ModelAudit's ``pytorch`` extra."""

PEER_ENV = {
    # ModelAudit sends usage telemetry unless told not to; nothing here may phone home.
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    # TensorFlow (imported at start-up by modelscan and ModelAudit) is chatty on stderr.
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


@dataclass(frozen=True)
class Peers:
    """Where the installed peers live and how to run them."""

    venv: Path
    versions: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    @staticmethod
    def env() -> dict[str, str]:
        return {**os.environ, **PEER_ENV}


def requirements(latest: bool = False) -> list[str]:
    pins = {name: "" if latest else f"=={version}" for name, version in TOOLS.items()}
    return [f"{name}[{EXTRAS[name]}]{pins[name]}" for name in TOOLS] + SUPPORT


def ensure(*, recreate: bool = False, latest: bool = False, quiet: bool = True) -> Peers:
    """Create or update the peers venv when its recorded requirements differ from ours."""
    wanted = requirements(latest)
    recorded = json.loads(STAMP.read_text()) if STAMP.is_file() and not recreate else None
    if recorded is None or recorded.get("requirements") != wanted:
        _install(wanted, recreate=recreate, quiet=quiet)
        versions = _installed_versions()
        STAMP.write_text(json.dumps({"requirements": wanted, "versions": versions}, indent=2) + "\n")
        recorded = {"versions": versions}
    return Peers(VENV, recorded["versions"])


def _install(wanted: list[str], *, recreate: bool, quiet: bool) -> None:
    if recreate or not (VENV / "bin" / "python").exists():
        # The same interpreter the project venv was made from, so Python versions match.
        base = getattr(sys, "_base_executable", sys.executable)
        sys.stderr.write(f"creating {VENV} with {base}\n")
        if base == sys.executable:
            venv.EnvBuilder(clear=True, with_pip=True).create(VENV)
        else:
            subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", *(["--quiet"] if quiet else [])]
    sys.stderr.write(f"installing {' '.join(wanted)} (a few minutes: TensorFlow and torch)\n")
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *wanted], check=True)


def _installed_versions() -> dict[str, str]:
    names = [*TOOLS, "tensorflow", "torch", "numpy", "h5py", "onnx"]
    code = (
        "import importlib.metadata as m, json, platform\n"
        f"names = {names!r}\n"
        "out = {'python': platform.python_version()}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recreate", action="store_true", help="delete and rebuild the venv")
    parser.add_argument("--latest", action="store_true", help="newest releases instead of the pinned ones")
    args = parser.parse_args(argv)
    peers = ensure(recreate=args.recreate, latest=args.latest, quiet=False)
    sys.stdout.write(json.dumps({"venv": str(peers.venv), **peers.versions}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
