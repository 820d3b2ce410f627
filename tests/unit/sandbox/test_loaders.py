"""``--loader auto``: the loader is judged from the file's bytes (real files from the corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvet.errors import InputError
from mlvet.sandbox.loaders import choose_loader, inside_name

EXPECTED = {
    "pickle/os_system_proto0.pkl": "pickle",
    "pickle/sklearn_pipeline.pkl": "pickle",
    "pickle/joblib_arrays.joblib": "joblib",
    "joblib/zlib_payload.joblib": "joblib",
    "joblib/benign_sklearn_xz.joblib": "joblib",
    "torch/benign_state_dict.pt": "torch",
    "torch/benign_legacy.pt": "torch",
    "torch/zip_junk_prefix.pt": "torch",
    "torch/legacy_tar.pt": "torch",
    "numpy/benign.npy": "numpy",
    "numpy/benign.npz": "numpy",
    "keras/benign_sequential.keras": "keras",
    "keras/benign_sequential.h5": "keras",
    "onnx/benign_torch_mlp.onnx": "onnx",
    "gguf/writer_chatml.gguf": "gguf",
}


@pytest.mark.parametrize(("name", "loader"), sorted(EXPECTED.items()))
def test_auto_picks_the_real_loader(corpus_root: Path, name: str, loader: str) -> None:
    assert choose_loader(corpus_root / name) == loader


def test_content_without_a_loader_is_an_input_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.pkl"
    text.write_text("just some words, not a model\n")
    with pytest.raises(InputError, match="no loader for text content") as error:
        choose_loader(text)
    assert "--loader" in error.value.hint


def test_keras_files_get_the_extension_keras_checks(corpus_root: Path) -> None:
    assert inside_name("keras", corpus_root / "keras/benign_sequential.h5") == "model.h5"
    assert inside_name("keras", corpus_root / "keras/benign_sequential.keras") == "model.keras"
    assert inside_name("pickle", Path("/x/../we ird;name.pkl")) == "we_ird_name.pkl"
