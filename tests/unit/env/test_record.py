"""RECORD parsing, the installed-vs-wheel RECORD comparison, and what counts as a start-up hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvet.env.record import encode_digest, parse_record
from mlvet.env.startup import FileKind, classify, executable_pth_lines
from mlvet.env.vetted import compare_records

WHEEL_RECORD = b"""pkg/__init__.py,sha256=AAA,10
pkg/_native.cpython-311-x86_64-linux-gnu.so,sha256=BBB,20
pkg-1.0.data/scripts/tool,sha256=CCC,30
pkg-1.0.data/purelib/extra.py,sha256=DDD,40
pkg-1.0.dist-info/METADATA,sha256=EEE,50
pkg-1.0.dist-info/entry_points.txt,sha256=FFF,60
pkg-1.0.dist-info/RECORD,,
"""

INSTALLED_RECORD = b"""../../../bin/pkg-cli,sha256=GGG,70
../../../bin/pkg-cli3.11,sha256=GGG,70
../../../bin/tool,sha256=HHH,31
extra.py,sha256=DDD,40
pkg-1.0.dist-info/INSTALLER,sha256=III,4
pkg-1.0.dist-info/METADATA,sha256=EEE,50
pkg-1.0.dist-info/RECORD,,
pkg-1.0.dist-info/REQUESTED,sha256=JJJ,0
pkg-1.0.dist-info/entry_points.txt,sha256=FFF,60
pkg/__init__.py,sha256=AAA,10
pkg/__pycache__/__init__.cpython-311.pyc,,
pkg/_native.cpython-311-x86_64-linux-gnu.so,sha256=BBB,20
"""


def test_record_digest_spelling() -> None:
    assert encode_digest(bytes(32)) == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def test_record_rows() -> None:
    entries = parse_record(b'a.py,sha256=AAA,10\n"dir/with,comma.py",,\r\nb\\c.py,sha256=BBB,\n')
    assert [(e.path, e.hash_text, e.size) for e in entries] == [
        ("a.py", "sha256=AAA", 10),
        ("dir/with,comma.py", None, None),
        ("b/c.py", "sha256=BBB", None),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a.py,sha256,1\n", "not ALGO=DIGEST"),
        (b"a.py,sha256=A,big\n", "not a number"),
        (b"a,b,c,d\n", "4 fields"),
    ],
)
def test_malformed_record_rows_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_record(data)


def test_what_an_installer_adds_is_not_a_difference() -> None:
    comparison = compare_records(
        parse_record(INSTALLED_RECORD), parse_record(WHEEL_RECORD), frozenset({"pkg-cli"})
    )
    assert comparison.differences == ()
    assert comparison.relocated == 1  # the .data/scripts file pip rewrote (shebang): present, not comparable
    assert comparison.compared == 5


def test_changed_added_and_dropped_rows_are_differences() -> None:
    installed = INSTALLED_RECORD.replace(b"pkg/__init__.py,sha256=AAA", b"pkg/__init__.py,sha256=ZZZ")
    installed = installed.replace(b"pkg/_native.cpython-311-x86_64-linux-gnu.so,sha256=BBB,20\n", b"")
    installed += b"pkg/_hook.py,sha256=XXX,5\n../../../bin/unknown,sha256=YYY,1\n"
    comparison = compare_records(parse_record(installed), parse_record(WHEEL_RECORD), frozenset({"pkg-cli"}))
    found = {(d.path, d.problem) for d in comparison.differences}
    assert found == {
        ("pkg/__init__.py", "hash differs"),
        ("pkg/_native.cpython-311-x86_64-linux-gnu.so", "missing from the installed RECORD"),
        ("pkg/_hook.py", "not in the vetted wheel"),
        ("../../../bin/unknown", "not in the vetted wheel"),
    }


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("import os; os.system('true')\n", [1]),
        ("/some/path\nimport\tsys\n", [2]),
        ("# import os\n import os\n/abs\n", []),
        ("importlib\n", []),
    ],
)
def test_pth_lines_that_site_executes(tmp_path: Path, text: str, lines: list[int]) -> None:
    pth = tmp_path / "x.pth"
    pth.write_text(text)
    assert [number for number, _ in executable_pth_lines(pth)] == lines


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        ("sitecustomize.py", FileKind.CUSTOMIZE),
        ("usercustomize/__init__.py", FileKind.CUSTOMIZE),
        ("pkg/sitecustomize.py", FileKind.CODE),
        ("pkg/lib.cpython-311-x86_64-linux-gnu.so", FileKind.NATIVE),
        ("pkg.libs/libgomp-a34b3233.so.1.0.0", FileKind.NATIVE),
        ("pkg/__pycache__/m.cpython-311.pyc", FileKind.BYTECODE_CACHE),
        ("pkg/m.pyc", FileKind.CODE),
        ("sitecustomize/__pycache__/__init__.cpython-311.pyc", FileKind.BYTECODE_CACHE),
        ("pkg/data.json", FileKind.OTHER),
        ("pkg/nested.pth", FileKind.OTHER),
    ],
)
def test_file_kinds(tmp_path: Path, relative: str, kind: FileKind) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")
    assert classify(str(path), str(tmp_path)) is kind
