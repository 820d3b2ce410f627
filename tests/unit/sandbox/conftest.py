"""Fixtures for the sandbox tests: host-side witnesses that something escaped, and the payloads on disk."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlvet.sandbox import probe


def descendants(root: int) -> list[int]:
    """Live processes whose parent chain leads to ``root`` (zombies count: they were left behind too)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor > 1:
            if ancestor == root:
                found.append(pid)
                break
            ancestor = parents.get(ancestor)
    return found


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """Fails the test if any process started under this one is still around afterwards."""
    before = set(descendants(os.getpid()))
    yield
    left = set(descendants(os.getpid())) - before
    assert not left, f"processes left behind: {sorted(left)}"


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    yield listener
    listener.close()


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    yield receiver
    receiver.close()


def nothing_arrived(listener: socket.socket) -> bool:
    try:
        if listener.type == socket.SOCK_STREAM:
            listener.accept()[0].close()
        else:
            listener.recvfrom(64)
    except BlockingIOError:
        return True
    return False


@pytest.fixture
def host_dirs(tmp_path: Path) -> Iterator[list[Path]]:
    """Two host directories a payload will try to write into: one under /tmp, one outside it."""
    outside = Path(tempfile.mkdtemp(prefix="mlvet-sandbox-test-", dir="/var/tmp"))
    yield [tmp_path, outside]
    shutil.rmtree(outside, ignore_errors=True)


@pytest.fixture
def write_payload(tmp_path: Path) -> Callable[[str, bytes], Path]:
    def write(name: str, data: bytes) -> Path:
        target = tmp_path / "payloads" / name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
        return target

    return write


def rung_available(rung: str) -> bool:
    from mlvet.sandbox.ladder import Isolation, requirements

    return not requirements(Isolation(rung), probe())


RUNGS = [
    pytest.param(
        rung, marks=pytest.mark.skipif(not rung_available(rung), reason=f"{rung} is not available here")
    )
    for rung in ("bwrap", "unshare", "seccomp-landlock")
]
