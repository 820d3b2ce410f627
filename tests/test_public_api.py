"""The public API is exactly what ``mlvet.__all__`` says."""

from __future__ import annotations

import types

import mlvet


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    assert sorted(mlvet.__all__) == mlvet.__all__
    for name in mlvet.__all__:
        assert hasattr(mlvet, name), name
    public = {
        name
        for name, value in vars(mlvet).items()
        if not name.startswith("_") and name != "annotations" and not isinstance(value, types.ModuleType)
    }
    assert public <= set(mlvet.__all__)


def test_scan_bytes_reports_like_a_file() -> None:
    report = mlvet.scan_bytes(b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.", name="upload.bin")
    assert report.findings[0].rule.id == "MLV101"
    assert report.findings[0].subject.path == "upload.bin"
