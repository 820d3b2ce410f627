"""What the stage attestations beside a model say about its datasets and ancestors.

The BOM lists lineage; it does not judge it (``mlvet lineage verify`` checks the signatures and the
policy). Statements are read from the DSSE envelopes' payloads without trusting them for anything
but this listing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlvet.bom.inventory import ModelArtifact

if TYPE_CHECKING:
    from mlvet.provenance.lineage.statement import StageRecord


@dataclass(frozen=True)
class Dataset:
    """A dataset named by a stage attestation (or by the model card)."""

    uri: str
    sha256: str | None


@dataclass(frozen=True)
class Ancestor:
    """A model a stage turned into this one (or into one of its ancestors)."""

    name: str
    sha256: str
    stage: str


@dataclass(frozen=True)
class Lineage:
    """The attested history of one model."""

    datasets: list[Dataset] = field(default_factory=list)
    ancestors: list[Ancestor] = field(default_factory=list)
    bundles: list[str] = field(default_factory=list)


def read_lineage(model: ModelArtifact, root_digest: str) -> Lineage:
    """The datasets and ancestors the bundle beside ``model`` records, walking back from ``root_digest``."""
    from mlvet.provenance.lineage.bundle import default_bundle

    bundle = default_bundle(model.root)
    if not bundle.is_file():
        return Lineage()
    by_output = {record.output.sha256: record for record in _records(bundle)}
    lineage = Lineage(bundles=[str(bundle)])
    seen: set[str] = set()
    digest = root_digest
    while digest in by_output and digest not in seen:
        seen.add(digest)
        record = by_output[digest]
        for dataset in record.datasets:
            if Dataset(dataset.uri, dataset.sha256) not in lineage.datasets:
                lineage.datasets.append(Dataset(dataset.uri, dataset.sha256))
        lineage.ancestors.extend(
            Ancestor(parent.name, parent.sha256, record.stage) for parent in record.inputs
        )
        digest = record.inputs[0].sha256 if record.inputs else ""
    return lineage


def _records(bundle: Path) -> list[StageRecord]:
    """Every readable stage statement in ``bundle``; unreadable lines are lineage verify's to report."""
    from mlvet.errors import InputError
    from mlvet.provenance.dsse import envelope_parts
    from mlvet.provenance.lineage.bundle import parse_bundle
    from mlvet.provenance.lineage.statement import StatementError, parse_statement

    records = []
    try:
        lines = parse_bundle(bundle)
    except InputError:
        return []
    for line in lines:
        if line.envelope is None:
            continue
        try:
            _, payload, _ = envelope_parts(line.envelope)
            records.append(parse_statement(json.loads(payload)))
        except (InputError, StatementError, ValueError):
            continue
    return records
