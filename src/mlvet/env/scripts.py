"""Console scripts an installer generates: does each one still only call its entry point?

pip and uv write the same small program for every ``console_scripts`` entry: import the entry
point's object, fix ``sys.argv[0]``, ``sys.exit(obj())``. Such a script has no reference hash in the
wheel, so a script rewritten together with its RECORD row would pass every hash check. Its shape
is checked instead, statically (``ast.parse``; nothing is executed): any other import, call or
definition means the script was changed.
"""

from __future__ import annotations

import ast
import re

_VERSIONED = re.compile(r"-?\d+(\.\d+)*$")
_SCRIPT_SUFFIXES = (".exe", "-script.py", "-script.pyw")
_ALLOWED_MODULES = frozenset({"sys", "re", "os"})
_ALLOWED_METHODS = frozenset({"exit", "sub", "endswith", "removesuffix", "startswith"})
_SCRIPT_LIMIT = 64 << 10


def entry_point_of(name: str, entry_points: dict[str, str]) -> str | None:
    """The ``module:attr`` a generated script is for (``pip3.11`` is pip's versioned twin of ``pip``)."""
    for suffix in _SCRIPT_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return entry_points.get(name) or entry_points.get(_VERSIONED.sub("", name))


def script_deviation(data: bytes, entry_point: str) -> str | None:
    """Why the script is not the installer's wrapper for ``entry_point``, or None when it is."""
    if len(data) > _SCRIPT_LIMIT:
        return f"{len(data)} bytes, far more than a generated wrapper"
    if b"\0" in data:
        return None  # a binary launcher (Windows .exe): not judged here
    module, _, attribute = entry_point.partition(":")
    module, head = module.strip(), attribute.strip().split(".")[0].split("[")[0].strip()
    text = data.decode("utf-8", errors="replace")  # a shebang line is a Python comment
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return f"not valid Python ({exc.msg}, line {exc.lineno})"
    for statement in tree.body:
        reason = _top_level(statement, module, head)
        if reason:
            return f"line {statement.lineno}: {reason}"
    return None


def _top_level(statement: ast.stmt, module: str, head: str) -> str | None:
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return None  # pip's '''exec' shebang trampoline for long interpreter paths
    if isinstance(statement, ast.Import):
        extra = [a.name for a in statement.names if a.name not in _ALLOWED_MODULES]
        return f"imports {', '.join(extra)}" if extra else None
    if isinstance(statement, ast.ImportFrom):
        names = [a.name for a in statement.names]
        if statement.module != module or names != [head]:
            return f"imports {', '.join(names)} from {statement.module}, the entry point is {module}:{head}"
        return None
    if isinstance(statement, ast.If) and _is_main_guard(statement.test):
        return _main_block(statement, head)
    return f"unexpected statement {ast.unparse(statement)[:100]!r}"


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _main_block(block: ast.If, head: str) -> str | None:
    calls_entry_point = False
    for node in ast.walk(ast.Module(body=block.body, type_ignores=[])):
        if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef | ast.Lambda):
            return f"line {node.lineno}: defines or imports inside the main block"
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if isinstance(target, ast.Attribute) and target.attr in _ALLOWED_METHODS:
            continue
        root = target
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id == head:
            calls_entry_point = True
            continue
        return f"line {node.lineno}: calls {ast.unparse(target)}, not the entry point {head}"
    return None if calls_entry_point else "never calls the entry point"
