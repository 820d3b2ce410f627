"""Opcodes real files rarely use (protocol 0/1 text forms, globals, EXT, sets...) and loop helpers.

Each handler takes (interpreter, offset of the opcode, opcode index) and returns the offset of the
next opcode. They raise ``Break`` for input a loader would reject.
"""

from __future__ import annotations

import codecs
import struct
import warnings
from collections.abc import Callable
from typing import Any

from mlvet.scan.pickle.interpreter import Break, Interpreter
from mlvet.scan.pickle.opcodes import HIGHEST_PROTOCOL, NAMES
from mlvet.scan.pickle.rules import FRAME_DIVERGENCE
from mlvet.scan.pickle.values import Blob, Opaque

MAX_LONG_BYTES = 1 << 16
BLOB_BYTES = 1 << 16
_unpack = struct.unpack_from


# -- helpers used by the main loop -----------------------------------------------------------------


def set_items(target: dict[Any, Any], items: list[Any]) -> None:
    try:
        target.update(zip(items[::2], items[1::2], strict=False))
    except TypeError:  # unhashable keys: a loader would fail too; keep what can be kept
        for key, value in zip(items[::2], items[1::2], strict=False):
            try:
                target[key] = value
            except TypeError:
                continue


def persistent(pid: Any) -> Opaque:
    return Opaque("persistent object")


def frame_inside_frame(it: Interpreter, offset: int, index: int) -> None:
    message = f"FRAME at opcode {index} starts before the previous frame ends"
    it.reporter.note(FRAME_DIVERGENCE, "nested-frame", message, ("FRAME", offset, index))


def frame_overclaims(it: Interpreter, size: int, remaining: int, offset: int, index: int) -> None:
    it.structural(
        "abuse",
        f"FRAME at opcode {index} declares {size} bytes but only {remaining} remain",
        ("FRAME", offset, index),
        declared=size,
        remaining=remaining,
    )


def frame_crossed(it: Interpreter, start: int, pos: int, frame_end: int, index: int) -> None:
    """An opcode's argument runs past its frame: report, and read the bytes after the frame as opcodes."""
    message = (
        f"opcode {index} at byte {start} reads {pos - frame_end} bytes past the end of its frame "
        f"(byte {frame_end}); a frame-respecting reader sees different opcodes"
    )
    origin = (NAMES.get(it.data[start], "?"), start, index)
    it.reporter.note(FRAME_DIVERGENCE, "frame-crossing", message, origin, {"frame_end": frame_end})
    session = it.session
    if session.alternate_budget <= 0:
        return
    session.alternate_budget -= 1
    alternate = Interpreter(
        it.data, it.ctx, session, frame_end, it.end, stream=it.stream, joblib_inline=it.joblib_inline
    )
    alternate.stack = list(it.stack)
    alternate.marks = list(it.marks)
    alternate.memo = list(it.memo)
    alternate.sparse = dict(it.sparse) if it.sparse is not None else None
    alternate.proto = it.proto
    alternate.opcodes = index + 1
    session.alternates.append(alternate)


# -- text-line arguments (protocol 0) --------------------------------------------------------------


def _line(it: Interpreter, pos: int) -> tuple[bytes, int]:
    newline = it.data.find(b"\n", pos, it.end)
    if newline < 0:
        raise Break("text argument has no terminating newline")
    return bytes(it.data[pos:newline]), newline + 1


def _global_name(it: Interpreter, raw: bytes, origin: tuple[str, int, int]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "backslashreplace")
        it.structural(
            "confusion",
            f"{origin[0]} operand {text!r} at opcode {origin[2]} is not valid UTF-8",
            origin,
            raw=text,
        )
        return text


def _proto(it: Interpreter, pos: int, n: int) -> int:
    proto = it.data[pos + 1]
    if pos != it.start:
        it.structural(
            "confusion",
            f"PROTO {proto} at opcode {n} is not the first opcode of its stream",
            ("PROTO", pos, n),
        )
    if proto > HIGHEST_PROTOCOL:
        raise Break(f"unsupported pickle protocol {proto}")
    it.proto = proto
    return pos + 2


def _global(it: Interpreter, pos: int, n: int) -> int:
    origin = ("GLOBAL", pos, n)
    module_raw, pos = _line(it, pos + 1)
    name_raw, pos = _line(it, pos)
    module = _global_name(it, module_raw, origin)
    name = _global_name(it, name_raw, origin)
    it.stack.append(it.make_global(module, name, origin))
    return pos


