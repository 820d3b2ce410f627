"""Library code graded as a malicious-package detector grades it, from the same observations as model code.

A package's functions start processes, open sockets, import modules by name and unpickle files because
that is their job: those capabilities are reported at low. What stays high or critical is what malicious
packages do and libraries do not: code decoded, downloaded or fetched and then executed, a download piped
into a shell, credentials read (and sent away), persistence files written, and processes or connections
started while the module is merely imported.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from mlvet.findings import Severity
from mlvet.scan.build_systems.commands import (
    DOWNLOADER,
    PIPE_TO_INTERPRETER,
    SHELLS,
    command_line,
    first_program,
)
from mlvet.scan.python.analysis import Observation
from mlvet.scan.python.catalog import Behaviour

PERSISTENCE_PATH = re.compile(
    r"\.bashrc|\.bash_profile|\.profile|\.zshrc|\.ssh|authorized_keys|crontab|\.config/autostart|systemd"
    r"|\.git/hooks"
)
"""Writes that make code run later (shell start-up, ssh keys, cron): high even in a library function."""
SITE_HOOK_PATH = re.compile(r"sitecustomize|usercustomize|\.pth'")
"""Start-up hooks of the interpreter: installers (pip, setuptools) write them, so high at import time."""
_CONNECTS = frozenset({"connect", "connect_ex", "sendto", "sendall", "send"})
_CALL_DEPTH = 8
_RUNNERS = frozenset({"register", "Thread", "Process", "Timer", "submit", "start_new_thread", "call_soon"})
"""Calls that run the function they are given (``atexit.register(f)``, ``Thread(target=f)``)."""
_RUNS_AT_IMPORT = frozenset({Behaviour.NETWORK, Behaviour.REMOTE_CODE})


def grade_library(
    observations: list[Observation], tree: ast.Module, *, imported: bool = True
) -> list[Observation]:
    """The observations re-graded for library code (capabilities low, threats kept high).

    ``imported`` says whether importing the package runs this file; in tests, tool scripts and examples
    what runs at the top level is capped at medium (developers run those, users do not import them).
    """
    at_import = import_time_lines(tree)
    networked = any(o.behaviour is Behaviour.NETWORK and o.severity >= Severity.HIGH for o in observations)
    connects = any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in _CONNECTS
        and n.lineno in at_import
        for n in ast.walk(tree)
    )
    graded = [_grade(o, o.line in at_import, networked, connects) for o in observations]
    if imported:
        return graded
    return [
        replace(o, severity=Severity.MEDIUM, message=o.message.replace("at import time", "at the top level"))
        if "at import time" in o.message and o.severity is Severity.HIGH
        else o
        for o in graded
    ]


def _grade(found: Observation, at_import: bool, networked: bool, connects: bool) -> Observation:
    behaviour, severity = found.behaviour, found.severity
    if behaviour in (Behaviour.DYNAMIC_CODE, Behaviour.DESERIALIZATION) and severity >= Severity.CRITICAL:
        return found if _runs_hidden_data(found) else replace(found, severity=Severity.MEDIUM)
    if behaviour is Behaviour.PROCESS:
        return _process(found, at_import)
    if behaviour is Behaviour.CREDENTIALS:
        return _credentials(found, at_import, networked)
    if behaviour is Behaviour.FILESYSTEM and PERSISTENCE_PATH.search(found.message):
        return _with(found, Severity.HIGH, "persistence" if not at_import else "persistence, at import time")
    if behaviour is Behaviour.FILESYSTEM and SITE_HOOK_PATH.search(found.message):
        if at_import:
            return _with(found, Severity.HIGH, "interpreter start-up hook, at import time")
        return replace(found, severity=Severity.MEDIUM)
    if found.name.startswith("socket.socket") and at_import and not connects:
        return _with(found, Severity.MEDIUM, "at import time; nothing connects or sends then")
    if behaviour in _RUNS_AT_IMPORT and at_import and severity >= Severity.HIGH:
        return _with(found, Severity.HIGH, "at import time")
    if behaviour is Behaviour.REMOTE_CODE:
        return replace(found, severity=Severity.MEDIUM)
    if behaviour is Behaviour.FILESYSTEM and severity >= Severity.HIGH:
        return replace(found, severity=Severity.MEDIUM)  # site-packages, /etc, /usr: installers do this
    return replace(found, severity=min(severity, Severity.LOW))


def _runs_hidden_data(found: Observation) -> bool:
    """Decoded, downloaded or fetched data executed or unpickled, traced through the call's own expression
    (not only a variable name shared with other code of the module). Unpickling decoded data is kept
    only when the data is embedded in the file or fetched: a library decompressing its own cache file
    and unpickling it is ordinary."""
    if not found.traced:
        return False
    if found.behaviour is Behaviour.DYNAMIC_CODE:
        return True
    return found.embedded or "network" in found.message or "download" in found.message


def _credentials(found: Observation, at_import: bool, networked: bool) -> Observation:
    """Medium in a function (cloud SDKs and uploaders read their own credentials); high when importing
    the module reads them, critical when that module also uses the network (exfiltration)."""
    if at_import and networked:
        return _with(found, Severity.CRITICAL, "at import time, in a module that uses the network")
    if at_import:
        return _with(found, Severity.HIGH, "at import time")
    return replace(found, severity=Severity.MEDIUM)


def _with(found: Observation, severity: Severity, why: str) -> Observation:
    return replace(found, severity=severity, message=f"{found.message} ({why})")


def _process(found: Observation, at_import: bool) -> Observation:
    """A process is ordinary in a library function. At import time it is high unless it only runs a named
    program with literal arguments (``git describe``: medium). ``curl | sh`` is critical anywhere."""
    line = command_line(found.code)
    program = first_program(line)
    words = line.split()
    installs = (
        ("install" in words and ("pip" in words or found.name.startswith("pip.")))
        or "install" in found.name.lower()
        or "(pip install)" in found.message
    )
    if found.name.startswith("pip.") and not installs:
        return replace(found, severity=Severity.LOW)  # pip's own internals (logging, locations), no install
    if DOWNLOADER.search(line) and PIPE_TO_INTERPRETER.search(line):
        return _with(found, Severity.CRITICAL, "downloads a script and runs it")
    if found.message.startswith("refers to"):
        return replace(found, severity=Severity.LOW)
    if not at_import:
        return replace(
            found, severity=Severity.MEDIUM if installs or DOWNLOADER.search(line) else Severity.LOW
        )
    hidden = (
        found.name.endswith((".system", ".popen"))
        or re.search(r"shell\s*=\s*True", found.code) is not None
        or program in SHELLS
        or "-c" in words
        or not program
        or program.startswith(("-", "$"))
        or bool(DOWNLOADER.search(line))
    )
    if hidden or installs:
        return _with(found, Severity.HIGH, "at import time")
    return _with(found, Severity.MEDIUM, f"at import time, runs {program}")


def import_time_lines(tree: ast.Module) -> set[int]:
    """Lines that run when the module is imported.

    Module-level statements and class bodies run; function bodies do not, unless a module-level statement
    calls or hands over (``Thread(target=f)``, ``atexit.register(f)``) that function, or instantiates a
    class whose ``__init__``/``__new__`` it is. ``if __name__ == "__main__":`` blocks run only as a script.
    """
    functions: dict[str, list[ast.stmt]] = {}
    for node in _module_statements(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.setdefault(node.name, []).extend(node.body)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in ("__init__", "__new__"):
                    functions.setdefault(node.name, []).extend(item.body)
    lines: set[int] = set()
    visited: set[str] = set()
    pending = _run(tree.body, lines)
    for _ in range(_CALL_DEPTH):
        names = {name for name in pending if name in functions and name not in visited}
        if not names:
            break
        visited |= names
        pending = set()
        for name in names:
            pending |= _run(functions[name], lines)
    return lines


def _module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level statements, including those under module-level ``if``/``try`` (conditional definitions)."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "finalbody", [])):
                found += _module_statements(block)
            for handler in getattr(node, "handlers", []):
                found += _module_statements(handler.body)
    return found


def _run(body: list[ast.stmt], lines: set[int]) -> set[str]:
    """Add the lines ``body`` runs to ``lines``; return the names it refers to (functions it may call)."""
    referenced: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                referenced |= _expression(decorator, lines)
                referenced |= {decorator.id} if isinstance(decorator, ast.Name) else set()
            continue
        if isinstance(node, ast.ClassDef):
            for expression in [*node.bases, *node.decorator_list]:
                referenced |= _expression(expression, lines)
            referenced |= _run(node.body, lines)
            continue
        if isinstance(node, ast.If) and _is_main_guard(node.test):
            referenced |= _run(node.orelse, lines)
            continue
        blocks = [getattr(node, field) for field in ("body", "orelse", "finalbody") if hasattr(node, field)]
        blocks += [handler.body for handler in getattr(node, "handlers", [])]
        blocks += [case.body for case in getattr(node, "cases", [])]
        nested = [b for b in blocks if isinstance(b, list) and b and isinstance(b[0], ast.stmt)]
        if not nested:
            referenced |= _expression(node, lines)
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr | ast.withitem | ast.arguments):
                referenced |= _expression(child, lines)
        for block in nested:
            referenced |= _run(block, lines)
    return referenced


def _expression(node: ast.AST, lines: set[int]) -> set[str]:
    """The lines of an expression's nodes (lambda bodies excluded: they run when called) and the names
    it calls or hands to a runner (``f()``, ``Thread(target=f)``, ``atexit.register(f)``)."""
    called: set[str] = set()
    stack = [node]
    while stack:
        sub = stack.pop()
        line = getattr(sub, "lineno", None)
        if isinstance(line, int):
            lines.add(line)
        if isinstance(sub, ast.Call):
            called |= _called_names(sub)
        if not isinstance(sub, ast.Lambda):
            stack.extend(ast.iter_child_nodes(sub))
    return called


def _called_names(call: ast.Call) -> set[str]:
    found = {call.func.id} if isinstance(call.func, ast.Name) else set()
    runner = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    handed = [k.value for k in call.keywords if k.arg == "target"]
    if runner in _RUNNERS:
        handed += call.args
    return found | {h.id for h in handed if isinstance(h, ast.Name)}


def _is_main_guard(test: ast.expr) -> bool:
    """``if __name__ == "__main__":``, also as one operand of ``and``."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_is_main_guard(value) for value in test.values)
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )
