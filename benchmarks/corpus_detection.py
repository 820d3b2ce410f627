"""Benchmark 1, detection: ``python -m benchmarks.corpus_detection [--budget S] [--file-timeout S]``.

Builds the corpus once into ``benchmarks/.work/corpus`` and runs mlvet, modelscan, picklescan and
ModelAudit over every sample. Per tool: malicious samples detected, benign samples flagged (false
positives), errors, unscanned samples and wall time; a per-sample table. Writes
``benchmarks/results/corpus_detection.{md,json}``. How each verdict is read: ``benchmarks/verdicts.py``.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import corpus, harness, peers, tools, verdicts
from benchmarks.verdicts import CLEAN, ERROR, MALICIOUS, NOT_RUN, UNSCANNED, Verdicts

WORK = peers.WORK
CORPUS = WORK / "corpus"
REPORT = WORK / "report.json"


@dataclass
class ToolResult:
    """Everything measured for one tool."""

    verdicts: Verdicts
    wall_seconds: float
    how: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=900, help="seconds each peer may spend (default 900)")
    parser.add_argument("--file-timeout", type=float, default=120, help="seconds per file when run per file")
    parser.add_argument("--compare", type=int, default=6, help="samples used to time per-file vs one run")
    parser.add_argument("--no-build", action="store_true", help="reuse the corpus already built in .work")
    parser.add_argument(
        "--modelaudit-plain",
        action="store_true",
        help="run the `modelaudit` script itself, without modelaudit_launcher.py's TensorFlow fix",
    )
    args = parser.parse_args(argv)

    global MODELAUDIT_PLAIN
    MODELAUDIT_PLAIN = args.modelaudit_plain
    installed = peers.ensure()
    expected = corpus.load(CORPUS) if args.no_build else corpus.build(CORPUS)
    samples = sorted(expected)
    print(f"corpus: {len(samples)} samples ({sum(bool(v) for v in expected.values())} malicious)")

    results: dict[str, ToolResult] = {}
    results["mlvet"] = _mlvet(samples)
    results["picklescan"] = _picklescan(installed, samples, args.budget)
    modes = _compare_modes(installed, samples, args.compare, args.file_timeout)
    for tool in ("modelscan", "modelaudit"):
        results[tool] = _peer(tool, installed, samples, modes.get(tool), args.budget, args.file_timeout)
        print(f"{tool}: {results[tool].wall_seconds:.1f} s ({results[tool].how})")

    document = _document(installed, expected, results, modes, args)
    json_path, md_path = harness.write_results("corpus_detection", document, _markdown(document))
    print(f"wrote {harness.shown(json_path)} and {harness.shown(md_path)}")
    return 0


# --- mlvet and picklescan -------------------------------------------------------------------------


def _mlvet(samples: list[str]) -> ToolResult:
    whole = tools.mlvet([CORPUS], REPORT)
    print(f"mlvet: {whole.run.seconds:.2f} s over the corpus (exit {whole.run.returncode})")
    if whole.document is None:
        found = Verdicts(samples)
        for verdict in found.values():
            verdict.fail(whole.failure or "no report")
    else:
        found = verdicts.mlvet(whole.document, CORPUS, samples)
    result = ToolResult(found, whole.run.seconds, "one invocation over the corpus", [whole.summary()])
    # The same, one sample at a time: exit codes per sample and a check that verdicts agree.
    exit_codes: dict[str, int | None] = {}
    one_by_one = 0.0
    for sample in samples:
        single = tools.mlvet([CORPUS / sample], REPORT)
        exit_codes[sample] = single.run.returncode
        one_by_one += single.run.seconds
        alone = verdicts.mlvet(single.document or {}, CORPUS, [sample])[sample]
        if single.document is None:
            alone.fail(single.failure or "no report")
        if alone.outcome != found[sample].outcome:
            result.notes.append(
                f"{sample}: {alone.outcome} alone but {found[sample].outcome} in the corpus run"
            )
    result.extra["per_sample_exit_codes"] = exit_codes
    result.extra["per_sample_total_seconds"] = one_by_one
    return result


def _picklescan(installed: peers.Peers, samples: list[str], budget: float) -> ToolResult:
    cli, scanned, aborted = tools.picklescan_cli(installed, CORPUS, timeout=budget)
    probe = tools.picklescan_probe(installed, ["verdicts", CORPUS, *samples], timeout=budget)
    if probe.document is None:
        found = Verdicts(samples)
        for verdict in found.values():
            verdict.fail(probe.failure or "probe failed")
    else:
        found = verdicts.picklescan(probe.document, samples)
    how = "wall: one `picklescan -p CORPUS`; verdicts: its API per sample, one process"
    if aborted:
        how += " (the `-p CORPUS` run aborted early: see below)"
    result = ToolResult(found, cli.seconds, how, [cli.summary(), probe.summary()])
    result.extra = {
        "cli_aborted": aborted,
        "cli_exit": cli.returncode,
        "cli_scanned_files": scanned,
        "probe_seconds": probe.run.seconds,
    }
    if aborted:
        result.notes.append(
            f"`picklescan -p CORPUS` stopped after {cli.seconds:.2f} s without a summary ({aborted}): its"
            " directory walk ends at the first unhandled exception, so that wall time covers only the"
            " files before it. The verdicts, one sample at a time, are not affected."
        )
    else:
        result.notes.append(
            f"`picklescan -p CORPUS` scanned {scanned} file(s): its directory walk only opens files whose"
            " extension it knows; per sample (`picklescan -p SAMPLE`) it opens any file."
        )
    return result


# --- slow peers: one invocation over the corpus, or one per sample ---------------------------------

Invoke = Callable[[peers.Peers, Path, float | None], tools.ToolRun]


MODELAUDIT_PLAIN = False
"""Set by ``--modelaudit-plain``."""


def _invoke(tool: str) -> Invoke:
    if tool == "modelscan":
        return lambda p, path, timeout: tools.modelscan(p, path, REPORT, timeout)
    return lambda p, path, timeout: tools.modelaudit(p, [path], REPORT, timeout, plain=MODELAUDIT_PLAIN)


def _parse(tool: str, document: dict[str, Any], root: Path, samples: list[str], single: bool) -> Verdicts:
    if tool == "modelscan":
        return verdicts.modelscan(document, samples, single=single)
    return verdicts.modelaudit(document, root, samples)


def _compare_modes(
    installed: peers.Peers, samples: list[str], count: int, file_timeout: float
) -> dict[str, Any]:
    """Time a few samples run one by one and in one invocation, per slow peer."""
    if not samples or count <= 0:
        return {}
    step = max(1, len(samples) // count)
    chosen = samples[::step][:count]
    compare = WORK / "compare"
    if compare.exists():
        shutil.rmtree(compare)
    for sample in chosen:
        target = compare / sample
        target.parent.mkdir(parents=True, exist_ok=True)
        source = CORPUS / sample
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
    modes: dict[str, Any] = {}
    for tool in ("modelscan", "modelaudit"):
        invoke = _invoke(tool)
        each = [invoke(installed, compare / sample, file_timeout).run.seconds for sample in chosen]
        together = invoke(installed, compare, file_timeout * len(chosen)).run.seconds
        modes[tool] = {
            "samples": chosen,
            "per_sample_seconds": each,
            "per_file_one_by_one": sum(each) / len(chosen),
            "one_invocation_seconds": together,
            "per_file_one_invocation": together / len(chosen),
        }
        print(f"{tool}: {modes[tool]['per_file_one_by_one']:.2f} s/file one by one, ", end="")
        print(f"{modes[tool]['per_file_one_invocation']:.2f} s/file in one invocation")
    shutil.rmtree(compare)
    return modes


def _peer(
    tool: str,
    installed: peers.Peers,
    samples: list[str],
    mode: dict[str, Any] | None,
    budget: float,
    timeout: float,
) -> ToolResult:
    estimate = (mode["per_file_one_invocation"] * len(samples)) if mode else 0.0
    prefer_one = mode is None or mode["per_file_one_invocation"] <= mode["per_file_one_by_one"]
    notes = []
    if mode is not None:
        notes.append(
            f"timed on {len(mode['samples'])} samples: {mode['per_file_one_by_one']:.2f} s/file with one"
            f" invocation per sample, {mode['per_file_one_invocation']:.2f} s/file in one invocation;"
            f" estimated {estimate:.0f} s for one invocation over the corpus (budget {budget:.0f} s)"
        )
    if prefer_one and estimate <= budget:
        whole = _invoke(tool)(installed, CORPUS, budget)
        if whole.document is not None:
            found = _parse(tool, whole.document, CORPUS, samples, single=False)
            result = ToolResult(found, whole.run.seconds, "one invocation over the corpus", [whole.summary()])
            result.notes = [*notes, f"exit code {whole.run.returncode}"]
            if whole.failure:
                result.notes.append(f"report kept although the run failed: {whole.failure}")
            return result
        notes.append(
            f"one invocation over the corpus failed ({whole.failure}); falling back to one per sample"
        )
        budget = max(0.0, budget - whole.run.seconds)
    return _per_sample(tool, installed, samples, budget, timeout, notes)


def _per_sample(
    tool: str, installed: peers.Peers, samples: list[str], budget: float, timeout: float, notes: list[str]
) -> ToolResult:
    found = Verdicts(samples)
    invoke, spent, runs = _invoke(tool), 0.0, []
    for sample in _interleaved(samples):
        if spent >= budget:
            found[sample].outcome = NOT_RUN
            continue
        one = invoke(installed, CORPUS / sample, min(timeout, budget - spent))
        spent += one.run.seconds
        runs.append({"sample": sample, **one.summary()})
        if one.document is None:
            found[sample].fail(one.failure or "no report")
            continue
        alone = _parse(tool, one.document, CORPUS, [sample], single=True)
        found[sample] = alone[sample]
        found.unattributed += alone.unattributed
        if one.failure:
            found[sample].fail(one.failure)
    skipped = sum(v.outcome == NOT_RUN for v in found.values())
    if skipped:
        notes.append(f"time budget spent: {skipped} sample(s) not run")
    how = f"one invocation per sample (timeout {timeout:.0f} s each, budget {budget:.0f} s)"
    return ToolResult(found, spent, how, runs, notes)


def _interleaved(samples: list[str]) -> list[str]:
    """Round-robin over (benign|malicious, format folder), so a partial run covers every family."""
    groups: dict[str, list[str]] = {}
    for sample in samples:
        groups.setdefault("/".join(sample.split("/")[:2]), []).append(sample)
    ordered, queues = [], list(groups.values())
    while queues:
        ordered += [q.pop(0) for q in queues]
        queues = [q for q in queues if q]
    return ordered


# --- the result document and its Markdown ----------------------------------------------------------


def _document(
    installed: peers.Peers,
    expected: dict[str, list[str]],
    results: dict[str, ToolResult],
    modes: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    techniques = corpus.techniques()
    samples = []
    for name, rules in sorted(expected.items()):
        bare = name.split("/", 1)[1] if "/" in name else name
        row: dict[str, Any] = {"sample": name, "technique": techniques.get(bare, ""), "expected": rules}
        row["verdicts"] = {t: r.verdicts[name].outcome for t, r in results.items()}
        row["errors"] = [t for t, r in results.items() if r.verdicts[name].error]
        row["reasons"] = {t: r.verdicts[name].reasons for t, r in results.items()}
        if rules:
            raised = set(results["mlvet"].verdicts[name].reasons)  # rule IDs at high or above
            row["mlvet_missing_rules"] = sorted(set(rules) - raised)
        samples.append(row)
    return {
        "benchmark": "corpus_detection",
        "command": harness.command(),
        "machine": harness.machine(installed),
        "settings": {
            "budget_seconds": args.budget,
            "file_timeout_seconds": args.file_timeout,
            "modelaudit_launcher": not args.modelaudit_plain,
        },
        "corpus": {"root": harness.shown(CORPUS), "samples": len(expected)},
        "summary": {tool: _summary(result, expected) for tool, result in results.items()},
        "modes": modes,
        "tools": {
            tool: {
                "how": r.how,
                "wall_seconds": r.wall_seconds,
                "runs": r.runs,
                "notes": r.notes,
                "extra": r.extra,
                "unattributed": r.verdicts.unattributed,
            }
            for tool, r in results.items()
        },
        "samples": samples,
    }


def _summary(result: ToolResult, expected: dict[str, list[str]]) -> dict[str, Any]:
    bad = [s for s, rules in expected.items() if rules]
    good = [s for s, rules in expected.items() if not rules]
    v = result.verdicts
    return {
        "malicious_samples": len(bad),
        "detected": sum(v[s].outcome == MALICIOUS for s in bad),
        "missed": sum(v[s].outcome in (CLEAN, ERROR, UNSCANNED) for s in bad),
        "missed_clean": sum(v[s].outcome == CLEAN for s in bad),
        "benign_samples": len(good),
        "false_positives": sum(v[s].outcome == MALICIOUS for s in good),
        "errors": sum(v[s].error for s in expected),
        "unscanned": sum(v[s].outcome == UNSCANNED for s in expected),
        "not_run": sum(v[s].outcome == NOT_RUN for s in expected),
        "wall_seconds": round(result.wall_seconds, 3),
        "how": result.how,
    }


def _cell(expected: list[str], outcome: str, error: bool) -> str:
    mark = {True: "✓", False: "✗"}
    if outcome == NOT_RUN:
        return "– not run"
    if expected:
        text = f"{mark[outcome == MALICIOUS]} {outcome}"
    elif outcome == MALICIOUS:
        text = "✗ flagged (FP)"
    else:
        text = f"{'✓' if outcome == CLEAN else '!'} {outcome}"
    return text + (" +error" if error and outcome == MALICIOUS else "")


def _markdown(document: dict[str, Any]) -> str:
    names = tools.TOOL_NAMES
    summary = document["summary"]
    out = [
        "# Corpus detection: mlvet vs modelscan, picklescan, ModelAudit\n",
        harness.machine_markdown(document),
    ]
    count = document["corpus"]["samples"]
    out.append(f"\nCorpus: `{document['corpus']['root']}`, {count} samples, built once (`--copies 1`).\n")
    if not count:
        out.append("\n**The corpus registry is empty: no sample was built, every number below is zero.**\n")
    out.append("\n## Summary\n\n")
    header = ["Tool", "Malicious detected", "Missed (of which passed clean)", "Benign flagged (FP)", "Errors"]
    header += ["Unscanned"]
    header += ["Not run", "Wall time", "How it was run"]
    rows = []
    for tool, s in summary.items():
        detected = f"{s['detected']}/{s['malicious_samples']}"
        fp = f"{s['false_positives']}/{s['benign_samples']}"
        missed = f"{s['missed']} ({s['missed_clean']})"
        rows.append([names[tool], detected, missed, fp, s["errors"], s["unscanned"], s["not_run"]])
        rows[-1] += [harness.seconds(s["wall_seconds"]), s["how"]]
    out.append(harness.table(header, rows))
    out.append(
        "\nErrors: samples for which the tool reported a crash or an exit-2 condition (it may also have"
        " flagged them). Unscanned: the tool did not examine the sample (unsupported format or extension)."
        ' Missed = clean + error + unscanned verdicts on malicious samples; "passed clean" counts the'
        " misses where the tool gave the sample a clean verdict (exit 0 on it alone).\n"
    )
    out.append("\n## How each verdict is read\n\n")
    out.append((verdicts.__doc__ or "").split("\n\n", 1)[1].strip() + "\n")
    out.append("\n## How the slow peers were run\n\n")
    for tool in ("modelscan", "modelaudit", "picklescan", "mlvet"):
        out.extend(f"- {names[tool]}: {note}\n" for note in document["tools"][tool]["notes"])
    out.append("\n## Per sample\n\n")
    rows = []
    for row in document["samples"]:
        expected = ", ".join(row["expected"]) or "benign"
        cells = [_cell(row["expected"], row["verdicts"][t], t in row["errors"]) for t in summary]
        rows.append([f"`{row['sample']}`", row["technique"], expected, *cells])
    out.append(harness.table(["Sample", "Technique", "Expected", *(names[t] for t in summary)], rows))
    out.append("\n## Wrong verdicts and errors, with the tools' own words\n\n")
    for tool in summary:
        wrong = [
            row
            for row in document["samples"]
            if (row["verdicts"][tool] == MALICIOUS) != bool(row["expected"]) or tool in row["errors"]
        ]
        wrong = [row for row in wrong if row["verdicts"][tool] != NOT_RUN]
        out.append(f"### {names[tool]} ({len(wrong)})\n\n")
        for row in wrong:
            reasons = "; ".join(row["reasons"][tool]) or "no finding"
            out.append(f"- `{row['sample']}` ({row['verdicts'][tool]}): {reasons}\n")
        unattributed = document["tools"][tool]["unattributed"]
        if unattributed:
            out.append(f"- not attributable to a sample: {'; '.join(unattributed[:5])}\n")
        out.append("\n")
    return "".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
