"""Test-wide guard: nothing a test does may unpickle, exec sample code, or start a process while armed.

The audit hook is installed once for the session. ``pickle.find_class`` is refused at all times (the
hook raises, so the unpickling stops before any global is resolved). Process creation and ``exec`` of
code that did not come from an import are refused while a test body runs; fixtures (which build the
corpus with the real frameworks) run unarmed. A test marked ``spawns_processes`` (the sandbox supervisor,
a second interpreter, a peer tool's CLI) may start processes; it is still refused unpickling and exec.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.corpus.registry import ALL_SAMPLES

_REFUSED_ALWAYS = frozenset({"pickle.find_class"})
_REFUSED_WHEN_ARMED = frozenset(
    {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "subprocess.Popen", "pty.spawn"}
)
_LEGITIMATE_EXEC_CALLERS = (
    "importlib",
    "dataclasses",
    "collections",
    "typing",
    "enum",
    "functools",
    "hypothesis",
)
"""Modules whose own exec of generated code (imports, dataclass and test-wrapper synthesis) is fine."""

_state: dict[str, Any] = {"armed": False, "violations": []}
"""``armed``: False (fixtures), True (a test body), or "exec-only" (a test allowed to start processes)."""


class UnsafeOperation(RuntimeError):
    """Raised inside the audited operation to stop it."""


def _exec_is_legitimate(frame: FrameType | None) -> bool:
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith(_LEGITIMATE_EXEC_CALLERS) or (
            frame.f_code.co_name == "<module>" and frame.f_back is None
        ):
            return True
        frame = frame.f_back
    return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    armed = _state["armed"]
    refused = event in _REFUSED_ALWAYS or (
        bool(armed)
        and (
            (armed is True and event in _REFUSED_WHEN_ARMED)
            or (event == "exec" and not _exec_is_legitimate(sys._getframe(1)))
        )
    )
    if refused:
        _state["violations"].append(f"{event}{args!r:.200}")
        raise UnsafeOperation(f"test suite forbids {event}: {args!r:.200}")


sys.addaudithook(_audit)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _state["violations"].clear()
    _state["armed"] = True if item.get_closest_marker("spawns_processes") is None else "exec-only"
    try:
        yield
    finally:
        _state["armed"] = False
    if _state["violations"]:
        pytest.fail("unsafe operations during the test: " + "; ".join(_state["violations"]), pytrace=False)


@pytest.fixture(scope="session")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every corpus sample, built once per session with the real frameworks (before the guard arms)."""
    root = tmp_path_factory.mktemp("corpus")
    for sample in ALL_SAMPLES:
        target = root / sample.name
        target.parent.mkdir(parents=True, exist_ok=True)
        sample.build(target)
    return root
