"""Symbolic values on the interpreter's stack: what a loader would build, without building it.

Constants are plain Python values (``str``, ``bytes``, ``int``, ``tuple``, ``list``, ``dict``...);
everything whose value depends on code is one of the classes below.
"""

from __future__ import annotations

from typing import Any

from mlvet.scan.pickle.globals_policy import Judgement

OpRef = tuple[str, int, int]
"""Where something happened: (opcode name, byte offset, opcode index)."""


class Global:
    """A global fetched by GLOBAL, STACK_GLOBAL, INST or an EXT opcode."""

    __slots__ = ("called", "how", "judgement", "origin", "written")

    def __init__(
        self, judgement: Judgement | None, origin: OpRef, how: tuple[str, ...] = (), written: str = ""
    ) -> None:
        self.judgement = judgement
        """None when the name cannot be resolved (EXT opcodes, non-string operands)."""
        self.origin = origin
        self.how = how
        """How the operands were obtained: ``memo``, ``legacy-string-opcodes``, ``ext``..."""
        self.written = written
        """The module and name as the stream spells them."""
        self.called = False

    @property
    def qualified(self) -> str:
        if self.judgement is None:
            return f"<unresolvable global at opcode {self.origin[2]}>"
        return self.judgement.qualified


class Call:
    """The result of calling ``func`` with ``args`` (REDUCE, NEWOBJ, OBJ, INST); BUILD fills ``state``."""

    __slots__ = ("args", "func", "origin", "state")

    def __init__(self, func: Any, args: Any, origin: OpRef) -> None:
        self.func = func
        self.args = args
        self.origin = origin
        self.state: Any = None


class Blob:
    """A large bytes or text constant, kept as its position in the data instead of a copy."""

    __slots__ = ("is_text", "length", "start")

    def __init__(self, start: int, length: int, is_text: bool) -> None:
        self.start = start
        self.length = length
        self.is_text = is_text


class Opaque:
    """A value the scanner cannot know: a persistent ID, an out-of-band buffer, a missing memo slot."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


def root_global(value: Any, depth: int = 0) -> Global | None:
    """The global a value was produced by (a global itself, or the callee of the call that made it)."""
    while type(value) is Call and depth < 64:
        value = value.func
        depth += 1
    return value if type(value) is Global else None


def describe(value: Any, budget: int = 160) -> str:
    """A short, bounded rendering of a value for messages and evidence."""
    text = _describe(value, budget, 0)
    return text if len(text) <= budget else text[: budget - 3] + "..."


def _describe(value: Any, budget: int, depth: int) -> str:
    if depth > 4 or budget <= 0:
        return "..."
    kind = type(value)
    if isinstance(value, str | bytes):
        return repr(value[:budget])
    if isinstance(value, Global):
        return value.qualified
    if isinstance(value, Call):
        callee = root_global(value)
        return f"<result of {callee.qualified if callee else 'a call'}>"
    if isinstance(value, Blob):
        return f"<{value.length} {'characters' if value.is_text else 'bytes'}>"
    if isinstance(value, Opaque):
        return f"<{value.what}>"
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<{value.bit_length()}-bit integer>"
    if kind is tuple or kind is list:
        inner = []
        used = 0
        for item in value[:8]:
            text = _describe(item, budget - used, depth + 1)
            inner.append(text)
            used += len(text) + 2
            if used > budget:
                break
        if len(value) > len(inner):
            inner.append("...")
        body = ", ".join(inner)
        return (
            f"({body},)"
            if kind is tuple and len(value) == 1
            else ("(%s)" if kind is tuple else "[%s]") % body
        )
    if kind is dict:
        return "{" + ", ".join(f"{_describe(k, 40, depth + 1)}: ..." for k in list(value)[:6]) + "}"
    return repr(value)[:budget]
