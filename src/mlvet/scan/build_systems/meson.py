"""meson.build: commands run at configure or build time (``run_command``, ``custom_target`` ...)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlvet.scan.build_systems.commands import grade_commands
from mlvet.scan.build_systems.issues import BuildIssue

MAX_TOKENS = 500_000
_TOKEN = re.compile(
    r"(?P<comment>\#[^\n]*)"
    r"|(?P<string>f?'''.*?(?:'''|\Z)|f?'(?:[^'\\\n]|\\.)*(?:'|$))"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<newline>\n)"
    r"|(?P<op>[()\[\]{},:=.])"
    r"|(?P<other>[^\s])",
    re.DOTALL | re.MULTILINE,
)
_RUNNERS = {
    "run_command": None,
    "custom_target": "command",
    "run_target": "command",
    "generator": "arguments",
}
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class Token:
    kind: str
    value: str
    line: int


def tokens(text: str) -> list[Token]:
    """Strings (unquoted), identifiers and punctuation with their lines; comments dropped."""
    found: list[Token] = []
    line = 1
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        value = match.group(0)
        if kind == "string":
            found.append(Token("string", _unquote(value), line))
        elif kind in ("id", "op", "other"):
            found.append(Token(kind, value, line))
        line += value.count("\n")
        if len(found) >= MAX_TOKENS:
            break
    return found


def _unquote(literal: str) -> str:
    body = literal[1:] if literal.startswith("f") else literal
    quote = "'''" if body.startswith("'''") else "'"
    body = body[len(quote) :]
    if body.endswith(quote):
        body = body[: -len(quote)]
    return re.sub(r"\\(.)", r"\1", body) if quote == "'" else body


def analyse_meson(text: str) -> list[BuildIssue]:
    """Issues for the commands a meson.build file runs."""
    toks = tokens(text)
    programs: dict[str, str] = {}
    issues: list[BuildIssue] = []
    for index, tok in enumerate(toks):
        if tok.kind != "id" or index + 1 >= len(toks) or toks[index + 1].value != "(":
            continue
        end = _matching(toks, index + 1)
        inner = toks[index + 2 : end]
        if tok.value == "find_program" and index >= 2 and toks[index - 1].value == "=":
            first = next((t.value for t in inner if t.kind == "string"), None)
            if first is not None and toks[index - 2].kind == "id":
                programs[toks[index - 2].value] = first
        elif tok.value in _RUNNERS:
            keyword = _RUNNERS[tok.value]
            argv = _positional(inner, programs) if keyword is None else _keyword(inner, keyword, programs)
            if argv:
                issues += grade_commands([argv], tok.line, f"meson {tok.value}")
    return issues


def _matching(toks: list[Token], start: int) -> int:
    depth = 0
    for index in range(start, len(toks)):
        value = toks[index].value if toks[index].kind == "op" else ""
        if value and value in _OPEN:
            depth += 1
        elif value and value in _CLOSE:
            depth -= 1
            if depth == 0:
                return index
    return len(toks)


def _positional(inner: list[Token], programs: dict[str, str]) -> list[str]:
    """Top-level positional arguments, lists flattened, stopping at the first ``keyword:``."""
    argv: list[str] = []
    index = 0
    while index < len(inner):
        tok = inner[index]
        if tok.kind == "id" and index + 1 < len(inner) and inner[index + 1].value == ":":
            break
        index = _value(inner, index, programs, argv)
    return argv


def _keyword(inner: list[Token], keyword: str, programs: dict[str, str]) -> list[str]:
    for index, tok in enumerate(inner):
        if (
            tok.kind == "id"
            and tok.value == keyword
            and index + 1 < len(inner)
            and inner[index + 1].value == ":"
        ):
            argv: list[str] = []
            _value(inner, index + 2, programs, argv)
            return argv
    return []


def _value(inner: list[Token], index: int, programs: dict[str, str], argv: list[str]) -> int:
    """Append the words of the value starting at ``index``; return the index after it."""
    if index >= len(inner):
        return index + 1
    tok = inner[index]
    if tok.kind == "string":
        argv.append(tok.value)
    elif tok.kind == "op" and tok.value == "[":
        end = _matching(inner, index)
        position = index + 1
        while position < end:
            if inner[position].value == ",":
                position += 1
                continue
            position = _value(inner, position, programs, argv)
        return end + 1
    elif tok.kind == "id" and index + 1 < len(inner) and inner[index + 1].value == "(":
        end = _matching(inner, index + 1)
        first = next((t.value for t in inner[index + 2 : end] if t.kind == "string"), None)
        argv.append(first if tok.value == "find_program" and first else f"{tok.value}()")
        return end + 1
    elif tok.kind == "id":
        argv.append(programs.get(tok.value, tok.value))
    return index + 1
