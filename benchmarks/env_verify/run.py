"""`mlvet env verify` on a real ML environment against the raw-hashing reference over the same files.

No peer verifies installed files against RECORD (pip, pip-audit, uv, OSV-Scanner do not; `debsums`
is the Debian analogue and works on dpkg's md5sums, not on Python wheels). The reference is therefore
the cost of hashing the same files with OpenSSL and coreutils, run in parallel with the same number of
processes as cores; `pip check` is timed beside it as the check users run today (it reads metadata
only). Run from the repository root::

    .venv/bin/python -m benchmarks.env_verify.run [--site SITE_PACKAGES] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import command, machine, machine_markdown, median, run, seconds, table, write_results
from mlvet.env.record import discover_distributions, resolve_entry
from mlvet.env.target import environment_at
from mlvet.env.verify import verify_environment

TARGET_GB = 5.0
TARGET_SECONDS = 20.0


def recorded_files(site: Path) -> list[Path]:
    """The files env verify hashes: every RECORD row with a hash."""
    files: list[Path] = []
    for dist in discover_distributions(site)[0]:
        files += [Path(resolve_entry(site, e.path)) for e in dist.record or () if e.digest]
    return [f for f in dict.fromkeys(files) if f.is_file()]


def tree_facts(site: Path) -> dict[str, Any]:
    count = size = 0
    for root, _, names in os.walk(site):
        for name in names:
            try:
                size += (Path(root) / name).lstat().st_size
            except OSError:
                continue
            count += 1
    return {"files": count, "bytes": size}


def warm(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        with path.open("rb") as handle:
            while handle.read(1 << 20):
                pass
    return time.perf_counter() - start


def reference(tool: list[str], listing: Path, jobs: int, repeat: int) -> dict[str, Any]:
    argv = ["sh", "-c", f"xargs -0 -P {jobs} -n 256 {' '.join(tool)} > /dev/null < {listing}"]
    runs = [run(argv) for _ in range(repeat)]
    return {
        "command": argv[2],
        "seconds": median([r.seconds for r in runs]),
        "cpu_seconds": median([r.cpu_seconds for r in runs]),
        "ok": all(r.returncode == 0 for r in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_site = (
        Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    )
    parser.add_argument("--site", type=Path, default=default_site)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    site = args.site.resolve()
    jobs = len(os.sched_getaffinity(0))
    files = recorded_files(site)
    hashed_bytes = sum(f.stat().st_size for f in files)
    facts = tree_facts(site)
    warm_seconds = warm(files)
    with tempfile.NamedTemporaryFile("wb", suffix=".list", delete=False) as listing:
        listing.write(b"\0".join(os.fsencode(f) for f in files))
    mlvet_cli = [
        sys.executable,
        "-m",
        "mlvet",
        "env",
        "verify",
        "--path",
        str(site),
        "-q",
        "-f",
        "json",
        "-o",
        os.devnull,
    ]
    cli_runs = [run(mlvet_cli) for _ in range(args.repeat)]
    threads: dict[str, float] = {}
    for workers in (1, 2, 4, 8):
        start = time.perf_counter()
        report = verify_environment(environment_at(site), workers=workers)
        threads[str(workers)] = time.perf_counter() - start
    references = {
        "openssl dgst -sha256": reference(
            ["openssl", "dgst", "-sha256"], Path(listing.name), jobs, args.repeat
        ),
        "sha256sum": reference(["sha256sum"], Path(listing.name), jobs, args.repeat),
    }
    pip_check = [run([sys.executable, "-m", "pip", "check"]) for _ in range(args.repeat)]
    Path(listing.name).unlink()
    cli_seconds = median([r.seconds for r in cli_runs])
    per_gb = cli_seconds / (hashed_bytes / 1e9)
    document: dict[str, Any] = {
        "benchmark": "env_verify",
        "command": command(),
        "machine": machine(None),
        "environment": {
            "site_packages": str(site),
            "distributions": report.details["totals"]["distributions"],
            "files_total": facts["files"],
            "bytes_total": facts["bytes"],
            "files_hashed": len(files),
            "bytes_hashed": hashed_bytes,
            "findings": len(report.findings),
            "problems": len(report.problems),
        },
        "warm_read_seconds": warm_seconds,
        "mlvet_cli": {
            "command": " ".join(mlvet_cli),
            "seconds_median": cli_seconds,
            "cpu_seconds_median": median([r.cpu_seconds for r in cli_runs]),
            "runs": [r.seconds for r in cli_runs],
            "exit_codes": [r.returncode for r in cli_runs],
            "throughput_mb_s": hashed_bytes / 1e6 / cli_seconds,
            "estimate_5gb_seconds": per_gb * TARGET_GB,
            "estimate_5gb_seconds_from_cpu": median([r.cpu_seconds for r in cli_runs])
            / jobs
            / (hashed_bytes / 1e9)
            * TARGET_GB,
        },
        "mlvet_library_by_workers": threads,
        "references": references,
        "pip_check_seconds": median([r.seconds for r in pip_check]),
    }
    write_results("env_verify", document, markdown(document))
    print(markdown(document))
    return 0


def markdown(doc: dict[str, Any]) -> str:
    env, cli, nproc = doc["environment"], doc["mlvet_cli"], doc["machine"]["nproc"]
    gb = env["bytes_hashed"] / 1e9

    def rate(wall: float) -> str:
        return f"{gb / wall * 1000:.0f} MB/s"

    rows = [
        [
            "mlvet env verify (CLI, default threads, incl. start-up)",
            seconds(cli["seconds_median"]),
            seconds(cli["cpu_seconds_median"]),
            rate(cli["seconds_median"]),
            "RECORD hashes + sizes, unowned files, start-up hooks",
        ]
    ]
    for name, ref in doc["references"].items():
        rows.append(
            [
                f"{name} (xargs -P {nproc})",
                seconds(ref["seconds"]),
                seconds(ref["cpu_seconds"]),
                rate(ref["seconds"]),
                "hashes only",
            ]
        )
    rows.append(
        [
            "pip check",
            seconds(doc["pip_check_seconds"]),
            "-",
            "-",
            "dependency metadata only; no file content",
        ]
    )
    worker_rows = [[w, seconds(s), rate(s)] for w, s in doc["mlvet_library_by_workers"].items()]
    verdict = "meets" if cli["estimate_5gb_seconds"] < TARGET_SECONDS else "misses"
    lines = [
        "# env verify: a real ML environment, warm cache",
        "",
        machine_markdown(doc),
        "",
        f"Environment: `{env['site_packages']}`: {env['distributions']} distributions, "
        f"{env['files_total']:,} files, {env['bytes_total'] / 1e9:.2f} GB on disk. env verify hashes "
        f"{env['files_hashed']:,} recorded files ({gb:.2f} GB; the rest is bytecode compiled after install "
        f"and metadata). Findings: {env['findings']}, problems: {env['problems']}. The page cache was warmed "
        f"by reading every file once ({doc['warm_read_seconds']:.1f} s).",
        "",
        "No peer verifies installed files against RECORD (pip, pip-audit, uv, OSV-Scanner, Safety, "
        "GuardDog do not; `debsums` does this for dpkg packages with MD5). The reference is therefore "
        "the bare cost of hashing the same files with OpenSSL and coreutils, one process per core; "
        "`pip check` is what users run today and reads metadata only.",
        "",
        table(["run", "median wall", "median CPU (user+sys)", "wall throughput", "what it checks"], rows),
        "mlvet library call (no interpreter start-up) by hashing threads:",
        "",
        table(["threads", "wall", "throughput"], worker_rows),
        f"Scaled to the issue's target: a {TARGET_GB:.0f} GB environment at the CLI's throughput takes "
        f"**{cli['estimate_5gb_seconds']:.1f} s** ({verdict} the {TARGET_SECONDS:.0f} s target "
        f"on {nproc} cores). From CPU time instead of wall time (what {nproc} otherwise idle cores would "
        f"need, the run being CPU-bound with a warm cache): "
        f"**{cli['estimate_5gb_seconds_from_cpu']:.1f} s**.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
