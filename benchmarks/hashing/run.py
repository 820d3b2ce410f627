"""Manifest throughput: mlvet vs OpenSSL SHA-256 (one process per core) vs model-signing, same files.

Builds a model-like directory once under ``benchmarks/.work/hashing/`` (a few large weight shards and
many small files, random bytes), warms the page cache, then times each contender several times,
interleaved, and writes ``benchmarks/results/hashing.md`` and ``hashing.json``.

    .venv/bin/python -m benchmarks.hashing.run [--size-gb 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import mlvet
from benchmarks.harness import load_note
from mlvet.provenance.hashing import available_cores, default_workers
from mlvet.provenance.manifest import Serialization, build_manifest

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "benchmarks" / ".work" / "hashing"
RESULTS = ROOT / "benchmarks" / "results"
BIG_FILES = 3
SMALL_FILES = 600
SMALL_SHARE = 0.25
"""Fraction of the bytes in small files (configs, tokenizers, many small tensors)."""


def build_corpus(size: int) -> Path:
    """Random bytes, written once: BIG_FILES weight shards and SMALL_FILES files of 4 KB to 4 MB."""
    model = WORK / f"model-{size}"
    marker = model / ".complete"
    if marker.exists():
        return model
    model.mkdir(parents=True, exist_ok=True)
    small_total = int(size * SMALL_SHARE)
    big = (size - small_total) // BIG_FILES
    for index in range(BIG_FILES):
        with (model / f"model-{index:05d}-of-{BIG_FILES:05d}.safetensors").open("wb") as out:
            left = big
            while left > 0:
                out.write(os.urandom(min(left, 64 << 20)))
                left -= 64 << 20
    weights = [4096 * (1 + (i * 7919) % 1024) for i in range(SMALL_FILES)]
    scale = small_total / sum(weights)
    for index, weight in enumerate(weights):
        sub = model / "layers" / f"{index // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"part-{index:04d}.bin").write_bytes(os.urandom(max(1, int(weight * scale))))
    marker.write_text("done\n")
    return model


def files_of(model: Path) -> list[Path]:
    found = [p for p in model.rglob("*") if p.is_file() and p.name != ".complete"]
    return sorted(found, key=lambda p: p.stat().st_size, reverse=True)


def warm(files: list[Path]) -> None:
    for path in files:
        with path.open("rb", buffering=0) as handle:
            while handle.read(8 << 20):
                pass


def openssl_per_core(files: list[Path], cores: int) -> Callable[[], None]:
    """One ``openssl dgst -sha256`` process per core, the files dealt largest first to the lightest bin."""
    bins: list[list[str]] = [[] for _ in range(cores)]
    loads = [0] * cores
    for path in files:
        lightest = loads.index(min(loads))
        bins[lightest].append(str(path))
        loads[lightest] += path.stat().st_size

    def run() -> None:
        processes = [
            subprocess.Popen(["openssl", "dgst", "-sha256", *group], stdout=subprocess.DEVNULL)
            for group in bins
            if group
        ]
        for process in processes:
            if process.wait() != 0:
                raise RuntimeError("openssl dgst failed")

    return run


def hashlib_threads(files: list[Path], cores: int) -> Callable[[], None]:
    """Plain hashlib, one thread per core, 1 MiB reads: the Python floor."""

    def one(path: Path) -> str:
        hasher = hashlib.sha256()
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        with path.open("rb", buffering=0) as handle:
            while got := handle.readinto(buf):
                hasher.update(view[:got])
        return hasher.hexdigest()

    def run() -> None:
        with ThreadPoolExecutor(cores) as pool:
            list(pool.map(one, files))

    return run


def mlvet_manifest(model: Path, workers: int | None = None) -> Callable[[], None]:
    def run() -> None:
        build_manifest(model, Serialization(ignore_paths=(".complete",)), workers=workers)

    return run


def model_signing_manifest(model: Path) -> Callable[[], None]:
    import model_signing

    def run() -> None:
        config = model_signing.hashing.Config().set_ignored_paths(paths=[".complete"])
        config.hash(model)

    return run


def measure(contenders: dict[str, Callable[[], None]], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def machine() -> dict[str, str]:
    def sh(command: str) -> str:
        return subprocess.run(
            shlex.split(command), capture_output=True, text=True, check=False
        ).stdout.strip()

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    load = Path("/proc/loadavg").read_text().split()[:3]
    import model_signing

    return {
        "nproc": sh("nproc"),
        "cpu": cpu,
        "uname": sh("uname -a"),
        "python": sys.version.split()[0],
        "openssl": sh("openssl version"),
        "mlvet": mlvet.__version__,
        "model_signing": model_signing.__version__,
        "load_before": " ".join(load),
    }


def write_results(
    size: int, count: int, times: dict[str, list[float]], facts: dict[str, str], command: str, workers: int
) -> None:
    rows = []
    openssl_rate = size / statistics.median(times["OpenSSL dgst -sha256, one process per core"])
    for name, runs in times.items():
        median = statistics.median(runs)
        rate = size / median
        rows.append((name, median, min(runs), rate, rate / openssl_rate))
    data = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": facts,
        "bytes": size,
        "files": count,
        "workers": workers,
        "times_s": times,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hashing.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        "# Manifest hashing throughput: mlvet vs OpenSSL vs model-signing",
        "",
        f"- Command: `{command}` (run from the repository root)",
        f"- Date (UTC): {data['date']}",
        f"- Machine: {facts['nproc']} CPU(s), {facts['cpu']}; `{facts['uname']}`",
        f"- Python {facts['python']}, {facts['openssl']}, mlvet {facts['mlvet']},"
        f" model-signing {facts['model_signing']}",
        load_note([float(v) for v in facts["load_before"].split()]).rstrip("\n"),
        f"- Data: {size / 1e9:.2f} GB in {count} files ({BIG_FILES} weight shards of "
        f"{(size * (1 - SMALL_SHARE)) / BIG_FILES / 1e9:.2f} GB, {SMALL_FILES} files of 4 KB-4 MB),"
        " random bytes, warm page cache (every file read once before timing)",
        f"- Each contender ran {len(next(iter(times.values())))} times, interleaved; median shown."
        f" mlvet's default is {workers} hashing threads (cores + 4).",
        "",
        "| Contender | Median | Best | GB/s (median) | vs OpenSSL |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {median:.2f} s | {best:.2f} s | {rate / 1e9:.2f} | {ratio:.0%} |"
        for name, median, best, rate, ratio in rows
    ]
    lines += [
        "",
        "What each contender does:",
        "",
        "- **OpenSSL**: one `openssl dgst -sha256 FILE...` process per core, the files dealt largest",
        "  first to the least-loaded process: the reference for what SHA-256 costs on this machine.",
        "- **hashlib threads**: plain Python `hashlib.sha256`, one thread per core, 1 MiB `readinto`.",
        "- **mlvet**: `mlvet.provenance.manifest.build_manifest` (what `mlvet sign` and `mlvet verify` run):",
        "  listing, parallel hashing largest-first, 1 MiB reused buffer per thread, root digest.",
        "- **model-signing**: `model_signing.hashing.Config().hash(path)` (files serialization, SHA-256,",
        "  its default thread pool), what `model_signing sign` runs before signing.",
        "",
    ]
    (RESULTS / "hashing.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size_target = int(args.size_gb * 1e9)
    model = build_corpus(size_target)
    files = files_of(model)
    size = sum(p.stat().st_size for p in files)
    warm(files)
    cores = available_cores()
    contenders = {
        "OpenSSL dgst -sha256, one process per core": openssl_per_core(files, cores),
        "hashlib, one thread per core": hashlib_threads(files, cores),
        "mlvet manifest (default threads)": mlvet_manifest(model),
        "mlvet manifest (one thread per core)": mlvet_manifest(model, cores),
        "model-signing manifest": model_signing_manifest(model),
    }
    facts = machine()
    times = measure(contenders, args.repeat)
    command = ".venv/bin/python -m benchmarks.hashing.run " + " ".join(sys.argv[1:])
    write_results(size, len(files), times, facts, command.strip(), default_workers())
    print((RESULTS / "hashing.md").read_text())


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    main()
