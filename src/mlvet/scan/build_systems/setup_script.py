"""Python that runs at build time (setup.py, hatch build hooks): what it does, graded for a build.

The behaviour comes from the shared source analysis (``mlvet.scan.python.analysis``); this module
decides what matters when the code runs inside ``pip install``: a compiler call is normal, ``curl | sh``
is not, and anything inside an install/develop/egg_info command override runs on every install.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from mlvet.findings import Rule, Severity
from mlvet.scan.build_systems import rules
from mlvet.scan.build_systems.commands import (
    DOWNLOADER,
    PIPE_TO_INTERPRETER,
    SHELLS,
    TOOLCHAIN,
    command_line,
    first_program,
)
from mlvet.scan.build_systems.issues import BuildIssue
from mlvet.scan.python.analysis import Observation, SourceAnalysis
from mlvet.scan.python.catalog import DECODERS, Behaviour
from mlvet.scan.python.names import Bindings

INSTALL_COMMANDS = frozenset(
    {"install", "develop", "egg_info", "install_lib", "install_scripts", "install_data", "bdist_egg"}
)
"""Commands that run on every install (not only when compiling): GuardDog's cmd-overwrite targets."""
PIP_INVOKED = INSTALL_COMMANDS | {
    "build", "build_ext", "build_py", "build_clib", "build_scripts", "sdist", "bdist_wheel", "dist_info",
    "editable_wheel", "install_headers", "install_egg_info", "--single-version-externally-managed",
}  # fmt: skip
"""setup.py commands that pip and build backends run; code gated on them runs during installs."""
_ARCHITECTURE = frozenset({"platform.uname", "os.uname", "platform.machine"})
"""Identity calls that builds use to pick the architecture, not to fingerprint."""
_COMMAND_BASES = re.compile(r"(setuptools|distutils|wheel|Cython\.Distutils|numpy\.distutils)(\.\w+)*\.(\w+)")
_SETUP_CALLS = re.compile(r"(setuptools|distutils\.core|numpy\.distutils\.core|skbuild)\.setup")
_URL = re.compile(r"\b(https?|ftp)://", re.IGNORECASE)
_SHELL_SYNTAX = re.compile(r"[;&|`]|\$\(")


@dataclass(frozen=True)
class CommandClass:
    """A setuptools/distutils command implemented in this file."""

    name: str
    command: str
    first_line: int
    last_line: int
    run_does_more: bool
    run_line: int


def analyse_build_python(tree: ast.Module, role: str) -> list[BuildIssue]:
    """Everything build-relevant that ``tree`` (a setup.py or a build hook, named by ``role``) does."""
    observations = SourceAnalysis(tree).run()
    names = Bindings(tree)
    classes = command_classes(tree, names)
    local_reads = _local_file_exec_lines(tree, names)
    by_hand = _manual_command_lines(tree, names)
    issues: list[BuildIssue] = []
    for found in _distinct(observations):
        issue = _grade(found, role, _enclosing(classes, found.line), local_reads)
        if issue is not None and issue.line in by_hand and issue.severity < Severity.CRITICAL:
            issue = replace(issue, severity=Severity.LOW, message=f"{issue.message} ({by_hand[issue.line]})")
        if issue is not None:
            issues.append(issue)
    issues += _decoders(tree, names, observations, role)
    issues += _download_and_run(issues, role)
    issues += _overrides(classes, issues, role)
    return issues


def _manual_command_lines(tree: ast.Module, names: Bindings) -> dict[int, str]:
    """Lines that only run for ``setup.py <command>`` typed by a maintainer (``publish``), never by pip."""
    lines: dict[int, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.If) or not any(
            names.resolve(sub) == "sys.argv" for sub in ast.walk(node.test) if isinstance(sub, ast.expr)
        ):
            continue
        words = {
            sub.value
            for sub in ast.walk(node.test)
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
        }
        if words and not words & PIP_INVOKED:
            reason = f"only when run by hand as setup.py {sorted(words)[0]}"
            for statement in node.body:
                for line in range(statement.lineno, (statement.end_lineno or statement.lineno) + 1):
                    lines[line] = reason
    return lines


def _distinct(observations: list[Observation]) -> list[Observation]:
    """``urlopen(u).read()`` resolves to ``...urlopen`` and ``...urlopen.read``: keep the shorter name."""
    kept: list[Observation] = []
    for found in sorted(observations, key=lambda o: (o.line, len(o.name))):
        if not any(
            k.line == found.line
            and k.behaviour is found.behaviour
            and (k.message == found.message or (k.name and found.name.startswith(k.name + ".")))
            for k in kept
        ):
            kept.append(found)
    return kept


