"""The relaxed zip reader: lenient where PyTorch is, precise about every quirk, bounded on hostile input."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet._internal.streams import BufferFile, Codec, decode
from mlvet._internal.zipreader import AnomalyKind, ZipArchive, ZipError, open_zip
from tests.corpus.containers import (
    PAYLOAD,
    _drop_from_directory,
    _patch_member,
    _torch_members,
    _zip,
    zip64_archive,
)

MEMBERS = [("a/data.pkl", PAYLOAD), ("a/notes.txt", b"hello " * 100), ("a/data/0", bytes(range(256)))]


def kinds(archive: ZipArchive) -> list[AnomalyKind]:
    return [anomaly.kind for anomaly in archive.anomalies]


def contents(archive: ZipArchive) -> dict[str, bytes]:
    return {entry.name: bytes(archive.read(entry, 1 << 20).data) for entry in archive.entries}


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_reads_every_standard_method(method: int) -> None:
    archive = open_zip(_zip(MEMBERS, method))
    assert contents(archive) == dict(MEMBERS)
    assert archive.anomalies == []
    for entry in archive.entries:
        result = archive.read(entry, 1 << 20)
        assert result.complete and result.crc_ok is True and result.error is None


def test_zip64_records_and_extra_fields() -> None:
    archive = open_zip(zip64_archive(MEMBERS))
    assert contents(archive) == dict(MEMBERS)
    assert archive.anomalies == []


@pytest.mark.parametrize("builder", [lambda m: _zip(m), zip64_archive])
def test_junk_prefix_shifts_offsets_and_is_reported(builder: object) -> None:
    data = b"MZ" + bytes(998) + builder(MEMBERS)  # type: ignore[operator]
    archive = open_zip(data)
    assert contents(archive) == dict(MEMBERS)
    assert kinds(archive) == [AnomalyKind.PREFIX]
    assert archive.anomalies[0].detail == "1000 bytes precede the archive (offsets shifted)"


@pytest.mark.parametrize("flag", [0x1, 0x20, 0x40])
def test_flag_bits_are_reported_but_do_not_stop_reading(flag: int) -> None:
    data = _patch_member(_zip(MEMBERS), "a/data.pkl", flags=flag)
    with pytest.raises((RuntimeError, NotImplementedError)):
        zipfile.ZipFile(io.BytesIO(data)).read("a/data.pkl")
    archive = open_zip(data)
    assert contents(archive)["a/data.pkl"] == PAYLOAD
    (anomaly,) = archive.anomalies
    assert anomaly.kind is AnomalyKind.FLAG_BITS
    assert anomaly.member == "a/data.pkl"
    assert anomaly.detail == f"general-purpose flag bits {flag:#x}"


def test_crc_mismatch_is_reported_on_read() -> None:
    data = _patch_member(_zip(MEMBERS), "a/data.pkl", crc_xor=1)
    archive = open_zip(data)
    entry = archive.entries[0]
    result = archive.read(entry, 1 << 20)
    assert result.data == PAYLOAD and result.complete and result.crc_ok is False


def test_local_and_central_name_mismatch() -> None:
    data = _patch_member(_zip(MEMBERS), "a/data.pkl", rename="a/data.txt")
    archive = open_zip(data)
    entry = archive.entries[0]
    assert (entry.name, entry.local_name) == ("a/data.txt", "a/data.pkl")
    assert kinds(archive) == [AnomalyKind.NAME_MISMATCH]
    assert archive.read(entry, 1 << 20).data == PAYLOAD


def test_missing_central_directory_falls_back_to_local_headers() -> None:
    data = _zip(MEMBERS, zipfile.ZIP_DEFLATED)
    archive = open_zip(data[: data.find(b"PK\x01\x02")])
    assert kinds(archive) == [AnomalyKind.NO_CENTRAL_DIRECTORY]
    assert [e.listed for e in archive.entries] == [False] * 3
    assert contents(archive) == dict(MEMBERS)


def test_streamed_members_without_directory_are_measured() -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.buffer = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            chunk = bytes(data)  # type: ignore[call-overload]
            self.buffer += chunk
            return len(chunk)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in MEMBERS:
            archive.writestr(name, data)
    raw = bytes(sink.buffer)
    archive_read = open_zip(raw[: raw.find(b"PK\x01\x02")])
    assert contents(archive_read) == dict(MEMBERS)
    assert all(archive_read.read(e, 1 << 20).crc_ok is None for e in archive_read.entries)


def test_member_missing_from_directory_is_found_in_the_gap() -> None:
    data = _drop_from_directory(_zip([("hidden.pkl", PAYLOAD), *MEMBERS]), "hidden.pkl")
    archive = open_zip(data)
    hidden = [e for e in archive.entries if not e.listed]
    assert [e.name for e in hidden] == ["hidden.pkl"]
    assert archive.read(hidden[0], 1 << 20).data == PAYLOAD
    assert kinds(archive) == [AnomalyKind.UNLISTED_MEMBER]


def test_missing_local_header_is_an_anomaly_and_an_unreadable_member() -> None:
    data = bytearray(_zip(MEMBERS))
    data[0:4] = b"XXXX"
    archive = open_zip(bytes(data))
    assert AnomalyKind.MISSING_LOCAL_HEADER in kinds(archive)
    result = archive.read(archive.entries[0], 1 << 20)
    assert not result.complete and result.error == "no local header at the recorded offset"


def test_overlapping_members_are_reported() -> None:
    data = _zip([("a.bin", bytes(4096))], zipfile.ZIP_DEFLATED)
    directory, eocd = data.find(b"PK\x01\x02"), data.rfind(b"PK\x05\x06")
    record = data[directory:eocd]
    tail = bytearray(data[eocd:])
    tail[8:12] = (2).to_bytes(2, "little") * 2
    tail[12:16] = (2 * len(record)).to_bytes(4, "little")
    archive = open_zip(data[:directory] + record + record.replace(b"a.bin", b"b.bin") + bytes(tail))
    assert AnomalyKind.OVERLAP in kinds(archive)


def test_symlink_and_directory_entries() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link")
        link.create_system, link.external_attr = 3, 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("folder/", b"")
        archive.writestr("file", b"x")
    entries = open_zip(buffer.getvalue()).entries
    assert [(e.is_symlink, e.is_dir) for e in entries] == [(True, False), (False, True), (False, False)]


def test_cap_bounds_decompression_whatever_the_declared_size() -> None:
    archive = open_zip(_zip([("zeros", bytes(4 << 20))], zipfile.ZIP_DEFLATED))
    result = archive.read(archive.entries[0], 1000)
    assert len(result.data) == 1000 and result.over_limit and not result.complete and result.crc_ok is None
    assert archive.read_head(archive.entries[0], 16) == bytes(16)


def test_declared_sizes_are_not_trusted() -> None:
    data = bytearray(_zip([("m", b"abc")]))
    directory = data.find(b"PK\x01\x02")
    data[directory + 20 : directory + 24] = (0xFFFFFFF0).to_bytes(4, "little")  # compressed size
    archive = open_zip(bytes(data))
    result = archive.read(archive.entries[0], 1 << 20)
    assert bytes(result.data).startswith(b"abc") and not result.complete


def test_not_a_zip() -> None:
    with pytest.raises(ZipError):
        open_zip(b"plain text, no zip here" * 10)


def test_max_entries_truncates_the_directory() -> None:
    archive = open_zip(_zip([(f"m{i}", b"x") for i in range(10)]), max_entries=3)
    assert len(archive.entries) == 3 and archive.truncated


def test_large_stored_member_is_a_zero_copy_view() -> None:
    payload = bytes(17 << 20)
    archive = open_zip(_zip([("big", payload)]))
    result = archive.read(archive.entries[0], 1 << 30)
    assert isinstance(result.data, memoryview) and len(result.data) == len(payload)
    result.data.release()


def test_decode_reports_truncation_and_cap() -> None:
    stream = zlib.compress(b"x" * 10_000)
    assert decode(Codec.ZLIB, stream, 1 << 20).data == b"x" * 10_000
    truncated = decode(Codec.ZLIB, stream[:-6], 1 << 20)
    assert not truncated.finished and truncated.error == "stream ends before its end marker"
    capped = decode(Codec.ZLIB, stream, 100)
    assert capped.over_limit and len(capped.data) == 100
    assert decode(Codec.ZLIB, b"\x78\x9cgarbage", 100).error is not None


def test_buffer_file_reads_a_window() -> None:
    handle = BufferFile(b"0123456789", 2, 8)
    assert handle.read(3) == b"234"
    handle.seek(0, io.SEEK_END)
    assert handle.tell() == 6 and handle.read() == b""
    handle.seek(1)
    assert handle.read() == b"34567"


_SEED = _zip(_torch_members(PAYLOAD), zipfile.ZIP_DEFLATED)


@settings(max_examples=150, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=len(_SEED)),
    flips=st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(1, 255)), max_size=6),
    junk=st.binary(max_size=64),
)
def test_hostile_archives_never_raise_anything_but_zip_error(
    cut: int, flips: list[tuple[int, int]], junk: bytes
) -> None:
    data = bytearray(_SEED)
    for position, mask in flips:
        data[position] ^= mask
    sample = junk + bytes(data[:cut])
    try:
        archive = open_zip(sample)
    except ZipError:
        return
    for entry in archive.entries:
        result = archive.read(entry, 1 << 16)
        assert len(result.data) <= 1 << 16
