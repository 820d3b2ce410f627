"""The generated corpus as benchmark input: built by ``tests.corpus.build``, never loaded here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import ROOT


def build(out: Path, copies: int = 1) -> dict[str, list[str]]:
    """Build the corpus ``copies`` times into ``out`` (emptied first); return its expected rule IDs.

    ``expected.json`` is moved out of the tree (to ``out.with_suffix('.expected.json')``) so that no
    tool scans it; with several copies the samples are ``copyNN/<sample>`` and the mapping is per copy.
    """
    if out.exists():
        shutil.rmtree(out)
    copy_dirs = [out / f"copy{n:02d}" for n in range(copies)] if copies > 1 else [out]
    for directory in copy_dirs:  # the builder writes expected.json there even when it builds nothing
        directory.mkdir(parents=True)
    command = [sys.executable, "-m", "tests.corpus.build", str(out), "--copies", str(copies)]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    expected: dict[str, list[str]] = {}
    for directory in copy_dirs:
        listing = directory / "expected.json"
        if not listing.is_file():  # an empty registry still writes it; be lenient all the same
            continue
        prefix = "" if directory == out else f"{directory.name}/"
        expected |= {prefix + k: v for k, v in json.loads(listing.read_text()).items()}
        listing.unlink()
    out.with_suffix(".expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


def load(out: Path) -> dict[str, list[str]]:
    """The expected rule IDs of a corpus ``build`` made earlier."""
    listing: dict[str, list[str]] = json.loads(out.with_suffix(".expected.json").read_text())
    return listing


def techniques() -> dict[str, str]:
    """Sample name (without the ``benign/``/``malicious/`` prefix) -> its one-line technique."""
    try:
        from tests.corpus.registry import ALL_SAMPLES
    except Exception as exc:  # a broken corpus module must not stop the benchmark
        sys.stderr.write(f"warning: cannot import the corpus registry: {exc}\n")
        return {}
    return {sample.name: sample.technique for sample in ALL_SAMPLES}


def size(root: Path) -> tuple[int, int]:
    """Number of files and total bytes under ``root``."""
    files = total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            files += 1
            total += (Path(directory) / name).stat().st_size
    return files, total
