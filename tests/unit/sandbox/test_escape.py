"""Nothing escapes, on every rung: checked on the host, not by trusting the sandbox's own report.

Each payload aims at something the test owns and can watch: a host directory (under /tmp and outside
it), a loopback TCP listener, a UDP socket, and the process table (nothing started by the run may be
alive afterwards).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from mlvet.sandbox import Limits, detonate, rules
from tests.unit.sandbox import payloads
from tests.unit.sandbox.conftest import RUNGS, nothing_arrived, rung_available

pytestmark = [pytest.mark.spawns_processes, pytest.mark.usefixtures("no_leftovers")]
LIMITS = Limits(timeout_s=30)


def _rules(report_findings: object) -> set[str]:
    return {f.rule.id for f in report_findings}  # type: ignore[attr-defined]


@pytest.mark.parametrize("rung", RUNGS)
def test_writes_to_host_paths_do_not_land(
    rung: str, host_dirs: list[Path], write_payload: Callable[[str, bytes], Path]
) -> None:
    for directory in host_dirs:
        target = directory / "escaped.txt"
        for name, data in (
            ("fileio.pkl", payloads.write_file(str(target))),
            ("shell.pkl", payloads.shell(f"touch {target}")),
        ):
            report = detonate(write_payload(name, data), isolation=rung, limits=LIMITS, cross_check=False)
            assert not target.exists(), f"{name} wrote {target} under {rung}"
            expected = rules.FILE_WRITE.id if name == "fileio.pkl" else rules.PROCESS.id
            assert expected in _rules(report.findings)
            event = next(f for f in report.findings if f.rule.id == expected)
            assert str(target) in str(event.evidence["args"])


@pytest.mark.parametrize("rung", RUNGS)
def test_connections_never_reach_host_listeners(
    rung: str,
    tcp_listener: socket.socket,
    udp_listener: socket.socket,
    write_payload: Callable[[str, bytes], Path],
) -> None:
    tcp_port = tcp_listener.getsockname()[1]
    udp_port = udp_listener.getsockname()[1]
    for name, data in (("tcp.pkl", payloads.tcp_connect(tcp_port)), ("udp.pkl", payloads.udp_send(udp_port))):
        report = detonate(write_payload(name, data), isolation=rung, limits=LIMITS, cross_check=False)
        network = [f for f in report.findings if f.rule.id == rules.NETWORK.id]
        assert network, f"{name}: no network finding under {rung}"
        assert network[0].evidence["event"].startswith("socket.")
    assert nothing_arrived(tcp_listener), f"a TCP connection reached the host under {rung}"
    assert nothing_arrived(udp_listener), f"a UDP datagram reached the host under {rung}"


@pytest.mark.parametrize("rung", RUNGS)
def test_no_process_outlives_the_run(rung: str, write_payload: Callable[[str, bytes], Path]) -> None:
    attempts = {
        "background.pkl": payloads.shell("sleep 30 &"),
        "popen.pkl": payloads.spawn("sleep", "30"),
        "fork.pkl": payloads.fork(),
    }
    for name, data in attempts.items():
        report = detonate(write_payload(name, data), isolation=rung, limits=LIMITS, cross_check=False)
        assert rules.PROCESS.id in _rules(report.findings), f"{name} under {rung}"
        # the no_leftovers fixture checks /proc once the test is over


def test_the_witnesses_do_see_an_escape(tcp_listener: socket.socket, udp_listener: socket.socket) -> None:
    """The host-side checks above can fail: a real connection, datagram and child are each noticed."""
    import os
    import subprocess
    import time

    from tests.unit.sandbox.conftest import descendants

    client = socket.create_connection(tcp_listener.getsockname(), timeout=5)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.sendto(b"x", udp_listener.getsockname())
    time.sleep(0.1)
    assert not nothing_arrived(tcp_listener)
    assert not nothing_arrived(udp_listener)
    client.close()
    sender.close()
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in descendants(os.getpid())
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not rung_available("bwrap"), reason="needs bubblewrap")
def test_home_directories_are_hidden_under_bwrap(write_payload: Callable[[str, bytes], Path]) -> None:
    secret = Path.home() / f".mlvet-test-secret-{os.getpid()}"
    secret.write_text("token")
    try:
        data = payloads.calls("_io", "FileIO", payloads.text(str(secret)))
        report = detonate(
            write_payload("read.pkl", data), isolation="bwrap", limits=LIMITS, cross_check=False
        )
        assert report.details["outcome"]["error"] == "builtins.FileNotFoundError", report.details["outcome"]
    finally:
        secret.unlink()
