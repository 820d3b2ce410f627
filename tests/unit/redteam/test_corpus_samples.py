"""The graph/injected corpus family: every sample builds, validates, and keeps its twin's interface."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from tests.corpus import graph_injected

INJECTED = [s for s in graph_injected.SAMPLES if s.name.startswith(f"{graph_injected.TOP}/")]
"""The injector's samples (the family also registers the hand-built ``graph/boundaries`` ones)."""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, onnx.ModelProto]:
    root = tmp_path_factory.mktemp("graph_injected")
    models = {}
    for sample in INJECTED:
        path = root / sample.name
        path.parent.mkdir(parents=True, exist_ok=True)
        sample.build(path)
        models[sample.name] = onnx.load(str(path), load_external_data=False)
    return models


def _interface(model: onnx.ModelProto) -> list[str]:
    initializers = {i.name for i in model.graph.initializer}
    return [v.name for v in (*model.graph.input, *model.graph.output) if v.name not in initializers]


def test_every_level_kind_and_base_is_covered() -> None:
    names = {s.name for s in INJECTED if s.malicious}
    for base, (kind, _) in graph_injected._BASES.items():
        for level in range(4):
            assert f"graph/injected/L{level}_{kind}_{base}.onnx" in names
    benign = [s for s in INJECTED if not s.malicious]
    assert len(benign) == len(graph_injected._BASES)
    assert all(
        s.expected and all(r.startswith("MLV9") for r in s.expected)
        for s in graph_injected.SAMPLES
        if s.malicious
    )


def test_samples_validate_and_keep_the_twin_interface(built: dict[str, onnx.ModelProto]) -> None:
    twins = {name.split("_", 2)[2]: model for name, model in built.items() if "/benign_" in name}
    for name, model in built.items():
        onnx.checker.check_model(model)
        if "/benign_" in name:
            continue
        stem = Path(name).name.split("_", 2)[2].removesuffix("_steer.onnx").removesuffix(".onnx")
        twin = twins[f"{stem}.onnx"]
        assert _interface(model) == _interface(twin), name
        assert len(model.graph.node) > len(twin.graph.node), name
