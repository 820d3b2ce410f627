"""The audit-hook recorder: every event of interest, one JSON line each, unbuffered, on an inherited fd.

Hardening (sandbox_runtime.md §2.6, §4): all state lives in the closure of ``install`` (no module
global a payload can flip); ``os.write``, ``json.dumps`` and ``sys._getframe`` are bound at install
time; a re-entrancy guard keeps the hook from recording itself; the hook never raises (it observes, it
does not enforce: the kernel layers enforce). It is installed before the loader's imports and armed
after them, so the framework's own start-up is not reported as the artifact's behaviour.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

EVENTS = frozenset(
    {
        # processes
        "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
        # network
        "urllib.Request", "http.client.connect", "http.client.send", "ftplib.connect", "smtplib.connect",
        "smtplib.send", "imaplib.open", "poplib.connect", "nntplib.connect", "telnetlib.Telnet.open",
        "webbrowser.open", "ssl.wrap_socket",
        # file system
        "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink",
        "os.truncate", "os.utime", "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree",
        "shutil.rmtree", "shutil.move", "shutil.make_archive", "shutil.unpack_archive", "tempfile.mkstemp",
        "tempfile.mkdtemp",
        # code
        "exec", "compile", "marshal.loads", "marshal.load", "code.__new__", "cpython.run_command",
        "cpython.run_file", "cpython.run_module", "cpython.run_startup", "cpython.run_stdin",
        "cpython.run_interactivehook", "import",
        # tampering and anti-analysis
        "sys.addaudithook", "object.__setattr__", "object.__delattr__", "gc.get_objects", "gc.get_referrers",
        "gc.get_referents", "sys.settrace", "sys.setprofile", "sys._current_frames", "resource.setrlimit",
        "resource.prlimit", "sys.remote_exec", "sys.monitoring.register_callback",
        # environment
        "os.putenv", "os.unsetenv",
        # pickle attribution and our own liveness check
        "pickle.find_class", "mlvet.canary",
    }
)  # fmt: skip
PREFIXES = ("socket.", "ctypes.")
EVEN_WHILE_IMPORTING = frozenset(
    {
        "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "urllib.Request", "http.client.connect",
        "http.client.send", "webbrowser.open", "sys.addaudithook", "mlvet.canary",
    }
)  # fmt: skip
"""Events recorded even while a module is being imported (a process or a connection is never machinery)."""
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_MAX_TEXT = 400
_MAX_ITEMS = 8
_CALLER_DEPTH = 8
_STACK_LIMIT = 400
IMPORT_MACHINERY = frozenset(
    {
        "importlib._bootstrap",
        "importlib._bootstrap_external",
        "_frozen_importlib",
        "_frozen_importlib_external",
    }
)
"""Frames of the import system: an event raised under one happens while some module is being imported."""


def install(fd: int) -> Callable[[], None]:
    """Install the hook writing to ``fd`` and return the function that arms it (call it once)."""
    write = os.write
    dumps = json.dumps
    getframe = sys._getframe
    events = EVENTS
    prefixes = PREFIXES
    import_machinery = IMPORT_MACHINERY
    always = EVEN_WHILE_IMPORTING
    write_flags = _WRITE_FLAGS
    state = [False, False]  # armed, busy

    def text(value: object) -> str:
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("utf-8", "backslashreplace")
        return value[:_MAX_TEXT] if isinstance(value, str) else f"<{type(value).__name__}>"

    def plain(value: object, depth: int = 0) -> object:
        """A JSON-ready view of an argument that never calls the payload's own methods."""
        kind = type(value)
        if value is None or kind in (bool, int, float):
            return value
        if kind in (str, bytes, bytearray):
            return text(value)
        if kind in (tuple, list) and depth < 2:
            return [plain(item, depth + 1) for item in list(value)[:_MAX_ITEMS]]  # type: ignore[call-overload]
        if kind.__name__ == "code":
            return {"code": text(value.co_name), "file": text(value.co_filename)}  # type: ignore[attr-defined]
        if kind.__name__ in ("function", "builtin_function_or_method", "method"):
            return {"function": text(getattr(value, "__qualname__", "?"))}
        if isinstance(value, type):
            return {
                "type": text(f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}")
            }
        if kind.__name__ == "module":
            return {"module": text(getattr(value, "__name__", "?"))}
        return f"<{kind.__name__}>"

    def callers() -> tuple[list[str], bool]:
        """The innermost frames (module:function) and whether an import is under way further out."""
        names: list[str] = []
        importing = False
        try:
            frame = getframe(3)  # 0 callers, 1 describe, 2 hook, 3 the code that raised the event
        except ValueError:
            return names, importing
        depth = 0
        while frame is not None and depth < _STACK_LIMIT:
            name = frame.f_globals.get("__name__")
            module = name if isinstance(name, str) else "?"
            if module in import_machinery:
                importing = True
            if len(names) < _CALLER_DEPTH:
                label = f"{module}:{frame.f_code.co_name}"
                if not names or names[-1] != label:
                    names.append(label)
            elif importing:
                break
            frame = frame.f_back  # type: ignore[assignment]
            depth += 1
        return names, importing

    def describe(event: str, args: tuple[Any, ...]) -> dict[str, object] | None:
        if event == "open":
            path, mode, flags = [*args, None, None, None][:3]
            if not isinstance(path, str | bytes):
                return None
            written = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags
            )
            if not written and not text(path).startswith("/proc/"):
                return None
            shown: object = [text(path), text(mode) if mode is not None else None, flags]
        elif event == "import":
            shown = [text(args[0])] if args else []
        elif event in ("object.__setattr__", "object.__delattr__"):
            shown = [plain(args[0]) if args else None, plain(args[1]) if len(args) > 1 else None]
        else:
            shown = plain(args)
        names, importing = callers()
        if importing and event not in always and not event.startswith("socket."):
            return None  # a library importing itself: module bodies, bytecode, generated code
        return {"e": event, "a": shown, "c": names, "imp": importing}

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if not state[0] or state[1]:
            return
        if event != "open" and event not in events and not event.startswith(prefixes):
            return
        state[1] = True
        try:
            record = describe(event, args)
            if record is not None:
                write(fd, (dumps(record) + "\n").encode())
        except BaseException:
            pass
        finally:
            state[1] = False

    sys.addaudithook(hook)

    def arm() -> None:
        state[0] = True

    return arm
