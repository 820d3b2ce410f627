"""How each scanner is invoked: mlvet from the project venv, the peers from theirs, reports as JSON."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Run, run
from benchmarks.peers import Peers

MLVET = Path(sys.executable).parent / "mlvet"
PROBE = Path(__file__).resolve().parent / "picklescan_probe.py"
MODELAUDIT_LAUNCHER = Path(__file__).resolve().parent / "modelaudit_launcher.py"

TOOL_NAMES = {
    "mlvet": "mlvet",
    "modelscan": "modelscan",
    "picklescan": "picklescan",
    "modelaudit": "ModelAudit",
}


@dataclass
class ToolRun:
    """One invocation and the JSON report it left (``None`` with ``failure`` when it left none)."""

    run: Run
    document: dict[str, Any] | None
    failure: str | None = None

    def summary(self) -> dict[str, Any]:
        return {**self.run.summary(), "failure": self.failure}


def mlvet(paths: Sequence[Path], report: Path, timeout: float | None = None) -> ToolRun:
    argv: list[str | Path] = [MLVET, "scan", "--quiet", "--format", "json", "--output", report, *paths]
    return _with_report(run(argv, timeout=timeout), report, ok_codes={0, 1, 2})


def modelscan(peers: Peers, path: Path, report: Path, timeout: float | None = None) -> ToolRun:
    argv: list[str | Path] = [
        peers.bin("modelscan"),
        "-p",
        path,
        "-r",
        "json",
        "-o",
        report,
        "--show-skipped",
    ]
    # 3 = "no supported files": still a report.
    return _with_report(run(argv, timeout=timeout, env=peers.env()), report, ok_codes={0, 1, 2, 3})


def modelaudit(
    peers: Peers, paths: Sequence[Path], report: Path, timeout: float | None = None, *, plain: bool = False
) -> ToolRun:
    """``modelaudit scan``, through ``modelaudit_launcher.py`` (its TensorFlow fix) unless ``plain``."""
    start = [peers.bin("modelaudit")] if plain else [peers.python, MODELAUDIT_LAUNCHER]
    argv: list[str | Path] = [*start, "scan", "--format", "json", "--output", report, "--no-cache", *paths]
    return _with_report(run(argv, timeout=timeout, env=peers.env()), report, ok_codes={0, 1, 2})


def picklescan_cli(
    peers: Peers, path: Path, timeout: float | None = None
) -> tuple[Run, int | None, str | None]:
    """``picklescan -p PATH``, the "Scanned files" count from its summary (it has no JSON output) and,
    when it printed no summary, why (its directory walk stops at the first unhandled exception)."""
    result = run([peers.bin("picklescan"), "-p", path], timeout=timeout, env=peers.env())
    found = re.search(r"Scanned files: (\d+)", result.stdout)
    if found:
        return result, int(found.group(1)), None
    if result.timed_out:
        return result, None, _failure(result)
    last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
    return result, None, f"exit {result.returncode}, {last[0][:200]}"


def picklescan_probe(peers: Peers, args: Sequence[str | Path], timeout: float | None = None) -> ToolRun:
    result = run([peers.python, PROBE, *args], timeout=timeout, env=peers.env())
    if result.timed_out or result.returncode != 0:
        return ToolRun(result, None, _failure(result))
    return ToolRun(result, json.loads(result.stdout))


def _with_report(result: Run, report: Path, ok_codes: set[int]) -> ToolRun:
    document = None
    if report.is_file():
        try:
            document = json.loads(report.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            document = None
        report.unlink()
    if result.timed_out or result.returncode not in ok_codes or document is None:
        return ToolRun(result, document, _failure(result))
    return ToolRun(result, document)


def _failure(result: Run) -> str:
    if result.timed_out:
        return f"timed out after {result.seconds:.0f} s"
    tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
    return f"exit {result.returncode} without a report: {tail[0][:200]}"
