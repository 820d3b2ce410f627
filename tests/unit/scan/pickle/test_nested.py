"""Embedded pickles that reach a loader: raw, compressed, base64/hex text, through wrappers."""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable

import pytest

from mlvet.config import Limits, Settings
from mlvet.findings import ProblemKind, Severity
from mlvet.scan.pickle import nested
from tests.unit.scan.pickle.harness import SYSTEM, call, proto4, scan_bytes, stack_global, text


def _blob(value: bytes) -> bytes:
    return b"B" + len(value).to_bytes(4, "little") + value


def _into(loader: tuple[str, str], value: bytes) -> bytes:
    return proto4(call(stack_global(*loader), value))


def test_raw_embedded_pickle_is_reported_and_scanned_as_a_member() -> None:
    outcome = scan_bytes(_into(("pickle", "loads"), _blob(SYSTEM)))
    embedded = outcome.only("MLV105")
    assert embedded.severity is Severity.HIGH
    assert embedded.evidence["loader"] == "pickle.loads"
    assert embedded.evidence["member"] == "<nested pickle #1 at opcode 7>"
    inner = [f for f in outcome.findings if f.subject.member == "<nested pickle #1 at opcode 7>"]
    assert [f.rule.id for f in inner] == ["MLV101"]
    assert inner[0].location.offset == 26


@pytest.mark.parametrize(
    ("decoder", "encode", "extra"),
    [
        (("zlib", "decompress"), zlib.compress, b""),
        (("gzip", "decompress"), gzip.compress, b""),
        (("bz2", "decompress"), bz2.compress, b""),
        (("lzma", "decompress"), lzma.compress, b""),
        (("base64", "b64decode"), base64.b64encode, b""),
        (("base64", "urlsafe_b64decode"), base64.urlsafe_b64encode, b""),
        (("base64", "b32decode"), base64.b32encode, b""),
        (("base64", "b16decode"), base64.b16encode, b""),
        (("base64", "a85decode"), base64.a85encode, b""),
        (("base64", "b85decode"), base64.b85encode, b""),
        (("binascii", "unhexlify"), binascii.hexlify, b""),
        (("binascii", "a2b_base64"), base64.b64encode, b""),
        (("codecs", "decode"), base64.b64encode, text("base64")),
        (("codecs", "decode"), binascii.hexlify, text("hex")),
        (("codecs", "decode"), zlib.compress, text("zlib")),
    ],
)
def test_pure_decoders_are_evaluated_on_constant_data(
    decoder: tuple[str, str], encode: Callable[[bytes], bytes], extra: bytes
) -> None:
    value = call(stack_global(*decoder), _blob(encode(SYSTEM)), extra)
    outcome = scan_bytes(_into(("dill", "loads"), value))
    assert outcome.only("MLV105").evidence["decoders"] == [".".join(decoder)]
    assert "MLV101" in {f.rule.id for f in outcome.findings if f.subject.member}


def test_text_decoders_and_chains() -> None:
    text_payload = text(binascii.hexlify(zlib.compress(SYSTEM)).decode())
    value = call(
        stack_global("zlib", "decompress"), call(stack_global("builtins", "bytes.fromhex"), text_payload)
    )
    outcome = scan_bytes(_into(("pickle", "loads"), value))
    assert outcome.only("MLV105").evidence["decoders"] == ["builtins.bytes.fromhex", "zlib.decompress"]


def test_protocol2_latin1_bytes_through_codecs_encode() -> None:
    latin = SYSTEM.decode("latin-1")
    value = call(
        stack_global("_codecs", "encode"),
        b"X" + len(latin.encode()).to_bytes(4, "little") + latin.encode(),
        text("latin1"),
    )
    assert "MLV105" in scan_bytes(_into(("pickle", "loads"), value)).rules()


def test_file_wrappers_getattr_and_partial() -> None:
    wrapped = call(stack_global("io", "BytesIO"), _blob(SYSTEM))
    assert "MLV105" in scan_bytes(_into(("pickle", "load"), wrapped)).rules()
    module = call(stack_global("importlib", "import_module"), text("pickle"))
    method = call(stack_global("builtins", "getattr"), module, text("loads"))
    assert scan_bytes(proto4(call(method, _blob(SYSTEM)))).only("MLV105").evidence["loader"] == "pickle.loads"
    partial = call(stack_global("functools", "partial"), stack_global("pickle", "loads"), _blob(SYSTEM))
    assert "MLV105" in scan_bytes(proto4(partial + b")R")).rules()


def test_base64_text_handed_straight_to_a_loader() -> None:
    outcome = scan_bytes(_into(("pickle", "loads"), text(base64.b64encode(SYSTEM).decode())))
    assert outcome.only("MLV105").evidence["decoders"] == ["base64/hex text"]


def test_bytes_that_are_not_a_pickle_are_not_scanned() -> None:
    outcome = scan_bytes(_into(("pickle", "loads"), _blob(b"not a pickle at all, just text")))
    assert "MLV105" not in outcome.rules()
    assert outcome.only("MLV101").severity is Severity.CRITICAL


def test_two_embedded_pickles_get_distinct_members() -> None:
    other = SYSTEM.replace(b"true", b"echo")
    body = call(stack_global("pickle", "loads"), _blob(SYSTEM)) + b"0"
    body += call(stack_global("pickle", "loads"), _blob(other))
    members = sorted(f.evidence["member"] for f in scan_bytes(proto4(body)).findings if f.rule.id == "MLV105")
    assert members == ["<nested pickle #1 at opcode 7>", "<nested pickle #2 at opcode 15>"]


def test_a_blob_fetched_many_times_is_scanned_once() -> None:
    body = (
        _blob(SYSTEM)
        + b"\x94"
        + b"".join(call(stack_global("pickle", "loads"), b"h\x00") + b"0" for _ in range(2000))
    )
    outcome = scan_bytes(proto4(body + b"N"))
    assert len([f for f in outcome.findings if f.rule.id == "MLV105"]) == 1
    assert len([f for f in outcome.findings if f.subject.member]) == 1


def test_nesting_depth_is_limited_by_the_context() -> None:
    data = SYSTEM
    for _ in range(6):
        data = _into(("pickle", "loads"), _blob(data))
    outcome = scan_bytes(data, Settings(limits=Limits(max_depth=3)))
    assert [p.kind for p in outcome.problems] == [ProblemKind.LIMIT]


def test_decompression_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nested, "MAX_DECODED", 1 << 16)
    bomb = zlib.compress(SYSTEM + b"\x00" * (1 << 20))
    outcome = scan_bytes(_into(("pickle", "loads"), call(stack_global("zlib", "decompress"), _blob(bomb))))
    assert "MLV105" not in outcome.rules()
    assert not outcome.problems


def test_corrupt_compressed_data_is_not_an_error() -> None:
    value = call(stack_global("zlib", "decompress"), _blob(b"\x78\x9c not zlib"))
    outcome = scan_bytes(_into(("pickle", "loads"), value))
    assert outcome.rules(Severity.HIGH) == {"MLV101", "MLV103"}
