"""The one data model every capability speaks: rules, subjects, findings, problems, reports."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that comparisons read naturally."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity named by ``text`` (case-insensitive); ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Rule:
    """A check with a stable ID (``MLVnnn`` for scan areas, ``MLVnnnn`` for pipeline capabilities)."""

    id: str
    title: str
    severity: Severity
    description: str
    references: tuple[str, ...] = ()

    @property
    def order(self) -> tuple[int, str]:
        """Catalogue order: the three-digit scan IDs first, then the four-digit pipeline IDs."""
        return (len(self.id), self.id)

    @property
    def area(self) -> str:
        """The ID without its last two digits: ``1`` for MLV101, ``10`` for MLV1001."""
        return self.id[3:-2]


@dataclass(frozen=True)
class Subject:
    """What was examined: a file, or a member inside one (``member`` is the path inside, joined by ``!/``)."""

    path: str
    member: str | None = None
    format: str | None = None
    sha256: str | None = None
    size: int | None = None

    @property
    def display(self) -> str:
        return f"{self.path}!/{self.member}" if self.member else self.path


@dataclass(frozen=True)
class Location:
    """Where inside a subject: any combination of the fields that apply."""

    offset: int | None = None
    opcode_index: int | None = None
    member: str | None = None
    nodes: tuple[str, ...] = ()
    pointer: str | None = None
    line: int | None = None

    def describe(self) -> str:
        parts = []
        if self.pointer is not None:
            parts.append(self.pointer)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.opcode_index is not None:
            parts.append(f"opcode #{self.opcode_index}")
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        if self.nodes:
            parts.append("nodes " + ", ".join(self.nodes))
        return " @ ".join(parts)


@dataclass(frozen=True)
class Finding:
    """One rule firing on one subject."""

    rule: Rule
    severity: Severity
    subject: Subject
    location: Location
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    confirmed: bool = False


class ProblemKind(enum.Enum):
    """Why a subject could not be fully examined."""

    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt"
    LIMIT = "limit"
    MISSING_EXTRA = "missing-extra"
    UNREADABLE = "unreadable"
    INTERNAL = "internal"
    """A scanner failed on input it should have handled: a bug in mlvet, reported, never hidden."""


@dataclass(frozen=True)
class Problem:
    """A subject left (partly) unexamined; never to be read as clean."""

    subject: Subject
    kind: ProblemKind
    message: str


@dataclass(frozen=True)
class Report:
    """Everything a capability found, with what it examined and what it could not."""

    tool_version: str
    started: datetime
    finished: datetime
    subjects: tuple[Subject, ...] = ()
    findings: tuple[Finding, ...] = ()
    problems: tuple[Problem, ...] = ()
    suppressed: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)
    """Capability-specific, JSON-ready payload (a verification summary, a lineage chain, a decision)."""

    def keeping(self, keep: Callable[[Finding], bool]) -> Report:
        """This report with only the findings ``keep`` accepts; the others count as suppressed."""
        kept = tuple(f for f in self.findings if keep(f))
        return replace(self, findings=kept, suppressed=self.suppressed + len(self.findings) - len(kept))

    def at_or_above(self, threshold: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity >= threshold)
