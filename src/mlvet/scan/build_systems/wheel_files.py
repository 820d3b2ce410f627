"""Files a wheel installs that run without being imported: ``.pth`` start-up lines and ``*.data/scripts``."""

from __future__ import annotations

import ast
import re

from mlvet.findings import Severity
from mlvet.scan.build_systems import rules
from mlvet.scan.build_systems.commands import grade_commands
from mlvet.scan.build_systems.issues import BuildIssue
from mlvet.scan.python.analysis import SourceAnalysis
from mlvet.scan.python.catalog import DECODERS, Behaviour
from mlvet.scan.python.names import Bindings, parse_module

_EXECUTED_PREFIXES = ("import ", "import\t")
"""site.py executes a .pth line that starts with one of these; every other line is a path."""
_RUNS_CODE = frozenset({Behaviour.PROCESS, Behaviour.NETWORK, Behaviour.REMOTE_CODE})
_PYTHON_SHEBANG = re.compile(rb"#![^\n]*python[0-9.]*[w]?(\s|$)")
_PIPE_SPLIT = re.compile(r"\s*\|\s*")
COMMON_COMMANDS: dict[str, str] = {
    **dict.fromkeys(("python", "python3", "pip", "pip3"), "pip"),
    **dict.fromkeys(("ls", "cp", "mv", "rm", "cat", "sh", "bash", "env", "sudo", "su"), "coreutils"),
    **dict.fromkeys(
        ("git", "ssh", "scp", "curl", "wget", "gpg", "make", "gcc", "docker", "kubectl"), "system"
    ),
}
"""Command names a wheel must not install unless it is that tool (the value is the only owner allowed)."""
_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
_ENTRY = re.compile(r"^\s*(?P<name>[^=\s]+)\s*=\s*(?P<target>\S.*)$")


def analyse_pth(text: str) -> list[BuildIssue]:
    """One issue per executable line of a ``.pth`` file, graded by what the line does."""
    issues: list[BuildIssue] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(_EXECUTED_PREFIXES):
            issues.append(_executable_line(line, number))
    return issues


def _executable_line(line: str, number: int) -> BuildIssue:
    shown = line if len(line) <= 200 else line[:199] + "…"
    evidence = {"line": shown}
    try:
        tree = parse_module(line)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return BuildIssue(
            rules.STARTUP_HOOK,
            Severity.MEDIUM,
            number,
            "start-up line does not parse (site.py would print an error at every start)",
            evidence,
        )
    found = SourceAnalysis(tree).run()
    names = Bindings(tree)
    decodes = any(
        isinstance(n, ast.Call) and DECODERS.fullmatch(names.call_name(n) or "") for n in ast.walk(tree)
    )
    dangerous = [
        o
        for o in found
        if o.behaviour in _RUNS_CODE
        or (o.behaviour is Behaviour.DYNAMIC_CODE and o.severity >= Severity.HIGH)
        or (o.behaviour is not Behaviour.DYNAMIC_CODE and o.severity >= Severity.HIGH)
    ]
    if dangerous:
        what = "; ".join(sorted({o.message for o in dangerous})[:3])
        return BuildIssue(
            rules.STARTUP_HOOK,
            Severity.CRITICAL,
            number,
            f"runs at every interpreter start and {what}",
            evidence | {"behaviours": sorted({o.behaviour.value for o in dangerous})},
        )
    hidden = [o for o in found if o.behaviour is Behaviour.DYNAMIC_CODE and o.name != "builtins.exec"]
    if decodes or hidden:
        return BuildIssue(
            rules.STARTUP_HOOK,
            Severity.HIGH,
            number,
            "runs at every interpreter start and decodes or loads code at run time",
            evidence,
        )
    modules = sorted(
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        | {
            str(n.args[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Call)
            and names.call_name(n) in ("builtins.__import__", "importlib.import_module")
            and n.args
            and isinstance(n.args[0], ast.Constant)
        }
    )
    return BuildIssue(
        rules.STARTUP_HOOK,
        Severity.LOW,
        number,
        f"imports {', '.join(modules) or 'code'} at every interpreter start",
        evidence | {"modules": modules},
    )


def analyse_wheel_script(data: bytes, name: str) -> list[BuildIssue]:
    """A ``*.data/scripts`` file: Python scripts (rewritten by the installer) are fine; others are read."""
    if _PYTHON_SHEBANG.match(data[:200]):
        return []
    text = data.decode("utf-8", "replace")
    issues = [
        BuildIssue(
            rules.WHEEL_SCRIPT,
            Severity.MEDIUM,
            1,
            f"installs {name.rsplit('/', 1)[-1]} onto PATH, a non-Python script",
            {"shebang": text.split("\n", 1)[0][:120]},
        )
    ]
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pipeline = [part.split() for part in _PIPE_SPLIT.split(stripped) if part]
        issues += grade_commands(pipeline, number, "script")
    return issues


def analyse_entry_points(text: str, distribution: str) -> list[BuildIssue]:
    """``console_scripts`` in ``entry_points.txt`` that take the name of a common command."""
    issues: list[BuildIssue] = []
    section = ""
    owner = distribution.lower().replace("_", "-")
    for number, line in enumerate(text.splitlines(), start=1):
        header = _SECTION.match(line)
        if header is not None:
            section = header.group("name").strip()
            continue
        entry = _ENTRY.match(line)
        if section not in ("console_scripts", "gui_scripts") or entry is None:
            continue
        command = entry.group("name").lower()
        allowed = COMMON_COMMANDS.get(command.removesuffix(".exe"))
        if allowed is not None and allowed != owner:
            issues.append(
                BuildIssue(
                    rules.SHADOWING_COMMAND,
                    Severity.MEDIUM,
                    number,
                    f"installs a {command!r} command ({entry.group('target').strip()}) that shadows the "
                    "usual one",
                    {
                        "command": command,
                        "target": entry.group("target").strip(),
                        "distribution": distribution,
                    },
                )
            )
    return issues
