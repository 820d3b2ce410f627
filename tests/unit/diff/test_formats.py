"""Readers: safetensors headers are checked, ONNX external data stays inside the model's folder."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from mlvet.diff.formats import FormatError, read_onnx, read_safetensors
from tests.unit.diff.builders import save_safetensors
from tests.unit.redteam.base_models import byte_mlp


def _safetensors(path: Path, header: dict[str, object], data: bytes) -> Path:
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return path


def test_tensors_come_back_in_file_order_with_metadata(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file(
        {"b": np.zeros(2, np.float32), "a": np.ones(3, np.int8)}, str(tmp_path / "m.safetensors"), {"k": "v"}
    )
    model = read_safetensors(tmp_path / "m.safetensors")
    offsets = [t.offset for t in model.tensors]
    assert offsets == sorted(offsets)
    assert {(t.name, t.dtype, t.shape) for t in model.tensors} == {
        ("b", "float32", (2,)),
        ("a", "int8", (3,)),
    }
    assert model.metadata == {"k": "v"}


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        (
            {
                "x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            bytes(12),
            "overlap",
        ),
        ({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8), "do not fit"),
        ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8), "do not fit"),
        ({"x": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 1]}}, bytes(1), "unknown dtype"),
        ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4), "invalid shape"),
    ],
)
def test_malformed_safetensors_headers_are_refused(
    tmp_path: Path, header: dict[str, object], data: bytes, message: str
) -> None:
    with pytest.raises(FormatError, match=message):
        read_safetensors(_safetensors(tmp_path / "bad.safetensors", header, data))


def test_header_length_beyond_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(FormatError, match="exceeds the file"):
        read_safetensors(path)


def test_onnx_initializers_and_external_data(tmp_path: Path) -> None:
    model = byte_mlp()
    onnx.save(
        model,
        tmp_path / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="w.bin",
        size_threshold=0,
    )
    found = {t.name: t for t in read_onnx(tmp_path / "m.onnx").tensors}
    weight = found["fc1.weight"]
    assert weight.path == (tmp_path / "w.bin").resolve()
    raw = weight.path.read_bytes()[weight.offset : weight.offset + weight.nbytes]
    pristine = byte_mlp()  # onnx.save moved the first model's data out in place
    expected = numpy_helper.to_array(next(i for i in pristine.graph.initializer if i.name == "fc1.weight"))
    assert np.array_equal(np.frombuffer(raw, np.float32).reshape(expected.shape), expected)


def test_onnx_external_data_outside_the_folder_is_refused(tmp_path: Path) -> None:
    model = byte_mlp()
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(FormatError, match="outside the model's folder"):
        read_onnx(tmp_path / "m.onnx")


def test_safetensors_written_by_the_library_round_trip(tmp_path: Path) -> None:
    tensors = {"w": np.arange(6, dtype=np.float16).reshape(2, 3)}
    (ref,) = read_safetensors(save_safetensors(tmp_path / "x.safetensors", tensors)).tensors
    assert ref.path is not None
    raw = ref.path.read_bytes()[ref.offset : ref.offset + ref.nbytes]
    assert np.array_equal(np.frombuffer(raw, np.float16).reshape(2, 3), tensors["w"])
