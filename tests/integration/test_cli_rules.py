"""``mlvet rules``: the catalogue, and docs/rules.md kept current from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvet.catalogue import all_rules
from mlvet.cli import main

DOCS = Path(__file__).parents[2] / "docs" / "rules.md"


def test_docs_rules_md_is_generated_from_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--format", "markdown"]) == 0
    assert DOCS.read_text() == capsys.readouterr().out, (
        "regenerate: mlvet rules --format markdown > docs/rules.md"
    )


def test_rules_json_lists_every_rule_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "-f", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    in_order = sorted(all_rules().values(), key=lambda rule: rule.order)
    assert [e["id"] for e in entries] == [rule.id for rule in in_order]


def test_rule_ids_are_well_formed_and_described() -> None:
    for rule_id, rule in all_rules().items():
        assert rule_id.startswith("MLV") and len(rule_id) in (6, 7) and rule_id[3:].isdigit()
        assert rule.title and len(rule.description) > 40, rule_id
