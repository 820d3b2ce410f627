"""Content sniffing: formats from bytes, including the look-alikes real packages contain."""

from __future__ import annotations

import pytest

from mlvet.artifacts import Format, sniff


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'[[tool.uv.index]]\nname = "torch"\nurl = "https://download.pytorch.org/whl/cpu"\n', Format.TEXT),
        (b"[[1, 2], [3, 4]]\n", Format.JSON),
        (b'[ [ "a" ] ]', Format.JSON),
        (b'{"architectures": ["BertModel"]}', Format.JSON),
    ],
)
def test_toml_array_tables_are_not_json(data: bytes, expected: Format) -> None:
    assert sniff(data) is expected


def test_printable_text_is_not_read_as_a_safetensors_length() -> None:
    assert sniff(b'value = {}\nother = {"a": 1}\n') is not Format.SAFETENSORS


def test_a_real_safetensors_header_is_still_recognised() -> None:
    header = b'{"__metadata__":{"format":"pt"}}'
    assert sniff(len(header).to_bytes(8, "little") + header) is Format.SAFETENSORS
