"""Run picklescan's own Python API inside the peers venv (picklescan has no JSON output).

Standalone: it imports only the standard library and picklescan, and is run by the peers venv's Python.

- ``verdicts ROOT SAMPLE...``: for each sample (a path relative to ROOT), what ``picklescan -p SAMPLE``
  decides: ``scan_file_path`` for a file, ``scan_directory_path`` for a directory, the same calls its CLI
  makes. Prints one JSON object: sample -> counts, globals, error flag, seconds.
- ``time FILE REPEAT``: in-process seconds of ``scan_file_path(FILE)``, REPEAT times (no start-up cost).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from picklescan.scanner import scan_directory_path, scan_file_path


def verdicts(root: Path, samples: list[str]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for sample in samples:
        path = root / sample
        start = time.perf_counter()
        try:
            result = scan_directory_path(str(path)) if path.is_dir() else scan_file_path(str(path))
        except Exception as exc:  # the CLI turns these into "Unhandled exception", exit 1 with no verdict
            out[sample] = {
                "exception": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - start,
            }
            continue
        out[sample] = {
            "scanned_files": result.scanned_files,
            "issues_count": result.issues_count,
            "infected_files": result.infected_files,
            "suspicious_count": result.suspicious_count,
            "scan_err": result.scan_err,
            "globals": sorted({f"{g.module}.{g.name}:{g.safety.value}" for g in result.globals}),
            "seconds": time.perf_counter() - start,
        }
    return out


def timings(path: Path, repeat: int) -> dict[str, object]:
    seconds = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = scan_file_path(str(path))
        seconds.append(time.perf_counter() - start)
    assert result is not None
    return {"seconds": seconds, "issues_count": result.issues_count, "scan_err": result.scan_err}


def main(argv: list[str]) -> int:
    logging.disable(logging.CRITICAL)
    if len(argv) >= 2 and argv[0] == "verdicts":
        document: dict[str, object] = dict(verdicts(Path(argv[1]), argv[2:]))
    elif len(argv) == 3 and argv[0] == "time":
        document = timings(Path(argv[1]), int(argv[2]))
    else:
        sys.stderr.write(__doc__ or "")
        return 2
    sys.stdout.write(json.dumps(document) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
