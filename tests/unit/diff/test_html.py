"""The HTML report: one well-formed file, every model-provided string escaped."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from mlvet.diff import diff
from mlvet.diff.html import plot_svg, render_html
from tests.unit.diff.builders import hf_directory, save_safetensors

VOID = {"meta", "br", "line", "rect", "img", "hr", "input", "link"}


class _Checker(HTMLParser):
    """Balanced tags, no script, no element or attribute smuggled in by a model string."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if any(name.startswith("on") for name, _ in attrs):
            self.errors.append(f"event handler on <{tag}>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check(document: str) -> _Checker:
    checker = _Checker()
    checker.feed(document)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert "script" not in checker.tags
    return checker


def test_report_is_well_formed_and_escapes_hostile_names(tmp_path: Path) -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    rng = np.random.default_rng(0)
    before = {f"layer{i}": rng.standard_normal(64).astype(np.float32) for i in range(6)}
    before[hostile] = np.ones(4, np.float32)
    after = {k: v * (1.5 if k == "layer3" else 1.0001) for k, v in before.items()}
    after[hostile] = np.full(4, 1.0001, np.float32)
    report = diff(
        save_safetensors(tmp_path / "a.safetensors", dict(before)),
        save_safetensors(tmp_path / "b.safetensors", dict(after)),
    )
    document = render_html(report)
    checker = _check(document)
    assert "img" not in checker.tags
    assert hostile in "".join(checker.text)  # shown as text, intact
    assert "<svg" in document and 'fill="#d1242f"' in document  # layer3 is a highlighted outlier


def test_report_of_directories_shows_template_diff(tmp_path: Path) -> None:
    report = diff(hf_directory(tmp_path / "a", candidate=False), hf_directory(tmp_path / "b", candidate=True))
    document = render_html(report)
    checker = _check(document)
    text = "".join(checker.text)
    assert "cycler.__init__.__globals__" in text
    assert "Chat templates" in text and "special token" in text


def test_plot_buckets_large_models() -> None:
    tensors = [{"name": f"t{i}", "rel_l2": 1e-4 * (i % 7), "outlier": i == 4321} for i in range(10_000)]
    svg = plot_svg(tensors, 1e-3)
    assert svg.count("<rect") <= 1500
    assert 'fill="#d1242f"' in svg