def command_classes(tree: ast.Module, names: Bindings) -> list[CommandClass]:
    """Classes that implement a setup command: by their base class, or by being named in ``cmdclass``."""
    registered = _cmdclass_registrations(tree, names)
    found: dict[str, str] = {}
    definitions = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]  # also under if/try
    for node in definitions:
        command = registered.get(node.name)
        for base in node.bases:
            if command is not None:
                break
            qualified = names.resolve(base) or ""
            match = _COMMAND_BASES.fullmatch(qualified)
            if match is not None:
                command = match.group(3)
            elif isinstance(base, ast.Name) and base.id in found:
                command = found[base.id]
        if command is not None:
            found[node.name] = command
    classes = []
    for node in definitions:
        if node.name in found:
            run = next(
                (
                    s
                    for s in node.body
                    if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name == "run"
                ),
                None,
            )
            classes.append(
                CommandClass(
                    node.name,
                    found[node.name],
                    node.lineno,
                    node.end_lineno or node.lineno,
                    run is not None and not _only_calls_parent(run),
                    run.lineno if run is not None else node.lineno,
                )
            )
    return classes


def _cmdclass_registrations(tree: ast.Module, names: Bindings) -> dict[str, str]:
    """``{class name: command}`` from ``setup(cmdclass={...})``, module-level dicts and item assignments."""
    found: dict[str, str] = {}
    dicts: dict[str, ast.Dict] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    dicts[target.id] = node.value
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.slice, ast.Constant)
                    and isinstance(target.slice.value, str)
                    and "cmdclass" in ast.unparse(target.value)
                ):
                    found[node.value.id] = target.slice.value
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = names.call_name(node) or ""
        for keyword in node.keywords:
            if keyword.arg != "cmdclass" or not (_SETUP_CALLS.fullmatch(called) or called.endswith("setup")):
                continue
            value = keyword.value
            if isinstance(value, ast.Name):
                value = dicts.get(value.id, value)
            if isinstance(value, ast.Dict):
                for key, item in zip(value.keys, value.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and isinstance(key.value, str)
                        and isinstance(item, ast.Name)
                    ):
                        found[item.id] = key.value
    return found


