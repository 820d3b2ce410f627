"""The JSON Lines bundle and the statement reader: what they accept and what they refuse, and why."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mlvet.errors import InputError
from mlvet.provenance.lineage.bundle import append_envelopes, default_bundle, parse_bundle, read_lines
from mlvet.provenance.lineage.statement import (
    Artifact,
    CodeCommit,
    Dataset,
    Framework,
    StageRecord,
    StatementError,
    build_statement,
    parse_statement,
)

RECORD = StageRecord(
    stage="quantize",
    output=Artifact("model.int8.onnx", "b" * 64),
    inputs=(Artifact("model", "a" * 64, "oms-root"),),
    parameters={"bits": 8},
    datasets=(Dataset("s3://calib", "c" * 64), Dataset("hf://datasets/x")),
    code=CodeCommit("d" * 40, "https://example.org/repo.git"),
    frameworks=(Framework("onnxruntime", "1.22.0", "e" * 64),),
    signers=("f" * 64,),
)


def test_default_bundle_sits_beside_the_artifact(tmp_path: Path) -> None:
    assert default_bundle(tmp_path / "model.onnx") == tmp_path / "model.onnx.intoto.jsonl"
    assert default_bundle(tmp_path / "model") == tmp_path / "model.intoto.jsonl"


def test_statement_round_trip() -> None:
    statement = build_statement(RECORD)
    parsed = parse_statement(statement)
    assert parsed.stage == "quantize"
    assert parsed.output == RECORD.output
    assert parsed.inputs == RECORD.inputs
    assert parsed.datasets == RECORD.datasets
    assert parsed.code == RECORD.code
    assert parsed.frameworks == RECORD.frameworks
    assert parsed.parameters == {"bits": 8}
    assert statement["predicate"]["runDetails"]["builder"]["id"].endswith("#keyid:" + "f" * 64)


def _broken(path: list[str | int], value: Any) -> dict[str, Any]:
    statement = copy.deepcopy(build_statement(RECORD))
    target: Any = statement
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return statement


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (_broken(["_type"], "https://in-toto.io/Statement/v0.1"), "_type is"),
        (_broken(["subject"], []), "exactly one subject"),
        (
            _broken(["subject", 0, "digest", "sha256"], "XYZ"),
            r"subject\[0\]\.digest\.sha256 is not 64 lowercase hex",
        ),
        (_broken(["predicate", "buildDefinition", "externalParameters", "stage"], ""), "stage is missing"),
        (
            _broken(["predicate", "buildDefinition", "resolvedDependencies"], {}),
            "resolvedDependencies is not a list",
        ),
        (_broken(["predicate", "runDetails", "builder"], "me"), r"runDetails\.builder is not a JSON object"),
        ([], "the statement is not a JSON object"),
    ],
)
def test_malformed_statements_name_the_field(statement: object, message: str) -> None:
    with pytest.raises(StatementError, match=message):
        parse_statement(statement)


def test_bundle_lines_that_are_not_envelopes_keep_their_reason(tmp_path: Path) -> None:
    bundle = tmp_path / "m.intoto.jsonl"
    bundle.write_text('{"payloadType": "x"}\n\n[1, 2]\n{"trunc\n', encoding="utf-8")
    lines = parse_bundle(bundle)
    assert [(line.number, line.error) for line in lines] == [
        (1, None),
        (3, "not a JSON object"),
        (4, "not valid JSON: Unterminated string starting at (column 2)"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no attestation bundle"), (b"\xff\xfe\x00", "not UTF-8 text"), ("dir", "a directory")],
)
def test_unreadable_bundles_are_input_errors(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    bundle = tmp_path / "m.intoto.jsonl"
    if content == "dir":
        bundle.mkdir()
    elif isinstance(content, bytes):
        bundle.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_lines(bundle)


def test_append_keeps_existing_lines_and_adds_missing_inherited_ones(tmp_path: Path) -> None:
    bundle = tmp_path / "m.intoto.jsonl"
    append_envelopes(bundle, ['{"a":1}'], [{"b": 2}])
    append_envelopes(bundle, ['{"a":1}', '{"c":3}'], [{"d": 4}])
    assert read_lines(bundle) == ['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}']
    assert [p.name for p in tmp_path.iterdir()] == ["m.intoto.jsonl"]  # no temporary file left behind
