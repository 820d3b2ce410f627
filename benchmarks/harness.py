"""The measurement harness: timed subprocess runs, the machine they ran on, and the result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlvet
from benchmarks.peers import WORK, Peers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SCRATCH = WORK / "cwd"
"""Empty working directory for every tool run, so no settings file in the repository is picked up."""


@dataclass
class Run:
    """One subprocess run: how long it took and how it ended."""

    argv: list[str]
    seconds: float
    cpu_seconds: float
    returncode: int | None
    """``None`` when the run was killed at its timeout."""
    stdout: str = field(repr=False, default="")
    stderr: str = field(repr=False, default="")

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def summary(self) -> dict[str, Any]:
        return {
            "command": shlex.join(self.argv),
            "seconds": round(self.seconds, 4),
            "cpu_seconds": round(self.cpu_seconds, 4),
            "returncode": self.returncode,
            "timed_out": self.timed_out,
        }


def run(
    argv: Sequence[str | Path], *, timeout: float | None = None, env: dict[str, str] | None = None
) -> Run:
    """Run ``argv`` in an empty directory, wall-clock and CPU timed; kill its process group at ``timeout``."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    args = [str(a) for a in argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with subprocess.Popen(
        args,
        cwd=SCRATCH,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
            code: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            code = None
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(args, seconds, cpu, code, out, err)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine(peers: Peers | None) -> dict[str, Any]:
    """The machine and software a result was measured on."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "ram_gib": round(_mem_total_kib() / (1 << 20), 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mlvet": mlvet.__version__,
        "peers": dict(peers.versions) if peers else None,
        "load_before": os.getloadavg(),
    }


def load_note(load: Sequence[float] | None = None) -> str:
    """A Markdown line saying whether the machine was quiet when the run started."""
    one, five, fifteen = load if load is not None else os.getloadavg()
    cores = len(os.sched_getaffinity(0))
    shown = f"{one:.2f} {five:.2f} {fifteen:.2f}"
    if one < 0.5 * cores:
        return f"- Load average before the run: {shown} on {cores} CPU(s): a quiet machine.\n"
    return (
        f"- Load average before the run: {shown} on {cores} CPU(s): **other jobs were running; the numbers "
        "are noisy — compare rows within this page only.**\n"
    )


def command() -> str:
    """The exact command line that produced a result, relative to the repository root."""
    executable = Path(sys.executable)
    shown = executable.relative_to(ROOT) if executable.is_relative_to(ROOT) else executable
    module = Path(sys.argv[0]).resolve().relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
    return shlex.join([str(shown), "-m", module, *sys.argv[1:]])


def shown(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_results(name: str, document: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``results/<name>.json`` and ``results/<name>.md``; return both paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    json_path.write_text(json.dumps(document, indent=2, default=_plain) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path


def machine_markdown(document: dict[str, Any]) -> str:
    """The header every result page starts with: command, date, machine, versions."""
    info = document["machine"]
    peers = info.get("peers") or {}
    lines = [
        f"- Command: `{document['command']}` (run from the repository root)",
        f"- Date (UTC): {info['date']}",
        f"- Machine: {info['nproc']} CPU(s), {info['cpu']}, {info['ram_gib']} GiB RAM, {info['os']}",
        f"- Python {info['python']}, mlvet {info['mlvet']}",
    ]
    if info.get("load_before"):
        lines.append(load_note(info["load_before"]).rstrip("\n"))
    if peers:
        listed = ", ".join(f"{k} {v}" for k, v in peers.items() if v and k != "python")
        lines.append(f"- Peers venv (Python {peers.get('python')}): {listed}")
    return "\n".join(lines) + "\n"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; ``|`` inside cells is escaped."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def seconds(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _plain(value: object) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    return repr(value)
