"""The guard itself: prove that unpickling and exec of strings are refused while a test runs."""

from __future__ import annotations

import pickle
import subprocess

import pytest

from tests.conftest import UnsafeOperation, _state


def _catch(action: object) -> None:
    with pytest.raises(UnsafeOperation):
        action()  # type: ignore[operator]
    _state["violations"].clear()


def test_unpickling_a_global_is_refused() -> None:
    _catch(lambda: pickle.loads(b"cbuiltins\nprint\n."))


def test_exec_of_a_string_is_refused() -> None:
    _catch(lambda: exec("x = 1"))


def test_process_creation_is_refused() -> None:
    _catch(lambda: subprocess.run(["true"], check=False))


def test_plain_data_pickle_round_trip_without_globals_is_allowed() -> None:
    assert pickle.loads(pickle.dumps([1, "a", b"b"])) == [1, "a", b"b"]


@pytest.mark.spawns_processes
def test_a_test_marked_spawns_processes_may_start_one() -> None:
    assert subprocess.run(["true"], check=False).returncode == 0


@pytest.mark.spawns_processes
def test_a_test_marked_spawns_processes_still_may_not_unpickle_or_exec() -> None:
    _catch(lambda: pickle.loads(b"cbuiltins\nprint\n."))
    _catch(lambda: exec("x = 1"))
