"""What names and variables denote in one Python module: import aliases, static attribute paths, and a
simple module-wide data flow (values decoded from the source, fetched from the network, read from the clock).

Deliberately approximate (by variable name, not by scope): enough to see ``o = __import__("os"); o.system``
or ``code = base64.b64decode(...); exec(code)`` without an interpreter.
"""

from __future__ import annotations

import ast
import builtins
import re
import warnings

from mlvet.findings import Severity
from mlvet.scan.python.catalog import CLOCKS, DATE_CONSTRUCTORS, DECODERS, Behaviour, capability

_BUILTINS = frozenset(dir(builtins))
_CLOCK_PARTS = frozenset(
    {"year", "month", "day", "hour", "minute", "tm_year", "tm_mon", "tm_mday", "tm_hour"}
)
_CLOCK_METHODS = frozenset({"timestamp", "date", "toordinal", "isoformat", "strftime", "timetuple"})
MAX_TRACE_HOPS = 4
IMPORT_LIKE = re.compile(r"builtins\.__import__|importlib\.(import_module|__import__)")


class Bindings:
    """Names bound in a module, resolved to qualified names; variables' constant values and origins."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.nodes: list[ast.AST] = list(ast.walk(tree))
        """Every node of the module, walked once and shared by the analyses."""
        self.aliases: dict[str, str] = {"__builtins__": "builtins"}
        self.star_modules: list[str] = []
        self.shadowed: set[str] = set()
        self.taints: dict[str, set[str]] = {}
        self.values: dict[str, ast.expr] = {}
        """Variables assigned exactly once, to this expression."""
        self._bind_imports()
        self._bind_assignments()

    def _bind_imports(self) -> None:
        for node in self.nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        self.aliases[root] = root
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                for alias in node.names:
                    if alias.name == "*":
                        self.star_modules.append(module)
                    else:
                        self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        for statement in self.tree.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.shadowed.add(statement.name)

    def _bind_assignments(self) -> None:
        """Aliases (``s = os.system``), constants and taints of variables, in source order, twice over."""
        assignments: list[tuple[ast.expr, ast.expr]] = []
        for node in self.nodes:
            if isinstance(node, ast.Assign):
                assignments.extend((target, node.value) for target in node.targets)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value is not None:
                assignments.append((node.target, node.value))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                assignments.append((node.optional_vars, node.context_expr))
            elif isinstance(node, ast.For):
                assignments.append((node.target, node.iter))
        assignments.sort(key=lambda pair: (pair[0].lineno, pair[0].col_offset))
        counts: dict[str, int] = {}
        for target, _ in assignments:
            if isinstance(target, ast.Name):
                counts[target.id] = counts.get(target.id, 0) + 1
        for round_ in range(2):
            tainting = round_ == 0 or any(self.taints.values())  # nothing to propagate: skip the walks
            for target, value in assignments:
                origins = self.taint(value) if tainting else set()
                for name in _target_names(target):
                    self.taints.setdefault(name, set()).update(origins)
                if not isinstance(target, ast.Name):
                    continue
                resolved = self.resolve(value)
                if resolved is not None:
                    self.aliases[target.id] = resolved
                if counts[target.id] == 1:
                    self.values[target.id] = value
                elif target.id in self.values:
                    del self.values[target.id]

    def resolve(self, node: ast.expr) -> str | None:
        """The qualified name an expression denotes (``o.system`` -> ``os.system``), when it is static."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id in _BUILTINS and node.id not in self.shadowed:
                return f"builtins.{node.id}"
            return None
        if isinstance(node, ast.Attribute):
            value = node.value
            base = (
                (self._resolve_call(value) or self.resolve(value.func))
                if isinstance(value, ast.Call)
                else None
            )
            base = base or (self.resolve(value) if not isinstance(value, ast.Call) else None)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Subscript):
            key = constant_str(node.slice)
            base = self.resolve(node.value)
            if key is None or base is None:
                return None
            return key if base == "sys.modules" else f"{base}.{key}"
        if isinstance(node, ast.Call):
            return self._resolve_call(node)
        return None

    def _resolve_call(self, node: ast.Call) -> str | None:
        callee = self.resolve(node.func)
        first = constant_str(node.args[0]) if node.args else None
        if callee is not None and IMPORT_LIKE.fullmatch(callee) and first:
            return first
        if callee == "builtins.getattr" and len(node.args) >= 2:
            base, attribute = self.resolve(node.args[0]), constant_str(node.args[1])
            return f"{base}.{attribute}" if base and attribute else None
        return None

    def call_name(self, node: ast.Call) -> str | None:
        name = self.resolve(node.func)
        if name is None and isinstance(node.func, ast.Name):
            for module in self.star_modules:
                if capability(f"{module}.{node.func.id}"):
                    return f"{module}.{node.func.id}"
        return name

    def taint(self, node: ast.expr) -> set[str]:
        """Origins of a value: ``decoded`` (hidden in the source), ``network``, ``download``, ``clock``."""
        found: set[str] = set()
        if self.is_clock(node):
            found.add("clock")
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                found |= self.taints.get(sub.id, set()) - {"clock"}
            elif isinstance(sub, ast.Call):
                name = self.resolve(sub.func) or ""
                if DECODERS.fullmatch(name) or name == "builtins.chr":
                    found.add("decoded")
                found |= _source_of(name)
        return found

    def traced_taint(self, node: ast.expr, hops: int = 0) -> set[str]:
        """Like ``taint``, but through variables assigned exactly once only (a name reused across
        functions of a big module does not carry one function's decoded data into another)."""
        found: set[str] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id in self.values:
                if hops < MAX_TRACE_HOPS:
                    found |= self.traced_taint(self.values[sub.id], hops + 1)
            elif isinstance(sub, ast.Call):
                name = self.resolve(sub.func) or ""
                if DECODERS.fullmatch(name) or name == "builtins.chr":
                    found.add("decoded")
                found |= _source_of(name)
        return found

    def is_clock(self, node: ast.expr) -> bool:
        while True:
            if (isinstance(node, ast.Attribute) and node.attr in _CLOCK_PARTS) or isinstance(
                node, ast.Subscript
            ):
                node = node.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _CLOCK_METHODS
            ):
                node = node.func.value
            elif (
                isinstance(node, ast.Call)
                and self.resolve(node.func) in ("builtins.int", "builtins.float")
                and node.args
            ):
                node = node.args[0]
            else:
                break
        if isinstance(node, ast.Name):
            return "clock" in self.taints.get(node.id, set())
        return isinstance(node, ast.Call) and bool(CLOCKS.fullmatch(self.resolve(node.func) or ""))

    def is_fixed_time(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
            return not isinstance(node.value, bool)
        if isinstance(node, ast.UnaryOp):
            return self.is_fixed_time(node.operand)
        if isinstance(node, ast.Tuple):
            return bool(node.elts) and all(self.is_fixed_time(e) for e in node.elts)
        if isinstance(node, ast.Call) and DATE_CONSTRUCTORS.fullmatch(self.resolve(node.func) or ""):
            return all(isinstance(a, ast.Constant) for a in node.args)
        if isinstance(node, ast.Name):
            value = self.values.get(node.id)
            return value is not None and not isinstance(value, ast.Name) and self.is_fixed_time(value)
        return False


def _source_of(name: str) -> set[str]:
    found = capability(name)
    if found is None or found.behaviour is not Behaviour.NETWORK:
        return set()
    return {"network"} if found.severity >= Severity.HIGH else {"download"}


def _target_names(target: ast.expr) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def constant_str(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def parse_module(source: str | bytes) -> ast.Module:
    """``ast.parse`` without the warnings (invalid escapes...) that compiling would print to stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)
