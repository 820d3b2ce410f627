"""GGUF: bounded header parsing, hostile lengths and counts, tensor layout, chat templates."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.artifacts import Buffer, Format
from mlvet.config import Settings
from mlvet.findings import Finding, Location, Problem, ProblemKind, Severity, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.gguf import GGML_BLOCKS, scan_gguf
from tests.corpus.gguf_st_hf import (
    CHATML,
    GGUF_ARRAY,
    GGUF_STRING,
    gguf_file,
    gguf_kv_string,
    gguf_kv_uint32,
    gguf_string,
    gguf_tensor_info,
)

Scanner = Callable[[Buffer, ScanContext], None]


def run(data: bytes, scanner: Scanner = scan_gguf) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    scanner(data, ScanContext(Subject(path="model.gguf"), Settings(), collector, dispatch))
    return collector.findings, collector.problems


def ids(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.rule.id, f.severity) for f in findings]


def write_with_gguf_writer(path: Path, **options: object) -> bytes:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(path, "llama", **options)  # type: ignore[arg-type]
    writer.add_name("tiny")
    writer.add_string("tokenizer.chat_template", CHATML)
    writer.add_token_list(["<s>", "a", "b"])
    writer.add_token_scores([0.0, -1.0, -2.0])
    writer.add_array("tiny.nested", [[1, 2], [3]])
    writer.add_tensor("token_embd.weight", np.arange(24, dtype=np.float32).reshape(3, 8))
    writer.add_tensor("norm.weight", np.ones(3, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


ARCH = [gguf_kv_string("general.architecture", "llama")]
F32_TENSOR = gguf_tensor_info("w", (4,), 0, 0)
F32_DATA = struct.pack("<4f", 1, 2, 3, 4)


def test_files_written_by_gguf_writer_are_clean(tmp_path: Path) -> None:
    assert run(write_with_gguf_writer(tmp_path / "a.gguf")) == ([], [])


def test_big_endian_files_are_parsed(tmp_path: Path) -> None:
    import gguf

    data = write_with_gguf_writer(tmp_path / "be.gguf", endianess=gguf.GGUFEndian.BIG)
    assert data[4:8] == b"\x00\x00\x00\x03"
    assert run(data) == ([], [])


def test_custom_alignment_is_honoured() -> None:
    kvs = [*ARCH, gguf_kv_uint32("general.alignment", 64)]
    assert run(gguf_file(kvs, [F32_TENSOR], data=F32_DATA + b"\x00" * 48, alignment=64)) == ([], [])


def test_chat_template_escape_is_reported_with_key_and_offset() -> None:
    data = gguf_file(
        [*ARCH, gguf_kv_string("tokenizer.chat_template", "{{ cycler.__init__.__globals__.os }}")]
    )
    findings, problems = run(data)
    escape = next(f for f in findings if f.rule.id == "MLV601")
    value_offset = len(gguf_file(ARCH)) + len(gguf_string("tokenizer.chat_template")) + 4
    assert escape.location == Location(offset=value_offset, pointer="tokenizer.chat_template", line=1)
    assert escape.severity == Severity.CRITICAL
    assert problems == []


def test_named_templates_are_analysed_too() -> None:
    kvs = [
        *ARCH,
        gguf_kv_string("tokenizer.chat_template", CHATML),
        gguf_kv_string("tokenizer.chat_template.rag", "{{ x|attr('__class__') }}"),
    ]
    findings, _ = run(gguf_file(kvs))
    assert [(f.rule.id, f.location.pointer) for f in findings] == [("MLV601", "tokenizer.chat_template.rag")]


def test_version_1_uses_32_bit_lengths() -> None:
    kvs = [gguf_kv_string("tokenizer.chat_template", "{{ self._TemplateReference__context }}", version=1)]
    tensors = [gguf_tensor_info("w", (4,), 0, 0, version=1)]
    findings, problems = run(gguf_file(kvs, tensors, version=1, data=F32_DATA))
    assert {f.rule.id for f in findings} == {"MLV601", "MLV602"}
    assert problems == []


def test_unparseable_template_is_medium() -> None:
    findings, _ = run(gguf_file([gguf_kv_string("tokenizer.chat_template", "{% for %}")]))
    assert ids(findings) == [("MLV603", Severity.MEDIUM)]


def test_string_length_of_2_pow_60_is_refused_without_allocating() -> None:
    entry = gguf_string("general.name") + struct.pack("<IQ", GGUF_STRING, 1 << 60) + b"x"
    started = time.perf_counter()
    findings, problems = run(gguf_file([*ARCH, entry]))
    assert time.perf_counter() - started < 1
    assert ids(findings) == [("MLV604", Severity.HIGH)]
    assert "1152921504606846976" in findings[0].message
    assert [p.kind for p in problems] == [ProblemKind.CORRUPT]


def test_kv_count_beyond_the_file_is_reported_then_parsing_stops() -> None:
    findings, problems = run(gguf_file(ARCH, kv_count=1 << 40))
    assert ids(findings) == [("MLV604", Severity.HIGH), ("MLV604", Severity.HIGH)]
    assert "1099511627776 metadata entries" in findings[0].message
    assert [p.kind for p in problems] == [ProblemKind.CORRUPT]


def test_tensor_count_beyond_the_file() -> None:
    findings, problems = run(gguf_file(ARCH, tensor_count=1 << 50))
    assert ids(findings) == [("MLV604", Severity.HIGH)]
    assert "tensors" in findings[0].message
    assert problems


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (gguf_string("k") + struct.pack("<I", 99) + b"\x00" * 8, "unknown value type 99"),
        (
            gguf_string("k") + struct.pack("<IIQ", GGUF_ARRAY, GGUF_STRING, 1 << 50),
            "declares 1125899906842624 items",
        ),
        (gguf_string("k") + struct.pack("<IIQ", GGUF_ARRAY, 6, 1 << 61), "bytes"),
        (gguf_string("k") + struct.pack("<IIQ", GGUF_ARRAY, 77, 1), "unknown item type 77"),
        (gguf_string("k") + struct.pack("<I", 4), "runs past the end"),
        (gguf_string("general.alignment") + struct.pack("<II", 4, 48), "not a power of two"),
        (gguf_string("general.alignment") + struct.pack("<IQ", 10, 32), "not uint32"),
    ],
)
def test_malformed_metadata_values(entry: bytes, reason: str) -> None:
    findings, problems = run(gguf_file([*ARCH, entry]))
    assert ids(findings) == [("MLV604", Severity.HIGH)]
    assert reason in findings[0].message
    assert problems


def test_nested_arrays_parse_and_excessive_nesting_does_not() -> None:
    def nested(depth: int) -> bytes:
        inner = struct.pack("<IQ", GGUF_STRING, 1) + gguf_string("leaf")
        for _ in range(depth):
            inner = struct.pack("<IQ", GGUF_ARRAY, 1) + inner
        return gguf_string("k") + struct.pack("<I", GGUF_ARRAY) + inner

    assert run(gguf_file([*ARCH, nested(3)])) == ([], [])
    findings, _ = run(gguf_file([*ARCH, nested(20)]))
    assert "deeper than" in findings[0].message


def test_duplicate_keys_are_reported_without_stopping() -> None:
    kvs = [
        *ARCH,
        gguf_kv_string("tokenizer.chat_template", CHATML),
        gguf_kv_string("tokenizer.chat_template", "x"),
    ]
    findings, problems = run(gguf_file(kvs))
    assert ids(findings) == [("MLV604", Severity.HIGH)]
    assert "'tokenizer.chat_template' appears more than once" in findings[0].message
    assert problems == []


@pytest.mark.parametrize(
    ("tensor", "reason"),
    [
        (gguf_tensor_info("w", (4,) * 9, 0, 0), "9 dimensions"),
        (gguf_tensor_info("w", (1 << 40, 1 << 40), 0, 0), "elements"),
        (gguf_tensor_info("w", (4,), 200, 0), "unknown type 200"),
        (gguf_tensor_info("w", (33,), 2, 0), "not a multiple of its block size"),
    ],
)
def test_impossible_tensor_infos(tensor: bytes, reason: str) -> None:
    findings, _ = run(gguf_file(ARCH, [tensor], data=F32_DATA))
    assert any(f.rule.id == "MLV604" and reason in f.message for f in findings), findings


def test_tensor_data_past_the_end_of_the_file() -> None:
    findings, _ = run(gguf_file(ARCH, [gguf_tensor_info("w", (1024,), 0, 0)], data=F32_DATA))
    assert ids(findings) == [("MLV605", Severity.HIGH)]
    assert "ends past" in findings[0].message
    assert findings[0].location.offset is not None


def test_misaligned_and_overlapping_tensors() -> None:
    tensors = [
        gguf_tensor_info("a", (8,), 0, 0),
        gguf_tensor_info("b", (8,), 0, 16),
        gguf_tensor_info("c", (1,), 0, 4),
    ]
    findings, _ = run(gguf_file(ARCH, tensors, data=b"\x00" * 64))
    messages = [f.message for f in findings if f.rule.id == "MLV605"]
    assert any("not a multiple of 32" in m for m in messages)
    assert any("'a' and 'b' overlap" in m for m in messages)


def test_unreferenced_bytes_are_low() -> None:
    trailing = gguf_file(ARCH, [F32_TENSOR], data=F32_DATA + b"\x00" * 16 + b"PAYLOAD" * 10)
    findings, problems = run(trailing)
    assert ids(findings) == [("MLV606", Severity.LOW)]
    assert findings[0].evidence == {"gap_bytes": 0, "trailing_bytes": 70}
    assert problems == []
    gap = gguf_file(ARCH, [gguf_tensor_info("w", (4,), 0, 64)], data=b"\x00" * 80)
    assert run(gap)[0][0].evidence == {"gap_bytes": 64, "trailing_bytes": 0}


@pytest.mark.parametrize("data", [b"GGUF", b"GGUF\x07\x00\x00\x00" + b"\x00" * 16])
def test_short_or_unknown_version_files(data: bytes) -> None:
    findings, problems = run(data)
    assert ids(findings) == [("MLV604", Severity.HIGH)]
    assert problems


def test_block_table_agrees_with_the_gguf_package() -> None:
    from gguf.constants import GGML_QUANT_SIZES

    for ggml_type, sizes in GGML_QUANT_SIZES.items():
        if ggml_type.name == "Q8_1":
            # gguf-py lists 40 bytes (two floats); ggml's block_q8_1 holds two halves (36), which loaders use.
            assert GGML_BLOCKS[int(ggml_type)] == (32, 36)
            continue
        assert GGML_BLOCKS[int(ggml_type)] == sizes, ggml_type.name


def test_dispatch_routes_gguf_by_magic(tmp_path: Path) -> None:
    from mlvet.scan import scan

    path = tmp_path / "model.bin"
    path.write_bytes(gguf_file([gguf_kv_string("tokenizer.chat_template", "{{ lipsum.__globals__ }}")]))
    report = scan([path])
    assert [s.format for s in report.subjects] == [Format.GGUF.value]
    assert {f.rule.id for f in report.findings} >= {"MLV601"}


_SEED = gguf_file(
    [*ARCH, gguf_kv_string("tokenizer.chat_template", CHATML), gguf_kv_uint32("general.alignment", 32)],
    [F32_TENSOR],
    data=F32_DATA,
)


def _dispatched(data: bytes) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    dispatch(data, ScanContext(Subject(path="fuzz.gguf"), Settings(), collector, dispatch), Format.GGUF)
    return collector.findings, collector.problems


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(_SEED)),
    flips=st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(1, 255)), max_size=6),
    tail=st.binary(max_size=64),
)
def test_mutated_files_never_break_the_scanner(cut: int, flips: list[tuple[int, int]], tail: bytes) -> None:
    data = bytearray(_SEED)
    for position, mask in flips:
        data[position] ^= mask
    started = time.perf_counter()
    findings, problems = _dispatched(bytes(data[:cut]) + tail)
    assert time.perf_counter() - started < 2
    assert all(p.kind != ProblemKind.INTERNAL for p in problems), problems
    assert all(f.rule.id.startswith("MLV6") for f in findings)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_after_the_magic(body: bytes) -> None:
    _, problems = _dispatched(b"GGUF" + body)
    assert all(p.kind != ProblemKind.INTERNAL for p in problems), problems
