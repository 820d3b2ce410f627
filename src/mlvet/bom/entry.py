"""A model as the BOM describes it: its files, what they say about it, its lineage, its signature."""

from __future__ import annotations

from dataclasses import dataclass

from mlvet.bom.facts import ModelFacts
from mlvet.bom.inventory import ModelArtifact
from mlvet.bom.lineage import Dataset, Lineage


@dataclass(frozen=True)
class ModelEntry:
    """A model with everything the BOM says about it."""

    artifact: ModelArtifact
    facts: ModelFacts
    root_digest: str
    lineage: Lineage
    signature: str | None
    """Path of the model's OMS signature bundle when one lies beside it."""

    @property
    def datasets(self) -> list[Dataset]:
        """Datasets the attestations name, then those the model card names."""
        attested = {d.uri for d in self.lineage.datasets}
        named = [Dataset(uri=name, sha256=None) for name in self.facts.datasets if name not in attested]
        return self.lineage.datasets + named

    @property
    def ref(self) -> str:
        return f"model:{self.artifact.name}@sha256:{self.root_digest[:16]}"
