"""What every scanner receives and may do: the ``ScanContext`` and the ``Scanner`` signature."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlvet.artifacts import Buffer, Format
from mlvet.config import Settings
from mlvet.findings import Finding, Location, Problem, ProblemKind, Rule, Severity, Subject


class CodeOrigin(enum.Enum):
    """Whose Python a subject is, which decides how strictly its behaviour is graded."""

    MODEL = "model"
    """Custom code a model ships, or a file given alone: processes, network and dynamic code are suspect."""
    LIBRARY_SOURCE = "library-source"
    """A source package (an sdist, a source tree): library code, graded like a malicious-package detector."""
    LIBRARY_BUILT = "library-built"
    """A built package (a wheel, site-packages): library code, where native extensions are expected."""

    @property
    def is_library(self) -> bool:
        return self is not CodeOrigin.MODEL


class Surroundings(Protocol):
    """What lies around the files of one archive or scanned directory (package or model markers)."""

    def origin(self, subject: Subject) -> CodeOrigin: ...


class Scanner(Protocol):
    """A format's scanner: reads ``data`` and reports through ``ctx``; never raises on bad input."""

    def __call__(self, data: Buffer, ctx: ScanContext, /) -> None: ...


@dataclass
class Collector:
    """Accumulates the results of one scan run; the only mutable state a scan shares."""

    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)
    decompressed_bytes: int = 0
    data_files: set[Path] = field(default_factory=set)
    """Files that a scanned model declares as its raw tensor data (resolved paths)."""


Dispatch = Callable[[Buffer, "ScanContext", "Format | None"], None]


class ScanContext:
    """One subject being scanned: where its findings go and how it hands nested content back."""

    def __init__(
        self,
        subject: Subject,
        settings: Settings,
        collector: Collector,
        dispatch: Dispatch,
        *,
        depth: int = 0,
        fs_path: Path | None = None,
        surroundings: Surroundings | None = None,
    ) -> None:
        self.subject = subject
        self.settings = settings
        self.depth = depth
        self.fs_path = fs_path
        """The file on disk when the subject is a whole file (not an archive member)."""
        self.surroundings = surroundings
        """The innermost archive or scanned directory around the subject (``None``: a file given alone)."""
        self._collector = collector
        self._dispatch = dispatch

    @property
    def code_origin(self) -> CodeOrigin:
        """Model code unless the surroundings make the subject part of a package."""
        return CodeOrigin.MODEL if self.surroundings is None else self.surroundings.origin(self.subject)

    def report(
        self,
        rule: Rule,
        message: str,
        *,
        location: Location | None = None,
        evidence: Mapping[str, Any] | None = None,
        severity: Severity | None = None,
        confirmed: bool = False,
    ) -> None:
        """Record that ``rule`` fired here (at the rule's severity unless ``severity`` overrides it)."""
        self._collector.findings.append(
            Finding(
                rule=rule,
                severity=rule.severity if severity is None else severity,
                subject=self.subject,
                location=location or Location(),
                message=message,
                evidence=dict(evidence or {}),
                confirmed=confirmed,
            )
        )

    def problem(self, kind: ProblemKind, message: str) -> None:
        """Record that this subject could not be fully examined."""
        self._collector.problems.append(Problem(self.subject, kind, message))

    def scan_member(
        self,
        data: Buffer,
        member: str,
        *,
        expect: Format | None = None,
        fs_path: Path | None = None,
    ) -> None:
        """Scan nested content (an archive member, a decompressed stream, an embedded pickle).

        ``expect`` forces a format when the container says what the bytes are (a torch zip's
        ``data.pkl`` is a pickle even without the protocol 2 magic).
        """
        name = f"{self.subject.member}!/{member}" if self.subject.member else member
        child = ScanContext(
            Subject(path=self.subject.path, member=name, size=len(data), sha256=small_digest(data)),
            self.settings,
            self._collector,
            self._dispatch,
            depth=self.depth + 1,
            fs_path=fs_path,
            surroundings=self.surroundings,
        )
        if child.depth > self.settings.limits.max_depth:
            child.problem(ProblemKind.LIMIT, f"nesting deeper than {self.settings.limits.max_depth} levels")
            return
        self._dispatch(data, child, expect)

    def charge_decompressed(self, nbytes: int) -> bool:
        """Count ``nbytes`` against the decompression budget; False (and a problem) once it is spent."""
        self._collector.decompressed_bytes += nbytes
        limit = self.settings.limits.max_total_bytes
        if self._collector.decompressed_bytes > limit:
            self.problem(ProblemKind.LIMIT, f"more than {limit} bytes decompressed from one input")
            return False
        return True

    def claim_data_file(self, path: Path) -> None:
        """Declare ``path`` raw tensor data of this model (ONNX external data): not unrecognised content."""
        self._collector.data_files.add(path.resolve())

    def with_format(self, fmt: Format) -> ScanContext:
        """This context with the detected format recorded on its subject."""
        subject = Subject(
            self.subject.path, self.subject.member, fmt.value, self.subject.sha256, self.subject.size
        )
        self._collector.subjects.append(subject)
        context = ScanContext(
            subject,
            self.settings,
            self._collector,
            self._dispatch,
            depth=self.depth,
            fs_path=self.fs_path,
            surroundings=self.surroundings,
        )
        return context


def small_digest(data: Buffer) -> str | None:
    """SHA-256 of in-memory members below 64 MiB (larger ones are hashed by provenance, not here)."""
    return hashlib.sha256(data).hexdigest() if len(data) <= 64 << 20 else None
