"""State dicts written by real ``torch.save``, located without unpickling."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlvet.diff.tensors import Tolerance, compare_tensors
from mlvet.diff.torch_state import StateDictError, read_state_dict


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    root = tmp_path_factory.mktemp("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    torch.save(model.state_dict(), root / "model.pt")
    matrix = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    nested = {
        "model": {
            "w": matrix.t(),
            "half": torch.ones(5, dtype=torch.float16),
            "bf": torch.ones(2, dtype=torch.bfloat16),
        },
        "step": 7,
        "ids": torch.tensor([1, 2, 3]),
        "param": torch.nn.Parameter(torch.zeros(2)),
    }
    torch.save(nested, root / "nested.pt")
    torch.save({"w": matrix.t().contiguous()}, root / "contiguous.pt")
    torch.save({"tail": torch.arange(10.0)[4:]}, root / "offset.pt")
    return root


def test_linear_and_layernorm_state_dict(checkpoints: Path) -> None:
    found = {t.name: t for t in read_state_dict(checkpoints / "model.pt")}
    assert list(found) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert (found["0.weight"].dtype, found["0.weight"].shape, found["0.weight"].nbytes) == (
        "float32",
        (3, 4),
        48,
    )


def test_nested_dicts_dtypes_parameters_and_views(checkpoints: Path) -> None:
    found = {t.name: t for t in read_state_dict(checkpoints / "nested.pt")}
    assert set(found) == {"model.w", "model.half", "model.bf", "ids", "param"}
    assert (found["model.half"].dtype, found["model.bf"].dtype, found["ids"].dtype) == (
        "float16",
        "bfloat16",
        "int64",
    )
    assert found["model.w"].strides == (1, 4)  # a transposed view: read in logical order
    contiguous = {t.name: t for t in read_state_dict(checkpoints / "contiguous.pt")}
    assert compare_tensors(found["model.w"], contiguous["w"], Tolerance()).status == "unchanged"


def test_storage_offset_is_honoured(checkpoints: Path) -> None:
    (tail,) = read_state_dict(checkpoints / "offset.pt")
    raw = tail.path.read_bytes()[tail.offset : tail.offset + tail.nbytes] if tail.path else b""
    assert np.frombuffer(raw, np.float32).tolist() == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]


def test_a_pickle_with_code_is_parsed_never_run(tmp_path: Path) -> None:
    """A REDUCE of ``os.system`` stays an opaque value (the audit hook would catch an unpickling)."""
    payload = (
        b"\x80\x02}q\x00X\x01\x00\x00\x00xq\x01cos\nsystem\nq\x02X\x04\x00\x00\x00trueq\x03\x85q\x04Rq\x05s."
    )
    archive = tmp_path / "evil.pt"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("evil/data.pkl", payload)
        zf.writestr("evil/version", "3\n")
        zf.writestr("evil/byteorder", "little")
    assert read_state_dict(archive) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip at all", "not a zip archive"),
        (None, "no data.pkl"),
        (b"\x80\x02}q\x00X\x01\x00\x00\x00x", "does not parse: pickle exhausted before seeing STOP"),
    ],
)
def test_bad_archives_are_refused_with_a_reason(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.pt"
    if content is None or content.startswith(b"\x80"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("bad/other.txt" if content is None else "bad/data.pkl", content or b"x")
        path.write_bytes(buffer.getvalue())
    else:
        path.write_bytes(content)
    with pytest.raises(StateDictError, match=message):
        read_state_dict(path)


def test_tensor_past_its_storage_is_refused(checkpoints: Path, tmp_path: Path) -> None:
    source = zipfile.ZipFile(checkpoints / "offset.pt")
    target = tmp_path / "short.pt"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            data = source.read(info)
            out.writestr(info.filename, data[:8] if "/data/" in info.filename else data)
    with pytest.raises(StateDictError, match="past the end of its storage"):
        read_state_dict(target)


def test_deeply_nested_containers_are_refused_not_recursed(tmp_path: Path) -> None:
    depth = 5000
    body = b"\x80\x02" + b"}X\x01\x00\x00\x00k" * depth + b"N" + b"s" * depth + b"."
    archive = tmp_path / "deep.pt"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("deep/data.pkl", body)
    with pytest.raises(StateDictError, match="nested deeper than 64"):
        read_state_dict(archive)
