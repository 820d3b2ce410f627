"""Realistic clean models (transformers, MoE, int8, detection, image masks) get no graph finding at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvet.findings import Severity
from mlvet.scan import scan
from tests.corpus.graph_clean_models import KNOWN_FALSE_POSITIVES, SAMPLES


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean_models")
    for sample in SAMPLES:
        target = root / sample.name
        target.parent.mkdir(parents=True, exist_ok=True)
        sample.build(target)
    return root


def test_known_false_positives_are_samples() -> None:
    assert KNOWN_FALSE_POSITIVES.keys() <= {sample.name for sample in SAMPLES}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(s.name, marks=pytest.mark.xfail(reason=KNOWN_FALSE_POSITIVES[s.name], strict=True))
        if s.name in KNOWN_FALSE_POSITIVES
        else s.name
        for s in SAMPLES
    ],
)
def test_clean_model_has_no_finding_at_low_or_above(built: Path, name: str) -> None:
    report = scan([built / name])
    assert report.problems == ()
    findings = [(f.rule.id, f.severity, f.message) for f in report.findings if f.severity >= Severity.LOW]
    assert findings == []
