"""Archive walking (zip, tar, 7z): names, links, duplicates, bombs, limits, content reaching scanners."""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.artifacts import Buffer, Format
from mlvet.config import Limits, Settings
from mlvet.findings import Finding, ProblemKind, Severity, Subject
from mlvet.scan import dispatch, scan
from mlvet.scan.archives.members import RULES, unsafe_path_reason
from mlvet.scan.base import Collector, ScanContext
from tests.corpus.containers import PAYLOAD, _file, _link, _patch_member, _tar, _zip


def run(data: Buffer, limits: Limits | None = None, expect: Format | None = None) -> Collector:
    collector = Collector()
    settings = Settings() if limits is None else replace(Settings(), limits=limits)
    dispatch(data, ScanContext(Subject("sample"), settings, collector, dispatch), expect)
    return collector


def findings(collector: Collector, rule: str) -> list[Finding]:
    return [f for f in collector.findings if f.rule.id == rule]


def scanned(collector: Collector, fmt: str = "pickle") -> list[str | None]:
    return [s.member for s in collector.subjects if s.format == fmt]


def problems(collector: Collector) -> list[tuple[ProblemKind, str]]:
    return [(p.kind, p.message) for p in collector.problems]


def test_rule_ids_and_severities() -> None:
    assert [(r.id, r.severity) for r in RULES] == [
        ("MLV201", Severity.MEDIUM),
        ("MLV701", Severity.HIGH),
        ("MLV702", Severity.HIGH),
        ("MLV703", Severity.HIGH),
        ("MLV704", Severity.MEDIUM),
        ("MLV705", Severity.MEDIUM),
        ("MLV706", Severity.MEDIUM),
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "'..' component"),
        ("a/../../x", "'..' component"),
        ("..\\..\\x", "'..' component"),
        ("/etc/passwd", "absolute path"),
        ("\\\\server\\share", "absolute path"),
        ("C:\\Windows\\x.dll", "Windows drive path"),
        ("c:x", "Windows drive path"),
        ("a\x00.pkl", "contains a NUL byte"),
        ("model/data.pkl", None),
        ("..hidden/x", None),
        ("a\\b.txt", None),
    ],
)
def test_unsafe_path_reason(name: str, reason: str | None) -> None:
    assert unsafe_path_reason(name) == reason


def test_zip_members_are_scanned_by_content_whatever_their_names() -> None:
    collector = run(_zip([("model.bin", PAYLOAD), ("readme.md", b"# hi\n"), ("dir/", b"")]))
    assert scanned(collector) == ["model.bin"]
    assert scanned(collector, "text") == ["readme.md"]
    assert {f.rule.id for f in collector.findings} == {"MLV101"}


def test_zip_traversal_member_is_high_and_still_scanned() -> None:
    collector = run(_zip([("../../evil.pkl", PAYLOAD)]))
    (finding,) = findings(collector, "MLV701")
    assert finding.severity is Severity.HIGH
    assert finding.location.member == "../../evil.pkl"
    assert finding.message == "member '../../evil.pkl': '..' component"
    assert scanned(collector) == ["../../evil.pkl"]


def test_zip_symlink_member() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("weights")
        info.create_system, info.external_attr = 3, 0o120777 << 16
        archive.writestr(info, "/root/.ssh/id_rsa")
    collector = run(buffer.getvalue())
    (finding,) = findings(collector, "MLV702")
    assert finding.message == "member 'weights' is a symbolic link to '/root/.ssh/id_rsa'"
    assert finding.evidence == {
        "name": "weights",
        "target": "/root/.ssh/id_rsa",
        "kind": "symbolic link",
        "inside_archive": False,
    }
    assert finding.severity is Severity.HIGH
    assert collector.problems == []


@pytest.mark.parametrize(
    ("name", "target", "kind", "severity"),
    [
        ("pkg/anothername.toml", "pyproject.toml", tarfile.SYMTYPE, Severity.LOW),
        ("pkg/docs/link", "../README.md", tarfile.SYMTYPE, Severity.LOW),
        ("pkg/copy.txt", "pkg/README.md", tarfile.LNKTYPE, Severity.LOW),
        ("pkg/escape", "../../etc/passwd", tarfile.SYMTYPE, Severity.HIGH),
        ("pkg/abs", "/root/.ssh", tarfile.SYMTYPE, Severity.HIGH),
        ("pkg/hard", "../outside", tarfile.LNKTYPE, Severity.HIGH),
    ],
)
def test_links_that_stay_inside_the_archive_are_low(
    name: str, target: str, kind: bytes, severity: Severity
) -> None:
    (finding,) = findings(run(_tar([_file("pkg/README.md", b"text\n"), _link(name, target, kind)])), "MLV702")
    assert finding.severity is severity
    assert finding.evidence["inside_archive"] is (severity is Severity.LOW)


