"""joblib files: raw array bytes inside the pickle stream are skipped exactly, payloads after them found."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from mlvet.findings import Severity
from tests.unit.scan.pickle.harness import call, scan_bytes, stack_global, text

ARRAYS: dict[str, Any] = {
    "float": np.arange(24, dtype=np.float64).reshape(4, 6),
    "fortran": np.asfortranarray(np.ones((3, 5), dtype=np.float32)),
    "bool": np.array([True, False, True]),
    "complex": np.array([1 + 2j, 3j]),
    "records": np.zeros(4, dtype=[("a", "<i4"), ("b", ">f8"), ("c", "S3")]),
    "subarray": np.zeros(2, dtype=("<f4", (2, 3))),
    "unicode": np.array(["ab", "cde"]),
    "datetime": np.array(["2024-01-01", "2024-02-01"], dtype="M8[ns]"),
    "scalar": np.array(3.5),
    "empty": np.zeros((0, 4)),
}
PAYLOAD = call(stack_global("posix", "system"), text("true")) + b"0"


def _dump(value: object, path: Path, **kwargs: Any) -> bytes:
    joblib.dump(value, path, **kwargs)
    return path.read_bytes()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_real_joblib_files_are_clean(tmp_path: Path, protocol: int) -> None:
    data = _dump({**ARRAYS, "after": "tail"}, tmp_path / "m.joblib", protocol=protocol)
    outcome = scan_bytes(data)
    assert outcome.findings == [], outcome.describe()


def test_object_arrays_are_scanned_as_their_own_pickle(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return os.system, ("true",)

    clean = _dump({"o": np.array([1, "x", None], dtype=object), "after": 1}, tmp_path / "a.joblib")
    assert scan_bytes(clean).findings == []
    hostile = _dump({"o": np.array([Payload()], dtype=object), "after": 1}, tmp_path / "b.joblib")
    assert scan_bytes(hostile).only("MLV101").severity is Severity.CRITICAL


def test_wrappers_without_alignment_padding(tmp_path: Path) -> None:
    class NoTell(io.BytesIO):
        def tell(self) -> int:
            raise io.UnsupportedOperation

    buffer = NoTell()
    joblib.dump({"w": np.arange(10.0), "after": "tail"}, buffer)
    data = buffer.getvalue()
    assert b"numpy_array_alignment_bytes" in data
    assert scan_bytes(data).findings == []


def test_payload_after_an_inline_array_is_found(tmp_path: Path) -> None:
    array = np.arange(40, dtype=np.int16)
    data = _dump({"w": array, "after": "tail"}, tmp_path / "m.joblib")
    cut = data.index(array.tobytes()) + array.nbytes
    outcome = scan_bytes(data[:cut] + PAYLOAD + data[cut:])
    finding = outcome.only("MLV101")
    assert finding.location.offset == cut + len(PAYLOAD) - 2
    assert "MLV108" not in outcome.rules()


def test_array_bytes_that_look_like_opcodes_are_not_interpreted(tmp_path: Path) -> None:
    array = np.frombuffer(b"cposix\nsystem\n(S'true'\ntR." * 4, dtype=np.uint8)
    data = _dump({"w": array}, tmp_path / "m.joblib")
    assert scan_bytes(data).findings == []


def test_inline_array_longer_than_the_data(tmp_path: Path) -> None:
    data = _dump({"w": np.arange(1000.0)}, tmp_path / "m.joblib")
    truncated = data[: data.index(np.arange(1000.0).tobytes()) + 100]
    outcome = scan_bytes(truncated)
    assert "MLV112" in outcome.rules()
    assert outcome.rules(Severity.HIGH) == set()
