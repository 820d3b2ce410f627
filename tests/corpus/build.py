"""Build the corpus (or the demo subset) into a directory: ``python -m tests.corpus.build OUT [--demo]``.

Samples land in ``OUT/benign/...`` and ``OUT/malicious/...``; ``OUT/expected.json`` lists the rule IDs
each malicious sample must raise. Builders use the real frameworks; nothing is ever loaded back.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tests.corpus.registry import ALL_SAMPLES, DEMO
from tests.corpus.sample import Sample


def build(out: Path, samples: list[Sample]) -> dict[str, list[str]]:
    expected: dict[str, list[str]] = {}
    for sample in samples:
        relative = Path("malicious" if sample.malicious else "benign") / sample.name
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        sample.build(target)
        expected[relative.as_posix()] = sorted(sample.expected)
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--demo", action="store_true", help="only the small demo subset")
    parser.add_argument("--copies", type=int, default=1, help="build the corpus N times (for benchmarks)")
    args = parser.parse_args(argv)
    samples = [s for s in ALL_SAMPLES if s.name in DEMO] if args.demo else ALL_SAMPLES
    for copy in range(args.copies):
        build(args.out / f"copy{copy:02d}" if args.copies > 1 else args.out, samples)
    malicious = sum(s.malicious for s in samples)
    sys.stdout.write(f"built {len(samples)} samples ({malicious} malicious) x{args.copies} into {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
