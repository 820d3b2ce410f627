"""Jinja2 chat templates (GGUF metadata, tokenizer configs): sandbox-escape gadgets, found without rendering.

A template is parsed into Jinja's syntax tree and walked; nothing is ever rendered. Escapes reach Python
internals through underscore attributes (``cycler.__init__.__globals__.os``), however the attribute name
is spelled (``.attr``, ``["attr"]``, ``|attr("attr")``, or a name assembled from string fragments).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mlvet.artifacts import Buffer
from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan.base import ScanContext
from mlvet.scan.templates.folding import constant_variables, fold

TEMPLATE_ESCAPE = Rule(
    "MLV601",
    "Chat template sandbox escape",
    Severity.CRITICAL,
    "A Jinja2 chat template reaches Python internals (dunder or private attributes such as __globals__, "
    "__class__ or __subclasses__), the gadget chains that run commands when a runtime renders the "
    "template outside a sandbox, as llama-cpp-python did. Do not load the model; real chat templates "
    "only format messages.",
    ("CVE-2024-34359", "https://jinja.palletsprojects.com/en/stable/sandbox/"),
)
TEMPLATE_SUSPICIOUS = Rule(
    "MLV602",
    "Chat template has unusual constructs",
    Severity.MEDIUM,
    "The chat template uses constructs that chat templates do not need: loading other templates "
    "(import, include, extends), web-framework or renderer globals, dynamic attribute names, str.format, "
    "or huge ranges. They are not an escape by themselves; review the template before use.",
)
TEMPLATE_UNPARSEABLE = Rule(
    "MLV603",
    "Chat template does not parse",
    Severity.MEDIUM,
    "The chat template is not valid Jinja2, so it could not be analysed. Loaders will fail on it, or a "
    "different template engine may accept it with a meaning mlvet did not check.",
)

RULES: tuple[Rule, ...] = (TEMPLATE_ESCAPE, TEMPLATE_SUSPICIOUS, TEMPLATE_UNPARSEABLE)

MAX_TEMPLATE_CHARS = 4_000_000
MAX_FINDINGS_PER_RULE = 10
MAX_RANGE = 100_000
"""Jinja's own sandbox refuses larger ranges."""

INTERPRETER_ATTRIBUTES = frozenset(
    {
        "mro", "func_globals", "func_code", "func_closure", "func_defaults", "im_class", "im_func", "im_self",
        "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "f_globals", "f_locals",
        "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code",
    }
)  # fmt: skip
"""Attributes without underscores that still lead to frames, code or globals (Jinja's sandbox blocks them)."""

COMMAND_ATTRIBUTES = frozenset(
    {
        "os", "popen", "system", "subprocess", "check_output", "check_call", "Popen", "getoutput",
        "spawnv", "spawnl", "execv", "execve", "execl", "import_module", "load_module", "builtins", "eval",
        "exec",
    }
)  # fmt: skip
SUSPICIOUS_GLOBALS = frozenset(
    {
        "config", "request", "url_for", "get_flashed_messages", "session", "self", "lipsum", "cycler",
        "joiner", "os", "subprocess", "popen", "eval", "exec", "builtins", "globals", "locals", "getattr",
        "setattr", "open", "compile", "importlib", "sys",
    }
)  # fmt: skip
"""Names a chat-template renderer never provides; they point at renderer objects or Python builtins."""

ATTRIBUTE_FILTERS = frozenset(
    {"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max"}
)
_DUNDER = re.compile(r"^__\w+__$")
_DUNDER_FRAGMENT = re.compile(r"__[A-Za-z]|[A-Za-z]__")
_FORMAT_ATTRIBUTE = re.compile(r"\{[^{}]*\b_")


@dataclass(frozen=True)
class _Hit:
    rule: Rule
    line: int
    construct: str


class _GenerationTag(Extension):
    """Parses transformers' ``{% generation %}...{% endgeneration %}`` block (training-mask marker)."""

    tags = {"generation"}  # noqa: RUF012 - the Extension API declares tags as a class attribute

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    """The parsing environment: Hugging Face's extensions, so real templates parse (never used to render)."""
    return ImmutableSandboxedEnvironment(
        extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", _GenerationTag]
    )


