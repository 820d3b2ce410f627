"""Every parser, fed mutated corpus files: findings or problems, never a crash, a hang or a blow-up.

Each corpus file is truncated, bit-flipped and spliced with random bytes; the scan must finish with
no exception and no ``internal`` problem. Hostile declared sizes must not grow memory past a bound.
"""

from __future__ import annotations

import io
import struct
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.findings import ProblemKind, Report
from mlvet.scan import scan_bytes
from tests.corpus.registry import ALL_SAMPLES

_FILES = sorted({s.name for s in ALL_SAMPLES if "." in Path(s.name).name})
_MAX_BYTES = 256 << 10


def _assert_sound(report: Report) -> None:
    internal = [p.message for p in report.problems if p.kind is ProblemKind.INTERNAL]
    assert not internal, internal


def _load(corpus_root: Path, name: str) -> bytes:
    path = corpus_root / name
    return path.read_bytes()[:_MAX_BYTES] if path.is_file() else b""


@pytest.mark.parametrize("name", _FILES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_sample_never_crashes(corpus_root: Path, name: str, data: st.DataObject) -> None:
    original = _load(corpus_root, name)
    if not original:
        return
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    if kind == "truncate":
        mutated = original[: data.draw(st.integers(0, len(original)))]
    elif kind == "flip":
        buffer = bytearray(original)
        for _ in range(data.draw(st.integers(1, 8))):
            position = data.draw(st.integers(0, len(buffer) - 1))
            buffer[position] ^= 1 << data.draw(st.integers(0, 7))
        mutated = bytes(buffer)
    else:
        start = data.draw(st.integers(0, len(original)))
        mutated = original[:start] + data.draw(st.binary(max_size=64)) + original[start:]
    _assert_sound(scan_bytes(mutated, name))


def _peak_bytes(data: bytes) -> int:
    tracemalloc.start()
    try:
        _assert_sound(scan_bytes(data, "hostile"))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _nested_zip(depth: int) -> bytes:
    blob = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
    for level in range(depth):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"level{level}.zip", blob)
        blob = buffer.getvalue()
    return blob


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weights.bin", b"\x00" * (64 << 20))
    return buffer.getvalue()


def _tar_with_huge_declared_member() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("model.pkl")
        info.size = 16
        archive.addfile(info, io.BytesIO(b"\x80\x02N." + b"\x00" * 12))
    raw = bytearray(buffer.getvalue())
    raw[124:136] = b"\x80" + (1 << 60).to_bytes(11, "big")  # GNU base-256 size: 2**60 bytes
    return bytes(raw)


HOSTILE = {
    "pickle BINBYTES8 of 2**60": b"\x80\x04\x8e" + struct.pack("<Q", 1 << 60) + b"abc",
    "pickle 10**6-deep list nesting": b"\x80\x02" + b"]" * 1_000_000 + b".",
    "pickle 10**6 marks": b"\x80\x02" + b"(" * 1_000_000 + b".",
    "gguf string of 2**60": b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 60) + b"key",
    "safetensors header of 2**60": struct.pack("<Q", 1 << 60) + b'{"a": 1}',
    "npy header of 65535": b"\x93NUMPY\x01\x00" + struct.pack("<H", 65535) + b"{",
    "zip nested 12 deep": _nested_zip(12),
    "zip bomb (64 MiB of zeros)": _zip_bomb(),
    "tar member declaring 2**60 bytes": _tar_with_huge_declared_member(),
}


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_hostile_sizes_stay_within_a_memory_bound(label: str) -> None:
    assert _peak_bytes(HOSTILE[label]) < 96 << 20, label
