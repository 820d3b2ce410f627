"""The identity policy of a lineage: who may sign which stage, how many must, and in what order.

A TOML file (format in ``docs/lineage.md``), validated strictly: an unknown key, a wrong type or a
reference to an undeclared key or stage is a ``ConfigError`` naming the offending key, with a
"did you mean" when it looks like a typo.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mlvet.errors import ConfigError, InputError
from mlvet.provenance.keyless import SigstoreIdentity
from mlvet.provenance.keys import Verifier, load_verifier

POLICY_VERSION: Final = 1
EQUIVALENT_BY_DEFAULT: Final = frozenset({"quantize", "convert", "compile", "optimize"})
"""Stage names whose equivalence is checked unless the policy says ``equivalence = false``."""
_HINT: Final = "the lineage policy format is described in docs/lineage.md"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Tolerance:
    """Outputs agree when ``|out - ref| <= atol + rtol * |ref|`` element-wise (numpy ``allclose``)."""

    atol: float
    rtol: float
    samples: int = 32
    """Generated clean inputs per stage (gate-opening inputs come on top)."""


QUANTIZE_TOLERANCE: Final = Tolerance(atol=0.25, rtol=0.1)
EXACT_TOLERANCE: Final = Tolerance(atol=1e-4, rtol=1e-3)


@dataclass(frozen=True)
class PolicyKey:
    """A trusted signer, by the name the policy gives it: a public key, or a Sigstore identity."""

    name: str
    source: str
    verifier: Verifier | None = None
    sigstore: SigstoreIdentity | None = None
    trusted_root: Path | None = None
    """For a Sigstore identity: a pinned ``trusted_root.json`` (default: the one sigstore embeds)."""

    @property
    def keyid(self) -> str:
        """The key's keyid (hex SHA-256 of its DER public key), or ``sigstore:ISSUER#IDENTITY``."""
        if self.verifier is not None:
            return self.verifier.keyid
        assert self.sigstore is not None
        return f"sigstore:{self.sigstore.issuer}#{self.sigstore.identity}"


@dataclass(frozen=True)
class StagePolicy:
    name: str
    signers: tuple[str, ...]
    """Keyids allowed to sign the stage."""
    threshold: int
    equivalence: Tolerance | None


@dataclass(frozen=True)
class Policy:
    path: Path
    keys: Mapping[str, PolicyKey]
    """By keyid."""
    stages: Mapping[str, StagePolicy]
    required: tuple[str, ...]
    """Stages the chain must hold, source first."""
    allow_unlisted: bool = False
    """Whether stages without a [stages] table may appear (signed by any declared key)."""

    def key_name(self, keyid: str) -> str:
        key = self.keys.get(keyid)
        return key.name if key is not None else f"keyid:{keyid[:12]}"

    def verifiers(self) -> list[Verifier]:
        return [key.verifier for key in self.keys.values() if key.verifier is not None]

    def identities(self) -> list[PolicyKey]:
        """The Sigstore identities the policy declares."""
        return [key for key in self.keys.values() if key.sigstore is not None]


