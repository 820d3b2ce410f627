"""Judging an observation: how each way a run can end becomes (or does not become) a finding."""

from __future__ import annotations

import signal

from mlvet.sandbox import rules
from mlvet.sandbox.evidence import judge_observation
from mlvet.sandbox.supervisor import Observation

BEGIN = {"k": "begin", "applied": {}}


def _ids(seen: Observation) -> list[str]:
    return [j.rule.id for j in judge_observation(seen)]


def test_a_clean_run_is_silent() -> None:
    seen = Observation(begin=BEGIN, end={"k": "end", "loaded": True}, canary_seen=True, returncode=0)
    assert _ids(seen) == []


def test_an_end_without_the_canary_means_the_hook_was_blinded() -> None:
    seen = Observation(begin=BEGIN, end={"k": "end", "loaded": True}, canary_seen=False, returncode=0)
    judged = judge_observation(seen)
    assert [j.rule for j in judged] == [rules.EVASION]
    assert "blinded" in judged[0].message


def test_a_missing_end_is_told_apart_by_how_the_runner_died() -> None:
    cases = {
        signal.SIGXCPU: rules.RESOURCE_LIMIT.id,
        signal.SIGSEGV: rules.CRASH.id,
        signal.SIGKILL: rules.EVASION.id,
        None: rules.EVASION.id,
    }
    for number, expected in cases.items():
        seen = Observation(begin=BEGIN, returncode=0 if number is None else -number, signal=number)
        assert _ids(seen) == [expected], number


def test_forged_log_lines_are_evasion_even_when_the_load_ended() -> None:
    seen = Observation(begin=BEGIN, end={"k": "end", "loaded": True}, canary_seen=True, malformed_lines=2)
    assert _ids(seen) == [rules.EVASION.id]


def test_timeout_reports_only_the_timeout() -> None:
    seen = Observation(begin=BEGIN, timed_out=True, duration_s=3.2)
    judged = judge_observation(seen)
    assert [j.rule for j in judged] == [rules.TIMEOUT]
    assert "3.2 s" in judged[0].message


def test_import_time_work_of_a_library_is_not_the_payload() -> None:
    library = {
        "e": "os.putenv",
        "a": ["OPENBLAS_MAIN_FREE", "1"],
        "c": ["numpy._core:<module>"],
        "imp": True,
        "phase": "load",
    }
    payload = {
        "e": "os.putenv",
        "a": ["LD_PRELOAD", "x.so"],
        "c": ["mlvet.sandbox.inside.loading:load"],
        "imp": False,
        "phase": "load",
    }
    spawn = {"e": "os.system", "a": ["true"], "c": ["antigravity:<module>"], "imp": True, "phase": "load"}
    seen = Observation(
        begin=BEGIN, end={"k": "end", "loaded": True}, canary_seen=True, events=[library, payload, spawn]
    )
    assert _ids(seen) == [rules.ENVIRONMENT.id, rules.PROCESS.id]


def test_generated_code_from_the_standard_library_is_machinery() -> None:
    namedtuple = {
        "e": "exec",
        "a": [{"code": "<module>", "file": "<string>"}],
        "c": ["collections:namedtuple"],
        "phase": "load",
    }
    payload = {
        "e": "exec",
        "a": [{"code": "<module>", "file": "<string>"}],
        "c": ["code:runsource"],
        "phase": "load",
    }
    seen = Observation(
        begin=BEGIN, end={"k": "end", "loaded": True}, canary_seen=True, events=[namedtuple, payload]
    )
    assert _ids(seen) == [rules.CODE.id]


def test_a_permission_error_ending_the_load_is_a_refusal_finding() -> None:
    end = {
        "k": "end",
        "loaded": False,
        "error": "builtins.PermissionError",
        "message": "[Errno 1]",
        "errno": 1,
    }
    seen = Observation(begin=BEGIN, end=end, canary_seen=True)
    assert _ids(seen) == [rules.BLOCKED.id]
    memory = {"k": "end", "loaded": False, "error": "builtins.MemoryError", "message": "", "errno": None}
    assert _ids(Observation(begin=BEGIN, end=memory, canary_seen=True)) == [rules.RESOURCE_LIMIT.id]


def test_a_repeated_call_is_one_finding_with_a_count() -> None:
    lookup = {"e": "socket.getaddrinfo", "a": ["pypi.org", 443], "c": ["pip:main"], "phase": "load"}
    seen = Observation(begin=BEGIN, end={"k": "end", "loaded": True}, canary_seen=True, events=[lookup] * 7)
    (judged,) = judge_observation(seen)
    assert judged.rule is rules.NETWORK
    assert judged.evidence["occurrences"] == 7
