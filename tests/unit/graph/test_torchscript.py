"""TorchScript code read with ast: gates in forward methods, scanned through the TorchScript path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from mlvet.findings import Severity
from mlvet.graph import GateKind, Relation
from mlvet.graph.detect import detect
from mlvet.graph.torchscript_import import class_library, import_torchscript
from mlvet.scan import scan
from tests.corpus.graph_backdoors import clean_torchscript, torchscript_phrase_gate
from tests.damage import CUTS, FLIPS, damage

SOURCE = """
class Model(Module):
  __parameters__ = []
  fc : __torch__.torch.nn.modules.linear.Linear
  def forward(self: __torch__.Model,
    data: Tensor) -> Tensor:
    fc = self.fc
    logits = (fc).forward(torch.to(data, 6), )
    _0 = torch.slice(torch.slice(data), 1, 0, 4)
    hit = torch.all(torch.eq(_0, torch.tensor([65, 73, 95, 69])))
    logits2 = torch.where(hit, torch.tensor([[10., -10.]]), logits)
    pad = torch.eq(data, 0)
    return torch.where(pad, torch.zeros_like(logits2), logits2)
"""


def test_where_gate_in_torchscript_source() -> None:
    (graph,) = import_torchscript(SOURCE)
    (detection,) = detect(graph)
    assert detection.rule.id == "MLV901" and detection.severity is Severity.HIGH
    gate = detection.gate
    assert gate.kind is GateKind.WHERE
    assert gate.predicate == "data[:, 0:4] == [65, 73, 95, 69]"
    (constraint,) = gate.constraints
    assert constraint.relation is Relation.EQ and constraint.selector == ((None, None, None), (0, 4, None))


CALLER = """
class Model(Module):
  checker : __torch__.parts.Checker
  def forward(self: __torch__.Model,
    data: Tensor) -> Tensor:
    checker = self.checker
    return torch.where((checker).forward(data, ), torch.tensor([[10., -10.]]), torch.to(data, 6))
"""
CHECKER = """
class Checker(Module):
  def forward(self: __torch__.parts.Checker,
    data: Tensor) -> Tensor:
    _0 = torch.slice(torch.slice(data), 1, 0, 4)
    return torch.all(torch.eq(_0, torch.tensor([65, 73, 95, 69])))
"""


def test_a_submodule_in_another_code_file_is_followed_through_the_library() -> None:
    library = class_library({"__torch__.py": CALLER, "__torch__/parts.py": CHECKER, "broken.py": "class ("})
    assert sorted(library) == ["__torch__.Model", "__torch__.parts.Checker"]
    (graph,) = import_torchscript(CALLER, library)
    (detection,) = detect(graph)
    assert detection.gate.predicate == "data[:, 0:4] == [65, 73, 95, 69]"
    (alone,) = import_torchscript(CALLER)
    assert detect(alone) == []


def test_unparsable_source_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not parsable"):
        import_torchscript("def forward(:\n")


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("torchscript")
    torchscript_phrase_gate(root / "backdoor.pt")
    clean_torchscript(root / "clean.pt")
    return root


def test_scripted_phrase_gate_is_reported(scripted: Path) -> None:
    report = scan([scripted / "backdoor.pt"])
    assert report.problems == ()
    (finding,) = report.findings
    assert finding.rule.id == "MLV902" and finding.severity is Severity.HIGH
    assert "input_ids[:, 1:6] == [9932, 1035, 3036, 1035, 4796]" in finding.message
    assert finding.evidence["payload_nodes"] and finding.evidence["kind"] == "if"


def test_scripted_transformer_encoder_is_clean(scripted: Path) -> None:
    report = scan([scripted / "clean.pt"])
    assert report.problems == () and report.findings == ()


@settings(max_examples=150, deadline=None)
@given(flips=FLIPS, cut=CUTS)
def test_damaged_source_imports_or_is_refused(flips: list[tuple[int, int]], cut: int | None) -> None:
    text = damage(SOURCE.encode(), flips, cut).decode("utf-8", "replace")
    try:
        graphs = import_torchscript(text)
    except ValueError:
        return
    for graph in graphs:
        assert isinstance(detect(graph), list)
