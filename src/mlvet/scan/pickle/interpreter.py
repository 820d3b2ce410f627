"""The symbolic interpreter's state and the meaning of its interesting opcodes.

The opcode loop (``walker.py``) keeps constants moving on a plain list; whenever an opcode can
import or call something, it hands over to the methods here, which judge globals, attribute calls
to the global that produced the callable, and record findings. Nothing is ever imported or called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlvet.scan.base import ScanContext
from mlvet.scan.pickle import inline_arrays, nested
from mlvet.scan.pickle.allowlist import RESOLVERS
from mlvet.scan.pickle.globals_policy import Judgement, Verdict, judge
from mlvet.scan.pickle.reporter import Reporter
from mlvet.scan.pickle.rules import (
    DOTTED_TRAVERSAL,
    EXTENSION_OPCODE,
    MALFORMED_STREAM,
    RESOURCE_ABUSE,
    SCANNER_CONFUSION,
    UNRESOLVABLE_GLOBAL,
)
from mlvet.scan.pickle.values import Blob, Call, Global, Opaque, OpRef, describe, root_global

Data = Any
"""``bytes`` or ``mmap``: indexable to ints, sliceable to bytes, searchable with ``find``."""

INJECTABLE_ATTRIBUTES = ("__setstate__", "append", "extend", "add")
"""Attributes the unpickler fetches from an instance and calls, so a BUILD that sets them arms a call."""
MAX_STACK_DEPTH = 100_000
MAX_MARKS = 10_000
MAX_GETS_PER_PUT = 50
MIN_GETS_FOR_BOMB = 100_000


@dataclass
class Session:
    """State shared by every stream of one scanned buffer."""

    nested: int = 0
    alternates: list[Interpreter] = field(default_factory=list)
    alternate_budget: int = 4
    inspected_bytes: int = 0
    """Constant bytes examined for embedded pickles so far (bounded: the same blob can be fetched often)."""
    embedded: set[int] = field(default_factory=set)
    """Hashes of embedded streams already scanned, so a memo-shared blob is scanned once."""


class Break(Exception):
    """The stream cannot be parsed past this opcode (a loader would fail here too)."""

    def __init__(self, reason: str, abuse: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.abuse = abuse


class Interpreter:
    """Everything one pickle stream has built so far, and what it means."""

    def __init__(
        self,
        data: Data,
        ctx: ScanContext,
        session: Session,
        start: int,
        end: int,
        *,
        stream: int,
        joblib_inline: bool = True,
    ) -> None:
        self.data = data
        self.ctx = ctx
        self.session = session
        self.start = start
        self.end = end
        self.stream = stream
        self.joblib_inline = joblib_inline
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: list[Any] = []
        """Memo slots 0..n-1 while a stream stores them in order (as picklers do)."""
        self.sparse: dict[int, Any] | None = None
        """The memo, once a PUT skips ahead: CPython's semantics exactly, at dictionary speed."""
        self.proto = 0
        self.opcodes = 0
        self.last_get = -8
        self.last_legacy_string = -8
        self.gets = 0
        self.suspicious = False
        """True once this stream imported or called anything (a global, a call, an EXT)."""
        self.reporter = Reporter(ctx, stream, start)
        self._extra_allowed = ctx.settings.allow_globals

    # -- globals ---------------------------------------------------------------------------------

    def make_global(self, module: str, name: str, origin: OpRef, how: tuple[str, ...] = ()) -> Global:
        judgement = judge(module, name, self._extra_allowed, self.proto < 3)
        written = f"{module} {name}" if judgement.resolved_via else ""
        item = Global(judgement, origin, how, written)
        if judgement.verdict is not Verdict.ALLOWED:
            self.suspicious = True
            self.reporter.referenced(item)
            if judgement.traversal is not None:
                self._traversal(judgement, module, name, origin)
        return item

    def stack_global(self, module: Any, name: Any, origin: OpRef) -> Global:
        index = origin[2]
        how: tuple[str, ...] = ("memo",) if self.last_get >= index - 2 else ()
        if self.last_legacy_string >= index - 2:
            how += ("legacy-string-opcodes",)
        if type(module) is str and type(name) is str:
            return self.make_global(module, name, origin, how)
        self.suspicious = True
        operands = f"module {describe(module, 60)}, name {describe(name, 60)}"
        item = Global(None, origin, (*how, "non-string operand"), f"STACK_GLOBAL operands: {operands}")
        self.reporter.referenced(item)
        return item

    def extension(self, code: int, origin: OpRef) -> Global:
        self.suspicious = True
        self.reporter.note(
            EXTENSION_OPCODE,
            f"ext-{code}",
            f"{origin[0]} fetches extension code {code} from the copyreg registry (opcode {origin[2]})",
            origin,
            {"extension_code": code},
        )
        return Global(None, origin, ("ext",), f"extension {code}")

    def _traversal(self, judgement: Judgement, module: str, name: str, origin: OpRef) -> None:
        message = (
            f"global {module}.{name} walks through a {judgement.traversal} and resolves to "
            f"{judgement.qualified} ({origin[0]} at opcode {origin[2]})"
        )
        evidence = {"written_as": f"{module} {name}", "traversal": judgement.traversal}
        self.reporter.note(DOTTED_TRAVERSAL, f"{module}:{name}", message, origin, evidence)

    # -- calls -----------------------------------------------------------------------------------

    def call(self, func: Any, args: Any, origin: OpRef, via: str = "") -> Call:
        """``func(*args)`` as a loader would do it; attributed to the global that produced ``func``."""
        result = Call(func, args, origin)
        kind = type(func)
        if kind is Global:
            judgement = func.judgement
            if judgement is not None and judgement.verdict is Verdict.ALLOWED:
                if judgement.called_arguments:
                    self._called_arguments(judgement, args, origin)
                return result
            if judgement is not None and judgement.qualified in RESOLVERS and self._resolves_allowed(args):
                return result
            func.called = True
            self.suspicious = True
            self.reporter.called(func, args, origin, via)
        elif kind is Call:
            self.suspicious = True
            root = root_global(func)
            producer = root.qualified if root is not None else "an unresolvable call"
            if (
                root is not None
                and root.judgement is not None
                and root.judgement.verdict is Verdict.DANGEROUS
            ):
                self.reporter.called(root, args, origin, result=True)
            else:
                self._unresolvable_call(f"the object returned by {producer}", args, origin)
        else:
            self.suspicious = True
            self._unresolvable_call(describe(func, 80), args, origin)
        nested.inspect_call(self, func, args, origin)
        return result

    def _called_arguments(self, judgement: Judgement, args: Any, origin: OpRef) -> None:
        if type(args) is not tuple:
            return
        for position in judgement.called_arguments:
            if position < len(args) and type(args[position]) is Global:
                self.call(args[position], None, origin, f"instantiated by {judgement.qualified}")

    def _resolves_allowed(self, args: Any) -> bool:
        if type(args) is not tuple or len(args) != 2 or type(args[0]) is not str or type(args[1]) is not str:
            return False
        return judge(args[0], args[1], self._extra_allowed, self.proto < 3).verdict is Verdict.ALLOWED

    def _unresolvable_call(self, what: str, args: Any, origin: OpRef) -> None:
        message = f"calls {what}, whose origin cannot be determined ({origin[0]} at opcode {origin[2]})"
        evidence = {"args": describe(args)} if args is not None else {}
        self.reporter.note(UNRESOLVABLE_GLOBAL, f"call@{what}", message, origin, evidence)

    def build(self, obj: Any, state: Any, origin: OpRef, pos: int) -> int:
        """BUILD: set ``state`` on ``obj``; returns where parsing continues (after any inline array)."""
        if type(obj) is Call:
            obj.state = state
        for part in state if type(state) is tuple and len(state) == 2 else (state,):
            if type(part) is dict and part:
                self._setstate_injection(part, origin)
        if self.joblib_inline and type(obj) is Call:
            return inline_arrays.after_build(self, obj, origin, pos)
        return pos

    def _setstate_injection(self, state: dict[Any, Any], origin: OpRef) -> None:
        """Instance attributes a loader later looks up and calls: BUILD(__setstate__), APPEND(S), ADDITEMS."""
        for key in INJECTABLE_ATTRIBUTES:
            value = state.get(key)
            if type(value) is Global or type(value) is Call:
                self.call(value, None, origin, f"installed as {key} by BUILD")

    # -- memo ----------------------------------------------------------------------------------------

    def memo_put(self, key: int, value: Any) -> None:
        if key < 0:
            raise Break("negative memo index")
        sparse = self.sparse
        if sparse is None:
            memo = self.memo
            if key < len(memo):
                memo[key] = value
                return
            if key == len(memo):
                memo.append(value)
                return
            sparse = self.sparse = dict(enumerate(memo))
            self.memo = []
        sparse[key] = value

    def memo_get(self, key: int, offset: int, index: int) -> Any:
        self.gets += 1
        if self.sparse is None:
            if 0 <= key < len(self.memo):
                return self.memo[key]
        elif key in self.sparse:
            return self.sparse[key]
        self.structural(
            "malformed",
            f"memo slot {key} is fetched at opcode {index} but was never stored (a loader fails here)",
            ("GET", offset, index),
            memo_key=key,
        )
        return Opaque(f"missing memo slot {key}")

    def memo_size(self) -> int:
        return len(self.sparse) if self.sparse is not None else len(self.memo)

    # -- structure -------------------------------------------------------------------------------

    def structural(self, rule_kind: str, message: str, origin: OpRef, **evidence: Any) -> None:
        rule = {"malformed": MALFORMED_STREAM, "confusion": SCANNER_CONFUSION, "abuse": RESOURCE_ABUSE}[
            rule_kind
        ]
        self.reporter.note(rule, f"{rule_kind}:{message[:40]}", message, origin, evidence)

    def broke(self, reason: str, origin: OpRef, abuse: bool = False) -> None:
        """The stream cannot be parsed further at ``origin``; a loader fails here too."""
        if abuse:
            self.structural("abuse", reason, origin)
        else:
            self.structural("malformed", f"pickle stream breaks at opcode {origin[2]}: {reason}", origin)

    def check_limits(self, origin: OpRef) -> None:
        """Resource-abuse checks too costly to run per opcode: at the end of a stream (and at LIST)."""
        if len(self.stack) > MAX_STACK_DEPTH:
            self.structural("abuse", f"stack holds more than {MAX_STACK_DEPTH} values", origin)
        if len(self.marks) > MAX_MARKS:
            self.structural("abuse", f"more than {MAX_MARKS} nested MARKs", origin)
        size = self.memo_size()
        if self.gets > MIN_GETS_FOR_BOMB and self.gets > MAX_GETS_PER_PUT * max(1, size):
            self.structural("abuse", f"{self.gets} memo fetches for {size} memo entries", origin)

    def materialize(self, value: Any, limit: int) -> bytes | str | None:
        """The bytes or text of a constant, reading a ``Blob`` back from the data (bounded)."""
        if type(value) is bytes or type(value) is str:
            return value
        if type(value) is bytearray:
            return bytes(value)
        if type(value) is Blob and value.length <= limit:
            raw = bytes(self.data[value.start : value.start + value.length])
            return raw.decode("utf-8", "replace") if value.is_text else raw
        return None

    def finish(self) -> None:
        self.reporter.flush()
