from __future__ import annotations

import importlib.metadata

import pytest

from mlvet.env.audit.catalog import catalog
from mlvet.env.audit.typosquat import edit_distance, look_alike

# Names labelled malicious in Datadog's dataset (research §6a, I7/I11), with the package each imitates.
HISTORICAL_SQUATS = {
    "huggingface-hubs": "huggingface-hub",
    "huggingfaces-hub": "huggingface-hub",
    "lanchain-openai": "langchain-openai",
    "open-clips-torch": "open-clip-torch",
    "pytorch-lighting": "pytorch-lightning",
    "torchvisions": "torchvision",
    "torchs-visions": "torchvision",
    "ttensorflow-gpu": "tensorflow-gpu",
    "sklearns": "sklearn",
    "keras-preprocess": "keras-preprocessing",
    "deepseeek": "deepseek",
    "deepseekai": "deepseek",
}


@pytest.mark.parametrize(("name", "target"), sorted(HISTORICAL_SQUATS.items()))
def test_real_historical_squats_are_caught_by_the_heuristic(name: str, target: str) -> None:
    found = look_alike(name)
    assert found is not None and found.target == target


@pytest.mark.parametrize(
    ("name", "target", "technique"),
    [
        ("tоrch", "torch", "homoglyph"),  # Cyrillic small o (U+043E)
        ("ｔｏｒｃｈ", "torch", "homoglyph"),  # fullwidth letters
        ("t0rch", "torch", "homoglyph"),
        ("tensorfIow", "tensorflow", "homoglyph"),  # capital I for l
        ("scikitlearn", "scikit-learn", "separator"),
        ("huggingfacehub", "huggingface-hub", "separator"),
        ("llamacpp-python", "llama-cpp-python", "separator"),
        ("tensorflow-cu121", "tensorflow", "affix"),
        ("torch-cu118", "torch", "affix"),
        ("transformers-nightly", "transformers", "affix"),
        ("onnxruntime-cuda12", "onnxruntime", "affix"),
        ("torch-utils", "torch", "affix"),
        ("python-transformers", "transformers", "affix"),
        ("trnasformers", "transformers", "edit-distance"),
        ("safetensor", "safetensors", "edit-distance"),
        ("ultralytic", "ultralytics", "edit-distance"),
    ],
)
def test_imitation_techniques(name: str, target: str, technique: str) -> None:
    found = look_alike(name)
    assert found is not None and (found.target, found.technique) == (target, technique), found


@pytest.mark.parametrize(
    "name",
    [
        "torchvision", "torchaudio", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "onnxruntime-gpu",
        "pytorch-triton", "huggingface_hub", "Huggingface-Hub", "scikit-learn", "tokenize-rt", "fastapi",
        "nvidia-cudnn-cu12", "nvidia-cublas-cu13", "jax-cuda12-plugin", "requests", "numpy", "flask", "mlvet",
    ],
)  # fmt: skip
def test_real_packages_that_resemble_others_are_not_flagged(name: str) -> None:
    assert look_alike(name) is None


def test_the_curated_list_and_its_allowlist_flag_nothing() -> None:
    data = catalog()
    assert len(data.ml_packages) >= 150
    assert [n for n in sorted(data.known_names) if look_alike(n) is not None] == []


def test_this_machines_installed_distributions_flag_nothing() -> None:
    names = {d.metadata["Name"] for d in importlib.metadata.distributions() if d.metadata["Name"]}
    assert len(names) > 50
    assert {n: look_alike(n) for n in sorted(names) if look_alike(n) is not None} == {}


def test_edit_distance() -> None:
    assert edit_distance("torch", "torch") == 0
    assert edit_distance("trnasformers", "transformers") == 1  # a swap is one edit
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("a", "abcdef", limit=2) == 3
