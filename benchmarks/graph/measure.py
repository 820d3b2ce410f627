"""Static detection and probing of one file, and the summaries the result page is made of."""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlvet.findings import Finding, Severity
from mlvet.scan import scan_bytes


def _graph_findings(findings: Iterable[Finding], floor: Severity) -> list[Finding]:
    return [f for f in findings if f.rule.id.startswith("MLV9") and f.severity >= floor]


def scan_file(path: Path) -> dict[str, Any]:
    """``scan_bytes`` on the file: MLV9xx rules at >= HIGH and >= LOW, problems, seconds."""
    data = path.read_bytes()
    start = time.perf_counter()
    report = scan_bytes(data, path.name)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "high": sorted({f.rule.id for f in _graph_findings(report.findings, Severity.HIGH)}),
        "low": sorted({f.rule.id for f in _graph_findings(report.findings, Severity.LOW)}),
        "messages": [
            f"{f.rule.id} {f.severity.name}: {f.message}"
            for f in _graph_findings(report.findings, Severity.LOW)
        ],
        "problems": [f"{p.kind.value}: {p.message}" for p in report.problems],
    }


def probe_file(
    path: Path, out_dir: Path, seed: int, shapes: Mapping[str, tuple[int, ...]] | None = None
) -> dict[str, Any]:
    """``mlvet.probe.probe`` with a fixed seed: confirmed MLV9xx rules, seconds, errors."""
    from mlvet.probe import probe

    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            report = probe(path, out_dir=out_dir, seed=seed, shapes=shapes)
    except Exception as error:  # a crash is a result here: recorded, and the run goes on
        failed = f"{type(error).__name__}: {error}"
        return {"seconds": time.perf_counter() - start, "confirmed": [], "rules": [], "error": failed}
    seconds = time.perf_counter() - start
    graph = _graph_findings(report.findings, Severity.INFO)
    return {
        "seconds": seconds,
        "confirmed": sorted({f.rule.id for f in graph if f.confirmed}),
        "rules": sorted({f"{f.rule.id} {f.severity.name}" for f in graph}),
        "error": "; ".join(p.message for p in report.problems) or None,
    }


def share(hits: int, total: int) -> str:
    """``hits/total (pct %)``, or ``n/a`` for an empty denominator."""
    return f"{hits}/{total} ({100 * hits / total:.1f} %)" if total else "n/a"


def ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def timing(values: Sequence[float]) -> dict[str, float | None]:
    """Median and max seconds (``None`` when there is nothing to time)."""
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 5), "max": round(max(values), 5)}
