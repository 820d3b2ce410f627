"""Stream structure: concatenation, breaks and resync, frames, PROTO, resource abuse."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

from mlvet.findings import Location, Severity
from mlvet.scan import scan
from tests.unit.scan.pickle.harness import (
    SYSTEM,
    call,
    frame,
    global_op,
    proto4,
    scan_bytes,
    stack_global,
    text,
)


def test_every_concatenated_pickle_is_scanned() -> None:
    benign = pickle.dumps({"epoch": 3}, protocol=2)
    outcome = scan_bytes(benign + benign + SYSTEM)
    finding = outcome.only("MLV101")
    assert finding.location.offset == 2 * len(benign) + 26
    assert finding.evidence["stream"] == 2


def test_trailing_raw_data_after_a_complete_pickle_is_not_an_error() -> None:
    storage = struct.pack("<q", 3) + struct.pack("<3f", 1.0, 2.0, 3.0)
    outcome = scan_bytes(pickle.dumps(["0", "1"], protocol=2) + storage)
    assert outcome.findings == [] and outcome.problems == []


def test_trailing_bytes_that_only_look_like_a_pickle_start_are_ignored() -> None:
    assert scan_bytes(pickle.dumps([1], protocol=2) + b"(\x00\x00\x00garbage").findings == []
    assert scan_bytes(pickle.dumps([1], protocol=2) + b"\x80\x02\x00\x00\x00").findings == []


def test_payload_before_a_corrupt_tail_is_critical_and_the_break_medium() -> None:
    data = b"\x80\x02" + global_op("posix", "system") + b"X\x04\x00\x00\x00true\x85R" + b"\x00junk"
    outcome = scan_bytes(data)
    assert outcome.only("MLV101").severity is Severity.CRITICAL
    broken = outcome.only("MLV108")
    assert broken.severity is Severity.MEDIUM
    assert broken.location == Location(offset=len(data) - 5, opcode_index=5)
    assert "invalid opcode byte 0x00" in broken.message
    assert outcome.problems == []


def test_resync_after_a_break_finds_the_next_pickle() -> None:
    outcome = scan_bytes(b"\x80\x02]\xff\xfe garbage " + SYSTEM)
    assert outcome.rules() == {"MLV101", "MLV108"}


def test_truncated_stream_reports_a_break() -> None:
    outcome = scan_bytes(SYSTEM[:-3])
    assert "MLV108" in outcome.rules()
    assert outcome.rules(Severity.HIGH) == {"MLV102"}


def test_frame_crossing_is_reported_and_the_hidden_reading_scanned() -> None:
    hidden = b"cposix\nsystem\n(S'true'\ntR."
    data = b"\x80\x04\x95" + struct.pack("<Q", 5) + b"B" + struct.pack("<I", len(hidden)) + hidden + b"."
    outcome = scan_bytes(data)
    divergence = outcome.only("MLV109")
    assert divergence.severity is Severity.HIGH
    assert divergence.location == Location(offset=11, opcode_index=2)
    assert divergence.evidence["frame_end"] == 16
    assert outcome.only("MLV101").location.offset == 16 + len(hidden) - 2


def test_well_formed_frames_are_clean() -> None:
    data = pickle.dumps({f"k{i}": f"v{i}" * 60 for i in range(2000)}, protocol=4)
    assert data.count(b"\x95") > 3
    assert scan_bytes(data).findings == []


def test_frame_declaring_more_than_the_data_holds() -> None:
    outcome = scan_bytes(b"\x80\x04" + b"\x95" + struct.pack("<Q", 10**12) + SYSTEM[2:])
    assert "MLV112" in outcome.rules()
    assert "MLV101" in outcome.rules()


def test_misplaced_and_duplicate_proto() -> None:
    outcome = scan_bytes(b"\x80\x04\x80\x02" + SYSTEM[2:])
    confusion = outcome.only("MLV111")
    assert confusion.severity is Severity.MEDIUM
    assert confusion.location == Location(offset=2, opcode_index=1)
    assert "MLV101" in outcome.rules()


def test_invalid_utf8_in_a_global_operand() -> None:
    outcome = scan_bytes(b"cacme\nrun\xffhook\n(S'x'\ntR.")
    assert "MLV111" in outcome.rules()
    assert outcome.rules(Severity.HIGH) == {"MLV103"}


def test_unsupported_protocol_breaks() -> None:
    assert "unsupported pickle protocol 9" in scan_bytes(b"\x80\x09N.").only("MLV108").message


def test_huge_declared_lengths_are_bounded() -> None:
    for opcode in (b"\x8e", b"\x96", b"\x8d"):
        outcome = scan_bytes(b"\x80\x05" + opcode + struct.pack("<Q", 1 << 62) + b"abc")
        assert "MLV112" in outcome.rules(), outcome.describe()
    outcome = scan_bytes(b"\x80\x04B" + struct.pack("<I", 1 << 31) + b"abc")
    assert "MLV112" in outcome.rules()


def test_deep_stack_and_many_marks_are_reported_not_recursed() -> None:
    outcome = scan_bytes(b"\x80\x04" + b"N" * 200_000 + b"(" * 20_000 + b"l.")
    assert "MLV112" in outcome.rules()
    assert outcome.problems == []


def test_memo_expansion_bomb() -> None:
    data = b"\x80\x04]\x94" + (b"(" + b"h\x00" * 1000 + b"l0") * 120 + b"."
    outcome = scan_bytes(data)
    assert "120000 memo fetches for 1 memo entries" in outcome.only("MLV112").message


def test_sparse_memo_matches_loader_semantics() -> None:
    body = text("x") + b"r\x00\x00\x01\x00" + b"0" + text("posix") + b"\x94" + text("system") + b"\x94"
    body += b"j\x01\x00\x00\x00h\x02\x93(" + text("true") + b"tR"
    outcome = scan_bytes(proto4(body))
    assert outcome.only("MLV101").evidence["module"] == "posix", outcome.describe()


def test_frames_in_real_streams_with_calls() -> None:
    body = frame(call(stack_global("posix", "system"), text("true")))
    assert "MLV101" in scan_bytes(proto4(body)).rules()


def test_a_flood_of_distinct_globals_cannot_hide_a_payload() -> None:
    payload = call(stack_global("posix", "system"), text("true"))
    imports = b"".join(stack_global(f"acme{i}", "Thing") + b"0" for i in range(1500))
    outcome = scan_bytes(proto4(imports + payload))
    assert outcome.only("MLV101").severity is Severity.CRITICAL
    assert outcome.only("MLV112").evidence["unlisted"] == 501
    calls = b"".join(call(stack_global(f"acme{i}", "run"), text("x")) + b"0" for i in range(1500))
    outcome = scan_bytes(proto4(calls + payload))
    assert outcome.only("MLV112").severity is Severity.CRITICAL
    assert len(outcome.findings) <= 1002


def test_many_concatenated_pickles_are_all_scanned() -> None:
    outcome = scan_bytes(b"N." * 20_000 + SYSTEM)
    assert outcome.only("MLV101").evidence["stream"] == 20_000


def test_files_are_scanned_memory_mapped(tmp_path: Path) -> None:
    hidden = b"cposix\nsystem\n(S'true'\ntR."
    lie = b"\x80\x04\x95" + struct.pack("<Q", 5) + b"B" + struct.pack("<I", len(hidden)) + hidden + b"."
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps([1], protocol=2) + SYSTEM + lie)
    report = scan([path])
    assert sorted(f.rule.id for f in report.findings) == ["MLV101", "MLV101", "MLV109"]
    assert report.findings[0].subject.format == "pickle"
