"""A hand-made report covering every field the renderers must carry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlvet.findings import Finding, Location, Problem, ProblemKind, Report, Rule, Severity, Subject

RULE = Rule(
    "MLV999", "Test rule", Severity.HIGH, "A rule used only by the renderer tests.", ("CVE-2000-0001",)
)


@pytest.fixture
def report() -> Report:
    subject = Subject(
        path="models/model.pt", member="archive/data.pkl", format="pickle", sha256="ab" * 32, size=10
    )
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Report(
        tool_version="0.1.0",
        started=when,
        finished=when,
        subjects=(subject, Subject(path="models/readme.txt", format="text", size=3)),
        findings=(
            Finding(
                RULE,
                Severity.CRITICAL,
                subject,
                Location(offset=7, opcode_index=3),
                "calls posix.system",
                {"module": "posix", "name": "system", "raw": b"\x00\x01"},
            ),
            Finding(RULE, Severity.MEDIUM, Subject(path="src/x.py"), Location(line=4), "a line finding"),
        ),
        problems=(
            Problem(Subject(path="models/blob.bin"), ProblemKind.UNSUPPORTED, "content not recognised"),
        ),
        suppressed=2,
    )
