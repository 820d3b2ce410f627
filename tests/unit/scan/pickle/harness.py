"""Run the pickle scanner on bytes in memory and look at what it reported."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mlvet.artifacts import Format
from mlvet.config import Settings
from mlvet.findings import Finding, Problem, Severity, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.pickle import scan_pickle


@dataclass
class Outcome:
    findings: list[Finding]
    problems: list[Problem]

    def rules(self, at_least: Severity = Severity.INFO) -> set[str]:
        return {f.rule.id for f in self.findings if f.severity >= at_least}

    def only(self, rule_id: str) -> Finding:
        matches = [f for f in self.findings if f.rule.id == rule_id]
        assert len(matches) == 1, f"expected one {rule_id}, got {self.describe()}"
        return matches[0]

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def describe(self) -> str:
        lines = [f"{f.rule.id} {f.severity} {f.subject.member or ''} {f.message}" for f in self.findings]
        return "\n".join(lines + [f"PROBLEM {p.kind} {p.message}" for p in self.problems])


def scan_bytes(data: bytes, settings: Settings | None = None) -> Outcome:
    collector = Collector()
    ctx = ScanContext(Subject("sample.pkl"), settings or Settings(), collector, dispatch)
    scan_pickle(data, ctx.with_format(Format.PICKLE))
    return Outcome(collector.findings, collector.problems)


def text(value: str) -> bytes:
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def stack_global(module: str, name: str) -> bytes:
    return text(module) + text(name) + b"\x93"


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def call(func: bytes, *args: bytes) -> bytes:
    return func + b"(" + b"".join(args) + b"tR"


def proto4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def frame(body: bytes) -> bytes:
    return b"\x95" + struct.pack("<Q", len(body)) + body


SYSTEM = proto4(call(stack_global("posix", "system"), text("true")))
"""posix.system("true"): REDUCE at byte 26, opcode 7; STACK_GLOBAL at opcode 3."""
