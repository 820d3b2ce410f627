"""Summary numbers, targets and the Markdown page of the graph-backdoor benchmark."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from benchmarks import harness
from benchmarks.graph.measure import ratio, share, timing
from benchmarks.graph.variants import KINDS

Row = dict[str, Any]

PEERS_NOTE = (
    "No peer column: none of modelscan, picklescan or ModelAudit has graph-level trigger rules. "
    "picklescan and modelscan do not parse ONNX graphs; ModelAudit's ONNX scanner checks custom "
    "operator domains, Python operators and `external_data` paths (CVE-2024-27318, CVE-2025-51480), "
    "never the data flow from an input to a Where/If or an arithmetic blend, so none of these "
    "variants is in reach of their rules."
)


def summarize(document: dict[str, Any]) -> dict[str, Any]:
    """Rates, timings and targets from the per-file rows."""
    made = [r for r in document["variants"] if r["inject_error"] is None]
    detection = {
        f"L{level}": {kind: _detected(made, level, kind) for kind in (*KINDS, "all")} for level in range(4)
    }
    clean_rows = document["clean"]
    groups = {
        group: _clean_group([r for r in clean_rows if r["group"] == group])
        for group in dict.fromkeys(r["group"] for r in clean_rows)
    }
    probe = {f"L{level}": _probe_level([r for r in made if r["level"] == level]) for level in range(4)}
    return {
        "variants_tried": len(document["variants"]),
        "variants_made": len(made),
        "detection": detection,
        "detection_by_kind": {kind: _detected(made, None, kind) for kind in KINDS},
        "detection_by_payload": {
            p: _count([r for r in made if r["payload_kind"] == p])
            for p in ("force_class", "constant", "steer")
        },
        "rules_by_level": {
            f"L{level}": dict(Counter(rule for r in made if r["level"] == level for rule in r["high"]))
            for level in range(4)
        },
        "clean": groups,
        "clean_total": _clean_group(clean_rows),
        "scan_time_variants": timing([r["seconds"] for r in made]),
        "scan_time_clean": timing([r["seconds"] for r in clean_rows]),
        "probe": probe,
        "probe_l0_l2": _probe_level([r for r in made if r["level"] <= 2]),
        "targets": _targets(made, clean_rows, document["large_graph"]),
    }


def _count(rows: list[Row]) -> dict[str, Any]:
    hits = sum(bool(r["high"]) for r in rows)
    return {"detected": hits, "total": len(rows), "rate": ratio(hits, len(rows))}


def _detected(rows: list[Row], level: int | None, kind: str | None) -> dict[str, Any]:
    chosen = [r for r in rows if level in (None, r["level"]) and kind in ("all", r["kind"])]
    return _count(chosen)


def _clean_group(rows: list[Row]) -> dict[str, Any]:
    return {
        "files": len(rows),
        "fp_high": sum(bool(r["high"]) for r in rows),
        "fp_low": sum(bool(r["low"]) for r in rows),
        "with_problems": sum(bool(r["problems"]) for r in rows),
        "time": timing([r["seconds"] for r in rows]),
    }


def _probe_level(rows: list[Row]) -> dict[str, Any]:
    probed = [r["probe"] for r in rows if "probe" in r]
    confirmed = sum(bool(p["confirmed"]) for p in probed)
    return {
        "detected": len(probed),
        "confirmed": confirmed,
        "rate": ratio(confirmed, len(probed)),
        "errors": sum(bool(p["error"]) for p in probed),
        "time": timing([p["seconds"] for p in probed]),
    }


def _targets(made: list[Row], clean_rows: list[Row], chain: dict[str, Any]) -> list[dict[str, Any]]:
    early = [r for r in made if r["level"] <= 2]
    late = [r for r in made if r["level"] == 3]
    early_hits, late_hits = sum(bool(r["high"]) for r in early), sum(bool(r["high"]) for r in late)
    probed = [r["probe"] for r in early if "probe" in r]
    confirmed = sum(bool(p["confirmed"]) for p in probed)
    fp_high, fp_low = sum(bool(r["high"]) for r in clean_rows), sum(bool(r["low"]) for r in clean_rows)
    slowest = max(chain["find_gates_cpu_median"], chain["scan_bytes_cpu_median"])
    return [
        _target("TPR on L0-L2", "100 %", share(early_hits, len(early)), early_hits == len(early) > 0),
        _target("TPR on L3", ">= 90 %", share(late_hits, len(late)), late_hits >= 0.9 * len(late) > 0),
        _target(
            "False positives (high+) on the clean corpus", "0", share(fp_high, len(clean_rows)), fp_high == 0
        ),
        _target(
            "False positives (low+) on the clean corpus", "0", share(fp_low, len(clean_rows)), fp_low == 0
        ),
        _target(
            "Detected L0-L2 confirmed by execution",
            ">= 95 %",
            share(confirmed, len(probed)),
            bool(probed) and confirmed >= 0.95 * len(probed),
        ),
        _target(
            f"{chain['nodes']:,}-node graph, find_gates and scan_bytes (median CPU time, one core)",
            "< 3 s",
            f"find_gates {chain['find_gates_cpu_median']:.2f} s, "
            f"scan_bytes {chain['scan_bytes_cpu_median']:.2f} s "
            f"(wall clock {chain['find_gates_median']:.2f} s, {chain['scan_bytes_median']:.2f} s)",
            slowest < 3.0,
        ),
    ]


def _target(name: str, goal: str, measured: str, met: bool) -> dict[str, Any]:
    return {"target": name, "goal": goal, "measured": measured, "met": met}


def _short(text: str, limit: int = 220) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _node_limit(limit: int | None) -> str:
    return "all" if limit is None else f"first {limit} by name"


def _rate(cell: dict[str, Any]) -> str:
    return share(cell["detected"], cell["total"])


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def markdown(document: dict[str, Any]) -> str:
    """The result page."""
    summary = document["summary"]
    parts = [
        "# Graph backdoors: static detection, trigger synthesis, large graphs\n",
        harness.machine_markdown(document),
        f"- Probe seed: {document['seed']}; node-test models: "
        f"{_node_limit(document['node_limit'])}; "
        f"whole run {document.get('wall_seconds', 'n/a')} s, single process\n",
        *(
            [
                "The machine was shared with other jobs during the run (other builds and test suites on "
                f"the same {os.cpu_count()} CPUs): wall-clock times are noisy and high; detection, "
                "false-positive and confirmation counts do not depend on it. The 100,000-node target is "
                "judged on CPU time.\n"
            ]
            if document.get("shared_machine")
            else []
        ),
        "Backdoored variants are planted by `mlvet.redteam.inject` (levels L0-L3, see `docs/redteam.md`); "
        "detection is `mlvet.scan.scan_bytes` on each file, a variant counts as detected when an MLV9xx "
        "finding is at high or above. Probing is `mlvet.probe.probe` with a fixed seed; a detected "
        "variant counts as confirmed when a finding is confirmed by execution in onnxruntime.\n",
        f"{PEERS_NOTE}\n",
        "## Targets\n",
        harness.table(
            ["Target", "Goal", "Measured", "Met"],
            [
                [t["target"], t["goal"], t["measured"], "met" if t["met"] else "**not met**"]
                for t in summary["targets"]
            ],
        ),
        *_detection_section(document),
        *_clean_section(document),
        *_probe_section(document),
        *_boundaries_section(document),
        *_large_section(document),
        *_misses_section(document),
        *_variant_list(document),
    ]
    return "\n".join(parts)


def _detection_section(document: dict[str, Any]) -> list[str]:
    summary = document["summary"]
    rows = [
        [level, *(_rate(cells[k]) for k in KINDS), _rate(cells["all"])]
        for level, cells in summary["detection"].items()
    ]
    rows.append(["all", *(_rate(summary["detection_by_kind"][k]) for k in KINDS), _rate(_all(summary))])
    payload_rows = [[p, _rate(c)] for p, c in summary["detection_by_payload"].items()]
    rule_rows = [
        [level, ", ".join(f"{r} x{n}" for r, n in sorted(c.items())) or "-"]
        for level, c in summary["rules_by_level"].items()
    ]
    scan = summary["scan_time_variants"]
    return [
        "## Static detection (TPR)\n",
        f"{summary['variants_made']} variants injected ({summary['variants_tried']} tried): "
        f"{_configurations(document)} x 4 levels.\n",
        harness.table(["Level", *KINDS, "all kinds"], rows),
        harness.table(["Payload", "Detected"], payload_rows),
        "Rules raised at high or above, by level (files per rule):\n",
        harness.table(["Level", "Rules"], rule_rows),
        f"Analysis time per variant (`scan_bytes`): median {_seconds(scan['median'])}, "
        f"max {_seconds(scan['max'])}.\n",
    ]


def _configurations(document: dict[str, Any]) -> str:
    rows = document["variants"]
    configs = {row["name"].split("_", 1)[1] for row in rows}
    kinds = Counter(row["kind"] for row in rows if row["level"] == 0)
    per_kind = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    return f"{len(configs)} configurations ({per_kind}) over {len({r['base'] for r in rows})} base models"


def _all(summary: dict[str, Any]) -> dict[str, Any]:
    cells = summary["detection_by_kind"].values()
    hits, total = sum(c["detected"] for c in cells), sum(c["total"] for c in cells)
    return {"detected": hits, "total": total}


def _clean_section(document: dict[str, Any]) -> list[str]:
    summary = document["summary"]
    rows = [
        [
            group,
            g["files"],
            g["fp_high"],
            g["fp_low"],
            g["with_problems"],
            _seconds(g["time"]["median"]),
            _seconds(g["time"]["max"]),
        ]
        for group, g in [*summary["clean"].items(), ("all clean files", summary["clean_total"])]
    ]
    return [
        "## Clean corpus (false positives)\n",
        "FP (high+) is an MLV9xx finding at high or above (what `mlvet scan` fails on); FP (low+) counts "
        "any MLV9xx finding at low or above. The tests' clean models include the light zoo again (the "
        "graph corpus copies it), so those nine files are scanned twice.\n",
        harness.table(
            ["Group", "Files", "FP (high+)", "FP (low+)", "With problems", "Median time", "Max time"], rows
        ),
    ]


def _probe_section(document: dict[str, Any]) -> list[str]:
    summary = document["summary"]
    rows = [
        [
            level,
            p["detected"],
            share(p["confirmed"], p["detected"]),
            p["errors"],
            _seconds(p["time"]["median"]),
            _seconds(p["time"]["max"]),
        ]
        for level, p in [*summary["probe"].items(), ("L0-L2", summary["probe_l0_l2"])]
    ]
    shaped = sorted(
        {
            f"{r['base']}: {r['probe']['shapes']}"
            for r in document["variants"]
            if r.get("probe", {}).get("shapes")
        }
    )
    note = (
        "Every detected variant is probed with its default settings and seed "
        f"{document['seed']}; input shapes come from the model, except where given (as `--shape` would): "
        f"{'; '.join(shaped) or 'none'}. The clean_transformer export declares its sequence axis dynamic "
        "but its Reshape nodes keep the traced length 6, so onnxruntime runs it at that length only.\n"
    )
    return [
        "## Trigger synthesis (`mlvet probe`)\n",
        note,
        harness.table(
            [
                "Level",
                "Detected (probed)",
                "Confirmed by execution",
                "With errors/problems",
                "Median time",
                "Max time",
            ],
            rows,
        ),
    ]


def _boundaries_section(document: dict[str, Any]) -> list[str]:
    rows = document.get("boundaries") or []
    if not rows:
        return []
    caught = sum(set(r["expected"]) <= set(r["high"]) for r in rows)
    probed = [r for r in rows if "probe" in r]
    confirmed = sum(bool(r["probe"]["confirmed"]) for r in probed)
    return [
        "## Triggers across boundaries\n",
        "The hand-built samples of `tests/corpus/graph_boundaries.py`: a gate made on one side of an "
        "If/Loop/Scan body, an ONNX model-local function, a TorchScript method or submodule, or a TF "
        "`StatefulPartitionedCall`, applied on the other. Detected with the expected rule: "
        f"{share(caught, len(rows))}; ONNX samples confirmed by `mlvet probe`: "
        f"{share(confirmed, len(probed))}.\n",
        harness.table(
            ["Sample", "Technique", "Expected", "Reported (high+)", "Probe"],
            [
                [
                    f"`{r['name']}`",
                    r["technique"],
                    ", ".join(r["expected"]),
                    ", ".join(r["high"]) or "-",
                    ("confirmed" if r["probe"]["confirmed"] else "not confirmed") if "probe" in r else "n/a",
                ]
                for r in rows
            ],
        ),
    ]


def _large_section(document: dict[str, Any]) -> list[str]:
    chain = document["large_graph"]
    return [
        "## A 100,000-node graph\n",
        f"A chain of Add/Mul/Relu nodes over a uint8 `[1, 32]` input with an L0 byte-trigger backdoor at "
        f"the end ({chain['nodes']:,} nodes, {chain['bytes']:,} bytes), single process, "
        f"{chain['repeat']} runs. CPU time is `time.process_time()` of this process (one core); the wall "
        "clock also counts the time other jobs on the shared machine held the core.\n",
        harness.table(
            ["Call", "CPU runs (s)", "CPU median (s)", "Wall runs (s)", "Wall median (s)", "Result"],
            [
                [
                    "`find_gates`",
                    ", ".join(map(str, chain["find_gates_cpu_seconds"])),
                    chain["find_gates_cpu_median"],
                    ", ".join(map(str, chain["find_gates_seconds"])),
                    chain["find_gates_median"],
                    f"{chain['gates_found']} gate(s)",
                ],
                [
                    "`scan_bytes`",
                    ", ".join(map(str, chain["scan_bytes_cpu_seconds"])),
                    chain["scan_bytes_cpu_median"],
                    ", ".join(map(str, chain["scan_bytes_seconds"])),
                    chain["scan_bytes_median"],
                    ", ".join(chain["scan_rules_high"]) or "no finding",
                ],
            ],
        ),
    ]


def _misses_section(document: dict[str, Any]) -> list[str]:
    made = [r for r in document["variants"] if r["inject_error"] is None]
    missed = [
        [r["name"], r["trigger"], r["payload"], "; ".join(r["messages"]) or "-"]
        for r in made
        if not r["high"]
    ]
    unconfirmed = [
        [r["name"], ", ".join(r["probe"]["rules"]) or "-", _short(r["probe"]["error"] or "-")]
        for r in made
        if "probe" in r and not r["probe"]["confirmed"]
    ]
    flagged = [[r["file"], _short("; ".join(r["messages"]))] for r in document["clean"] if r["low"]]
    refused = [[r["name"], r["inject_error"]] for r in document["variants"] if r["inject_error"]]
    problems = [
        [r.get("file", r.get("name")), "; ".join(r["problems"])]
        for r in [*made, *document["clean"]]
        if r.get("problems")
    ]
    out = ["## Misses and false positives\n"]
    for title, header, rows in (
        ("Variants not detected", ["Variant", "Trigger", "Payload", "Lower findings"], missed),
        ("Detected variants not confirmed by probe", ["Variant", "Probe findings", "Problems"], unconfirmed),
        ("Clean files with an MLV9xx finding (low or above)", ["File", "Findings"], flagged),
        ("Configurations the injector refused", ["Variant", "Error"], refused),
        ("Files with scan problems", ["File", "Problems"], problems),
    ):
        out.append(f"### {title}\n")
        out.append(harness.table(header, rows) if rows else "None.\n")
    return out


def _variant_list(document: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["name"],
            r["trigger"],
            r["payload"],
            ", ".join(r.get("high", [])) or "-",
            ("confirmed" if r["probe"]["confirmed"] else "not confirmed") if "probe" in r else "-",
        ]
        for r in document["variants"]
    ]
    return [
        "## Every variant\n",
        harness.table(["Variant", "Trigger", "Payload", "Rules (high+)", "Probe"], rows),
    ]
