"""The README's walkthroughs are scripts; they must keep running, with the exit codes they show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _run(script: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLVET": str(bin_dir / "mlvet"), "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(DOCS / script), str(workdir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )


@pytest.mark.spawns_processes
def test_gate_walkthrough_runs_as_documented(tmp_path: Path) -> None:
    done = _run("walkthrough-gate.sh", tmp_path / "gate")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("decision: DENY") == 3
    assert done.stdout.count("decision: PASS") == 1
    assert "MLV5009: role weights, line 2: carol produced the artifact" in done.stdout
    assert "MLV4001 high: new arithmetic gate" in done.stdout


@pytest.mark.spawns_processes
def test_provenance_walkthrough_runs_as_documented(tmp_path: Path) -> None:
    done = _run("walkthrough-provenance.sh", tmp_path / "provenance")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "MLV1102 critical" in done.stdout
    assert "MLV1108 critical" in done.stdout
