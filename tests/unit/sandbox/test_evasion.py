"""Payloads that attack the runner or the recorder are reported as evasion (critical), never as clean."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlvet.findings import Severity
from mlvet.sandbox import Limits, detonate, rules
from tests.unit.sandbox import payloads

pytestmark = [pytest.mark.spawns_processes, pytest.mark.usefixtures("no_leftovers")]

EVASIONS = {
    "os_exit.pkl": (payloads.exit_now(), "before the load finished"),
    "close_log.pkl": (payloads.close_log(), "closed the event log"),
    "kill_self.pkl": (payloads.kill_self(), "SIGKILL"),
    "add_hook.pkl": (payloads.add_audit_hook(), "sys.addaudithook"),
    "walk_gc.pkl": (payloads.walk_gc(), "gc.get_objects"),
}


@pytest.mark.parametrize("name", sorted(EVASIONS))
def test_attacks_on_the_runner_are_critical_evasion(
    name: str, write_payload: Callable[[str, bytes], Path]
) -> None:
    data, said = EVASIONS[name]
    report = detonate(write_payload(name, data), limits=Limits(timeout_s=30), cross_check=False)
    evasion = [f for f in report.findings if f.rule.id == rules.EVASION.id]
    assert evasion, [f.message for f in report.findings]
    assert all(f.severity is Severity.CRITICAL for f in evasion)
    assert any(said in f.message for f in evasion), [f.message for f in evasion]
    assert not report.problems


BLIND = (
    "import gc\n"
    "for o in gc.get_objects():\n"
    "    if type(o) is list and o == [True, False]:\n"
    "        o[0] = False\n"
    "import posix\n"
    "posix.system('true')\n"
)
"""Find the recorder's closure state through the garbage collector and disarm it, then act unseen."""


def test_a_blinded_recorder_is_caught_by_the_canary(write_payload: Callable[[str, bytes], Path]) -> None:
    report = detonate(write_payload("blind.pkl", payloads.exec_code(BLIND)), cross_check=False)
    messages = [f.message for f in report.findings if f.rule.id == rules.EVASION.id]
    assert any("gc.get_objects" in m for m in messages), messages
    assert any("hook blinded" in m for m in messages), messages
    assert report.details["outcome"]["canary_seen"] is False


def test_a_payload_that_sleeps_is_killed_at_the_timeout(write_payload: Callable[[str, bytes], Path]) -> None:
    report = detonate(
        write_payload("sleep.pkl", payloads.sleep(60)), limits=Limits(timeout_s=2), cross_check=False
    )
    assert [f.rule.id for f in report.findings] == [rules.TIMEOUT.id]
    assert report.details["outcome"]["timed_out"] is True
    assert report.details["outcome"]["duration_s"] < 10


def test_an_allocation_bomb_hits_the_memory_limit(write_payload: Callable[[str, bytes], Path]) -> None:
    report = detonate(
        write_payload("alloc.pkl", payloads.allocate(8)), limits=Limits(memory_mb=1024), cross_check=False
    )
    limit = [f for f in report.findings if f.rule.id == rules.RESOURCE_LIMIT.id]
    assert limit and "MemoryError" in limit[0].message


def test_a_native_crash_is_reported_with_its_signal(write_payload: Callable[[str, bytes], Path]) -> None:
    report = detonate(
        write_payload("crash.pkl", payloads.crash()), limits=Limits(timeout_s=30), cross_check=False
    )
    ids = {f.rule.id for f in report.findings}
    assert {rules.CRASH.id, rules.DANGEROUS_GLOBAL.id} <= ids
    crash = next(f for f in report.findings if f.rule.id == rules.CRASH.id)
    assert crash.evidence["signal"] == "SIGSEGV"


def test_environment_changes_are_recorded(write_payload: Callable[[str, bytes], Path]) -> None:
    report = detonate(write_payload("env.pkl", payloads.putenv()), cross_check=False)
    env = [f for f in report.findings if f.rule.id == rules.ENVIRONMENT.id]
    assert env and env[0].evidence["args"][0] == "LD_PRELOAD"