def analyse_template(source: str, ctx: ScanContext, *, where: str, location: Location) -> None:
    """Parse one template and report escape gadgets and odd constructs; ``where`` names its origin."""
    if len(source) > MAX_TEMPLATE_CHARS:
        ctx.problem(
            ProblemKind.LIMIT, f"{where}: template larger than {MAX_TEMPLATE_CHARS} characters not analysed"
        )
        return
    try:
        # Parser directly: Environment.parse rewrites tracebacks of syntax errors by exec'ing a stub.
        tree = Parser(_environment(), source).parse()
    except (jinja2.TemplateError, RecursionError, ValueError, TypeError, OverflowError, MemoryError) as exc:
        line = getattr(exc, "lineno", None)
        ctx.report(
            TEMPLATE_UNPARSEABLE,
            f"{where}: template does not parse ({_reason(exc)}); loaders will fail or a different engine "
            "may accept it",
            location=replace(location, line=line if isinstance(line, int) else None),
            evidence={"error": _reason(exc)},
        )
        return
    try:
        hits = list(_inspect(tree))
    except RecursionError:
        ctx.problem(ProblemKind.LIMIT, f"{where}: template nested too deeply to analyse")
        return
    _report(hits, source, ctx, where=where, location=location)


def _report(hits: list[_Hit], source: str, ctx: ScanContext, *, where: str, location: Location) -> None:
    """One finding per rule and line, naming every construct found there."""
    grouped: dict[tuple[Rule, int], list[str]] = {}
    for hit in hits:
        constructs = grouped.setdefault((hit.rule, hit.line), [])
        if hit.construct not in constructs:
            constructs.append(hit.construct)
    lines = source.splitlines()
    reported: dict[str, int] = {}
    for (rule, line), constructs in grouped.items():
        reported[rule.id] = reported.get(rule.id, 0) + 1
        if reported[rule.id] > MAX_FINDINGS_PER_RULE:
            continue
        snippet = lines[line - 1].strip()[:200] if 0 < line <= len(lines) else ""
        ctx.report(
            rule,
            f"{where}: "
            + "; ".join(constructs[:3])
            + (f" (+{len(constructs) - 3} more)" if len(constructs) > 3 else ""),
            location=replace(location, line=line or None),
            evidence={"constructs": constructs, "snippet": snippet},
        )


def scan_template_text(data: Buffer, ctx: ScanContext) -> None:
    """Scanner for a stand-alone template file (``chat_template.jinja``)."""
    try:
        source = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        ctx.problem(ProblemKind.CORRUPT, "template file is not valid UTF-8")
        return
    analyse_template(source, ctx, where="chat template", location=Location())


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _inspect(tree: nodes.Node) -> Iterator[_Hit]:
    inspector = _Inspector(tree)
    for node in _walk(tree):
        yield from inspector.visit(node, node.lineno or 0)


