"""Assemble a CycloneDX 1.6 / 1.7 ML-BOM with ``cyclonedx-python-lib``, then add what it cannot model.

The library has no ``modelCard`` and no component ``data`` yet (its issues #912/#913), so those are
added to the serialized JSON; the whole document is then validated against the official schema, and
an invalid BOM is an error, never written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mlvet import __version__
from mlvet.bom.entry import ModelEntry
from mlvet.bom.environment import Library, loaders_of
from mlvet.errors import MlvetError
from mlvet.findings import Finding

SPEC_VERSIONS = ("1.6", "1.7")


class InvalidBomError(MlvetError):
    """The assembled BOM does not validate against the CycloneDX schema (a bug in mlvet)."""


def assemble(
    models: Sequence[ModelEntry], libraries: Sequence[Library], findings: Sequence[Finding], spec: str
) -> dict[str, Any]:
    """The BOM as a validated JSON document."""
    from cyclonedx.model.bom import Bom

    bom = Bom()
    bom.metadata.tools.components.add(_tool_component())
    library_components = {lib.key: _library_component(lib) for lib in libraries}
    for component in library_components.values():
        bom.components.add(component)
    for model in models:
        component = _model_component(model)
        bom.components.add(component)
        loaders = loaders_of({f.format for f in model.artifact.weights}, libraries)
        bom.register_dependency(component, [library_components[lib.key] for lib in loaders])
    for index, finding in enumerate(findings, 1):
        owner = _owner(finding, models)
        if owner is not None:
            bom.vulnerabilities.add(_vulnerability(index, finding, owner.ref))
    document: dict[str, Any] = json.loads(_serializer(spec)(bom).output_as_string())
    _add_ml_fields(document, models)
    _validate(document, spec)
    return document


def _serializer(spec: str) -> Any:
    from cyclonedx.output.json import JsonV1Dot6, JsonV1Dot7

    return {"1.6": JsonV1Dot6, "1.7": JsonV1Dot7}[spec]


def _tool_component() -> Any:
    from cyclonedx.model.component import Component, ComponentType

    return Component(type=ComponentType.APPLICATION, name="mlvet", version=__version__)


def _library_component(lib: Library) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=lib.wheel_sha256)] if lib.wheel_sha256 else []
    properties = [Property(name="mlvet:record-sha256", value=lib.record_sha256)] if lib.record_sha256 else []
    if lib.hash_source:
        properties.append(Property(name="mlvet:wheel-hash-source", value=lib.hash_source))
    return Component(
        type=ComponentType.LIBRARY,
        name=lib.name,
        version=lib.version,
        purl=PackageURL("pypi", name=lib.key, version=lib.version),
        bom_ref=lib.purl,
        hashes=hashes,
        properties=properties,
    )


def _model_component(model: ModelEntry) -> Any:
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.component import Component, ComponentType, Pedigree

    files = [
        Component(
            type=ComponentType.FILE,
            name=entry.relative,
            bom_ref=f"{model.ref}/{entry.relative}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=entry.sha256)],
            properties=[
                Property(name="mlvet:format", value=entry.format.value),
                Property(name="mlvet:size", value=str(entry.size)),
            ],
        )
        for entry in model.artifact.files
    ]
    properties = [
        Property(name="mlvet:root-digest", value=f"sha256:{model.root_digest}"),
        Property(name="mlvet:layout", value=model.artifact.layout),
        *(Property(name=k, value=v) for k, v in sorted(model.facts.properties.items())),
    ]
    if model.facts.parameters is not None:
        properties.append(Property(name="mlvet:parameters", value=str(model.facts.parameters)))
    references = []
    if model.signature:
        references.append(
            ExternalReference(
                type=ExternalReferenceType.DIGITAL_SIGNATURE,
                url=XsUri(model.signature),
                comment="OpenSSF Model Signing bundle",
            )
        )
    references.extend(
        ExternalReference(
            type=ExternalReferenceType.ATTESTATION, url=XsUri(bundle), comment="stage attestations"
        )
        for bundle in model.lineage.bundles
    )
    ancestors = [
        Component(
            type=ComponentType.MACHINE_LEARNING_MODEL,
            name=ancestor.name,
            bom_ref=f"{model.ref}/ancestor/{ancestor.stage}/{ancestor.sha256[:16]}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=ancestor.sha256)],
            properties=[Property(name="mlvet:stage", value=ancestor.stage)],
        )
        for ancestor in model.lineage.ancestors
    ]
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=model.artifact.name,
        bom_ref=model.ref,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=model.root_digest)],
        components=files,
        properties=properties,
        external_references=references,
        pedigree=Pedigree(ancestors=ancestors) if ancestors else None,
    )


def _owner(finding: Finding, models: Sequence[ModelEntry]) -> ModelEntry | None:
    path = finding.subject.path
    for model in models:
        if any(str(entry.path) == path for entry in model.artifact.files):
            return model
    return None


def _vulnerability(index: int, finding: Finding, target: str) -> Any:
    from cyclonedx.model.vulnerability import (
        BomTarget,
        Vulnerability,
        VulnerabilityRating,
        VulnerabilityScoreSource,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )

    location = finding.location.describe()
    where = finding.subject.display + (f" @ {location}" if location else "")
    return Vulnerability(
        bom_ref=f"finding-{index}",
        id=finding.rule.id,
        source=VulnerabilitySource(name="mlvet"),
        ratings=[
            VulnerabilityRating(
                severity=VulnerabilitySeverity(str(finding.severity)),
                method=VulnerabilityScoreSource.OTHER,
            )
        ],
        description=f"{finding.rule.title}: {finding.message}",
        detail=f"{finding.rule.description} Found in {where}.",
        affects=[BomTarget(ref=target)],
    )


def _add_ml_fields(document: dict[str, Any], models: Sequence[ModelEntry]) -> None:
    """Add the model cards and the dataset components the library cannot express."""
    components: list[dict[str, Any]] = document.setdefault("components", [])
    by_ref = {c.get("bom-ref"): c for c in components}
    datasets: dict[str, dict[str, Any]] = {}
    for model in models:
        dataset_refs = []
        for dataset in model.datasets:
            ref = f"data:{dataset.uri}"
            dataset_refs.append({"ref": ref})
            datasets.setdefault(ref, _data_component(ref, dataset.uri, dataset.sha256))
        by_ref[model.ref]["modelCard"] = _model_card(model, dataset_refs)
    components.extend(datasets.values())
    dependencies = document.setdefault("dependencies", [])
    for model in models:
        refs = [f"data:{d.uri}" for d in model.datasets]
        for entry in dependencies:
            if entry.get("ref") == model.ref and refs:
                entry["dependsOn"] = sorted({*entry.get("dependsOn", []), *refs})


def _model_card(model: ModelEntry, dataset_refs: list[dict[str, str]]) -> dict[str, Any]:
    facts = model.facts
    parameters: dict[str, Any] = {}
    if facts.task:
        parameters["task"] = facts.task
    if facts.family:
        parameters["architectureFamily"] = facts.family
    if facts.architecture:
        parameters["modelArchitecture"] = facts.architecture
    if dataset_refs:
        parameters["datasets"] = dataset_refs
    if facts.inputs:
        parameters["inputs"] = [{"format": text} for text in facts.inputs]
    if facts.outputs:
        parameters["outputs"] = [{"format": text} for text in facts.outputs]
    card: dict[str, Any] = {"bom-ref": f"{model.ref}/model-card", "modelParameters": parameters}
    properties = []
    if facts.license:
        properties.append({"name": "mlvet:license", "value": facts.license})
    properties.extend({"name": "mlvet:base-model", "value": name} for name in facts.base_models)
    if properties:
        card["properties"] = properties
    return card


def _data_component(ref: str, uri: str, sha256: str | None) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "data",
        "bom-ref": ref,
        "name": uri,
        "data": [{"type": "dataset", "name": uri, **({"contents": {"url": uri}} if "://" in uri else {})}],
    }
    if sha256:
        component["hashes"] = [{"alg": "SHA-256", "content": sha256}]
    return component


def _validate(document: dict[str, Any], spec: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    version = {"1.6": SchemaVersion.V1_6, "1.7": SchemaVersion.V1_7}[spec]
    error = JsonStrictValidator(version).validate_str(json.dumps(document))
    if error is not None:
        raise InvalidBomError(
            f"the assembled BOM does not validate against CycloneDX {spec}: {error}",
            hint="this is a bug in mlvet; please report it with the model's layout",
        )
