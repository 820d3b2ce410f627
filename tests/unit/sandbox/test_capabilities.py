"""Probing the machine and choosing a rung of the ladder (real probes: bwrap, unshare, Landlock)."""

from __future__ import annotations

import shutil

import pytest

from mlvet.sandbox import Isolation, SandboxUnavailable, probe
from mlvet.sandbox.ladder import best_available, choose, requirements


@pytest.mark.spawns_processes
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (CI installs it)")
def test_this_machine_offers_every_layer() -> None:
    caps = probe(fresh=True)
    assert caps.bwrap.ok, caps.bwrap.detail
    assert "bubblewrap" in caps.bwrap.detail
    assert caps.user_namespaces.ok and caps.network_namespaces.ok
    assert caps.seccomp.ok and caps.landlock.ok
    assert caps.landlock_abi >= 1
    assert choose(caps) is Isolation.BWRAP


@pytest.mark.spawns_processes
def test_missing_bwrap_falls_back_to_unshare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLVET_BWRAP", "/nonexistent/bwrap")
    caps = probe()
    assert not caps.bwrap.ok
    assert "/nonexistent/bwrap" in caps.bwrap.detail
    assert choose(caps) is Isolation.UNSHARE
    with pytest.raises(SandboxUnavailable, match="--isolation bwrap needs bubblewrap"):
        choose(caps, Isolation.BWRAP)


@pytest.mark.spawns_processes
def test_a_bwrap_that_cannot_start_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLVET_BWRAP", "/bin/false")
    caps = probe()
    assert not caps.bwrap.ok
    assert "cannot start a sandbox" in caps.bwrap.detail


@pytest.mark.spawns_processes
def test_no_namespaces_falls_back_to_seccomp_and_landlock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLVET_SANDBOX_DISABLE", "bwrap,userns")
    caps = probe()
    assert not caps.network_namespaces.ok
    assert "disabled by MLVET_SANDBOX_DISABLE" in caps.user_namespaces.detail
    assert choose(caps) is Isolation.SECCOMP_LANDLOCK


@pytest.mark.spawns_processes
def test_nothing_left_means_refusal_naming_every_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLVET_SANDBOX_DISABLE", "bwrap, userns, seccomp, landlock")
    caps = probe()
    assert best_available(caps) is None
    with pytest.raises(SandboxUnavailable) as refused:
        choose(caps)
    message = str(refused.value)
    assert message.startswith("refusing to detonate")
    for layer in ("bubblewrap", "namespaces", "seccomp", "Landlock"):
        assert layer in message
    assert "mlvet doctor" in refused.value.hint


@pytest.mark.spawns_processes
def test_seccomp_alone_is_not_enough_for_the_last_rung(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLVET_SANDBOX_DISABLE", "bwrap,userns,landlock")
    caps = probe()
    assert requirements(Isolation.SECCOMP_LANDLOCK, caps) == [f"Landlock ({caps.landlock.detail})"]
    assert best_available(caps) is None
