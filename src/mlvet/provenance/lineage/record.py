"""Record one pipeline stage: measure its models, build the statement, sign it, append it to the bundle.

``attest(...)`` does it in one call (``mlvet attest``); ``stage(...)`` is the context manager a
Python pipeline wraps around the work itself::

    with mlvet.stage("quantize", inputs=["model.onnx"], key="alice.pem", params={"bits": 8}) as s:
        quantize_dynamic("model.onnx", "model.int8.onnx")
        s.output("model.int8.onnx")

No statement is written when the body raises.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from mlvet.errors import ConfigError, InputError
from mlvet.provenance.dsse import INTOTO_PAYLOAD_TYPE, sign_envelope
from mlvet.provenance.keys import Signer, load_signer
from mlvet.provenance.lineage.bundle import append_envelopes, default_bundle, read_lines
from mlvet.provenance.lineage.environment import KNOWN_FRAMEWORKS, git_commit, installed_frameworks
from mlvet.provenance.lineage.statement import (
    Artifact,
    CodeCommit,
    Dataset,
    Framework,
    StageRecord,
    build_statement,
)
from mlvet.provenance.manifest import model_digest

STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_COMMIT = re.compile(r"[0-9a-fA-F]{40}([0-9a-fA-F]{24})?")

KeySource = str | os.PathLike[str] | Signer


@dataclass(frozen=True)
class Keyless:
    """Sign with Sigstore (Fulcio certificate + Rekor entry) instead of a key."""

    identity_token: str | None = None
    """An OIDC token; None: detect ambient credentials (CI)."""
    staging: bool = False


@dataclass(frozen=True)
class Attestation:
    """What recording a stage produced: the statement, its DSSE envelope, and the bundle it went to."""

    statement: dict[str, Any]
    envelope: dict[str, Any]
    bundle: Path


def attest(
    stage: str,
    *,
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    keys: Sequence[KeySource] = (),
    params: Mapping[str, Any] | None = None,
    datasets: Sequence[Dataset | str] = (),
    code: CodeCommit | str | None = None,
    detect_code: bool = True,
    frameworks: Sequence[Framework] | None = None,
    bundle: str | os.PathLike[str] | None = None,
    password: bytes | None = None,
    keyless: Keyless | None = None,
) -> Attestation:
    """Record ``stage`` as having turned ``inputs`` into ``output``.

    Signed with every key in ``keys`` (one DSSE envelope), or, with ``keyless`` and no keys, by
    Sigstore keyless signing (the line is then a Sigstore bundle; needs the network).
    """
    recorder = _Recorder(
        stage, inputs, keys, params, datasets, code, detect_code, frameworks, bundle, password
    )
    recorder.keyless = keyless
    recorder.start()
    return recorder.finish(Path(output))


class Stage:
    """A stage in progress (see ``stage``); ``attestation`` is set once it has been recorded."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder
        self._output: Path | None = None
        self.attestation: Attestation | None = None

    def output(self, path: str | os.PathLike[str]) -> None:
        """Name the stage's output model; it is measured and signed when the ``with`` block ends."""
        if self._output is not None:
            raise ConfigError(
                f"stage {self._recorder.stage!r} already has output {self._output}",
                hint="a stage statement has one subject; record a second stage for a second output",
            )
        self._output = Path(path)

    def __enter__(self) -> Stage:
        self._recorder.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            return
        if self._output is None:
            raise ConfigError(
                f"stage {self._recorder.stage!r} ended without naming its output",
                hint="call s.output(path) inside the 'with mlvet.stage(...) as s:' block",
            )
        self.attestation = self._recorder.finish(self._output)


def stage(
    name: str,
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
    key: KeySource | Sequence[KeySource] = (),
    params: Mapping[str, Any] | None = None,
    datasets: Sequence[Dataset | str] = (),
    code: CodeCommit | str | None = None,
    detect_code: bool = True,
    bundle: str | os.PathLike[str] | None = None,
    password: bytes | None = None,
    keyless: Keyless | None = None,
) -> Stage:
    """A context manager recording one pipeline stage (see the module docstring).

    Inputs are measured when the block starts, the output when it ends; frameworks are the known
    ML distributions this process has imported by then. ``key`` is a private key PEM path or a
    ``Signer`` (or several, for a stage that needs k-of-n signers); ``keyless`` signs with Sigstore.
    """
    keys: list[KeySource] = [key] if isinstance(key, str | os.PathLike | Signer) else list(key)
    recorder = _Recorder(name, inputs, keys, params, datasets, code, detect_code, None, bundle, password)
    recorder.keyless = keyless
    return Stage(recorder)