def load_policy(path: Path) -> Policy:
    """The policy in TOML file ``path``; ConfigError (exit 2) on anything it cannot take."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"policy {path} does not exist", hint=_HINT) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read policy {path}: {exc}", hint=_HINT) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint=_HINT) from None
    return parse_policy(document, path)


def parse_policy(document: Mapping[str, Any], path: Path) -> Policy:
    """Validate a loaded TOML document (key files are read relative to ``path``'s directory)."""
    where = str(path)
    _known(document, {"version", "required", "allow-unlisted-stages", "keys", "stages"}, "", where)
    version = document.get("version", POLICY_VERSION)
    if version != POLICY_VERSION:
        raise ConfigError(
            f"{where}: version = {version!r} is not supported (this mlvet reads version 1)", hint=_HINT
        )
    keys_table = _table(document.get("keys", {}), "keys", where)
    if not keys_table:
        raise ConfigError(f"{where}: [keys] declares no key, so no signature could be trusted", hint=_HINT)
    names: dict[str, PolicyKey] = {}
    for name, entry in keys_table.items():
        names[name] = _key(name, entry, path)
    by_keyid: dict[str, PolicyKey] = {}
    for key in names.values():
        if key.keyid in by_keyid:
            raise ConfigError(
                f"{where}: keys.{key.name} and keys.{by_keyid[key.keyid].name} are the same key"
            )
        by_keyid[key.keyid] = key
    stages_table = _table(document.get("stages", {}), "stages", where)
    if not stages_table:
        raise ConfigError(f"{where}: [stages] declares no stage", hint=_HINT)
    stages = {name: _stage(name, entry, names, by_keyid, where) for name, entry in stages_table.items()}
    required_raw = document.get("required", [])
    if not isinstance(required_raw, list) or not all(isinstance(s, str) for s in required_raw):
        raise ConfigError(f"{where}: required must be a list of stage names, source first", hint=_HINT)
    for name in required_raw:
        if name not in stages:
            raise ConfigError(
                f"{where}: required stage {name!r} has no [stages.{name}] table{_suggest(name, stages)}"
            )
    if len(set(required_raw)) != len(required_raw):
        raise ConfigError(f"{where}: required lists a stage twice")
    allow = document.get("allow-unlisted-stages", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{where}: allow-unlisted-stages must be true or false")
    return Policy(path, by_keyid, stages, tuple(required_raw), allow)


def _key(name: str, entry: object, path: Path) -> PolicyKey:
    where = f"{path}: keys.{name}"
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: key names use letters, digits, '.', '_' or '-'")
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict):
        raise ConfigError(
            f"{where} must be a public key path, a table with path (and keyid), "
            "or a Sigstore identity (identity and issuer)",
            hint=_HINT,
        )
    if "identity" in entry or "issuer" in entry:
        return _sigstore_key(name, entry, path)
    _known(entry, {"path", "keyid", "identity", "issuer"}, f"keys.{name}.", str(path))
    file = entry.get("path")
    if not isinstance(file, str) or not file:
        raise ConfigError(
            f"{where}: give path (a public key PEM file) or identity and issuer (a Sigstore signer)",
            hint=_HINT,
        )
    location = _relative(file, path)
    try:
        verifier = load_verifier(location)
    except InputError as exc:
        raise ConfigError(f"{where}: {exc}", hint=exc.hint) from None
    pinned = entry.get("keyid")
    if pinned is not None:
        if not isinstance(pinned, str) or not _HEX64.fullmatch(pinned.lower()):
            raise ConfigError(f"{where}: keyid must be 64 hex digits (SHA-256 of the DER public key)")
        if pinned.lower() != verifier.keyid:
            raise ConfigError(
                f"{where}: {location} has keyid {verifier.keyid}, not the pinned {pinned.lower()}",
                hint="the key file was replaced, or the pin is stale",
            )
    return PolicyKey(name, str(location), verifier=verifier)


def _sigstore_key(name: str, entry: dict[str, Any], path: Path) -> PolicyKey:
    where = f"{path}: keys.{name}"
    _known(entry, {"identity", "issuer", "trusted-root"}, f"keys.{name}.", str(path))
    identity, issuer = entry.get("identity"), entry.get("issuer")
    if not isinstance(identity, str) or not identity or not isinstance(issuer, str) or not issuer:
        raise ConfigError(
            f"{where}: a Sigstore signer needs both identity (the certificate SAN: an e-mail or URI) "
            "and issuer (the OIDC issuer URL)",
            hint='e.g. identity = "https://github.com/org/repo/.github/workflows/train.yml@refs/heads/main", '
            'issuer = "https://token.actions.githubusercontent.com"',
        )
    root = entry.get("trusted-root")
    if root is not None and (not isinstance(root, str) or not _relative(root, path).is_file()):
        raise ConfigError(f"{where}: trusted-root {root!r} is not a file", hint="give a trusted_root.json")
    trusted = _relative(root, path) if isinstance(root, str) else None
    return PolicyKey(
        name,
        f"sigstore {identity} ({issuer})",
        sigstore=SigstoreIdentity(identity, issuer),
        trusted_root=trusted,
    )


def _relative(file: str, policy: Path) -> Path:
    return Path(file) if Path(file).is_absolute() else policy.parent / file


def _stage(
    name: str, entry: object, names: Mapping[str, PolicyKey], by_keyid: Mapping[str, PolicyKey], where: str
) -> StagePolicy:
    prefix = f"stages.{name}"
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: {prefix}: stage names use letters, digits, '.', '_' or '-'")
    table = _table(entry, prefix, where)
    _known(table, {"signers", "threshold", "equivalence"}, f"{prefix}.", where)
    signers_raw = table.get("signers")
    if (
        not isinstance(signers_raw, list)
        or not signers_raw
        or not all(isinstance(s, str) for s in signers_raw)
    ):
        raise ConfigError(f"{where}: {prefix}.signers must list at least one key name or keyid", hint=_HINT)
    signers: list[str] = []
    for reference in signers_raw:
        key = names.get(reference) or by_keyid.get(reference) or by_keyid.get(reference.lower())
        if key is None:
            raise ConfigError(
                f"{where}: {prefix}.signers names {reference!r}, which [keys] does not declare"
                + _suggest(reference, names),
                hint="declare it under [keys] (name = path to its public key), or use a declared key's keyid",
            )
        if key.keyid not in signers:
            signers.append(key.keyid)
    threshold = table.get("threshold", 1)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= len(signers):
        raise ConfigError(
            f"{where}: {prefix}.threshold must be an integer from 1 to {len(signers)} "
            "(the number of signers)",
            hint="threshold = k distinct signers out of the stage's signers list",
        )
    return StagePolicy(
        name, tuple(signers), threshold, _equivalence(name, table.get("equivalence"), prefix, where)
    )


def _equivalence(name: str, value: object, prefix: str, where: str) -> Tolerance | None:
    default = QUANTIZE_TOLERANCE if "quant" in name else EXACT_TOLERANCE
    if value is None:
        return default if name in EQUIVALENT_BY_DEFAULT else None
    if isinstance(value, bool):
        return default if value else None
    table = _table(value, f"{prefix}.equivalence", where)
    _known(table, {"atol", "rtol", "samples"}, f"{prefix}.equivalence.", where)
    numbers: dict[str, float] = {}
    for field_name in ("atol", "rtol"):
        number = table.get(field_name, getattr(default, field_name))
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
            or number < 0
        ):
            raise ConfigError(f"{where}: {prefix}.equivalence.{field_name} must be a number >= 0")
        numbers[field_name] = float(number)
    samples = table.get("samples", default.samples)
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= 10_000:
        raise ConfigError(f"{where}: {prefix}.equivalence.samples must be an integer from 1 to 10000")
    return Tolerance(numbers["atol"], numbers["rtol"], samples)


def _table(value: object, name: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {name} must be a table", hint=_HINT)
    return value


def _known(table: Mapping[str, Any], known: set[str], prefix: str, where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {prefix}{key!s}{_suggest(key, known)}",
                hint=f"{_HINT}; allowed here: {', '.join(sorted(known))}",
            )


def _suggest(word: str, choices: Mapping[str, Any] | set[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
