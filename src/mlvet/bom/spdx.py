"""The same inventory as an SPDX 3.0.1 document with the AI and Dataset profiles (``spdx-python-model``)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mlvet import __version__
from mlvet.bom.entry import ModelEntry
from mlvet.bom.environment import Library, loaders_of


def assemble_spdx(models: Sequence[ModelEntry], libraries: Sequence[Library]) -> dict[str, Any]:
    """An SPDX 3.0.1 JSON-LD document: one ``ai_AIPackage`` per model, its files, datasets and libraries."""
    from spdx_python_model import v3_0_1 as spdx

    namespace = f"https://spdx.org/spdxdocs/mlvet-{uuid.uuid4()}"
    ids = _Ids(namespace)
    objects = spdx.SHACLObjectSet()
    agent = objects.add(spdx.SoftwareAgent(_id=ids.next("agent"), name=f"mlvet {__version__}"))
    info = spdx.CreationInfo(specVersion="3.0.1", created=datetime.now(UTC), createdBy=[agent])
    agent.creationInfo = info
    elements: list[Any] = [agent]
    roots = []

    def add(element: Any) -> Any:
        elements.append(objects.add(element))
        return element

    def relate(source: Any, kind: Any, targets: list[Any]) -> None:
        if targets:
            add(
                spdx.Relationship(
                    _id=ids.next("rel"), creationInfo=info, from_=source, to=targets, relationshipType=kind
                )
            )

    packages = {
        lib.key: add(
            spdx.software_Package(
                _id=ids.next("package"),
                creationInfo=info,
                name=lib.name,
                software_packageVersion=lib.version,
                software_packageUrl=lib.purl,
                verifiedUsing=_hashes(spdx, lib.wheel_sha256),
            )
        )
        for lib in libraries
    }
    for model in models:
        package = add(
            spdx.ai_AIPackage(
                _id=ids.next("model"),
                creationInfo=info,
                name=model.artifact.name,
                software_primaryPurpose=spdx.software_SoftwarePurpose.model,
                verifiedUsing=_hashes(spdx, model.root_digest),
                ai_typeOfModel=[t for t in (model.facts.architecture, model.facts.family) if t],
                ai_domain=[model.facts.task] if model.facts.task else [],
                suppliedBy=agent,
                releaseTime=datetime.now(UTC),
                software_downloadLocation=model.artifact.root.resolve().as_uri(),
                software_packageVersion=f"sha256:{model.root_digest}",
            )
        )
        roots.append(package)
        files = [
            add(
                spdx.software_File(
                    _id=ids.next("file"),
                    creationInfo=info,
                    name=entry.relative,
                    verifiedUsing=_hashes(spdx, entry.sha256),
                )
            )
            for entry in model.artifact.files
        ]
        relate(package, spdx.RelationshipType.hasDataFile, files)
        datasets = [
            add(
                spdx.dataset_DatasetPackage(
                    _id=ids.next("dataset"),
                    creationInfo=info,
                    name=dataset.uri,
                    software_primaryPurpose=spdx.software_SoftwarePurpose.data,
                    dataset_datasetType=[spdx.dataset_DatasetType.other],
                    suppliedBy=agent,
                    releaseTime=datetime.now(UTC),
                    builtTime=datetime.now(UTC),
                    software_downloadLocation=dataset.uri if "://" in dataset.uri else "NOASSERTION",
                    verifiedUsing=_hashes(spdx, dataset.sha256),
                )
            )
            for dataset in model.datasets
        ]
        relate(package, spdx.RelationshipType.trainedOn, datasets)
        ancestors = [
            add(
                spdx.ai_AIPackage(
                    _id=ids.next("ancestor"),
                    creationInfo=info,
                    name=ancestor.name,
                    verifiedUsing=_hashes(spdx, ancestor.sha256),
                )
            )
            for ancestor in model.lineage.ancestors
        ]
        for ancestor in ancestors:
            relate(ancestor, spdx.RelationshipType.ancestorOf, [package])
        loaders = loaders_of({f.format for f in model.artifact.weights}, libraries)
        relate(package, spdx.RelationshipType.dependsOn, [packages[lib.key] for lib in loaders])
    document = spdx.SpdxDocument(
        _id=ids.next("document"),
        creationInfo=info,
        name="mlvet AI-BOM",
        rootElement=roots,
        element=list(elements),
        profileConformance=[
            spdx.ProfileIdentifierType.core,
            spdx.ProfileIdentifierType.software,
            spdx.ProfileIdentifierType.ai,
            spdx.ProfileIdentifierType.dataset,
        ],
    )
    objects.add(document)
    buffer = io.BytesIO()
    spdx.JSONLDSerializer().write(objects, buffer)
    result: dict[str, Any] = json.loads(buffer.getvalue())
    return result


def _hashes(spdx: Any, sha256: str | None) -> list[Any]:
    return [spdx.Hash(algorithm=spdx.HashAlgorithm.sha256, hashValue=sha256)] if sha256 else []


class _Ids:
    """Document-unique element IDs: ``<namespace>#<kind>-<n>``."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.count = 0

    def next(self, kind: str) -> str:
        self.count += 1
        return f"{self.namespace}#{kind}-{self.count}"
