"""Single compressed streams: every codec decoded with caps, bombs reported, content scanned."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.artifacts import Buffer, Format
from mlvet.config import Limits, Settings
from mlvet.findings import ProblemKind, Subject
from mlvet.scan import dispatch
from mlvet.scan.archives import compressed
from mlvet.scan.base import Collector, ScanContext
from tests.corpus.containers import PAYLOAD

CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "lzma": lambda data: lzma.compress(data, lzma.FORMAT_ALONE),
    "zlib": zlib.compress,
    "zstd": lambda data: _zstandard().ZstdCompressor().compress(data),
}


def _zstandard() -> Any:
    return pytest.importorskip("zstandard")


def run(data: Buffer, limits: Limits | None = None, expect: Format | None = None) -> Collector:
    collector = Collector()
    settings = Settings() if limits is None else Settings(limits=limits)
    dispatch(data, ScanContext(Subject("sample"), settings, collector, dispatch), expect)
    return collector


def formats(collector: Collector) -> list[tuple[str | None, str | None]]:
    return [(s.member, s.format) for s in collector.subjects]


def problems(collector: Collector) -> list[tuple[ProblemKind, str]]:
    return [(p.kind, p.message) for p in collector.problems]


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_each_codec_is_decoded_and_its_content_scanned(codec: str) -> None:
    collector = run(CODECS[codec](PAYLOAD))
    assert formats(collector) == [(None, codec), ("<decompressed>", "pickle")]
    assert [f.rule.id for f in collector.findings] == ["MLV101"]
    assert collector.problems == []
    assert collector.decompressed_bytes == len(PAYLOAD)


@pytest.mark.parametrize("codec", ["gzip", "bzip2", "xz"])
def test_concatenated_streams_are_joined(codec: str) -> None:
    compress = CODECS[codec]
    collector = run(compress(PAYLOAD[:10]) + compress(PAYLOAD[10:]))
    assert formats(collector)[-1] == ("<decompressed>", "pickle")
    assert [f.rule.id for f in collector.findings] == ["MLV101"]


def test_zstd_frames_are_joined() -> None:
    compress = CODECS["zstd"]
    collector = run(compress(PAYLOAD[:10]) + compress(PAYLOAD[10:]))
    assert [f.rule.id for f in collector.findings] == ["MLV101"]


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_bomb_is_a_finding_plus_a_limit_problem(codec: str) -> None:
    data = CODECS[codec](PAYLOAD + bytes(4 << 20))
    collector = run(data)
    bombs = [f for f in collector.findings if f.rule.id == "MLV703"]
    assert len(bombs) == 1
    assert bombs[0].evidence["compressed_bytes"] == len(data)
    assert [kind for kind, _ in problems(collector)] == [ProblemKind.LIMIT]
    assert ("<decompressed>", "pickle") in formats(collector)  # the decoded prefix is still scanned


def test_size_limit_below_the_ratio_is_a_problem_only() -> None:
    collector = run(gzip.compress(b"hello world\n" * 1000), Limits(max_member_bytes=1000))
    assert [f.rule.id for f in collector.findings] == []
    assert problems(collector) == [
        (ProblemKind.LIMIT, "decoding stopped after 1000 bytes; the rest was not examined")
    ]


def test_total_budget_is_charged() -> None:
    collector = run(gzip.compress(b"hello " * 2000), Limits(max_total_bytes=5000))
    assert problems(collector) == [(ProblemKind.LIMIT, "more than 5000 bytes decompressed from one input")]
    assert formats(collector) == [(None, "gzip")]


def test_damaged_stream_scans_what_was_decoded() -> None:
    noise = bytes((i * 7919) % 251 for i in range(20_000))
    data = gzip.compress(PAYLOAD + noise, mtime=0)
    collector = run(data[: len(data) // 2])
    ((kind, message),) = problems(collector)
    assert kind is ProblemKind.CORRUPT
    assert message.startswith("gzip stream damaged after ") and message.endswith("before its end marker")
    assert [f.rule.id for f in collector.findings] == ["MLV101"]


def test_not_a_stream_at_all() -> None:
    collector = run(b"\x1f\x8b\x08\x00" + bytes(range(200)))
    assert [kind for kind, _ in problems(collector)] == [ProblemKind.CORRUPT]


def test_text_that_merely_looks_like_zlib_is_inert() -> None:
    text = b"x^2 + y^2 = r^2 describes a circle\n"
    assert run(b"x^" + text[2:]).problems == []


def test_trailing_pickle_after_the_stream_is_scanned() -> None:
    collector = run(gzip.compress(b"just text\n", mtime=0) + PAYLOAD)
    assert ("<trailing data>", "pickle") in formats(collector)
    assert [f.rule.id for f in collector.findings] == ["MLV101"]


def test_zero_padding_after_the_stream_is_ignored() -> None:
    collector = run(lzma.compress(b"text\n") + bytes(64))
    assert collector.problems == [] and collector.findings == []


def test_old_joblib_zfile() -> None:
    zfile = b"ZF" + hex(len(PAYLOAD)).encode().ljust(19) + zlib.compress(PAYLOAD)
    collector = run(zfile, expect=Format.ZLIB)
    assert [f.rule.id for f in collector.findings] == ["MLV101"]


def test_zstd_needs_the_archives_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compressed, "zstd_available", lambda: False)
    collector = run(CODECS["zstd"](PAYLOAD))
    assert problems(collector) == [
        (ProblemKind.MISSING_EXTRA, "zstd stream not scanned: pip install 'mlvet[archives]'")
    ]


@settings(max_examples=150, deadline=None)
@given(
    codec=st.sampled_from(sorted(CODECS)),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=6),
)
def test_hostile_streams_give_findings_or_problems_never_errors(
    codec: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(CODECS[codec](PAYLOAD * 20))
    for where, mask in flips[1:]:  # keep the magic intact often enough for the decoder to run
        data[min(len(data) - 1, max(6, int(where * len(data))))] ^= mask
    sample = bytes(data[: max(1, int(cut * len(data)))])
    collector = run(sample, expect=Format(codec))
    assert all(p.kind is not ProblemKind.INTERNAL for p in collector.problems), collector.problems
    assert collector.decompressed_bytes <= max(1 << 20, len(sample) * 250)
