"""Model diff: what a candidate changes relative to a known-good model.

``diff(known_good, candidate)`` compares two model files of the same format (ONNX, PyTorch
``torch.save`` zip, safetensors, GGUF) or two Hugging Face directories and returns a ``Report``:
findings (rules ``MLV4xxx``) and the full structured diff in ``Report.details`` (keys in
``docs/diff.md``). Weights are compared tensor by tensor in bounded chunks; ONNX graphs are matched
by structure (``diff.topology.compare_topology``), never by names; nothing is unpickled or executed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mlvet.diff.engine import Progress, compare_sides
from mlvet.diff.judge import details, judge
from mlvet.diff.sides import open_side
from mlvet.diff.tensors import Tolerance
from mlvet.diff.topology import TopologyChanges, compare_topology
from mlvet.errors import InputError
from mlvet.findings import Problem, ProblemKind, Report, Subject

__all__ = ["Tolerance", "TopologyChanges", "compare_topology", "diff"]


def diff(
    known_good: str | Path,
    candidate: str | Path,
    *,
    tolerance: Tolerance | None = None,
    progress: Progress | None = None,
) -> Report:
    """Compare ``candidate`` with ``known_good``.

    Raises ``InputError`` when either side cannot be read at all or the two are of different kinds
    (a file and a directory, or two formats); parts of a directory that cannot be read become
    ``Problem``s of the report.
    """
    from mlvet import __version__

    started = datetime.now(UTC)
    known_path, candidate_path = Path(known_good), Path(candidate)
    known = open_side(known_path, "known-good")
    other = open_side(candidate_path, "candidate")
    if known.kind != other.kind:
        raise InputError(
            f"mismatched formats: the known-good is {_kind(known.kind)}, "
            f"the candidate is {_kind(other.kind)}",
            hint="diff two files of the same format, or two Hugging Face directories",
        )
    result = compare_sides(known, other, tolerance or Tolerance(), progress)
    subject = Subject(
        str(candidate_path),
        format=other.kind,
        size=candidate_path.stat().st_size if candidate_path.is_file() else None,
    )
    known_subject = Subject(str(known_path), format=known.kind)
    return Report(
        tool_version=__version__,
        started=started,
        finished=datetime.now(UTC),
        subjects=(known_subject, subject),
        findings=tuple(judge(result, subject)),
        problems=tuple(Problem(subject, ProblemKind.UNREADABLE, text) for text in result.problems),
        details=details(result),
    )


_KIND_NAMES = {
    "directory": "a Hugging Face directory",
    "onnx": "an ONNX model",
    "pytorch": "a PyTorch checkpoint",
    "safetensors": "a safetensors file",
    "gguf": "a GGUF file",
}


def _kind(kind: str) -> str:
    return _KIND_NAMES.get(kind, kind)
