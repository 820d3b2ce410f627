from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvet.env.audit.advisories import parse_advisory
from mlvet.env.audit.cvss import base_score
from mlvet.env.audit.database import AdvisoryDatabase, load_database
from mlvet.findings import Severity


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
        ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H", 5.5),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ],
)
def test_cvss3_base_scores_match_the_specification(vector: str, score: float) -> None:
    assert base_score(vector) == score


@pytest.mark.parametrize(
    "vector", ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N", "CVSS:3.1/AV:X/AC:L", "not a vector"]
)
def test_other_vectors_have_no_score(vector: str) -> None:
    assert base_score(vector) is None


def test_an_osv_record_without_a_named_severity_takes_its_cvss_score() -> None:
    record = {
        "id": "PYSEC-2099-7",
        "modified": "2026-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1.0"]}],
    }
    assert parse_advisory(record, "t").severity is Severity.CRITICAL
    assert parse_advisory({**record, "severity": []}, "t").severity is Severity.MEDIUM


def test_withdrawn_records_are_dropped(tmp_path: Path) -> None:
    record = {
        "id": "GHSA-wwww-wwww-wwww",
        "modified": "2026-01-01T00:00:00Z",
        "withdrawn": "2026-02-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1.0"]}],
    }
    (tmp_path / "w.json").write_text(json.dumps([record]))
    database: AdvisoryDatabase = load_database([str(tmp_path / "w.json")], use_user_db=False)
    assert database.matches("x", "1.0") == []