def test_duplicate_names_are_reported_once_and_every_copy_scanned() -> None:
    collector = run(_zip([("m.pkl", b"\x80\x02}q\x00."), ("m.pkl", PAYLOAD), ("m.pkl", PAYLOAD)]))
    assert len(findings(collector, "MLV705")) == 1
    assert scanned(collector) == ["m.pkl"] * 3
    assert len(findings(collector, "MLV101")) == 2


def test_quirks_become_mlv201() -> None:
    data = _patch_member(_zip([("m.pkl", PAYLOAD)]), "m.pkl", flags=0x20, crc_xor=7)
    collector = run(b"#!/bin/sh\nexit 0\n" + data)
    quirks = sorted(f.evidence["quirk"] for f in findings(collector, "MLV201"))
    assert quirks == ["crc-mismatch", "flag-bits", "junk-prefix"]
    assert all(f.severity is Severity.MEDIUM for f in findings(collector, "MLV201"))
    assert scanned(collector) == ["m.pkl"]


@pytest.mark.parametrize(
    "ciphertext",
    [bytes((i * 37 + 11) % 256 for i in range(300)), bytes(range(7, 250))],
    ids=["binary", "no-nul"],
)
def test_truly_encrypted_member_is_mlv706_and_a_problem(ciphertext: bytes) -> None:
    data = _patch_member(_zip([("secret.bin", ciphertext)]), "secret.bin", flags=0x1)
    collector = run(data)
    assert [f.rule.id for f in collector.findings] == ["MLV201", "MLV706"]
    assert problems(collector) == [(ProblemKind.UNSUPPORTED, "secret.bin: encrypted member not scanned")]


def test_zip_bomb_is_a_finding_and_a_limit_problem_and_its_prefix_is_scanned() -> None:
    collector = run(_zip([("zeros.bin", PAYLOAD + bytes(8 << 20))], zipfile.ZIP_DEFLATED))
    (bomb,) = findings(collector, "MLV703")
    assert bomb.severity is Severity.HIGH and bomb.location.member == "zeros.bin"
    compressed = bomb.evidence["compressed_bytes"]
    assert bomb.evidence["decoded_at_least"] == compressed * 250
    expected = f"zeros.bin: decoding stopped after {compressed * 250} bytes; the rest was not examined"
    assert (ProblemKind.LIMIT, expected) in problems(collector)
    assert scanned(collector) == ["zeros.bin"]


def test_small_compressible_member_is_not_a_bomb() -> None:
    collector = run(_zip([("zeros.txt", b"a" * 900_000)], zipfile.ZIP_DEFLATED))
    assert collector.findings == [] and collector.problems == []


def test_member_size_limit_without_ratio_is_only_a_problem() -> None:
    limits = Limits(max_member_bytes=1000)
    collector = run(_zip([("big.bin", bytes(range(256)) * 10)], zipfile.ZIP_DEFLATED), limits)
    assert findings(collector, "MLV703") == []
    assert (ProblemKind.LIMIT, "big.bin: decoding stopped after 1000 bytes; the rest was not examined") in (
        problems(collector)
    )
    stored = run(_zip([("big.bin", bytes(2000))]), limits)
    assert problems(stored) == [
        (ProblemKind.LIMIT, "big.bin: member larger than 1000 bytes was not examined")
    ]


def test_total_decompression_budget_stops_the_walk() -> None:
    members = [(f"m{i}.txt", b"text " * 1000) for i in range(5)]
    collector = run(_zip(members, zipfile.ZIP_DEFLATED), Limits(max_total_bytes=12_000))
    assert (ProblemKind.LIMIT, "more than 12000 bytes decompressed from one input") in problems(collector)
    assert scanned(collector, "text") == [
        "m0.txt",
        "m1.txt",
        "m2.txt",
    ]  # the walk ends with the member that overran


def test_too_many_entries() -> None:
    collector = run(_zip([(f"m{i}.txt", b"x\n") for i in range(5)]), Limits(max_entries=3))
    (finding,) = findings(collector, "MLV704")
    assert finding.message == "more than 3 members"
    assert problems(collector) == [(ProblemKind.LIMIT, "members beyond the first 3 were not examined")]
    assert len(scanned(collector, "text")) == 3


def test_nesting_deeper_than_the_limit() -> None:
    data = _zip([("m.pkl", PAYLOAD)])
    for level in range(4):
        data = _zip([(f"level{level}.zip", data)])
    collector = run(data, Limits(max_depth=3))
    assert len(findings(collector, "MLV704")) == 1
    assert any(
        kind is ProblemKind.LIMIT and "nesting deeper than 3" in msg for kind, msg in problems(collector)
    )


def test_unreadable_member_is_a_corrupt_problem() -> None:
    data = bytearray(_zip([("m.txt", b"hello world " * 50)], zipfile.ZIP_DEFLATED))
    start = data.find(b"m.txt") + 5
    data[start : start + 8] = b"\xff" * 8
    collector = run(bytes(data))
    assert [kind for kind, _ in problems(collector)] == [ProblemKind.CORRUPT]


