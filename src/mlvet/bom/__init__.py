"""``mlvet bom``: what a deployment is made of, as a CycloneDX 1.6/1.7 ML-BOM or an SPDX 3.0.1 document.

``build_bom(paths)`` lists one ``machine-learning-model`` component per model (each file's SHA-256, the
OMS root digest, a ``modelCard`` read from the files and Hugging Face metadata), the datasets and
ancestors its stage attestations name, the installed frameworks as ``library`` components (``environment``),
and mlvet's scan findings as ``vulnerabilities``. Needs ``mlvet[bom]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlvet import __version__
from mlvet.bom.cyclonedx import SPEC_VERSIONS, assemble
from mlvet.bom.entry import ModelEntry
from mlvet.bom.environment import Library, installed_libraries
from mlvet.bom.facts import read_facts
from mlvet.bom.inventory import ModelArtifact, find_models
from mlvet.bom.lineage import read_lineage
from mlvet.config import Settings
from mlvet.errors import ConfigError
from mlvet.findings import Report, Subject

__all__ = ["SPEC_VERSIONS", "BomResult", "build_bom"]


@dataclass(frozen=True)
class BomResult:
    """The BOM document and the scan report its vulnerabilities came from."""

    document: dict[str, Any]
    report: Report


def build_bom(
    paths: Sequence[Path],
    *,
    spec: str = "1.6",
    output_format: str = "cyclonedx",
    environment: bool = False,
    locked: Mapping[str, str] | None = None,
    lock_name: str | None = None,
    scan: bool = True,
    settings: Settings | None = None,
) -> BomResult:
    """The BOM of the models under ``paths`` (and of the environment when asked)."""
    if spec not in SPEC_VERSIONS:
        raise ConfigError(f"unknown CycloneDX version {spec!r}", hint="use --spec 1.6 or --spec 1.7")
    _require_extra()
    started = datetime.now(UTC)
    artifacts = find_models(paths)
    report = _scan(paths, settings) if scan else Report(__version__, started, datetime.now(UTC))
    libraries: list[Library] = installed_libraries(locked, lock_name) if environment else []
    models = [_entry(artifact) for artifact in artifacts]
    if output_format == "spdx":
        from mlvet.bom.spdx import assemble_spdx

        document = assemble_spdx(models, libraries)
    else:
        document = assemble(models, libraries, report.findings, spec)
    subjects = tuple(
        Subject(str(f.path), format=f.format.value, sha256=f.sha256, size=f.size)
        for a in artifacts
        for f in a.files
    )
    return BomResult(
        document, Report(__version__, started, datetime.now(UTC), subjects, report.findings, report.problems)
    )


def _entry(artifact: ModelArtifact) -> ModelEntry:
    from mlvet.provenance.manifest import model_digest

    digest = model_digest(artifact.root)
    lineage = read_lineage(artifact, digest)
    signature = _signature(artifact)
    return ModelEntry(artifact, read_facts(artifact), digest, lineage, signature)


def _signature(artifact: ModelArtifact) -> str | None:
    from mlvet.provenance import default_signature_path

    path = default_signature_path(artifact.root)
    return str(path) if path.is_file() else None


def _scan(paths: Sequence[Path], settings: Settings | None) -> Report:
    from mlvet.scan import scan

    return scan(paths, settings=settings)


def _require_extra() -> None:
    try:
        import cyclonedx  # noqa: F401
    except ImportError:
        raise ConfigError("mlvet bom needs cyclonedx-python-lib", hint="pip install 'mlvet[bom]'") from None
