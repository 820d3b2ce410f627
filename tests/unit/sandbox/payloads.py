"""Hand-assembled pickles for the sandbox's own tests (never loaded here; only the sandbox runs them).

Each payload is harmless even if it ran unconfined (``true``, ``sleep``, a write to a path the test
owns, a connection to the test's own listener); the tests assert that it did not get that far.
"""

from __future__ import annotations

import struct


def text(value: str) -> bytes:
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def integer(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def stack_global(module: str, name: str) -> bytes:
    return text(module) + text(name) + b"\x93"


def call(func: bytes, *args: bytes) -> bytes:
    """``func(*args)``: MARK, the arguments, TUPLE, REDUCE."""
    return func + b"(" + b"".join(args) + b"tR"


def tuple_of(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def list_of(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"l"


def protocol4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def calls(module: str, name: str, *args: bytes) -> bytes:
    """A pickle whose load calls ``module.name(*args)``."""
    return protocol4(call(stack_global(module, name), *args))


def write_file(path: str) -> bytes:
    return calls("_io", "FileIO", text(path), text("w"))


def shell(command: str) -> bytes:
    return calls("posix", "system", text(command))


def spawn(*argv: str) -> bytes:
    return calls("subprocess", "Popen", list_of(*(text(a) for a in argv)))


def fork() -> bytes:
    return protocol4(stack_global("posix", "fork") + b")R")


def tcp_connect(port: int) -> bytes:
    return calls("socket", "create_connection", tuple_of(text("127.0.0.1"), integer(port)), integer(2))


def udp_send(port: int) -> bytes:
    """``methodcaller("sendto", b"x", addr)(socket.socket(AF_INET, SOCK_DGRAM))``."""
    sender = call(
        stack_global("_operator", "methodcaller"),
        text("sendto"),
        b"C\x01x",
        tuple_of(text("127.0.0.1"), integer(port)),
    )
    sock = call(stack_global("socket", "socket"), integer(2), integer(2))
    return protocol4(sender + b"(" + sock + b"tR")


def exit_now() -> bytes:
    return calls("posix", "_exit", integer(0))


def close_log() -> bytes:
    return calls("posix", "closerange", integer(3), integer(4096))


def kill_self() -> bytes:
    pid = stack_global("posix", "getpid") + b")R"
    return protocol4(call(stack_global("posix", "kill"), pid, integer(9)))


def add_audit_hook() -> bytes:
    return calls("sys", "addaudithook", stack_global("builtins", "slice"))


def walk_gc() -> bytes:
    return protocol4(stack_global("gc", "get_objects") + b")R")


def sleep(seconds: int) -> bytes:
    return calls("time", "sleep", integer(seconds))


def allocate(gib: int) -> bytes:
    return calls("builtins", "bytearray", b"\x8a\x05" + (gib << 30).to_bytes(5, "little"))


def crash() -> bytes:
    return calls("ctypes", "string_at", integer(0))


def putenv() -> bytes:
    return calls("posix", "putenv", text("LD_PRELOAD"), text("/nonexistent/mlvet-test.so"))


def exec_code(source: str) -> bytes:
    return calls("builtins", "exec", text(source))
