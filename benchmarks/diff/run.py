"""Benchmark ``mlvet diff`` on two 2 GB safetensors files: ``python -m benchmarks.diff.run [--keep]``.

Two files of 32 float32 tensors (4096 x 4096, 64 MiB each; 2.15 GB per file) are written with the real
``safetensors`` library (numpy API) to ``benchmarks/.work/diff/``: a known-good one and a fine-tuned
candidate (every tensor nudged by 1e-4 standard deviations, one tensor scaled by 1.5). Each contender
runs in its own child process; its peak resident set is the child's ``VmHWM`` (and ``ru_maxrss``):

- mlvet: ``mlvet diff A B -f json -o report.json -q`` (streams both files in bounded chunks);
- reference: ``safetensors.numpy.load_file`` of both files, then per tensor
  ``(b.astype(float64) - a.astype(float64))`` for max |delta| and relative L2 (the naive approach).

The two must agree on every tensor's relative L2 (to 1e-9 relative). The target: mlvet under 500 MB.
Writes ``results/diff.{md,json}``. Files are deleted at the end unless ``--keep`` (kept files are reused).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import harness, peers

WORK = peers.WORK / "diff"
KNOWN = WORK / "known-good.safetensors"
CANDIDATE = WORK / "candidate.safetensors"
TENSORS = 32
SHAPE = (4096, 4096)
TARGET_MB = 500

HIGH_WATER = r"""
import atexit, sys
def _report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            sys.stderr.write("VmHWM " + line.split()[1] + "\n")
atexit.register(_report)
"""
"""Prints the child's own peak resident set (``VmHWM``, kB) at exit: unlike ``ru_maxrss`` it never counts
the parent's pages that the child held between fork and exec."""

MLVET = HIGH_WATER + "from mlvet.cli import main\nsys.exit(main(sys.argv[1:]))\n"

GENERATE = r"""
import sys
import numpy as np
from safetensors.numpy import save_file
tensors, rows, cols = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(2026)
arrays = {
    f"model.layers.{i}.weight": rng.standard_normal((rows, cols), dtype=np.float32) for i in range(tensors)
}
save_file(arrays, sys.argv[1])
for index, array in enumerate(arrays.values()):
    array += np.float32(1e-4) * rng.standard_normal((rows, cols), dtype=np.float32)
    if index == tensors // 2:
        array *= np.float32(1.5)
save_file(arrays, sys.argv[2])
"""

