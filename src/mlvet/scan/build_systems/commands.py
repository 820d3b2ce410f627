"""Command lines run at build time (CMake ``execute_process``, meson ``run_command``, setup.py), graded.

A compiler or a script of the project is ordinary; a downloader, a shell with an inline script, or
``python -c`` with dangerous code is not, and a downloader piped into an interpreter is critical. The
program lists here are shared with the setup.py grading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mlvet.findings import Rule, Severity
from mlvet.scan.build_systems import rules
from mlvet.scan.build_systems.issues import BuildIssue
from mlvet.scan.python.analysis import Observation, SourceAnalysis
from mlvet.scan.python.catalog import Behaviour
from mlvet.scan.python.names import parse_module

DOWNLOADER = re.compile(
    r"(?<![\w.-])(curl|wget|Invoke-WebRequest|iwr|Invoke-RestMethod|irm|certutil|bitsadmin|"
    r"Start-BitsTransfer)(\.exe)?(?![\w.-])",
    re.IGNORECASE,
)
"""Programs whose job is to fetch something from the network."""
PIPE_TO_INTERPRETER = re.compile(
    r"\|\s*(sudo\s+)?((ba|z|da|k)?sh|python[0-9.]*|perl|ruby|node|iex|Invoke-Expression)\b", re.IGNORECASE
)
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "cmd", "cmd.exe", "powershell", "pwsh"})
TOOLCHAIN = frozenset(
    {
        "git", "hg", "pkg-config", "pkgconf", "gcc", "g++", "cc", "c++", "clang", "clang++", "cl", "cl.exe",
        "cmake", "make", "gmake", "ninja", "nvcc", "hipcc", "xcrun", "xcode-select", "ld", "ar", "swig",
        "cython", "rustc", "cargo", "uname", "ldconfig", "sw_vers", "sysctl", "ccache", "icx", "icpx", "nm",
        "lipo", "install_name_tool", "patchelf", "otool", "llvm-config", "nproc", "gfortran", "ifort",
    }
)  # fmt: skip
"""Programs builds normally run; not reported unless their command line carries a URL."""
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_INLINE_FLAGS = frozenset({"-c", "/c", "/k", "-command"})
_ENCODED_FLAGS = frozenset({"-encodedcommand", "-enc", "-ec", "-e"})
_POWERSHELL = frozenset({"powershell", "powershell.exe", "pwsh", "pwsh.exe"})
_PYTHON = re.compile(
    r"python[0-9.]*(\.exe)?|\$\{python3?_executable\}|\$<target_file:python3?::interpreter>|py"
)
_IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
_DANGEROUS = frozenset({Behaviour.PROCESS, Behaviour.NETWORK, Behaviour.REMOTE_CODE})
EVIDENCE_CHARS = 300


def program_name(word: str) -> str:
    """``/usr/bin/curl`` -> ``curl``; ``${Python3_EXECUTABLE}`` is kept (lower-cased) as a variable."""
    word = word.strip().strip("\"'").lower()
    if word.startswith("${") or word.startswith("$<"):
        return word
    return word.replace("\\", "/").rsplit("/", 1)[-1]


def command_line(code: str) -> str:
    """The string literals of a call, joined: an approximation of the command it runs."""
    parts = [single if single else double for single, double in _STRING.findall(code)]
    return " ".join(p for p in parts if p)


def first_program(line: str) -> str:
    """The base name of the first word of a command line (``/usr/bin/gcc -O2`` -> ``gcc``)."""
    words = line.split()
    return words[0].replace("\\", "/").rsplit("/", 1)[-1].lower() if words else ""


def grade_commands(
    pipeline: Sequence[Sequence[str]], line: int, where: str, downloaded: Sequence[str] = ()
) -> list[BuildIssue]:
    """Issues for one invocation; ``pipeline`` holds each command's words (several for a CMake pipe).

    ``downloaded`` lists files an earlier step fetched without verification: running one is critical.
    """
    commands = [list(c) for c in pipeline if c]
    if not commands:
        return []
    text = " | ".join(" ".join(c) for c in commands)
    evidence = {"command_line": text[:EVIDENCE_CHARS]}
    programs = [program_name(c[0]) for c in commands]
    fetches = any(DOWNLOADER.fullmatch(p) for p in programs) or any(
        DOWNLOADER.search(" ".join(c[1:])) for c, p in zip(commands, programs, strict=True) if p in SHELLS
    )
    piped = len(commands) > 1 and fetches and any(p in SHELLS or _PYTHON.fullmatch(p) for p in programs[1:])
    used = next((d for d in downloaded if d and d in text), None)
    if piped or (fetches and PIPE_TO_INTERPRETER.search(text)):
        return [
            _issue(
                rules.DOWNLOAD_AND_RUN,
                Severity.CRITICAL,
                line,
                f"{where} downloads and runs: {text}",
                evidence,
            )
        ]
    if used is not None:
        message = f"{where} runs {used}, which the build downloaded without a hash"
        return [
            _issue(rules.DOWNLOAD_AND_RUN, Severity.CRITICAL, line, message, evidence | {"downloaded": used})
        ]
    if fetches:
        return [
            _issue(rules.BUILD_RUNS_SHELL, Severity.HIGH, line, f"{where} downloads with: {text}", evidence)
        ]
    issues: list[BuildIssue] = []
    for command, program in zip(commands, programs, strict=True):
        inline = _inline_script(command)
        if program in SHELLS:
            issues.append(_shell(command, inline, line, where, text, evidence))
        elif _PYTHON.fullmatch(program) and inline is not None:
            issues += _python_inline(inline, line, where, evidence)
    return issues


def _shell(
    command: list[str], inline: str | None, line: int, where: str, text: str, evidence: dict[str, str]
) -> BuildIssue:
    if program_name(command[0]) in _POWERSHELL and any(w.lower() in _ENCODED_FLAGS for w in command):
        return _issue(
            rules.BUILD_RUNS_SHELL, Severity.HIGH, line, f"{where} runs encoded PowerShell: {text}", evidence
        )
    if inline is not None:
        return _issue(
            rules.BUILD_RUNS_SHELL,
            Severity.MEDIUM,
            line,
            f"{where} runs an inline shell script: {text}",
            evidence,
        )
    return _issue(
        rules.BUILD_RUNS_SHELL, Severity.LOW, line, f"{where} runs a shell script: {text}", evidence
    )


def _inline_script(command: list[str]) -> str | None:
    for index, word in enumerate(command[1:-1], start=1):
        if word.lower() in _INLINE_FLAGS:
            return " ".join(command[index + 1 :])
    return None


def _python_inline(code: str, line: int, where: str, evidence: dict[str, str]) -> list[BuildIssue]:
    """``python -c CODE``: reported only when CODE itself runs processes, the network or hidden code."""
    try:
        tree = parse_module(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found = [o for o in SourceAnalysis(tree).run() if _dangerous(o)]
    if not found:
        return []
    behaviours = {o.behaviour for o in found}
    severity = Severity.CRITICAL if Behaviour.NETWORK in behaviours and len(behaviours) > 1 else Severity.HIGH
    rule = rules.DOWNLOAD_AND_RUN if severity is Severity.CRITICAL else rules.BUILD_RUNS_SHELL
    messages = "; ".join(sorted({o.message for o in found})[:3])
    return [_issue(rule, severity, line, f"{where} runs inline Python that {messages}", evidence)]


def _dangerous(found: Observation) -> bool:
    """Processes, the network, and exec of computed or decoded code; not imports picked at run time."""
    if found.behaviour is Behaviour.DYNAMIC_CODE:
        if found.name in _IMPORTERS:
            return False
        return found.severity >= Severity.CRITICAL or (
            found.severity >= Severity.HIGH and found.name.startswith(("builtins.exec", "builtins.eval"))
        )
    return found.behaviour in _DANGEROUS and found.severity >= Severity.HIGH


def _issue(rule: Rule, severity: Severity, line: int, message: str, evidence: dict[str, str]) -> BuildIssue:
    return BuildIssue(rule, severity, line, message[:400], evidence)