def _inst(it: Interpreter, pos: int, n: int) -> int:
    origin = ("INST", pos, n)
    module_raw, pos = _line(it, pos + 1)
    name_raw, pos = _line(it, pos)
    item = it.make_global(_global_name(it, module_raw, origin), _global_name(it, name_raw, origin), origin)
    args = tuple(_pop_mark(it))
    it.stack.append(it.call(item, args, origin))
    return pos


def _obj(it: Interpreter, pos: int, n: int) -> int:
    items = _pop_mark(it)
    if not items:
        raise Break("OBJ without a class")
    it.stack.append(it.call(items[0], tuple(items[1:]), ("OBJ", pos, n)))
    return pos + 1


def _newobj_ex(it: Interpreter, pos: int, n: int) -> int:
    stack = it.stack
    kwargs = stack.pop()
    args = stack.pop()
    stack[-1] = it.call(stack[-1], args if not kwargs else (*_as_tuple(args), kwargs), ("NEWOBJ_EX", pos, n))
    return pos + 1


def _ext(size: int) -> Callable[[Interpreter, int, int], int]:
    fmt = {1: "<B", 2: "<H", 4: "<i"}[size]

    def handler(it: Interpreter, pos: int, n: int) -> int:
        (code,) = _unpack(fmt, it.data, pos + 1)
        it.stack.append(it.extension(code, (f"EXT{size}", pos, n)))
        return pos + 1 + size

    return handler


def _pop_mark(it: Interpreter) -> list[Any]:
    mark = it.marks.pop()
    items = it.stack[mark:]
    del it.stack[mark:]
    return items


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if type(value) is tuple else (value,)


# -- constants ------------------------------------------------------------------------------------


def _int(it: Interpreter, pos: int, n: int) -> int:
    raw, pos = _line(it, pos + 1)
    it.stack.append(False if raw == b"00" else True if raw == b"01" else int(raw))
    return pos


def _long(it: Interpreter, pos: int, n: int) -> int:
    raw, pos = _line(it, pos + 1)
    it.stack.append(int(raw[:-1] if raw.endswith(b"L") else raw, 0))
    return pos


def _float(it: Interpreter, pos: int, n: int) -> int:
    raw, pos = _line(it, pos + 1)
    it.stack.append(float(raw))
    return pos


def _long_binary(header: int) -> Callable[[Interpreter, int, int], int]:
    def handler(it: Interpreter, pos: int, n: int) -> int:
        size = it.data[pos + 1] if header == 1 else _unpack("<i", it.data, pos + 1)[0]
        start = pos + 1 + header
        if size < 0 or start + size > it.end:
            raise Break(
                f"LONG{header} declares {size} bytes but only {it.end - start} remain", abuse=size > 0
            )
        if size > MAX_LONG_BYTES:
            it.stack.append(Opaque(f"{size}-byte integer"))
        else:
            it.stack.append(int.from_bytes(it.data[start : start + size], "little", signed=True))
        end: int = start + size
        return end

    return handler


def _string(it: Interpreter, pos: int, n: int) -> int:
    raw, pos = _line(it, pos + 1)
    if len(raw) < 2 or raw[0] != raw[-1] or raw[:1] not in (b"'", b'"'):
        raise Break("STRING argument is not a quoted string")
    with warnings.catch_warnings():  # an invalid escape is the file's business, not a warning to print
        warnings.simplefilter("ignore", DeprecationWarning)
        text = codecs.escape_decode(raw[1:-1])[0].decode("latin-1")
    it.stack.append(text)
    it.last_legacy_string = n
    return pos


def _sized(header: int, fmt: str, kind: str) -> Callable[[Interpreter, int, int], int]:
    """BINSTRING, SHORT_BINSTRING, BINUNICODE8, BINBYTES8, BYTEARRAY8: a length then raw bytes."""

    def handler(it: Interpreter, pos: int, n: int) -> int:
        (size,) = _unpack(fmt, it.data, pos + 1)
        start = pos + 1 + header
        if size < 0 or start + size > it.end:
            raise Break(f"declares {size} bytes but only {it.end - start} remain", abuse=size > 0)
        if size > BLOB_BYTES:
            it.stack.append(Blob(start, size, kind != "bytes"))
        else:
            raw = it.data[start : start + size]
            it.stack.append(raw.decode("utf-8", "surrogatepass") if kind == "unicode" else
                            raw.decode("latin-1") if kind == "legacy" else raw)  # fmt: skip
        if kind == "legacy":
            it.last_legacy_string = n
        end: int = start + size
        return end

    return handler


