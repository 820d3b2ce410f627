"""The table-driven corpus test: every malicious sample caught with its rule, every benign one clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvet.catalogue import all_rules
from mlvet.findings import Report, Severity
from mlvet.scan import scan
from tests.corpus.registry import ALL_SAMPLES, MIN_BENIGN, MIN_MALICIOUS
from tests.corpus.sample import Sample

_BY_NAME = {sample.name: sample for sample in ALL_SAMPLES}


def _describe(report: Report) -> str:
    lines = [f"{f.rule.id} {f.severity} {f.subject.display}: {f.message}" for f in report.findings]
    lines += [f"PROBLEM {p.kind.value} {p.subject.display}: {p.message}" for p in report.problems]
    return "\n".join(lines) or "(nothing reported)"


def test_corpus_is_large_enough_and_names_are_unique() -> None:
    assert len(_BY_NAME) == len(ALL_SAMPLES)
    assert sum(s.malicious for s in ALL_SAMPLES) >= MIN_MALICIOUS
    assert sum(not s.malicious for s in ALL_SAMPLES) >= MIN_BENIGN


def test_every_expected_rule_exists() -> None:
    known = all_rules()
    for sample in ALL_SAMPLES:
        assert sample.expected <= known.keys(), f"{sample.name} expects unknown rules"


@pytest.mark.parametrize("name", [s.name for s in ALL_SAMPLES if s.malicious])
def test_malicious_sample_is_caught(corpus_root: Path, name: str) -> None:
    sample: Sample = _BY_NAME[name]
    report = scan([corpus_root / name])
    serious = {f.rule.id for f in report.findings if f.severity >= Severity.HIGH}
    missing = sample.expected - serious
    assert not missing, f"{name} ({sample.technique}): missing {sorted(missing)}\n{_describe(report)}"


@pytest.mark.parametrize("name", [s.name for s in ALL_SAMPLES if not s.malicious])
def test_benign_sample_stays_clean(corpus_root: Path, name: str) -> None:
    report = scan([corpus_root / name])
    serious = [f for f in report.findings if f.severity >= Severity.HIGH]
    assert not serious and not report.problems, f"{name}: false positive\n{_describe(report)}"
