"""Non-Python files of packages: native code, bytecode and data reported as not analysed; JSON look-alikes."""

from __future__ import annotations

import struct
import sys
import zipfile
from pathlib import Path

import pytest

from mlvet.findings import Finding, ProblemKind, Severity
from mlvet.scan import scan
from mlvet.scan.python.package_files import native_kind

ELF = b"\x7fELF\x02\x01\x01" + bytes(57)
PYC = (3495).to_bytes(2, "little") + b"\r\n" + bytes(12) + b"\xe3" + bytes(40)


def _package(root: Path, files: dict[str, bytes], *, built: bool) -> Path:
    markers = (
        {"demo-1.0.dist-info/RECORD": b"", "demo-1.0.dist-info/WHEEL": b""} if built else {"setup.py": b""}
    )
    for name, data in {**markers, **files}.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def _only(findings: tuple[Finding, ...]) -> list[tuple[str, Severity]]:
    return [(f.rule.id, f.severity) for f in findings]


def test_native_library_in_a_wheel_is_info_and_not_a_problem(tmp_path: Path) -> None:
    report = scan([_package(tmp_path / "w", {"demo/_ext.so": ELF}, built=True)])
    assert _only(report.findings) == [("MLV852", Severity.INFO)]
    assert report.findings[0].message == "ELF binary in a built package; machine code is not analysed"
    assert not report.problems


def test_native_library_in_a_source_package_is_medium(tmp_path: Path) -> None:
    report = scan([_package(tmp_path / "s", {"demo/prebuilt.so": ELF}, built=False)])
    assert _only(report.findings) == [("MLV852", Severity.MEDIUM)]


def test_native_library_in_a_model_repository_stays_a_problem(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "kernels.so").write_bytes(ELF)
    report = scan([model])
    assert [p.kind for p in report.problems] == [ProblemKind.UNSUPPORTED]


def test_bytecode_in_a_package_is_medium(tmp_path: Path) -> None:
    report = scan([_package(tmp_path / "w", {"demo/x.cpython-311.pyc": PYC}, built=True)])
    assert _only(report.findings) == [("MLV853", Severity.MEDIUM)]
    assert report.findings[0].evidence == {"magic": 3495}


def test_real_bytecode_is_recognised(tmp_path: Path) -> None:
    compiled = Path(str(sys.modules["json"].__cached__))
    report = scan([_package(tmp_path / "w", {"demo/j.pyc": compiled.read_bytes()}, built=True)])
    assert [f.rule.id for f in report.findings] == ["MLV853"]


def test_unrecognised_data_in_a_package_is_info(tmp_path: Path) -> None:
    report = scan(
        [
            _package(
                tmp_path / "w", {"demo/data/icon.ico": b"\x00\x00\x01\x00" + bytes(range(256))}, built=True
            )
        ]
    )
    assert _only(report.findings) == [("MLV854", Severity.INFO)]
    assert not report.problems


def test_text_that_only_opens_like_json_is_text_in_a_package(tmp_path: Path) -> None:
    fixture = b'{\n    "canonical": 685230,\n    "binary": 685230,\n}\n'
    report = scan([_package(tmp_path / "s", {"tests/data/construct-int.code": fixture}, built=False)])
    assert not report.findings and not report.problems


def test_valid_json_in_a_package_is_still_analysed(tmp_path: Path) -> None:
    config = b'{"auto_map": {"AutoModel": "evil/repo--modeling.Model"}}'
    report = scan([_package(tmp_path / "s", {"tests/data/config.json": config}, built=False)])
    assert [f.rule.id for f in report.findings] == ["MLV802"]


def test_text_whose_first_bytes_read_as_a_length_is_not_safetensors_in_a_package(tmp_path: Path) -> None:
    fixture = b"value = {}\ninstance = AnInstance(value, value)\n"
    report = scan([_package(tmp_path / "s", {"tests/data/recursive-dict.recursive": fixture}, built=False)])
    assert not report.findings and not report.problems


def test_a_real_safetensors_header_in_a_package_is_still_checked(tmp_path: Path) -> None:
    header = b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}'
    data = struct.pack("<Q", len(header)) + header + bytes(16)
    report = scan([_package(tmp_path / "w", {"demo/w.safetensors": data}, built=True)])
    assert any(f.rule.id.startswith("MLV5") and f.severity >= Severity.HIGH for f in report.findings)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (ELF, "ELF binary"),
        (b"!<arch>\n" + bytes(56), "static library"),
        (b"\xcf\xfa\xed\xfe" + bytes(60), "Mach-O binary"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + bytes(56), "Mach-O universal binary"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x37" + bytes(56), None),  # a Java class file (version 55)
        (b"MZ" + bytes(58) + struct.pack("<I", 64) + b"PE\x00\x00", "PE binary"),
        (b"MZ" + bytes(62), None),
        (b"plain text", None),
    ],
)
def test_native_kind(head: bytes, kind: str | None) -> None:
    assert native_kind(head) == kind


def test_native_code_inside_a_wheel_archive(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in {
            "demo/_ext.so": ELF,
            "demo-1.0.dist-info/WHEEL": b"",
            "demo-1.0.dist-info/RECORD": b"",
        }.items():
            archive.writestr(name, data)
    report = scan([wheel])
    assert [(f.rule.id, f.severity, f.subject.member) for f in report.findings] == [
        ("MLV852", Severity.INFO, "demo/_ext.so")
    ]


def test_bytecode_cache_of_an_installed_environment_is_info(tmp_path: Path) -> None:
    report = scan([_package(tmp_path / "site", {"demo/__pycache__/x.cpython-311.pyc": PYC}, built=True)])
    assert _only(report.findings) == [("MLV853", Severity.INFO)]
