"""HDF5: Keras configs in root attributes, read by the pure-Python reader, robust to damaged files."""

from __future__ import annotations

import base64
import io
import json
import marshal
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.artifacts import Format
from mlvet.config import Settings
from mlvet.findings import Finding, Problem, ProblemKind, Severity, Subject
from mlvet.scan import SCANNERS, dispatch, scan
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.keras.hdf5_reader import HDF5Error, read_root_attributes
from tests.damage import CUTS, FLIPS, damage


def lambda_model() -> dict[str, Any]:
    code = compile("lambda x: x", "<mlvet-test>", "eval").co_consts[0]
    function = [base64.encodebytes(marshal.dumps(code)).decode(), None, None]
    lam = {"class_name": "Lambda", "config": {"name": "lam", "function": function, "function_type": "lambda"}}
    return {
        "class_name": "Sequential",
        "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {}}, lam]},
    }


def h5_bytes(
    attrs: dict[str, Any], *, libver: str | tuple[str, str] = "earliest", userblock: int = 0
) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=libver, userblock_size=userblock) as handle:
        for key, value in attrs.items():
            handle.attrs[key] = value
        handle.create_group("model_weights").create_dataset("kernel", data=np.zeros((2, 2), "f4"))
    return buffer.getvalue()


def run(data: bytes, fs_path: Path | None = None) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    ctx = ScanContext(Subject("model.h5"), Settings(), collector, dispatch, fs_path=fs_path)
    dispatch(data, ctx, None)
    return collector.findings, collector.problems


def test_registered_for_hdf5() -> None:
    assert Format.HDF5 in SCANNERS


def test_lambda_in_model_config_from_bytes_and_from_disk(tmp_path: Path) -> None:
    data = h5_bytes({"model_config": json.dumps(lambda_model()), "keras_version": "2.12.0"})
    path = tmp_path / "model.h5"
    path.write_bytes(data)
    for findings, problems in (run(data), run(data, fs_path=path)):
        assert problems == []
        (finding,) = findings
        assert (finding.rule.id, finding.severity) == ("MLV301", Severity.HIGH)
        assert finding.location.pointer == "/config/layers/1/config/function"
        assert finding.evidence["source"] == "HDF5 attribute model_config"
        assert finding.message.endswith("(in HDF5 attribute model_config)")


def test_scan_entry_point_reports_lambda(tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    path.write_bytes(h5_bytes({"model_config": json.dumps(lambda_model())}))
    report = scan([path])
    assert [f.rule.id for f in report.findings] == ["MLV301"]
    assert report.problems == ()


def test_training_config_is_analysed() -> None:
    loss = {"module": "subprocess", "class_name": "function", "config": "getoutput"}
    findings, _ = run(
        h5_bytes(
            {
                "model_config": json.dumps({"class_name": "S", "config": {}}),
                "training_config": json.dumps({"loss": loss}),
            }
        )
    )
    assert [(f.rule.id, f.severity, f.location.pointer) for f in findings] == [
        ("MLV302", Severity.CRITICAL, "/loss")
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        (7, "is not a string"),
    ],
)
def test_unreadable_model_config(value: object, expected: str) -> None:
    findings, problems = run(h5_bytes({"model_config": value}))
    (finding,) = findings
    assert (finding.rule.id, finding.severity) == ("MLV305", Severity.MEDIUM)
    assert expected in finding.message
    assert problems == []


def test_plain_weights_file_is_clean() -> None:
    assert run(h5_bytes({})) == ([], [])
    assert run(h5_bytes({"backend": "torch", "layer_names": np.array([b"dense"])})) == ([], [])


@pytest.mark.parametrize("libver", ["earliest", "v108", "v110", "latest"])
@pytest.mark.parametrize("userblock", [0, 512])
def test_reader_matches_h5py(libver: str, userblock: int) -> None:
    config = json.dumps({"class_name": "X", "config": {"text": "é" * 20_000}})
    data = h5_bytes(
        {"model_config": config, "fixed": np.bytes_(b"fixed-bytes"), "count": 3},
        libver=libver,
        userblock=userblock,
    )
    root = read_root_attributes(data)
    texts = {attribute.name: attribute.text for attribute in root.attributes}
    assert texts == {"model_config": config, "fixed": "fixed-bytes", "count": None}
    assert root.unread == []


def test_dense_attribute_storage_is_reported_unread() -> None:
    attrs = {f"attribute_{index}": "x" for index in range(12)}
    findings, problems = run(h5_bytes({**attrs, "model_config": json.dumps(lambda_model())}, libver="latest"))
    assert findings == []
    assert [p.kind for p in problems] == [ProblemKind.UNSUPPORTED]
    assert "dense storage" in problems[0].message


def test_truncated_and_foreign_bytes_are_corrupt() -> None:
    data = h5_bytes({"model_config": json.dumps(lambda_model())})
    for broken in (data[:40], data[:1000], b"\x89HDF\r\n\x1a\n" + b"\xff" * 100):
        findings, problems = run(broken)
        assert findings == []
        assert [p.kind for p in problems] == [ProblemKind.CORRUPT]
    with pytest.raises(HDF5Error):
        read_root_attributes(b"not hdf5 at all")


_SEEDS = [
    h5_bytes({"model_config": json.dumps(lambda_model()), "training_config": json.dumps({"loss": "mse"})}),
    h5_bytes({"model_config": json.dumps(lambda_model())}, libver="latest"),
]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(_SEEDS),
    FLIPS,
    CUTS,
)
def test_damaged_files_never_raise(seed: bytes, flips: list[tuple[int, int]], cut: int | None) -> None:
    findings, problems = run(damage(seed, flips, cut))
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)
    assert all(f.rule.id.startswith("MLV3") for f in findings)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_after_the_signature_never_raise(tail: bytes) -> None:
    _, problems = run(b"\x89HDF\r\n\x1a\n" + tail)
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)