def _walk(tree: nodes.Node) -> Iterator[nodes.Node]:
    """Every node, depth first, without recursion (templates can nest deeply)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node.iter_child_nodes())))


class _Inspector:
    """Judges nodes of one template; knows its variables that hold constant strings."""

    def __init__(self, tree: nodes.Node) -> None:
        self.assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        self.assigned.update(m.name for m in tree.find_all(nodes.Macro))
        self.constants = constant_variables(tree)

    def visit(self, node: nodes.Node, line: int) -> Iterator[_Hit]:
        if isinstance(node, nodes.Getattr | nodes.NSRef):
            yield from _attribute_name(node.attr, line, via=".")
            if isinstance(node, nodes.Getattr) and node.attr in COMMAND_ATTRIBUTES:
                yield _Hit(TEMPLATE_SUSPICIOUS, line, f"attribute `.{node.attr}` names a command runner")
        elif isinstance(node, nodes.Getitem):
            yield from self.dynamic_name(node.arg, line, via="[...]", plain_ok=True)
        elif isinstance(node, nodes.Filter):
            yield from self.filter(node, line)
        elif isinstance(node, nodes.Call):
            yield from self.call(node, line)
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name in SUSPICIOUS_GLOBALS and node.name not in self.assigned:
                yield _Hit(
                    TEMPLATE_SUSPICIOUS, line, f"uses `{node.name}`, which chat templates are never given"
                )
        elif isinstance(node, nodes.Import | nodes.FromImport | nodes.Include | nodes.Extends):
            kind = {"FromImport": "from ... import"}.get(type(node).__name__, type(node).__name__.lower())
            yield _Hit(TEMPLATE_SUSPICIOUS, line, f"`{kind}` loads another template")
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            yield from _dunder_constant(node.value, line)
        if isinstance(node, nodes.Concat | nodes.Add | nodes.Mul | nodes.Mod | nodes.Filter | nodes.Call):
            folded = self.fold(node)
            if folded is not None and _DUNDER.match(folded) and not isinstance(node, nodes.Const):
                yield _Hit(TEMPLATE_ESCAPE, line, f"assembles the dunder name {folded!r} from fragments")
        if isinstance(node, nodes.Mul | nodes.Pow):
            yield from _huge_arithmetic(node, line)

    def dynamic_name(self, arg: nodes.Node, line: int, *, via: str, plain_ok: bool) -> Iterator[_Hit]:
        """An attribute name given as an expression: constant, foldable, or truly dynamic."""
        folded = self.fold(arg)
        if folded is not None:
            hits = [hit for part in folded.split(".") for hit in _attribute_name(part, line, via=via)]
            yield from hits
            if not hits and not plain_ok and not isinstance(arg, nodes.Const):
                yield _Hit(TEMPLATE_SUSPICIOUS, line, f"builds attribute name {folded!r} for `{via}`")
            return
        if isinstance(arg, nodes.Const):
            return
        fragments = [self.fold(c) for c in _walk(arg)]
        if any(fragment is not None and "__" in fragment for fragment in fragments):
            yield _Hit(
                TEMPLATE_ESCAPE, line, f"builds an attribute name from fragments containing '__' for `{via}`"
            )
        elif not plain_ok or _is_computed(arg):
            yield _Hit(TEMPLATE_SUSPICIOUS, line, f"computes an attribute name at render time for `{via}`")

    def filter(self, node: nodes.Filter, line: int) -> Iterator[_Hit]:
        if node.name == "attr" and node.args:
            yield from self.dynamic_name(node.args[0], line, via="|attr", plain_ok=False)
            name = node.args[0].value if isinstance(node.args[0], nodes.Const) else None
            if isinstance(name, str) and not name.startswith("_"):
                yield _Hit(TEMPLATE_SUSPICIOUS, line, f"uses the `attr` filter ({name!r})")
        elif node.name in ATTRIBUTE_FILTERS:
            for keyword in node.kwargs:
                if keyword.key == "attribute":
                    yield from self.dynamic_name(keyword.value, line, via=f"|{node.name}", plain_ok=True)
            if node.name in ("selectattr", "rejectattr") and node.args:
                yield from self.dynamic_name(node.args[0], line, via=f"|{node.name}", plain_ok=True)

    def call(self, node: nodes.Call, line: int) -> Iterator[_Hit]:
        callee = node.node
        if isinstance(callee, nodes.Getattr) and callee.attr in ("format", "format_map"):
            receiver = self.fold(callee.node)
            if receiver is not None and _FORMAT_ATTRIBUTE.search(receiver):
                yield _Hit(
                    TEMPLATE_ESCAPE, line, f"format string {receiver[:60]!r} reaches private attributes"
                )
            else:
                yield _Hit(
                    TEMPLATE_SUSPICIOUS, line, f"calls str.{callee.attr}, a known sandbox-bypass vector"
                )
        if isinstance(callee, nodes.Name) and callee.name == "range":
            for arg in node.args:
                if isinstance(arg, nodes.Const) and isinstance(arg.value, int) and abs(arg.value) > MAX_RANGE:
                    yield _Hit(TEMPLATE_SUSPICIOUS, line, f"range({arg.value}) can exhaust memory")

    def fold(self, node: nodes.Node) -> str | None:
        return fold(node, self.constants)


def _is_computed(arg: nodes.Node) -> bool:
    """True when a subscript is built by string operations rather than taken from data or arithmetic."""
    for node in _walk(arg):
        if isinstance(node, nodes.Const) and isinstance(node.value, str):
            return True
        if isinstance(node, nodes.Filter) and node.name in _STRING_FILTERS:
            return True
    return False


_STRING_FILTERS = frozenset({"join", "reverse", "replace", "format", "lower", "upper", "string", "trim"})


def _attribute_name(name: str, line: int, *, via: str) -> Iterator[_Hit]:
    shown = f"{via}{name}" if via == "." else f"{via}({name!r})"
    if _DUNDER.match(name):
        yield _Hit(TEMPLATE_ESCAPE, line, f"accesses dunder attribute `{shown}` (sandbox-escape gadget)")
    elif name.startswith("_"):
        yield _Hit(TEMPLATE_ESCAPE, line, f"accesses private attribute `{shown}` (sandbox-escape gadget)")
    elif name in INTERPRETER_ATTRIBUTES:
        yield _Hit(TEMPLATE_ESCAPE, line, f"accesses interpreter internals via `{shown}`")


def _dunder_constant(value: str, line: int) -> Iterator[_Hit]:
    if _DUNDER.match(value):
        yield _Hit(TEMPLATE_ESCAPE, line, f"names the dunder attribute {value!r}")
    elif len(value) < 200 and _DUNDER_FRAGMENT.search(value):
        yield _Hit(TEMPLATE_SUSPICIOUS, line, f"string {value[:60]!r} looks like a fragment of a dunder name")


def _huge_arithmetic(node: nodes.Mul | nodes.Pow, line: int) -> Iterator[_Hit]:
    limit = 1_000 if isinstance(node, nodes.Pow) else 10_000_000
    for side in (node.left, node.right):
        if isinstance(side, nodes.Const) and isinstance(side.value, int) and abs(side.value) > limit:
            yield _Hit(TEMPLATE_SUSPICIOUS, line, f"arithmetic on {side.value} can exhaust memory or CPU")
            return