REFERENCE = (
    HIGH_WATER
    + r"""
import json
import numpy as np
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
out = {}
for name in a:
    left = a[name].astype(np.float64)
    delta = b[name].astype(np.float64) - left
    out[name] = {
        "rel_l2": float(np.linalg.norm(delta) / np.linalg.norm(left)),
        "max_abs": float(np.abs(delta).max()),
    }
json.dump(out, open(sys.argv[3], "w"))
"""
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files in .work/diff")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    generate()
    size = KNOWN.stat().st_size
    mlvet_report, reference_report = WORK / "mlvet.json", WORK / "reference.json"
    runs = {
        "mlvet": measure(
            [
                sys.executable,
                "-c",
                MLVET,
                "diff",
                str(KNOWN),
                str(CANDIDATE),
                "-f",
                "json",
                "-o",
                str(mlvet_report),
                "-q",
            ]
        ),
        "reference": measure(
            [sys.executable, "-c", REFERENCE, str(KNOWN), str(CANDIDATE), str(reference_report)]
        ),
    }
    agreement = compare(mlvet_report, reference_report)
    document = {
        "command": harness.command(),
        "machine": {**harness.machine(None), "uname": " ".join(platform.uname())},
        "file_bytes": size,
        "tensors": TENSORS,
        "shape": list(SHAPE),
        "runs": runs,
        "agreement": agreement,
        "target_mb": TARGET_MB,
    }
    harness.write_results("diff", document, markdown(document))
    if not args.keep:
        for path in (KNOWN, CANDIDATE, mlvet_report, reference_report):
            path.unlink(missing_ok=True)
    print((harness.RESULTS / "diff.md").read_text(encoding="utf-8"))
    return 0 if runs["mlvet"]["vm_hwm_mb"] < TARGET_MB and agreement["max_relative_error"] < 1e-9 else 1


def generate() -> None:
    """Write both files with ``safetensors.numpy.save_file`` in a child process, unless they exist.

    A child, so that this process stays small: a child forked from a 2 GB parent would count the
    parent's pages in its ``ru_maxrss``.
    """
    expected = TENSORS * SHAPE[0] * SHAPE[1] * 4
    if all(p.is_file() and p.stat().st_size > expected for p in (KNOWN, CANDIDATE)):
        return
    arguments = [str(KNOWN), str(CANDIDATE), str(TENSORS), str(SHAPE[0]), str(SHAPE[1])]
    subprocess.run([sys.executable, "-c", GENERATE, *arguments], check=True)


def measure(command: list[str]) -> dict[str, Any]:
    """Run ``command`` as a child; its wall time and peak resident set (``ru_maxrss``)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=harness.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
    high_water = next((line.split()[1] for line in stderr.splitlines() if line.startswith("VmHWM ")), "0")
    return {
        "vm_hwm_mb": round(int(high_water) / 1024, 1),
        "exit": process.returncode,
        "seconds": round(elapsed, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "stderr": stderr[-500:],
    }


def compare(mlvet_report: Path, reference_report: Path) -> dict[str, Any]:
    ours = {t["name"]: t for t in json.loads(mlvet_report.read_text())["details"]["tensors"]}
    theirs = json.loads(reference_report.read_text())
    errors = [
        abs(ours[name]["rel_l2"] - value["rel_l2"]) / max(value["rel_l2"], 1e-300)
        for name, value in theirs.items()
    ]
    largest = max(theirs.items(), key=lambda item: item[1]["rel_l2"])
    return {
        "tensors_compared": len(errors),
        "max_relative_error": max(errors),
        "largest_change": {
            "name": largest[0],
            "reference_rel_l2": largest[1]["rel_l2"],
            "mlvet_rel_l2": ours[largest[0]]["rel_l2"],
        },
    }


def markdown(document: dict[str, Any]) -> str:
    runs, agreement = document["runs"], document["agreement"]
    gigabytes = document["file_bytes"] / 1e9
    rows = [
        [
            name,
            run["exit"],
            harness.seconds(run["seconds"]),
            f"{run['vm_hwm_mb']:,.0f} MB",
            f"{run['peak_rss_mb']:,.0f} MB",
            f"{run['cpu_seconds']:.1f} s",
            f"{2 * gigabytes * 1000 / run['seconds']:,.0f} MB/s",
        ]
        for name, run in runs.items()
    ]
    largest = agreement["largest_change"]
    met = runs["mlvet"]["vm_hwm_mb"] < TARGET_MB
    header = [
        "Contender",
        "Exit",
        "Wall time",
        "Peak RSS (VmHWM)",
        "ru_maxrss",
        "CPU",
        "Throughput (both files)",
    ]
    lines = [
        "# Model diff: two 2 GB safetensors files",
        "",
        harness.machine_markdown(document).rstrip("\n"),
        f"- `uname -a`: {document['machine']['uname']}",
        "",
        f"Two files of {document['tensors']} float32 tensors {document['shape'][0]}x{document['shape'][1]} "
        f"({gigabytes:.2f} GB each), written by `safetensors.numpy.save_file` in a child process; "
        "the candidate is the known-good nudged by 1e-4 standard deviations everywhere and one tensor "
        "scaled by 1.5. Each contender is a child of this small parent. Peak memory is the child's own "
        "`VmHWM` (read from `/proc/self/status` at exit); `ru_maxrss` from `os.wait4` is a cross-check "
        "(it also counts what the child held between fork and exec). Wall time includes reading "
        "4.3 GB; the machine's disk and page cache were shared.",
        "",
        harness.table(header, rows).rstrip("\n"),
        "",
        "- mlvet: `mlvet diff A B -f json -o report.json -q` (bounded chunks read into reused buffers)",
        "- reference: `safetensors.numpy.load_file` of both files, then float64 `b - a` per tensor",
        "",
        f"Agreement: {agreement['tensors_compared']} tensors; the largest relative difference between the "
        f"two tools' relative-L2 values is {agreement['max_relative_error']:.2e}. The scaled tensor "
        f"`{largest['name']}`: relative L2 {largest['mlvet_rel_l2']:.6f} "
        f"(reference {largest['reference_rel_l2']:.6f}).",
        "",
        f"Target: mlvet peak RSS under {TARGET_MB} MB: **{'met' if met else 'NOT met'}** "
        f"({runs['mlvet']['vm_hwm_mb']:,.0f} MB).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
