"""The opcode loop: one pass over the bytes, dispatching on the opcode byte, no per-opcode objects.

Frequent opcodes are handled inline, in order of how often real files use them; rare ones go to
small functions in ``SLOW``. Anything that imports or calls is delegated to the ``Interpreter``.
Malformed input raises ``Break`` (or a decoding/indexing error) which ends the stream cleanly.
"""

from __future__ import annotations

import struct
import sys
from typing import Any

from mlvet.scan.pickle import rare_opcodes
from mlvet.scan.pickle.interpreter import Break, Interpreter
from mlvet.scan.pickle.opcodes import NAMES
from mlvet.scan.pickle.values import Blob

NO_FRAME = sys.maxsize
BLOB_BYTES = 1 << 16
"""Constants longer than this stay in the data as a ``Blob`` instead of being copied."""

_unpack = struct.unpack_from


def walk(it: Interpreter, pos: int) -> tuple[int, bool]:
    """Interpret one stream from ``pos``; returns (offset after STOP, True) or (break offset, False)."""
    data = it.data
    end = it.end
    stack = it.stack
    push = stack.append
    pop = stack.pop
    marks = it.marks
    memo = it.memo
    memo_append = memo.append
    sparse = it.sparse
    n = it.opcodes
    gets = 0
    last_get = -8
    frame_end = NO_FRAME
    limit = end
    start = pos
    try:
        while pos < end:
            op = data[pos]
            start = pos
            if op == 0x94:  # MEMOIZE
                if sparse is None:
                    memo_append(stack[-1])
                else:
                    sparse[len(sparse)] = stack[-1]
                pos += 1
            elif op == 0x8C:  # SHORT_BINUNICODE
                size = data[pos + 1]
                pos += 2 + size
                raw = data[pos - size : pos]
                try:
                    push(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    push(raw.decode("utf-8", "surrogatepass"))
            elif op == 0x68:  # BINGET
                key = data[pos + 1]
                if sparse is None and key < len(memo):
                    push(memo[key])
                    gets += 1
                else:
                    push(it.memo_get(key, start, n))
                pos += 2
                last_get = n
            elif op == 0x71:  # BINPUT
                key = data[pos + 1]
                if sparse is None and key == len(memo):
                    memo_append(stack[-1])
                else:
                    it.memo_put(key, stack[-1])
                    sparse = it.sparse
                pos += 2
            elif op == 0x28:  # MARK
                marks.append(len(stack))
                pos += 1
            elif op == 0x74:  # TUPLE
                mark = marks.pop()
                value = tuple(stack[mark:])
                del stack[mark:]
                push(value)
                pos += 1
            elif op == 0x43:  # SHORT_BINBYTES
                size = data[pos + 1]
                pos += 2 + size
                push(data[pos - size : pos])
            elif op == 0x4B:  # BININT1
                push(data[pos + 1])
                pos += 2
            elif op == 0x86:  # TUPLE2
                last = pop()
                stack[-1] = (stack[-1], last)
                pos += 1
            elif op == 0x87:  # TUPLE3
                last = pop()
                middle = pop()
                stack[-1] = (stack[-1], middle, last)
                pos += 1
            elif op == 0x85:  # TUPLE1
                stack[-1] = (stack[-1],)
                pos += 1
            elif op == 0x29:  # EMPTY_TUPLE
                push(())
                pos += 1
            elif op == 0x52:  # REDUCE
                args = pop()
                stack[-1] = it.call(stack[-1], args, ("REDUCE", start, n))
                pos += 1
            elif op == 0x4E:  # NONE
                push(None)
                pos += 1
            elif op == 0x89:  # NEWFALSE
                push(False)
                pos += 1
            elif op == 0x88:  # NEWTRUE
                push(True)
                pos += 1
            elif op == 0x4A:  # BININT
                push(_unpack("<i", data, pos + 1)[0])
                pos += 5
            elif op == 0x58:  # BINUNICODE
                size = _unpack("<I", data, pos + 1)[0]
                pos += 5
                push(_text(it, pos, size))
                pos += size
            elif op == 0x42:  # BINBYTES
                size = _unpack("<I", data, pos + 1)[0]
                pos += 5
                push(_bytes(it, pos, size))
                pos += size
            elif op == 0x75:  # SETITEMS
                mark = marks.pop()
                items = stack[mark:]
                del stack[mark:]
                target = stack[-1]
                if type(target) is dict:
                    rare_opcodes.set_items(target, items)
                pos += 1
            elif op == 0x7D:  # EMPTY_DICT
                push({})
                pos += 1
            elif op == 0x65:  # APPENDS
                mark = marks.pop()
                items = stack[mark:]
                del stack[mark:]
                target = stack[-1]
                if type(target) is list:
                    target.extend(items)
                pos += 1
            elif op == 0x5D:  # EMPTY_LIST
                push([])
                pos += 1
            elif op == 0x62:  # BUILD
                state = pop()
                pos = it.build(stack[-1], state, ("BUILD", start, n), pos + 1)
                if pos > limit:  # an inline joblib array lies outside every frame
                    frame_end = NO_FRAME
                    limit = end
            elif op == 0x47:  # BINFLOAT
                push(_unpack(">d", data, pos + 1)[0])
                pos += 9
            elif op == 0x4D:  # BININT2
                push(_unpack("<H", data, pos + 1)[0])
                pos += 3
            elif op == 0x95:  # FRAME
                size = _unpack("<Q", data, pos + 1)[0]
                if start < frame_end != NO_FRAME:
                    rare_opcodes.frame_inside_frame(it, start, n)
                pos += 9
                frame_end = pos + size
                if frame_end > end:
                    rare_opcodes.frame_overclaims(it, size, end - pos, start, n)
                limit = min(frame_end, end)
            elif op == 0x72:  # LONG_BINPUT
                key = _unpack("<I", data, pos + 1)[0]
                if sparse is None and key == len(memo):
                    memo_append(stack[-1])
                else:
                    it.memo_put(key, stack[-1])
                    sparse = it.sparse
                pos += 5
            elif op == 0x6A:  # LONG_BINGET
                key = _unpack("<I", data, pos + 1)[0]
                if sparse is None and key < len(memo):
                    push(memo[key])
                    gets += 1
                else:
                    push(it.memo_get(key, start, n))
                pos += 5
                last_get = n
            elif op == 0x51:  # BINPERSID
                stack[-1] = rare_opcodes.persistent(stack[-1])
                pos += 1
            elif op == 0x93:  # STACK_GLOBAL
                name = pop()
                it.last_get = last_get
                stack[-1] = it.stack_global(stack[-1], name, ("STACK_GLOBAL", start, n))
                pos += 1
            elif op == 0x81:  # NEWOBJ
                args = pop()
                stack[-1] = it.call(stack[-1], args, ("NEWOBJ", start, n))
                pos += 1
            elif op == 0x2E:  # STOP
                pop()
                pos += 1
                n += 1
                return pos, True
            else:
                handler = rare_opcodes.SLOW.get(op)
                if handler is None:
                    raise Break(f"invalid opcode byte 0x{op:02x}")
                it.last_get = last_get
                pos = handler(it, pos, n)
                sparse = it.sparse
                last_get = max(last_get, it.last_get)
            n += 1
            if pos > limit:
                frame_end, limit = _past_limit(it, start, pos, frame_end, n - 1)
        start = pos
        raise Break("data ends before STOP")
    except Break as exc:
        it.broke(exc.reason, (NAMES.get(data[start], "?") if start < end else "end", start, n), exc.abuse)
    except (IndexError, KeyError, struct.error, ValueError, OverflowError, TypeError, AttributeError) as exc:
        it.broke(
            _reason(exc, data, start, end), (NAMES.get(data[start], "?") if start < end else "end", start, n)
        )
    finally:
        it.opcodes = n
        it.gets += gets
    return start, False


def _past_limit(it: Interpreter, start: int, pos: int, frame_end: int, n: int) -> tuple[int, int]:
    """An opcode ended beyond the current frame or the data: divergence, frame end, or truncation."""
    if start < frame_end < pos:
        rare_opcodes.frame_crossed(it, start, pos, frame_end, n)
    if pos > it.end:
        raise Break(f"argument runs {pos - it.end} bytes past the end of the data")
    return NO_FRAME, it.end


def _text(it: Interpreter, pos: int, size: int) -> Any:
    if size > BLOB_BYTES:
        if pos + size > it.end:
            raise Break(f"declares {size} bytes of text but only {it.end - pos} remain", abuse=True)
        return Blob(pos, size, True)
    return it.data[pos : pos + size].decode("utf-8", "surrogatepass")


def _bytes(it: Interpreter, pos: int, size: int) -> Any:
    if size > BLOB_BYTES:
        if pos + size > it.end:
            raise Break(f"declares {size} bytes but only {it.end - pos} remain", abuse=True)
        return Blob(pos, size, False)
    return it.data[pos : pos + size]


def _reason(exc: Exception, data: Any, start: int, end: int) -> str:
    if start >= end:
        return "data ends before STOP"
    name = NAMES.get(data[start], "?")
    if isinstance(exc, IndexError):
        return f"{name} needs a value the stack does not hold (or its argument is truncated)"
    if isinstance(exc, struct.error):
        return f"{name} argument is truncated"
    if isinstance(exc, UnicodeDecodeError):
        return f"{name} text is not valid UTF-8"
    return f"{name} is malformed ({type(exc).__name__})"
