"""The corpus, built once per session with the real frameworks (fixtures run before the guard arms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus.registry import ALL_SAMPLES


@pytest.fixture(scope="session")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for sample in ALL_SAMPLES:
        target = root / sample.name
        target.parent.mkdir(parents=True, exist_ok=True)
        sample.build(target)
    return root
