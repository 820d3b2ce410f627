"""Benchmark 3, large files: ``python -m benchmarks.large_files [--keep] [--repeat 3]``.

(a) A ~2 GB PyTorch checkpoint (``torch.save`` of a state dict with four 500 MB tensors): mlvet must
    scan it in under a second, because only the pickle inside the zip needs parsing.
(b) A ~50 MB protocol-4 pickle with ~2 million opcodes (an ``OrderedDict`` of 110,000 entries whose
    values are tuples of distinct strings and bytes): MB/s and opcodes/s; mlvet must be at least twice
    as fast as picklescan.

Every measurement is the median of ``--repeat`` runs. mlvet runs as a subprocess (``mlvet scan``) and
in-process (``mlvet.scan.scan``); the peers run as subprocesses from their venv, and picklescan also
in-process (``scan_file_path`` inside its venv) so start-up does not distort its rate. The files are
written to ``benchmarks/.work/large/`` and deleted at the end unless ``--keep`` (a kept checkpoint is
reused next time). Writes ``results/large_files.{md,json}``.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import pickletools
import shutil
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import harness, peers, tools

LARGE = peers.WORK / "large"
CHECKPOINT = LARGE / "checkpoint-2gb.pt"
PICKLE = LARGE / "ordered-dict-2m-opcodes.pkl"
REPORT = peers.WORK / "large-report.json"

TENSOR_SHAPE = (8192, 15360)
"""Four float32 tensors of this shape: 4 x 503 MB."""
ENTRIES = 110_000
FIELD_BYTES = 62


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is kept")
    parser.add_argument("--keep", action="store_true", help="keep the generated files in .work/large")
    parser.add_argument("--modelaudit-timeout", type=float, default=600, help="seconds per ModelAudit run")
    parser.add_argument("--write-checkpoint", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_checkpoint:
        _write_checkpoint(args.write_checkpoint)
        return 0

    installed = peers.ensure()
    LARGE.mkdir(parents=True, exist_ok=True)
    try:
        checkpoint = _checkpoint()
        opcodes = _pickle_file()
        document = {
            "benchmark": "large_files",
            "command": harness.command(),
            "machine": harness.machine(installed),
            "repeat": args.repeat,
            "checkpoint": {
                "path": harness.shown(CHECKPOINT),
                "bytes": CHECKPOINT.stat().st_size,
                "generated_seconds": checkpoint,
                "results": _measure(installed, CHECKPOINT, args),
            },
            "pickle": {
                "path": harness.shown(PICKLE),
                "bytes": PICKLE.stat().st_size,
                "opcodes": opcodes,
                "results": _measure(installed, PICKLE, args),
            },
        }
        document["targets"] = _targets(document)
    finally:
        if not args.keep:
            shutil.rmtree(LARGE, ignore_errors=True)
    json_path, md_path = harness.write_results("large_files", document, _markdown(document))
    print(f"wrote {harness.shown(json_path)} and {harness.shown(md_path)}")
    return 0


# --- the inputs -----------------------------------------------------------------------------------


def _checkpoint() -> float | None:
    """Write the checkpoint in a child process (torch stays out of this one); None when reused."""
    if CHECKPOINT.is_file():
        print(f"reusing {CHECKPOINT}")
        return None
    start = time.perf_counter()
    partial = CHECKPOINT.with_suffix(".partial")
    command = [sys.executable, "-m", "benchmarks.large_files", "--write-checkpoint", str(partial)]
    subprocess.run(command, cwd=harness.ROOT, check=True)
    partial.rename(CHECKPOINT)
    seconds = time.perf_counter() - start
    print(f"wrote {CHECKPOINT} ({CHECKPOINT.stat().st_size / 1e9:.2f} GB) in {seconds:.1f} s")
    return seconds


def _write_checkpoint(path: Path) -> None:
    import torch

    generator = torch.Generator().manual_seed(0)
    state = {}
    for index in range(4):
        state[f"layers.{index}.weight"] = torch.randn(TENSOR_SHAPE, generator=generator)
        state[f"layers.{index}.bias"] = torch.zeros(TENSOR_SHAPE[0])
    torch.save(state, path)


def _pickle_file() -> int:
    """Write the opcode-heavy pickle and count its opcodes once (``genops`` parses, never loads)."""
    table: OrderedDict[str, tuple[str | bytes, ...]] = OrderedDict()
    for entry in range(ENTRIES):
        fields: list[str | bytes] = []
        for field in range(7):
            if field % 2 == 0:
                text = f"entry-{entry:06d}-field-{field}-"
                fields.append((text * (FIELD_BYTES // len(text) + 1))[:FIELD_BYTES])
            else:
                digest = hashlib.blake2b(f"{entry}:{field}".encode(), digest_size=32).digest()
                fields.append((digest * (FIELD_BYTES // 32 + 1))[:FIELD_BYTES])
        table[f"key/{entry:06d}"] = tuple(fields)
    data = pickle.dumps(table, protocol=4)
    PICKLE.write_bytes(data)
    opcodes = sum(1 for _ in pickletools.genops(data))
    print(f"wrote {PICKLE} ({len(data) / 1e6:.1f} MB, {opcodes:,} opcodes)")
    return opcodes


# --- the measurements -----------------------------------------------------------------------------


def _measure(installed: peers.Peers, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    repeat = args.repeat
    results: dict[str, Any] = {}
    results["mlvet_in_process"] = _in_process_mlvet(path, repeat)
    results["mlvet"] = _runs(repeat, lambda: tools.mlvet([path], REPORT))
    results["picklescan_in_process"] = _in_process_picklescan(installed, path, repeat)
    results["picklescan"] = _runs(repeat, lambda: _as_tool_run(tools.picklescan_cli(installed, path)[0]))
    results["modelscan"] = _runs(repeat, lambda: tools.modelscan(installed, path, REPORT))
    timeout = args.modelaudit_timeout
    results["modelaudit"] = _runs(
        repeat, lambda: tools.modelaudit(installed, [path], REPORT, timeout=timeout), stop_after=120
    )
    for name, entry in results.items():
        print(f"{path.name}: {name}: {harness.seconds(entry['seconds'])} {entry.get('verdict', '')}")
    return results


def _runs(repeat: int, once: Callable[[], tools.ToolRun], stop_after: float | None = None) -> dict[str, Any]:
    """Median of ``repeat`` runs; a single run when the first one took over ``stop_after`` seconds."""
    done: list[tools.ToolRun] = []
    for _ in range(max(1, repeat)):
        done.append(once())
        if done[-1].run.timed_out or (stop_after is not None and done[-1].run.seconds > stop_after):
            break
    last = done[-1]
    seconds = [d.run.seconds for d in done]
    return {
        "seconds": None if last.run.timed_out else harness.median(seconds),
        "all_seconds": seconds,
        "runs": len(done),
        "returncode": last.run.returncode,
        "timed_out": last.run.timed_out,
        "command": last.run.summary()["command"],
        "verdict": _verdict(last),
    }


def _as_tool_run(run: harness.Run) -> tools.ToolRun:
    return tools.ToolRun(run, None, None if run.returncode == 0 else f"exit {run.returncode}")


def _verdict(done: tools.ToolRun) -> str:
    """A few words on what the tool concluded, so a fast non-answer (or a false alarm) is visible."""
    if done.run.timed_out:
        return "timed out"
    document = done.document or {}
    if "problems" in document:  # mlvet
        problems = [f"{p['kind']}: {p['message']}" for p in document["problems"]]
        high = [f["rule_id"] for f in document["findings"] if f["severity"] in ("high", "critical")]
        return "; ".join(problems + high)[:200] or f"{document['summary']['findings']} finding(s) below high"
    if "issues" in document and "checks" in document:  # ModelAudit
        failing = [
            f"{i.get('severity')}: {i.get('message', '')[:90]}"
            for i in document["issues"]
            if i.get("severity") in ("warning", "critical")
        ]
        return f"exit {done.run.returncode}" + (
            f"; {len(failing)} failing issue(s): {failing[0]}" if failing else ""
        )
    if "summary" in document:  # modelscan
        errors = [e.get("description", "")[:90] for e in document.get("errors", [])]
        issues = document["summary"].get("total_issues", 0)
        return f"exit {done.run.returncode}; {issues} issue(s)" + (f"; error: {errors[0]}" if errors else "")
    return f"exit {done.run.returncode}"


def _in_process_mlvet(path: Path, repeat: int) -> dict[str, Any]:
    from mlvet.scan import scan

    seconds, report = [], None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        report = scan([path])
        seconds.append(time.perf_counter() - start)
    assert report is not None
    problems = "; ".join(f"{p.kind.value}: {p.message}" for p in report.problems)
    return {
        "seconds": harness.median(seconds),
        "all_seconds": seconds,
        "runs": len(seconds),
        "command": f"mlvet.scan.scan([{path.name!r}]) in this process",
        "verdict": problems[:200] or f"{len(report.findings)} finding(s)",
    }


def _in_process_picklescan(installed: peers.Peers, path: Path, repeat: int) -> dict[str, Any]:
    done = tools.picklescan_probe(installed, ["time", path, str(max(1, repeat))])
    if done.document is None:
        return {"seconds": None, "verdict": done.failure, "command": done.run.summary()["command"]}
    seconds = done.document["seconds"]
    return {
        "seconds": harness.median(seconds),
        "all_seconds": seconds,
        "runs": len(seconds),
        "command": f"picklescan.scanner.scan_file_path({path.name!r}) in its venv",
        "verdict": f"issues {done.document['issues_count']}, scan_err {done.document['scan_err']}",
    }


# --- targets and Markdown --------------------------------------------------------------------------


def _targets(document: dict[str, Any]) -> dict[str, Any]:
    checkpoint, pickled = document["checkpoint"]["results"], document["pickle"]["results"]
    out: dict[str, Any] = {}
    for name in ("mlvet", "mlvet_in_process"):
        secs = checkpoint[name]["seconds"]
        out[f"checkpoint_{name}_under_1s"] = {
            "value": secs,
            "target": "< 1 s",
            "met": secs is not None and secs < 1,
        }
    for mlvet, picklescan in (("mlvet_in_process", "picklescan_in_process"), ("mlvet", "picklescan")):
        ours, theirs = pickled[mlvet]["seconds"], pickled[picklescan]["seconds"]
        ratio = theirs / ours if ours and theirs else None
        out[f"pickle_{picklescan}_over_{mlvet}"] = {
            "value": ratio,
            "target": ">= 2x",
            "met": ratio is not None and ratio >= 2,
        }
    return out


NAMES = {
    "mlvet_in_process": "mlvet (in-process)",
    "mlvet": "mlvet (subprocess)",
    "picklescan_in_process": "picklescan (in-process)",
    "picklescan": "picklescan (subprocess)",
    "modelscan": "modelscan (subprocess)",
    "modelaudit": "ModelAudit (subprocess)",
}


def _rows(results: dict[str, Any], size: int, opcodes: int | None) -> list[list[object]]:
    rows = []
    for name, entry in results.items():
        secs = entry.get("seconds")
        row: list[object] = [NAMES[name], harness.seconds(secs), entry.get("runs", "")]
        row.append(f"{size / 1e6 / secs:,.1f}" if secs else "n/a")
        if opcodes is not None:
            row.append(f"{opcodes / 1e6 / secs:.2f}" if secs else "n/a")
        row.append(entry.get("verdict", ""))
        rows.append(row)
    return rows


def _markdown(document: dict[str, Any]) -> str:
    checkpoint, pickled = document["checkpoint"], document["pickle"]
    out = [
        "# Large files: a 2 GB checkpoint and a 2-million-opcode pickle\n\n",
        harness.machine_markdown(document),
    ]
    out.append(f"\nEach time is the median of {document['repeat']} runs (fewer when a run exceeded 120 s).\n")
    out.append(
        f"\n## (a) PyTorch checkpoint, {checkpoint['bytes'] / 1e9:.2f} GB\n\n`torch.save` of a state dict"
        f" with four {TENSOR_SHAPE[0]}x{TENSOR_SHAPE[1]} float32 tensors and their biases"
        " (a zip with one small pickle).\n\n"
    )
    out.append(
        harness.table(
            ["Tool", "Median", "Runs", "MB/s", "Verdict"],
            _rows(checkpoint["results"], checkpoint["bytes"], None),
        )
    )
    out.append(
        f"\n## (b) Pickle, {pickled['bytes'] / 1e6:.1f} MB, {pickled['opcodes']:,} opcodes\n\n"
        f"`pickle.dumps` (protocol 4) of an OrderedDict of {ENTRIES:,} entries, each a tuple of 4 strings"
        f" and 3 bytes objects of {FIELD_BYTES} bytes, all distinct; opcodes counted once with"
        " `pickletools.genops`.\n\n"
    )
    header = ["Tool", "Median", "Runs", "MB/s", "M opcodes/s", "Verdict"]
    out.append(harness.table(header, _rows(pickled["results"], pickled["bytes"], pickled["opcodes"])))
    out.append("\n## Targets\n\n")
    rows = []
    for name, target in document["targets"].items():
        value = target["value"]
        shown = "n/a" if value is None else (f"{value:.2f}x" if "over" in name else harness.seconds(value))
        rows.append([name.replace("_", " "), shown, target["target"], "yes" if target["met"] else "**no**"])
    out.append(harness.table(["Measure", "Value", "Target", "Met"], rows))
    out.append(
        "\nSubprocess times include interpreter start-up and imports (modelscan and ModelAudit import"
        " TensorFlow); in-process times do not. A verdict naming a problem means the tool did not fully"
        " scan the file, so its time is not a valid measurement.\n"
    )
    return "".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