def test_tar_members_links_and_traversal() -> None:
    data = _tar(
        [
            _file("model/weights.bin", PAYLOAD),
            _file("../outside.txt", b"x\n"),
            _link("model/link", "/etc/passwd", tarfile.SYMTYPE),
            _link("model/hard", "model/weights.bin", tarfile.LNKTYPE),
        ]
    )
    collector = run(data)
    assert scanned(collector) == ["model/weights.bin"]
    assert [f.location.member for f in findings(collector, "MLV701")] == ["../outside.txt"]
    links = findings(collector, "MLV702")
    assert [f.evidence["kind"] for f in links] == ["symbolic link", "hard link"]
    assert collector.problems == []


def test_compressed_tar_reaches_its_members() -> None:
    collector = run(_tar([_file("model.pkl", PAYLOAD)], mode="w:xz"))
    assert scanned(collector) == ["<decompressed>!/model.pkl"]
    assert scanned(collector, "tar") == ["<decompressed>"]


def test_truncated_tar_member_is_scanned_and_reported() -> None:
    data = _tar([_file("a.txt", b"hello\n" * 100), _file("model.pkl", PAYLOAD + bytes(600))])
    cut = data.find(PAYLOAD) + len(PAYLOAD) + 10
    collector = run(data[:cut])
    assert scanned(collector) == ["model.pkl"]
    assert any(kind is ProblemKind.CORRUPT for kind, _ in problems(collector))


def test_tar_entry_limit() -> None:
    collector = run(_tar([_file(f"f{i}.txt", b"x\n") for i in range(4)]), Limits(max_entries=2))
    assert len(findings(collector, "MLV704")) == 1
    assert len(scanned(collector, "text")) == 2


def test_sevenzip_members_are_decoded_in_memory(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")

    archive_path = tmp_path / "bundle.7z"
    with py7zr.SevenZipFile(archive_path, "w") as archive:
        archive.writestr(PAYLOAD, "weights/model.bin")
        archive.writestr(b"notes\n", "notes.txt")
    report = scan([archive_path])
    assert [s.member for s in report.subjects if s.format == "pickle"] == ["weights/model.bin"]
    assert {f.rule.id for f in report.findings} == {"MLV101"}
    assert report.problems == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.7z"]


def test_sevenzip_bomb_is_stopped(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")

    archive_path = tmp_path / "bomb.7z"
    with py7zr.SevenZipFile(archive_path, "w") as archive:
        archive.writestr(bytes(16 << 20), "zeros.bin")
    collector = run(archive_path.read_bytes())
    assert len(findings(collector, "MLV703")) == 1
    assert any(kind is ProblemKind.LIMIT for kind, _ in problems(collector))


def test_password_protected_sevenzip(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")

    archive_path = tmp_path / "secret.7z"
    with py7zr.SevenZipFile(archive_path, "w", password="secret") as archive:
        archive.writestr(PAYLOAD, "model.bin")
    collector = run(archive_path.read_bytes())
    assert [f.rule.id for f in collector.findings] == ["MLV706"]
    assert problems(collector) == [(ProblemKind.UNSUPPORTED, "encrypted 7z archive not scanned")]


def test_sevenzip_without_py7zr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")

    archive_path = tmp_path / "a.7z"
    with py7zr.SevenZipFile(archive_path, "w") as archive:
        archive.writestr(b"x", "x")
    monkeypatch.setitem(sys.modules, "py7zr", None)
    collector = run(archive_path.read_bytes())
    assert problems(collector) == [
        (ProblemKind.MISSING_EXTRA, "7z archive not scanned: pip install 'mlvet[archives]'")
    ]


def test_damaged_sevenzip_is_a_corrupt_problem() -> None:
    collector = run(b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(40))
    assert [kind for kind, _ in problems(collector)] == [ProblemKind.CORRUPT]


_ZIP_SEED = _zip([("a.pkl", PAYLOAD), ("b.txt", b"hello " * 40)], zipfile.ZIP_DEFLATED)
_TAR_SEED = _tar([_file("a.pkl", PAYLOAD), _link("b", "../c", tarfile.SYMTYPE)])


@settings(max_examples=150, deadline=None)
@given(
    seed=st.sampled_from([(_ZIP_SEED, Format.ZIP), (_TAR_SEED, Format.TAR)]),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=8),
)
def test_hostile_archives_give_findings_or_problems_never_errors(
    seed: tuple[bytes, Format], cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(seed[0])
    for where, mask in flips:
        data[min(len(data) - 1, int(where * len(data)))] ^= mask
    collector = run(bytes(data[: max(1, int(cut * len(data)))]), expect=seed[1])
    assert all(p.kind is not ProblemKind.INTERNAL for p in collector.problems), collector.problems
