"""A tolerant tokenizer for CMake's command-invocation language (``CMakeLists.txt``, ``*.cmake``).

CMake files are a flat list of ``name(arguments)`` invocations. Arguments are bracket arguments
(``[==[ ... ]==]``), quoted arguments or unquoted ones; ``#`` starts a line comment and ``#[[ ... ]]`` a
bracket comment. Malformed input never raises: an unterminated construct ends at the end of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COMMANDS = 200_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACKET_OPEN = re.compile(r"\[(=*)\[")
_SPACE = " \t\r"


@dataclass(frozen=True)
class Argument:
    """One argument as written; ``quoted`` for quoted and bracket arguments (they never split on ``;``)."""

    text: str
    quoted: bool
    line: int


@dataclass(frozen=True)
class Command:
    """One command invocation; ``name`` is lower-cased (CMake command names are case-insensitive)."""

    name: str
    arguments: tuple[Argument, ...]
    line: int
    spelled: str = ""
    """The name as written."""

    def words(self) -> list[str]:
        """The arguments' texts (unquoted ones split on ``;`` as CMake lists are)."""
        found: list[str] = []
        for argument in self.arguments:
            if argument.quoted:
                found.append(argument.text)
            else:
                found.extend(w for w in argument.text.split(";") if w)
        return found


def parse_commands(text: str) -> list[Command]:
    """Every command invocation in ``text``, in order."""
    return _Tokenizer(text).commands()


class _Tokenizer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def commands(self) -> list[Command]:
        found: list[Command] = []
        text = self.text
        while self.pos < len(text) and len(found) < MAX_COMMANDS:
            char = text[self.pos]
            if char == "#":
                self._comment()
            elif char == "\n":
                self._advance(1)
            else:
                match = _IDENTIFIER.match(text, self.pos)
                if match is None:
                    self._advance(1)
                    continue
                line = self.line
                self._advance(match.end() - self.pos)
                while self.pos < len(text) and text[self.pos] in _SPACE:
                    self._advance(1)
                if self.pos < len(text) and text[self.pos] == "(":
                    self._advance(1)
                    found.append(
                        Command(match.group(0).lower(), tuple(self._arguments()), line, match.group(0))
                    )
        return found

    def _advance(self, count: int) -> None:
        end = min(self.pos + count, len(self.text))
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end

    def _comment(self) -> None:
        bracket = _BRACKET_OPEN.match(self.text, self.pos + 1)
        if bracket is not None:
            self._advance(1 + bracket.end() - bracket.start())
            self._bracket_body(bracket.group(1))
            return
        end = self.text.find("\n", self.pos)
        self._advance((end if end >= 0 else len(self.text)) - self.pos)

    def _bracket_body(self, equals: str) -> str:
        closing = f"]{equals}]"
        end = self.text.find(closing, self.pos)
        stop = end if end >= 0 else len(self.text)
        body = self.text[self.pos : stop]
        self._advance(stop - self.pos + (len(closing) if end >= 0 else 0))
        return body[1:] if body.startswith("\n") else body

    def _arguments(self) -> list[Argument]:
        found: list[Argument] = []
        depth = 0
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in _SPACE or char == "\n":
                self._advance(1)
            elif char == "#":
                self._comment()
            elif char == "(":
                depth += 1
                found.append(Argument("(", False, self.line))
                self._advance(1)
            elif char == ")":
                self._advance(1)
                if depth == 0:
                    return found
                depth -= 1
                found.append(Argument(")", False, self.line))
            elif char == '"':
                line = self.line
                found.append(Argument(self._quoted(), True, line))
            elif char == "[" and (bracket := _BRACKET_OPEN.match(text, self.pos)) is not None:
                line = self.line
                self._advance(bracket.end() - bracket.start())
                found.append(Argument(self._bracket_body(bracket.group(1)), True, line))
            else:
                line = self.line
                found.append(Argument(self._unquoted(), False, line))
        return found

    def _quoted(self) -> str:
        self._advance(1)
        parts: list[str] = []
        text = self.text
        start = self.pos
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\" and self.pos + 1 < len(text):
                parts.append(text[start : self.pos])
                escaped = text[self.pos + 1]
                parts.append({"n": "\n", "t": "\t", "r": "\r", ";": ";"}.get(escaped, escaped))
                self._advance(2)
                start = self.pos
            elif char == '"':
                parts.append(text[start : self.pos])
                self._advance(1)
                return "".join(parts)
            else:
                self._advance(1)
        parts.append(text[start : self.pos])
        return "".join(parts)

    def _unquoted(self) -> str:
        text = self.text
        start = self.pos
        while self.pos < len(text):
            char = text[self.pos]
            if char in _SPACE or char in '\n()#"':
                break
            self._advance(2 if char == "\\" else 1)
        return text[start : self.pos]
