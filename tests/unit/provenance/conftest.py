"""Shared material for the signing tests: key pairs and a model, made fresh per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.provenance.material import KeyPair, write_key_pair, write_model

FIXTURES = Path(__file__).parent / "data" / "model_transparency"


@pytest.fixture
def p256(tmp_path: Path) -> KeyPair:
    return write_key_pair(tmp_path, "p256")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model")