def _unicode(it: Interpreter, pos: int, n: int) -> int:
    raw, pos = _line(it, pos + 1)
    it.stack.append(raw.decode("raw-unicode-escape"))
    return pos


# -- containers and memo ---------------------------------------------------------------------------


def _pop(it: Interpreter, pos: int, n: int) -> int:
    if it.marks and it.marks[-1] == len(it.stack):
        it.marks.pop()
    else:
        it.stack.pop()
    return pos + 1


def _pop_mark_op(it: Interpreter, pos: int, n: int) -> int:
    _pop_mark(it)
    return pos + 1


def _dup(it: Interpreter, pos: int, n: int) -> int:
    it.stack.append(it.stack[-1])
    return pos + 1


def _append(it: Interpreter, pos: int, n: int) -> int:
    value = it.stack.pop()
    target = it.stack[-1]
    if type(target) is list:
        target.append(value)
    return pos + 1


def _setitem(it: Interpreter, pos: int, n: int) -> int:
    value = it.stack.pop()
    key = it.stack.pop()
    target = it.stack[-1]
    if type(target) is dict:
        set_items(target, [key, value])
    return pos + 1


def _list(it: Interpreter, pos: int, n: int) -> int:
    it.stack.append(_pop_mark(it))
    it.check_limits(("LIST", pos, n))
    return pos + 1


def _dict(it: Interpreter, pos: int, n: int) -> int:
    target: dict[Any, Any] = {}
    set_items(target, _pop_mark(it))
    it.stack.append(target)
    return pos + 1


def _frozenset(it: Interpreter, pos: int, n: int) -> int:
    it.stack.append(tuple(_pop_mark(it)))
    return pos + 1


def _additems(it: Interpreter, pos: int, n: int) -> int:
    items = _pop_mark(it)
    target = it.stack[-1]
    if type(target) is list:
        target.extend(items)
    return pos + 1


def _push(value: Callable[[], Any]) -> Callable[[Interpreter, int, int], int]:
    def handler(it: Interpreter, pos: int, n: int) -> int:
        it.stack.append(value())
        return pos + 1

    return handler


def _get(it: Interpreter, pos: int, n: int) -> int:
    raw, end = _line(it, pos + 1)
    key = int(raw)
    it.stack.append(it.memo_get(key, pos, n))
    it.last_get = n
    return end


def _put(it: Interpreter, pos: int, n: int) -> int:
    raw, end = _line(it, pos + 1)
    it.memo_put(int(raw), it.stack[-1])
    return end


def _persid(it: Interpreter, pos: int, n: int) -> int:
    _, end = _line(it, pos + 1)
    it.stack.append(Opaque("persistent object"))
    return end


def _readonly_buffer(it: Interpreter, pos: int, n: int) -> int:
    it.stack[-1]
    return pos + 1


SLOW: dict[int, Callable[[Interpreter, int, int], int]] = {
    0x80: _proto,
    0x63: _global,
    0x69: _inst,
    0x6F: _obj,
    0x92: _newobj_ex,
    0x82: _ext(1),
    0x83: _ext(2),
    0x84: _ext(4),
    0x49: _int,
    0x4C: _long,
    0x46: _float,
    0x8A: _long_binary(1),
    0x8B: _long_binary(4),
    0x53: _string,
    0x54: _sized(4, "<i", "legacy"),
    0x55: _sized(1, "<B", "legacy"),
    0x56: _unicode,
    0x8D: _sized(8, "<Q", "unicode"),
    0x8E: _sized(8, "<Q", "bytes"),
    0x96: _sized(8, "<Q", "bytes"),
    0x30: _pop,
    0x31: _pop_mark_op,
    0x32: _dup,
    0x61: _append,
    0x73: _setitem,
    0x6C: _list,
    0x64: _dict,
    0x8F: _push(list),
    0x90: _additems,
    0x91: _frozenset,
    0x67: _get,
    0x70: _put,
    0x50: _persid,
    0x97: _push(lambda: Opaque("out-of-band buffer")),
    0x98: _readonly_buffer,
}
"""Rare opcode byte -> handler. MARK, STOP and the frequent opcodes are inline in ``walker.walk``."""
