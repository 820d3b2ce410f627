"""Graph-backdoor benchmark (issue 3): detection rate per level, false positives, probe confirmation.

1. Plants backdoors with ``mlvet.redteam.inject``: 33 configurations (11 per input kind: bytes,
   tokens, image patch; several base models, triggers and force_class/constant/steer payloads), each
   at levels L0-L3, into ``benchmarks/.work/graph/variants``.
2. Assembles the clean corpus: the tests' clean models, the onnx light zoo, the onnx operator
   node-test models and the backend model tests shipped with onnx.
3. Static detection: ``mlvet.scan.scan_bytes`` per file; detected = an MLV9xx finding at high or
   above; a clean file with an MLV9xx finding at high+ (and, apart, at low+) is a false positive.
4. ``mlvet.probe.probe`` (seed 0) on every detected variant: confirmed = a finding confirmed by
   execution in onnxruntime.
5. The triggers-across-boundaries samples (``tests/corpus/graph_boundaries.py``: If/Loop/Scan
   bodies, ONNX functions, TorchScript methods/submodules, TF calls), scanned and probed.
6. A synthetic 100,000-node graph with an L0 backdoor through ``find_gates`` and ``scan_bytes``.

Writes ``benchmarks/results/graph_backdoors.{md,json}``. Run from the repository root:
``.venv/bin/python -m benchmarks.graph.run`` (about 40 s on 2 CPUs).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import warnings
from typing import Any

from benchmarks import harness
from benchmarks.graph import boundaries, clean, large, measure, report, variants
from benchmarks.peers import WORK

OUT = WORK / "graph"
NAME = "graph_backdoors"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--node-limit", type=int, default=None, help="first N node-test models only")
    parser.add_argument("--seed", type=int, default=0, help="probe seed (default 0)")
    parser.add_argument("--repeat", type=int, default=3, help="timings of the 100k-node graph (default 3)")
    parser.add_argument("--nodes", type=int, default=100_000, help="size of the synthetic graph")
    parser.add_argument(
        "--shared-machine",
        action="store_true",
        help="say in the results that other jobs ran on the machine meanwhile (noisy wall-clock times)",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    _quiet_onnxruntime()
    started = time.perf_counter()
    shutil.rmtree(OUT, ignore_errors=True)

    made = variants.generate(OUT / "variants")
    _say(f"{sum(v.path is not None for v in made)} variants injected ({len(made)} tried)")
    corpus = clean.assemble(OUT / "clean", args.node_limit)
    _say(f"{len(corpus)} clean files")

    variant_rows = [_variant_row(v) for v in made]
    _say("static detection on the variants done")
    clean_rows = [
        {"group": m.group, "file": harness.shown(m.path), **measure.scan_file(m.path)} for m in corpus
    ]
    _say("static detection on the clean corpus done")
    for row, variant in zip(variant_rows, made, strict=True):
        if row.get("high") and variant.path is not None:
            out_dir = OUT / "probe" / variant.name
            shapes = variants.PROBE_SHAPES.get(variant.config.base)
            row["probe"] = measure.probe_file(variant.path, out_dir, args.seed, shapes)
            row["probe"]["shapes"] = shapes
    _say("probe done")
    boundary_rows = boundaries.measure_boundaries(OUT / "boundaries", args.seed)
    _say(f"{sum(bool(r['high']) for r in boundary_rows)}/{len(boundary_rows)} boundary samples detected")
    chain = large.measure(args.nodes, args.repeat)
    _say(
        f"{chain['nodes']} nodes: find_gates {chain['find_gates_cpu_median']} s CPU, "
        f"scan {chain['scan_bytes_cpu_median']} s CPU"
    )

    document: dict[str, Any] = {
        "benchmark": NAME,
        "command": harness.command(),
        "machine": harness.machine(None),
        "seed": args.seed,
        "shared_machine": args.shared_machine,
        "node_limit": args.node_limit,
        "variants": variant_rows,
        "clean": clean_rows,
        "boundaries": boundary_rows,
        "large_graph": chain,
    }
    document["summary"] = report.summarize(document)
    document["wall_seconds"] = round(time.perf_counter() - started, 1)
    json_path, md_path = harness.write_results(NAME, document, report.markdown(document))
    _say(f"wrote {harness.shown(md_path)} and {harness.shown(json_path)} in {document['wall_seconds']} s")
    return 0


def _variant_row(variant: variants.Variant) -> dict[str, Any]:
    config = variant.config
    row: dict[str, Any] = {
        "name": variant.name,
        "level": variant.level,
        "kind": config.kind,
        "base": config.base,
        "trigger": config.trigger.describe(),
        "payload": config.payload.describe(),
        "payload_kind": config.payload.kind.value,
        "inject_error": variant.error,
    }
    if variant.path is not None:
        row.update(measure.scan_file(variant.path))
    return row


def _quiet_onnxruntime() -> None:
    """Keep onnxruntime's own error log off the console: failures are recorded per variant."""
    import onnxruntime  # type: ignore[import-untyped]

    onnxruntime.set_default_logger_severity(4)


def _say(message: str) -> None:
    print(f"[graph] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