class _Recorder:
    def __init__(
        self,
        stage: str,
        inputs: Sequence[str | os.PathLike[str]],
        keys: Sequence[KeySource],
        params: Mapping[str, Any] | None,
        datasets: Sequence[Dataset | str],
        code: CodeCommit | str | None,
        detect_code: bool,
        frameworks: Sequence[Framework] | None,
        bundle: str | os.PathLike[str] | None,
        password: bytes | None,
    ) -> None:
        if not isinstance(stage, str) or not STAGE_NAME.fullmatch(stage):
            raise ConfigError(
                f"invalid stage name {stage!r}",
                hint="use letters, digits, '.', '_' or '-' (at most 64), e.g. train, quantize, convert",
            )
        self.keyless: Keyless | None = None
        self.stage = stage
        self.input_paths = [Path(p) for p in inputs]
        self.key_sources = list(keys)
        self.params = _json_ready(dict(params or {}))
        self.datasets = [d if isinstance(d, Dataset) else parse_dataset(d) for d in datasets]
        self.code = parse_commit(code) if isinstance(code, str) else code
        self.detect_code = detect_code
        self.frameworks = frameworks
        self.bundle = Path(bundle) if bundle is not None else None
        self.password = password
        self.signers: list[Signer] = []
        self.inputs: list[tuple[Path, str, str]] = []
        self.started = datetime.now(UTC)

    def start(self) -> None:
        """Load the keys and measure the inputs, before the stage's work can change them."""
        if not self.key_sources and self.keyless is None:
            raise ConfigError(
                "a stage needs a signer", hint="pass --key PRIVATE.pem (repeatable), or --sigstore"
            )
        if self.key_sources and self.keyless is not None:
            raise ConfigError("sign with keys or with Sigstore, not both", hint="drop --key or --sigstore")
        self.signers = [
            k if isinstance(k, Signer) else load_signer(Path(k), self.password) for k in self.key_sources
        ]
        self.inputs = [(path, *_measure(path, "input")) for path in self.input_paths]
        self.started = datetime.now(UTC)

    def finish(self, output: Path) -> Attestation:
        digest, kind = _measure(output, "output")
        bundle = self.bundle if self.bundle is not None else default_bundle(output)
        base = bundle.parent
        code = self.code
        if code is None and self.detect_code:
            code = git_commit(Path.cwd())
        frameworks = self.frameworks
        if frameworks is None:
            frameworks = installed_frameworks(KNOWN_FRAMEWORKS, imported_only=True)
        record = StageRecord(
            stage=self.stage,
            output=Artifact(_relative(output, base), digest, kind),
            inputs=tuple(Artifact(_relative(p, base), d, k) for p, d, k in self.inputs),
            parameters=self.params,
            datasets=tuple(self.datasets),
            code=code,
            frameworks=tuple(frameworks),
            signers=tuple(s.keyid for s in self.signers) if self.signers else ("sigstore",),
            started=self.started,
            finished=datetime.now(UTC),
            invocation=str(uuid.uuid4()),
        )
        statement = build_statement(record)
        payload = json.dumps(statement, separators=(",", ":"), sort_keys=True).encode("utf-8")
        if self.keyless is not None:
            from mlvet.provenance.keyless import sign_keyless

            envelope = sign_keyless(
                payload, identity_token=self.keyless.identity_token, staging=self.keyless.staging
            )
        else:
            envelope = sign_envelope(payload, self.signers, INTOTO_PAYLOAD_TYPE)
        inherited = [line for path, _, _ in self.inputs for line in _input_bundle_lines(path)]
        append_envelopes(bundle, inherited, [envelope])
        return Attestation(statement, envelope, bundle)


def parse_dataset(text: str) -> Dataset:
    """``URI`` or ``URI=SHA256``; a local path without a digest is hashed now."""
    uri, sep, digest = text.rpartition("=")
    if sep and _HEX64.fullmatch(digest):
        return Dataset(uri, digest.lower())
    if not text.strip():
        raise ConfigError("empty --dataset", hint="give a URI or path, optionally =SHA256")
    path = Path(text)
    if path.exists():
        return Dataset(text, _measure(path, "dataset")[0])
    return Dataset(text)


def parse_commit(text: str) -> CodeCommit:
    if not _COMMIT.fullmatch(text):
        raise ConfigError(
            f"code commit {text!r} is not a full git commit id",
            hint="give all 40 (SHA-1) or 64 (SHA-256) hex digits: git rev-parse HEAD",
        )
    return CodeCommit(text.lower())


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``k=v`` pairs as a mapping; ConfigError on a malformed or repeated key."""
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--param {item!r} is not KEY=VALUE", hint="e.g. --param bits=8 --param scheme=dynamic"
            )
        if key.strip() in params:
            raise ConfigError(f"--param {key.strip()!r} given twice")
        params[key.strip()] = value
    return params


def _measure(path: Path, role: str) -> tuple[str, str]:
    if not path.exists():
        raise InputError(f"{role} {path}: no such file or directory")
    if not (path.is_file() or path.is_dir()):
        raise InputError(f"{role} {path}: not a file or directory")
    return model_digest(path), "file" if path.is_file() else "oms-root"


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def _input_bundle_lines(path: Path) -> list[str]:
    bundle = default_bundle(path)
    return read_lines(bundle) if bundle.is_file() else []


def _json_ready(params: dict[str, Any]) -> dict[str, Any]:
    try:
        text = json.dumps(params, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"stage parameters are not JSON-ready: {exc}",
            hint="use strings, numbers, booleans, lists and dicts (no NaN)",
        ) from None
    loaded: dict[str, Any] = json.loads(text)
    return loaded