def _only_calls_parent(run: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``run`` is a docstring plus ``super().run()`` / ``Base.run(self)`` / ``self.run_command(...)``."""
    for statement in run.body:
        if isinstance(statement, ast.Pass):
            continue
        value = statement.value if isinstance(statement, ast.Expr | ast.Return) else None
        if isinstance(value, ast.Constant):
            continue
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr in ("run", "run_command", "do_egg_install", "execute")
        ):
            continue
        return False
    return True


def _enclosing(classes: list[CommandClass], line: int) -> CommandClass | None:
    return next((c for c in classes if c.first_line <= line <= c.last_line), None)


def _local_file_exec_lines(tree: ast.Module, names: Bindings) -> set[int]:
    """Lines where exec/eval/compile runs a local file's text (``exec(open('pkg/version.py').read())``)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        if names.call_name(node) not in ("builtins.exec", "builtins.eval", "builtins.compile"):
            continue
        argument = node.args[0]
        if names.taint(argument) - {"clock"}:
            continue
        reads = any(
            isinstance(sub, ast.Call)
            and (
                (names.call_name(sub) or "") in ("builtins.open", "io.open", "codecs.open")
                or (isinstance(sub.func, ast.Attribute) and sub.func.attr in ("read", "read_text"))
            )
            for sub in ast.walk(argument)
        )
        if reads or (isinstance(argument, ast.Name) and _assigned_from_read(tree, argument.id)):
            lines.add(node.lineno)
    return lines


def _assigned_from_read(tree: ast.Module, name: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return any(
                isinstance(sub, ast.Attribute) and sub.attr in ("read", "read_text")
                for sub in ast.walk(node.value)
            )
    return False


def _grade(
    found: Observation, role: str, command: CommandClass | None, local_reads: set[int]
) -> BuildIssue | None:
    where = f" in the {command.command} command ({command.name})" if command else ""
    evidence: dict[str, object] = {"code": found.code}
    if found.name:
        evidence["name"] = found.name
    if command is not None:
        evidence["command"] = command.command
    message = f"{role}{where} {found.message}"
    behaviour = found.behaviour
    if behaviour is Behaviour.PROCESS:
        return _grade_process(found, message, command, evidence)
    if behaviour in (Behaviour.NETWORK, Behaviour.REMOTE_CODE):
        severity = found.severity if found.severity >= Severity.HIGH else Severity.MEDIUM
        return BuildIssue(rules.BUILD_NETWORK, severity, found.line, message, evidence)
    if behaviour is Behaviour.DYNAMIC_CODE:
        if found.line in local_reads and found.severity < Severity.CRITICAL:
            return None
        return BuildIssue(rules.BUILD_DYNAMIC_CODE, found.severity, found.line, message, evidence)
    if found.name in _ARCHITECTURE:
        return None
    if found.severity >= Severity.HIGH:  # secrets, identity, persistence paths, unpickling
        return BuildIssue(rules.BUILD_SENSITIVE, found.severity, found.line, message, evidence)
    return None  # env flags, deletes of build folders, chmod: ordinary in builds


def _grade_process(
    found: Observation, message: str, command: CommandClass | None, evidence: dict[str, object]
) -> BuildIssue | None:
    line = command_line(found.code)
    program = first_program(line)
    evidence["command_line"] = line
    if DOWNLOADER.search(line) and PIPE_TO_INTERPRETER.search(line):
        message = f"{message} to download and run: {line[:160]}"
        return BuildIssue(rules.DOWNLOAD_AND_RUN, Severity.CRITICAL, found.line, message, evidence)
    if DOWNLOADER.search(line):
        return BuildIssue(rules.BUILD_NETWORK, Severity.HIGH, found.line, f"{message} (downloads)", evidence)
    install = ("pip" in line.split() and "install" in line.split()) or "installs packages" in found.message
    if install or (command is not None and command.command in INSTALL_COMMANDS):
        return BuildIssue(rules.BUILD_PROCESS, Severity.HIGH, found.line, message, evidence)
    if program in TOOLCHAIN and not _URL.search(line) and not _SHELL_SYNTAX.search(line):
        return None
    if _runs_shell_or_inline_code(found, line, program):
        message = f"{message} (a shell command or inline code)"
        return BuildIssue(rules.BUILD_PROCESS, Severity.HIGH, found.line, message, evidence)
    return BuildIssue(rules.BUILD_PROCESS, Severity.MEDIUM, found.line, message, evidence)


def _runs_shell_or_inline_code(found: Observation, line: str, program: str) -> bool:
    """os.system/os.popen, shell=True, a shell program, or an interpreter given code with -c."""
    words = line.split()
    return (
        found.name.endswith((".system", ".popen"))
        or re.search(r"shell\s*=\s*True", found.code) is not None
        or program in SHELLS
        or ("-c" in words[1:2] and re.fullmatch(r"python[0-9.]*|perl|ruby|node", program) is not None)
        or ("-c" in words[:1] and "sys.executable" in found.code)
    )


def _decoders(
    tree: ast.Module, names: Bindings, observations: list[Observation], role: str
) -> Iterator[BuildIssue]:
    executed = {o.line for o in observations if o.behaviour is Behaviour.DYNAMIC_CODE}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno not in executed:
            name = names.call_name(node) or ""
            if DECODERS.fullmatch(name) and name not in ("codecs.decode", "bytes.fromhex"):
                yield BuildIssue(
                    rules.BUILD_DECODES,
                    Severity.MEDIUM,
                    node.lineno,
                    f"{role} decodes embedded data: {name.replace('builtins.', '')}",
                    {"code": ast.unparse(node)[:200]},
                )


def _download_and_run(issues: list[BuildIssue], role: str) -> list[BuildIssue]:
    """A network access and a separate execution in one build file: the download-and-run shape."""
    network = [i for i in issues if i.rule is rules.BUILD_NETWORK and i.severity >= Severity.HIGH]
    runs = [
        i
        for i in issues
        if i.rule in (rules.BUILD_PROCESS, rules.BUILD_DYNAMIC_CODE) and i.severity >= Severity.MEDIUM
    ]
    if not network or not runs or any(i.rule is rules.DOWNLOAD_AND_RUN for i in issues):
        return []
    fetch, run = network[0], runs[0]
    if fetch.line == run.line and len(runs) == 1:
        return []
    return [
        BuildIssue(
            rules.DOWNLOAD_AND_RUN,
            Severity.CRITICAL,
            fetch.line,
            f"{role} fetches from the network (line {fetch.line}) and runs code (line {run.line})",
            {"network_line": fetch.line, "run_line": run.line, "code": fetch.evidence.get("code", "")},
        )
    ]


def _overrides(classes: list[CommandClass], issues: list[BuildIssue], role: str) -> Iterator[BuildIssue]:
    dangerous: tuple[Rule, ...] = (
        rules.DOWNLOAD_AND_RUN,
        rules.BUILD_NETWORK,
        rules.BUILD_PROCESS,
        rules.BUILD_DYNAMIC_CODE,
        rules.BUILD_SENSITIVE,
    )
    for command in classes:
        if command.command not in INSTALL_COMMANDS:
            continue
        inside = [
            i
            for i in issues
            if i.rule in dangerous
            and i.line is not None
            and command.first_line <= i.line <= command.last_line
        ]
        if not inside and not command.run_does_more:
            continue
        yield BuildIssue(
            rules.COMMAND_OVERRIDE,
            Severity.HIGH if inside else Severity.MEDIUM,
            command.first_line,
            f"{role} overrides the {command.command} command with {command.name}"
            + (
                f"; inside it, line {inside[0].line}: {inside[0].rule.title.lower()}"
                if inside
                else ", whose run() adds code"
            ),
            {"class": command.name, "command": command.command, "run_line": command.run_line},
        )
