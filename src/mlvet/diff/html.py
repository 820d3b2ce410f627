"""A self-contained HTML report of a diff: one file, inline CSS and SVG, no scripts.

Every string that comes from a model (tensor and node names, template text, JSON values, paths) is
escaped with ``html.escape``; the page has no JavaScript and loads nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from mlvet.findings import Report, Severity

PLOT_WIDTH = 900
PLOT_HEIGHT = 240
MAX_BARS = 1500
"""Tensors beyond this are bucketed (each bar shows the largest change of its bucket)."""
MAX_TENSOR_ROWS = 200
FLOOR = 1e-9
"""Relative L2 values below this (unchanged tensors) sit on the plot's floor."""

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1d2330;max-width:1100px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #dde}
table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{border:1px solid #dde;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f4f8}code,pre{font-family:ui-monospace,monospace;font-size:.8rem}
pre{background:#f6f7f9;padding:.6rem;overflow-x:auto}.sev-critical,.sev-high{color:#b00020;font-weight:600}
.sev-medium{color:#9a6700}.sev-low{color:#0b6b8a}.sev-info{color:#666}.meta{color:#555}
.add{color:#116329}.del{color:#b00020}.outlier{background:#fff0f0}
svg{background:#fbfbfd;border:1px solid #dde}
"""


def _e(value: Any) -> str:
    """Escaped text of any value (every model-provided string goes through here)."""
    return escape(value if isinstance(value, str) else str(value))


def render_html(report: Report) -> str:
    """The report as one HTML document."""
    details: Mapping[str, Any] = report.details
    known = details.get("known_good", {})
    candidate = details.get("candidate", {})
    csp = "default-src 'none'; style-src 'unsafe-inline'"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        f"<title>mlvet diff: {_e(candidate.get('path', ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>mlvet diff</h1>",
        f'<p class="meta">known-good <code>{_e(known.get("path", ""))}</code> ({_e(known.get("kind", ""))})',
        f"<br>candidate <code>{_e(candidate.get('path', ''))}</code> ({_e(candidate.get('kind', ''))})",
        f"<br>mlvet {_e(report.tool_version)}, {_e(report.finished.isoformat(timespec='seconds'))}</p>",
        _verdict(report),
        _findings(report),
        _problems(report),
        _plot_section(details),
        _tensor_table(details),
        _topology(details),
        _documents(details),
        _templates(details),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _verdict(report: Report) -> str:
    counts = dict.fromkeys(Severity, 0)
    for finding in report.findings:
        counts[finding.severity] += 1
    shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), reverse=True) if n) or "no findings"
    return f"<p><strong>{len(report.findings)} finding(s)</strong>: {escape(shown)}</p>"


def _findings(report: Report) -> str:
    if not report.findings:
        return ""
    rows = [
        "<tr>"
        f'<td class="sev-{finding.severity}">{escape(str(finding.severity).upper())}</td>'
        f"<td>{escape(finding.rule.id)}</td><td>{escape(finding.rule.title)}</td>"
        f"<td>{_e(finding.message)}<br>"
        f'<span class="meta">{_e(finding.location.describe())}</span></td>'
        "</tr>"
        for finding in sorted(report.findings, key=lambda f: -f.severity)
    ]
    return (
        "<h2>Findings</h2><table><tr><th>Severity</th><th>Rule</th><th>Title</th><th>Detail</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _problems(report: Report) -> str:
    if not report.problems:
        return ""
    items = "".join(f"<li>{escape(p.message)}</li>" for p in report.problems)
    return f"<h2>Not compared</h2><ul>{items}</ul>"


def _number(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def _plot_section(details: Mapping[str, Any]) -> str:
    tensors: Sequence[Mapping[str, Any]] = details.get("tensors", [])
    compared = [t for t in tensors if t.get("status") in ("changed", "unchanged")]
    if not compared:
        return ""
    tolerance = _number(details.get("tolerance", {}).get("rel_l2", 0.0))
    return (
        "<h2>Change per tensor (layer order)</h2>"
        '<p class="meta">Relative L2 change of each tensor, in the order the candidate stores them; '
        "log scale. Red: outliers (far above the other changed tensors). Dashed line: the tolerance.</p>"
        + plot_svg(compared, tolerance)
    )


def plot_svg(tensors: Sequence[Mapping[str, Any]], tolerance: float) -> str:
    """Inline SVG bar chart of relative L2 per tensor (log scale), outliers highlighted."""
    values = [(str(t.get("name", "")), _number(t.get("rel_l2")), bool(t.get("outlier"))) for t in tensors]
    buckets = _bucket(values)
    finite = [v for _, v, _ in buckets if math.isfinite(v) and v > FLOOR]
    top = max([*finite, tolerance if tolerance > FLOOR else FLOOR * 10, FLOOR * 10])
    low, high = math.log10(FLOOR), math.log10(top) + 0.2
    margin_left, margin_bottom = 56, 20
    inner_w, inner_h = PLOT_WIDTH - margin_left - 8, PLOT_HEIGHT - margin_bottom - 8

    def y_of(value: float) -> float:
        clipped = min(max(value if math.isfinite(value) else top, FLOOR), 10**high)
        return 8 + inner_h * (1 - (math.log10(clipped) - low) / (high - low))

    width = inner_w / max(1, len(buckets))
    shapes: list[str] = []
    for index, (name, value, outlier) in enumerate(buckets):
        y = y_of(value)
        colour = "#d1242f" if outlier or not math.isfinite(value) else "#3b6fb6"
        shapes.append(
            f'<rect x="{margin_left + index * width:.2f}" y="{y:.2f}" width="{max(width - 0.5, 0.6):.2f}" '
            f'height="{8 + inner_h - y:.2f}" fill="{colour}">'
            f"<title>{_e(name)}: {_e(_fmt(value))}</title></rect>"
        )
    ticks = []
    for exponent in range(math.ceil(low), math.floor(high) + 1, 2):
        y = y_of(10.0**exponent)
        ticks.append(
            f'<line x1="{margin_left}" x2="{PLOT_WIDTH - 8}" y1="{y:.2f}" y2="{y:.2f}" stroke="#e4e6ee"/>'
            f'<text x="{margin_left - 4}" y="{y + 3:.2f}" font-size="10" text-anchor="end">'
            f"1e{exponent}</text>"
        )
    if tolerance > FLOOR:
        y = y_of(tolerance)
        ticks.append(
            f'<line x1="{margin_left}" x2="{PLOT_WIDTH - 8}" y1="{y:.2f}" y2="{y:.2f}" '
            'stroke="#9a6700" stroke-dasharray="4 3"/>'
        )
    label = f'<text x="{margin_left}" y="{PLOT_HEIGHT - 4}" font-size="10">{len(values)} tensors</text>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" '
        f'viewBox="0 0 {PLOT_WIDTH} {PLOT_HEIGHT}" role="img" aria-label="relative L2 change per tensor">'
        + "".join(ticks)
        + "".join(shapes)
        + label
        + "</svg>"
    )


def _bucket(values: list[tuple[str, float, bool]]) -> list[tuple[str, float, bool]]:
    if len(values) <= MAX_BARS:
        return values
    size = math.ceil(len(values) / MAX_BARS)
    buckets = []
    for start in range(0, len(values), size):
        group = values[start : start + size]
        worst = max(group, key=lambda item: item[1] if not math.isnan(item[1]) else -1.0)
        buckets.append(
            (f"{group[0][0]} .. {group[-1][0]} (max {worst[0]})", worst[1], any(g[2] for g in group))
        )
    return buckets


def _fmt(value: Any) -> str:
    number = _number(value)
    if math.isnan(number):
        return str(value)
    return f"{number:.4g}"


def _tensor_table(details: Mapping[str, Any]) -> str:
    tensors: Sequence[Mapping[str, Any]] = details.get("tensors", [])
    interesting = [t for t in tensors if t.get("status") != "unchanged"]
    if not interesting:
        return f"<h2>Tensors</h2><p>All {len(tensors)} tensors are identical.</p>" if tensors else ""
    interesting = sorted(
        interesting, key=lambda t: -_number(t.get("rel_l2")) if t.get("status") == "changed" else -math.inf
    )
    rows = []
    for tensor in interesting[:MAX_TENSOR_ROWS]:
        dtype = " → ".join(str(d) for d in tensor.get("dtype", []) if d is not None)
        shape = " → ".join(str(s) for s in tensor.get("shape", []) if s is not None)
        rows.append(
            f'<tr class="{"outlier" if tensor.get("outlier") else ""}">'
            f"<td><code>{_e(tensor.get('name'))}</code></td>"
            f"<td>{escape(str(tensor.get('status')))}</td><td>{escape(dtype)}</td><td>{escape(shape)}</td>"
            f"<td>{escape(_fmt(tensor.get('max_abs_delta')))}</td><td>{escape(_fmt(tensor.get('rel_l2')))}</td>"
            f"<td>{escape(_fmt(tensor.get('changed_fraction')))}</td></tr>"
        )
    more = len(interesting) - MAX_TENSOR_ROWS
    return (
        f"<h2>Tensors ({len(interesting)} of {len(tensors)} differ)</h2>"
        "<table><tr><th>Name</th><th>Status</th>"
        "<th>dtype</th><th>shape</th><th>max |Δ|</th><th>rel. L2</th><th>fraction changed</th></tr>"
        + "".join(rows)
        + "</table>"
        + (f'<p class="meta">{more} more in the JSON report.</p>' if more > 0 else "")
    )


def _node_list(nodes: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(
        f"<code>{escape(str(n.get('name')))}</code> ({escape(str(n.get('op_type')))})" for n in nodes[:60]
    )


def _topology(details: Mapping[str, Any]) -> str:
    sections = []
    for member, topo in details.get("topology", {}).items():
        items = [
            f"<li>{_e(topo.get('matched'))} of {_e(topo.get('known_good_nodes'))} known-good nodes matched "
            "by structure "
            f"(candidate has {topo.get('candidate_nodes')})</li>"
        ]
        items.extend(
            f'<li class="sev-high">new {_e(gate.get("kind"))} gate at '
            f"<code>{_e(gate.get('join_node'))}</code>: "
            f"<code>{_e(gate.get('predicate'))}</code></li>"
            for gate in topo.get("new_gates", [])
        )
        if topo.get("added"):
            items.append(f'<li class="add">added: {_node_list(topo["added"])}</li>')
        if topo.get("removed"):
            items.append(f'<li class="del">removed: {_node_list(topo["removed"])}</li>')
        for rewiring in topo.get("rewired", [])[:60]:
            node = rewiring.get("node", {})
            items.append(
                f"<li>rewired <code>{_e(node.get('name'))}</code> input {_e(rewiring.get('slot'))}: "
                f"{escape(str(rewiring.get('before')))} → {escape(str(rewiring.get('after')))}</li>"
            )
        for output in topo.get("outputs", []):
            after = output.get("after") or {}
            items.append(
                f"<li>output <code>{escape(str(output.get('name')))}</code> now produced by "
                f"<code>{escape(str(after.get('name')))}</code></li>"
            )
        sections.append(f"<h3><code>{escape(str(member))}</code></h3><ul>{''.join(items)}</ul>")
    return "<h2>Graph topology</h2>" + "".join(sections) if sections else ""


def _change_row(document: str, change: Mapping[str, Any], css: str = "") -> str:
    return (
        f'<tr class="{css}"><td>{_e(document)}</td><td><code>{_e(change.get("pointer"))}</code></td>'
        f"<td>{_e(change.get('change'))}</td><td><code>{_e(repr(change.get('before')))}</code></td>"
        f"<td><code>{_e(repr(change.get('after')))}</code></td></tr>"
    )


def _documents(details: Mapping[str, Any]) -> str:
    rows = [
        _change_row(role, change)
        for role, changes in details.get("documents", {}).items()
        for change in changes[:200]
    ]
    rows.extend(
        _change_row(f"{change.get('document')} (special token)", change, "outlier")
        for change in details.get("special_tokens", [])
    )
    if not rows:
        return ""
    return (
        "<h2>Configuration and tokenizer</h2><table><tr><th>Document</th><th>Pointer</th><th>Change</th>"
        "<th>Known-good</th><th>Candidate</th></tr>" + "".join(rows) + "</table>"
    )


def _templates(details: Mapping[str, Any]) -> str:
    blocks = []
    for template in details.get("chat_templates", []):
        lines = []
        for line in template.get("diff", []):
            text = escape(str(line))
            css = (
                "add"
                if line.startswith("+") and not line.startswith("+++")
                else ("del" if line.startswith("-") and not line.startswith("---") else "")
            )
            lines.append(f'<span class="{css}">{text}</span>' if css else text)
        constructs = template.get("new_constructs", [])
        warning = (
            '<p class="sev-high">gains code-like constructs: '
            + escape("; ".join(map(str, constructs)))
            + "</p>"
            if constructs
            else ""
        )
        blocks.append(
            f"<h3>{escape(str(template.get('name')))} ({escape(str(template.get('status')))})</h3>{warning}"
            f"<pre>{chr(10).join(lines)}</pre>"
        )
    return "<h2>Chat templates</h2>" + "".join(blocks) if blocks else ""
