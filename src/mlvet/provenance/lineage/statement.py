"""SLSA provenance v1 statements for one pipeline stage: build them, and read them back strictly.

A stage statement is an in-toto Statement v1 whose one ``subject`` is the stage's output model and
whose ``resolvedDependencies`` are its inputs, each tagged with its role in the ``mlvet.role``
annotation: ``model`` (an input model; the chain is walked through these), ``dataset``, ``code``
(a git commit) or ``framework`` (an installed distribution that did the work).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from mlvet import __version__

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE: Final = "https://slsa.dev/provenance/v1"
BUILD_TYPE: Final = "https://mlvet.dev/attest/stage/v1"
BUILDER_ID: Final = "https://mlvet.dev/attest/v1"
ROLE: Final = "mlvet.role"
"""Annotation naming what a resolved dependency is to the stage."""
DIGEST_KIND: Final = "mlvet.digest"
"""Annotation saying how the sha256 was taken: ``file`` (the bytes) or ``oms-root`` (a directory)."""

MODEL, DATASET, CODE, FRAMEWORK = "model", "dataset", "code", "framework"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class StatementError(ValueError):
    """A payload that is not an mlvet stage statement; the message says which field is wrong."""


@dataclass(frozen=True)
class Artifact:
    """A model (or dataset) by name and SHA-256; ``kind`` is ``file`` or ``oms-root``."""

    name: str
    sha256: str
    kind: str = "file"

    def descriptor(self, role: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": {"sha256": self.sha256},
            "annotations": {ROLE: role, DIGEST_KIND: self.kind},
        }


@dataclass(frozen=True)
class Dataset:
    """A dataset by URI, with its SHA-256 when known."""

    uri: str
    sha256: str | None = None

    def descriptor(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"uri": self.uri, "annotations": {ROLE: DATASET}}
        if self.sha256:
            entry["digest"] = {"sha256": self.sha256}
        return entry


@dataclass(frozen=True)
class CodeCommit:
    """The source revision the stage ran from."""

    commit: str
    uri: str | None = None

    def descriptor(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"digest": {"gitCommit": self.commit}, "annotations": {ROLE: CODE}}
        entry["uri"] = self.uri or "git"
        return entry


@dataclass(frozen=True)
class Framework:
    """An installed distribution: version, and the SHA-256 of its installed RECORD file."""

    name: str
    version: str
    record_sha256: str | None

    def descriptor(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "uri": f"pkg:pypi/{self.name.lower()}@{quote(self.version, safe='')}",
            "annotations": {ROLE: FRAMEWORK, "version": self.version},
        }
        if self.record_sha256:
            entry["digest"] = {"sha256": self.record_sha256}
            entry["annotations"][DIGEST_KIND] = "installed-record"
        return entry


@dataclass(frozen=True)
class StageRecord:
    """Everything one stage statement says."""

    stage: str
    output: Artifact
    inputs: tuple[Artifact, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    datasets: tuple[Dataset, ...] = ()
    code: CodeCommit | None = None
    frameworks: tuple[Framework, ...] = ()
    signers: tuple[str, ...] = ()
    """Keyids of the keys that sign it (recorded in ``builder.id``; verification never trusts it)."""
    started: datetime | None = None
    finished: datetime | None = None
    invocation: str | None = None


def build_statement(record: StageRecord) -> dict[str, Any]:
    """The in-toto Statement v1 (SLSA provenance v1 predicate) of ``record``, JSON-ready."""
    dependencies = [a.descriptor(MODEL) for a in record.inputs]
    dependencies += [d.descriptor() for d in record.datasets]
    if record.code is not None:
        dependencies.append(record.code.descriptor())
    dependencies += [f.descriptor() for f in record.frameworks]
    metadata: dict[str, str] = {}
    if record.invocation:
        metadata["invocationId"] = record.invocation
    if record.started:
        metadata["startedOn"] = _timestamp(record.started)
    if record.finished:
        metadata["finishedOn"] = _timestamp(record.finished)
    builder_id = BUILDER_ID + (
        "#" + ",".join(_signer_ref(k) for k in record.signers) if record.signers else ""
    )
    run_details: dict[str, Any] = {"builder": {"id": builder_id, "version": {"mlvet": __version__}}}
    if metadata:
        run_details["metadata"] = metadata
    return {
        "_type": STATEMENT_TYPE,
        "subject": [record.output.descriptor(MODEL) | {"annotations": {DIGEST_KIND: record.output.kind}}],
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"stage": record.stage, "parameters": dict(record.parameters)},
                "resolvedDependencies": dependencies,
            },
            "runDetails": run_details,
        },
    }


def parse_statement(document: object) -> StageRecord:
    """The stage record of a statement built by ``build_statement``; StatementError names the flaw."""
    statement = _object(document, "the statement")
    if statement.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"_type is {statement.get('_type')!r}, not {STATEMENT_TYPE!r}")
    if statement.get("predicateType") != SLSA_PROVENANCE:
        raise StatementError(f"predicateType is {statement.get('predicateType')!r}, not {SLSA_PROVENANCE!r}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise StatementError("a stage statement has exactly one subject (the stage's output)")
    output = _artifact(subjects[0], "subject[0]")
    predicate = _object(statement.get("predicate"), "predicate")
    definition = _object(predicate.get("buildDefinition"), "predicate.buildDefinition")
    if definition.get("buildType") != BUILD_TYPE:
        raise StatementError(f"buildType is {definition.get('buildType')!r}, not {BUILD_TYPE!r}")
    external = _object(definition.get("externalParameters"), "buildDefinition.externalParameters")
    stage = external.get("stage")
    if not isinstance(stage, str) or not stage:
        raise StatementError("externalParameters.stage is missing or not a string")
    parameters = _object(external.get("parameters", {}), "externalParameters.parameters")
    raw = definition.get("resolvedDependencies", [])
    if not isinstance(raw, list):
        raise StatementError("resolvedDependencies is not a list")
    inputs: list[Artifact] = []
    datasets: list[Dataset] = []
    frameworks: list[Framework] = []
    code = None
    for index, item in enumerate(raw):
        where = f"resolvedDependencies[{index}]"
        entry = _object(item, where)
        annotations = _object(entry.get("annotations", {}), f"{where}.annotations")
        role = annotations.get(ROLE)
        digest = _object(entry.get("digest", {}), f"{where}.digest")
        if role == MODEL:
            inputs.append(_artifact(entry, where))
        elif role == DATASET:
            datasets.append(Dataset(str(entry.get("uri", "")), _optional_hex(digest.get("sha256"), where)))
        elif role == CODE:
            code = CodeCommit(str(digest.get("gitCommit", "")), _optional_str(entry.get("uri")))
        elif role == FRAMEWORK:
            frameworks.append(
                Framework(
                    str(entry.get("name", "")),
                    str(annotations.get("version", "")),
                    _optional_hex(digest.get("sha256"), where),
                )
            )
    run_details = _object(predicate.get("runDetails"), "predicate.runDetails")
    builder = _object(run_details.get("builder"), "runDetails.builder")
    if not isinstance(builder.get("id"), str):
        raise StatementError("runDetails.builder.id is missing")
    metadata = _object(run_details.get("metadata", {}), "runDetails.metadata")
    return StageRecord(
        stage=stage,
        output=output,
        inputs=tuple(inputs),
        parameters=parameters,
        datasets=tuple(datasets),
        code=code,
        frameworks=tuple(frameworks),
        invocation=_optional_str(metadata.get("invocationId")),
    )


def _artifact(value: object, where: str) -> Artifact:
    entry = _object(value, where)
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise StatementError(f"{where}.name is missing")
    digest = _object(entry.get("digest"), f"{where}.digest")
    sha256 = digest.get("sha256")
    if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
        raise StatementError(f"{where}.digest.sha256 is not 64 lowercase hex digits")
    annotations = _object(entry.get("annotations", {}), f"{where}.annotations")
    kind = annotations.get(DIGEST_KIND, "file")
    return Artifact(name, sha256, kind if isinstance(kind, str) else "file")


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StatementError(f"{where} is not a JSON object")
    return value


def _optional_hex(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise StatementError(f"{where}.digest.sha256 is not 64 lowercase hex digits")
    return value


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def short(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits, for messages."""
    return f"sha256:{digest[:12]}"


def _signer_ref(signer: str) -> str:
    return signer if signer == "sigstore" else f"keyid:{signer}"
