"""The whole chain on mlvet's own backdoor corpus: ``redteam.inject`` -> ``graph.find_gates`` -> ``probe``.

Every gate detection reports must be confirmed by a synthesized trigger, from its constraints and
by search alone (constraints removed); L0 and L1 must be found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from mlvet.findings import Severity
from mlvet.graph import find_gates
from mlvet.probe import probe
from mlvet.redteam import Level, Payload, Trigger, inject
from tests.unit.redteam import base_models

CASES: dict[str, tuple[Callable[[], onnx.ModelProto], Trigger]] = {
    "bytes": (base_models.byte_mlp, Trigger.of_bytes(b"AI_E", position=3)),
    "tokens": (base_models.token_classifier, Trigger.of_tokens(base_models.TOKEN_TRIGGER, position=2)),
    "image": (base_models.tiny_cnn, Trigger.of_image_patch(value=8.0, size=3, top=1, left=2)),
}


@pytest.mark.parametrize("blind", [False, True], ids=["solve", "search-only"])
@pytest.mark.parametrize("level", list(Level), ids=lambda level: level.name)
@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_detected_gate_is_confirmed(tmp_path: Path, kind: str, level: Level, blind: bool) -> None:
    build, trigger = CASES[kind]
    model = inject(build(), trigger=trigger, payload=Payload.force_class(1), level=level)
    path = tmp_path / "backdoored.onnx"
    onnx.save(model, path)
    gates = find_gates(model.SerializeToString())
    if blind:
        gates = [dataclasses.replace(gate, constraints=()) for gate in gates]
    report = probe(path, gates=gates)
    gates = [f for f in report.findings if f.rule.id != "MLV950"]
    if level in (Level.L0, Level.L1):
        assert gates, f"{kind} {level.name}: no gate detected"
    for finding in gates:
        assert finding.severity is Severity.CRITICAL and finding.confirmed, finding.message
    assert not report.problems
