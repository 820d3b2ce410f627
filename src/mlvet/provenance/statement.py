"""The in-toto Statement v1 carrying an OMS v1.0 predicate: building it and reading it back.

A statement has one subject (the model name and its root digest) and the predicate
``{"resources": [...], "serialization": {...}}``. Readers accept what model-signing 1.1.1 writes
where it departs from OMS: ``"."`` as the name of a single-file resource, ``sha256-sharded-N``
algorithm names for shards, and ``shard_size`` as a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mlvet.provenance.manifest import Manifest, ManifestError, Resource, Serialization, root_digest

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://model_signing/signature/v1.0"


def statement_for(manifest: Manifest) -> dict[str, Any]:
    """The in-toto statement that signs ``manifest``."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {"sha256": manifest.root_digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": manifest.serialization.to_json(),
            "resources": [resource.to_json() for resource in manifest.resources],
        },
    }


def statement_bytes(manifest: Manifest) -> bytes:
    """Canonical bytes of the statement (sorted keys, 2-space indent, UTF-8)."""
    return json.dumps(statement_for(manifest), indent=2, sort_keys=True, ensure_ascii=False).encode()


@dataclass(frozen=True)
class SignedManifest:
    """What a signature vouches for, as read from its statement."""

    subject_name: str
    subject_digest: str
    serialization: Serialization
    resources: tuple[Resource, ...]

    @property
    def computed_root_digest(self) -> str:
        """The root digest of the resources in the order they are listed."""
        return root_digest(self.resources)

    @property
    def consistent(self) -> bool:
        return self.computed_root_digest == self.subject_digest.lower()


def _resource(entry: object, index: int) -> Resource:
    if not isinstance(entry, Mapping):
        raise ManifestError(f"predicate.resources[{index}] is not an object")
    name, algorithm, digest = entry.get("name"), entry.get("algorithm"), entry.get("digest")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"predicate.resources[{index}] has no name")
    if not isinstance(algorithm, str) or not isinstance(digest, str):
        raise ManifestError(f"resource {name!r} has no algorithm or digest")
    try:
        bytes.fromhex(digest)
    except ValueError:
        raise ManifestError(f"digest of resource {name!r} is not hex") from None
    return Resource(name, algorithm, digest.lower())


def parse_statement(payload: bytes) -> SignedManifest:
    """Read an OMS v1.0 statement; ManifestError when it is not one or is damaged."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"the signed payload is not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ManifestError("the signed payload is not a JSON object")
    if data.get("_type") != STATEMENT_TYPE:
        raise ManifestError(f"the signed payload is not an in-toto Statement v1 ({data.get('_type')!r})")
    if data.get("predicateType") != PREDICATE_TYPE:
        raise ManifestError(
            f"the statement's predicate type is {data.get('predicateType')!r}, not an OMS v1.0 signature",
            hint="this is not a model signature (a lineage attestation? use 'mlvet lineage verify')",
        )
    subjects = data.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], Mapping):
        raise ManifestError("an OMS statement must have exactly one subject")
    subject = subjects[0]
    digest = subject.get("digest")
    if not isinstance(digest, Mapping) or not isinstance(digest.get("sha256"), str):
        raise ManifestError("the statement's subject has no sha256 digest")
    predicate = data.get("predicate")
    if not isinstance(predicate, Mapping):
        raise ManifestError("the statement has no predicate")
    serialization = Serialization.from_json(predicate.get("serialization"))
    raw_resources = predicate.get("resources")
    if not isinstance(raw_resources, list) or not raw_resources:
        raise ManifestError("the predicate lists no resources")
    resources = tuple(_resource(entry, index) for index, entry in enumerate(raw_resources))
    names = [resource.name for resource in resources]
    if len(set(names)) != len(names):
        raise ManifestError("the predicate lists a resource twice")
    return SignedManifest(str(subject.get("name") or ""), digest["sha256"], serialization, resources)


def base_algorithm(algorithm: str) -> str:
    """``sha256`` for both ``sha256`` and model-signing's ``sha256-sharded-1000``."""
    return algorithm.split("-sharded-", 1)[0]
