"""TorchScript source in the ``code/`` folder of a TorchScript archive.

TorchScript is compiled by PyTorch's own compiler: it has no import statement, no eval/exec/open
and no os or subprocess module. Serialized code that uses them was written into the archive by
hand, so each such use is a finding. Each ``forward`` is also read into a graph and checked for
backdoor gates by ``mlvet.graph`` (MLV9xx).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping

from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan.archives.members import MemberWalk

TORCHSCRIPT_PYTHON = Rule(
    "MLV203",
    "TorchScript code uses Python outside the TorchScript language",
    Severity.HIGH,
    "The code/ folder of a TorchScript archive is compiled by PyTorch's TorchScript compiler, "
    "which has no import statement, no eval/exec/open and no os or subprocess module. Serialized "
    "code that calls them was written by hand into the archive: treat the model as tampered with "
    "and do not load it.",
    ("https://pytorch.org/docs/stable/jit_language_reference.html",),
)

RULES: tuple[Rule, ...] = (TORCHSCRIPT_PYTHON,)

MAX_CODE_BYTES = 16 << 20
"""Source files larger than this are searched token-wise instead of parsed."""

_FORBIDDEN_CALLS = frozenset(
    {
        "__import__", "eval", "exec", "compile", "open", "globals", "locals", "vars", "breakpoint",
        "setattr", "delattr", "exit", "quit", "help", "memoryview", "classmethod", "staticmethod",
    }
)  # fmt: skip
_FORBIDDEN_MODULES = frozenset(
    {
        "os", "posix", "nt", "sys", "subprocess", "socket", "shutil", "importlib", "builtins",
        "__builtins__", "__builtin__", "ctypes", "pty", "pickle", "marshal", "runpy", "urllib", "requests",
        "webbrowser", "multiprocessing", "pathlib", "tempfile", "http", "asyncio",
    }
)  # fmt: skip
_FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "__globals__", "__builtins__", "__subclasses__", "__class__", "__bases__", "__base__", "__mro__",
        "__code__", "__dict__", "__getattribute__", "__reduce__", "__reduce_ex__", "__import__",
        "__loader__", "__spec__", "__closure__", "f_globals", "f_locals", "gi_frame", "tb_frame",
    }
)  # fmt: skip
_ALLOWED_IMPORTS = ("__torch__", "torch")
_TOKEN_CALL = re.compile(r"\b(" + "|".join(sorted(_FORBIDDEN_CALLS)) + r")\s*\(")
_TOKEN_MODULE = re.compile(r"(?<![\w.])(" + "|".join(sorted(_FORBIDDEN_MODULES)) + r")\s*\.")
_TOKEN_IMPORT = re.compile(r"^\s*(?:import|from)\s+(?!__torch__|torch\b)([\w.]+)", re.MULTILINE)


def scan_torchscript_code(
    source: bytes, name: str, walk: MemberWalk, library: Mapping[str, ast.ClassDef] | None = None
) -> None:
    """MLV203 for each line that uses constructs TorchScript cannot express; graph rules on each
    ``forward``, following submodules into the archive's other code files (``library``)."""
    text = source.decode("utf-8", errors="replace")
    hits = _token_hits(text) if len(source) > MAX_CODE_BYTES else _ast_hits(text)
    if len(source) <= MAX_CODE_BYTES:
        _find_gates(text, name, walk, library)
    by_line: dict[int, list[str]] = {}
    for construct, line in hits:
        constructs = by_line.setdefault(line, [])
        if construct not in constructs:
            constructs.append(construct)
    for line, constructs in sorted(by_line.items()):
        walk.ctx.report(
            TORCHSCRIPT_PYTHON,
            f"{name}: line {line} uses {', '.join(constructs)}, which TorchScript cannot express",
            location=Location(member=name, line=line),
            evidence={"constructs": constructs, "line": line},
        )


def _find_gates(text: str, name: str, walk: MemberWalk, library: Mapping[str, ast.ClassDef] | None) -> None:
    """Graph-backdoor rules (MLV9xx) on each ``forward`` method of the code file."""
    from mlvet.graph.detect import detect
    from mlvet.graph.reporting import report_detections
    from mlvet.graph.torchscript_import import import_torchscript

    try:
        graphs = import_torchscript(text, library)
    except ValueError:  # not Python: the token search above covered it
        return
    except (RecursionError, MemoryError) as exc:
        walk.ctx.problem(
            ProblemKind.LIMIT, f"{name}: graph import ran out of resources ({type(exc).__name__})"
        )
        return
    try:
        for graph in graphs:
            report_detections(detect(graph), walk.ctx, where=f"{name}: {graph.name}")
    except (RecursionError, MemoryError) as exc:
        walk.ctx.problem(
            ProblemKind.LIMIT, f"{name}: graph analysis ran out of resources ({type(exc).__name__})"
        )


def _ast_hits(text: str) -> list[tuple[str, int]]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _token_hits(text)
    try:
        return list(_walk_tree(tree))
    except RecursionError:
        return _token_hits(text)


def _walk_tree(tree: ast.AST) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith(_ALLOWED_IMPORTS):
                    yield f"import {alias.name}", line
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if not module.startswith(_ALLOWED_IMPORTS):
                yield f"from {module} import", line
        elif isinstance(node, ast.Call):
            yield from _call_hits(node, line)
        elif isinstance(node, ast.Attribute):
            if node.attr in _FORBIDDEN_ATTRIBUTES:
                yield f"attribute {node.attr}", line
            if isinstance(node.value, ast.Name) and node.value.id in _FORBIDDEN_MODULES:
                yield f"{node.value.id}.{node.attr}", line
        elif isinstance(node, ast.Name) and node.id in ("__builtins__", "__builtin__"):
            yield node.id, line


def _call_hits(node: ast.Call, line: int) -> Iterator[tuple[str, int]]:
    func = node.func
    if isinstance(func, ast.Name) and func.id in _FORBIDDEN_CALLS:
        yield f"{func.id}()", line
    if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr") and len(node.args) >= 2:
        attribute = node.args[1]
        if not (isinstance(attribute, ast.Constant) and isinstance(attribute.value, str)):
            yield f"{func.id}() with a computed attribute name", line
        elif attribute.value.startswith("__") and attribute.value.endswith("__"):
            yield f"{func.id}(..., {attribute.value!r})", line


def _token_hits(text: str) -> list[tuple[str, int]]:
    hits: list[tuple[str, int]] = []
    for pattern, label in ((_TOKEN_CALL, "{}()"), (_TOKEN_MODULE, "{}."), (_TOKEN_IMPORT, "import {}")):
        hits.extend(
            (label.format(match.group(1)), text.count("\n", 0, match.start()) + 1)
            for match in pattern.finditer(text)
        )
    return hits
