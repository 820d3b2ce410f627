"""The scan corpus in the sandbox: each process/network/file payload is observed with the right rule,
benign files written by the real frameworks load with nothing to report.

Subset (to keep the run near a minute on two shared cores): every raw-pickle, joblib and numpy sample
whose payload starts a process, touches the network or writes a file (and four that exec code), plus
two torch checkpoints (zip and legacy); the Keras samples carry code, not process/network/file payloads,
and cost ~15 s each (the runner imports Keras), so only the benign Keras file runs here. Samples whose
payload the real loader never reaches (stacked pickles, NEWOBJ without __init__, torch archives that
torch refuses) are left out: the sandbox rightly sees nothing there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlvet import __version__
from mlvet.findings import Report
from mlvet.sandbox import Limits, detonate, probe, rules
from mlvet.sandbox.ladder import choose
from tests.unit.sandbox.conftest import RUNGS

STRONGEST = choose(probe()).value
"""The rung a plain run gets here (bwrap wherever bubblewrap works)."""
pytestmark = [pytest.mark.spawns_processes, pytest.mark.usefixtures("no_leftovers")]

SANDBOX_RULES = frozenset(rule.id for rule in rules.RULES)
PROCESS, NETWORK, FILE_WRITE, CODE = rules.PROCESS.id, rules.NETWORK.id, rules.FILE_WRITE.id, rules.CODE.id

OBSERVED = {
    **{
        f"pickle/{name}.pkl": PROCESS
        for name in (
            "os_system_proto0", "subprocess_stack_global", "memo_attrgetter_chain",
            "legacy_strings_proto4", "dotted_pathlib_os_system", "import_getattr_chain",
            "importlib_getattr_static", "operator_methodcaller", "nested_pickle_loads",
            "nested_grammar_loads", "nested_dill_zlib", "nested_hex_dill", "nested_multistage",
            "pkgutil_resolve_name", "pydoc_locate", "uuid_command_stdout", "osx_support_read_output",
            "imaplib_stream", "pty_spawn", "ensurepip_run_pip", "pydoc_pipepager", "obj_result_popped",
            "duplicate_proto", "invalid_utf8_after_global", "huge_binbytes8", "memo_expansion",
            "setstate_injection", "nullifai_broken", "payload_before_state",
        )
    },
    **{
        f"pickle/{name}.pkl": NETWORK
        for name in (
            "socket_connect", "urlopen", "requests_get", "smtplib", "dns_exfiltration", "http_server",
            "socketserver",
        )
    },
    **{
        f"pickle/{name}.pkl": FILE_WRITE
        for name in ("io_fileio", "logging_filehandler", "gzip_open", "dbm_open", "venv_create")
    },
    **{
        f"pickle/{name}.pkl": CODE
        for name in ("builtins_exec_proto5", "inst_exec", "code_runsource", "timeit")
    },
    "pickle/joblib_payload_after_array.joblib": PROCESS,
    **{f"joblib/{kind}_payload.joblib": PROCESS for kind in ("plain", "zlib", "gzip", "bz2", "lzma", "xz")},
    **{
        f"numpy/{name}": PROCESS
        for name in (
            "object_array.npy", "object_array_v2.npy", "structured_object_field.npy", "object_array.npz",
            "object_array_compressed.npz",
        )
    },
    "torch/zip_data_pkl.pt": PROCESS,
    "torch/legacy_payload_4th_pickle.pt": PROCESS,
}  # fmt: skip

BENIGN = [
    "pickle/plain_data_proto4.pkl",
    "pickle/ordered_dict_numpy_proto5.pkl",
    "joblib/benign_sklearn_zlib.joblib",
    "numpy/benign.npy",
    "numpy/benign_compressed.npz",
    "torch/benign_state_dict.pt",
    "onnx/benign_torch_mlp.onnx",
    "gguf/writer_chatml.gguf",
    "keras/benign_sequential.keras",
]


@pytest.mark.parametrize("name", sorted(OBSERVED))
def test_payload_is_observed_and_contained(corpus_root: Path, name: str) -> None:
    report = detonate(corpus_root / name, limits=Limits(timeout_s=60))
    ids = {f.rule.id for f in report.findings}
    assert OBSERVED[name] in ids, [f.message for f in report.findings]
    assert report.details["isolation"] == STRONGEST
    static = [f for f in report.findings if f.rule.id not in SANDBOX_RULES]
    assert any(f.confirmed for f in static), "the static finding was not confirmed by the run"
    assert not report.problems


@pytest.mark.parametrize("name", BENIGN)
def test_benign_models_load_with_nothing_to_report(corpus_root: Path, name: str) -> None:
    report = detonate(corpus_root / name, limits=Limits(timeout_s=90))
    assert report.details["outcome"]["loaded"] is True, report.details["outcome"]
    assert [f.message for f in report.findings if f.rule.id in SANDBOX_RULES] == []
    assert not report.problems


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize(
    "name",
    [
        "pickle/os_system_proto0.pkl",
        "pickle/socket_connect.pkl",
        "pickle/io_fileio.pkl",
        "numpy/object_array.npy",
    ],
)
def test_weaker_rungs_observe_the_same(corpus_root: Path, rung: str, name: str) -> None:
    report = detonate(corpus_root / name, isolation=rung)
    assert report.details["isolation"] == rung
    assert OBSERVED[name] in {f.rule.id for f in report.findings}
    active = {layer["layer"] for layer in report.details["layers"] if layer["active"]}
    assert {"Landlock", "seccomp: no new processes", "audit-hook recorder", "rlimits"} <= active
    assert ("bwrap" in active) == (rung == "bwrap")
    assert ("network namespace" in active) == (rung != "seccomp-landlock")


def test_static_finding_is_confirmed_by_the_global_the_loader_resolved(corpus_root: Path) -> None:
    report = detonate(corpus_root / "pickle/os_system_proto0.pkl")
    static = next(f for f in report.findings if f.rule.id == "MLV101")
    assert static.confirmed
    assert static.evidence["confirmed_by"] == "the loader resolved posix.system (pickle.find_class)"
    process = next(f for f in report.findings if f.rule.id == PROCESS)
    assert process.evidence["args"] == ["true"]
    assert process.evidence["event"] == "os.system"


def test_behaviour_the_static_scan_missed_is_a_gap_to_turn_into_a_test(corpus_root: Path) -> None:
    now = datetime.now(UTC)
    silent = Report(tool_version=__version__, started=now, finished=now)
    report = detonate(corpus_root / "pickle/socket_connect.pkl", static=silent)
    gap = [f for f in report.findings if f.rule.id == rules.STATIC_GAP.id]
    assert len(gap) == 1
    assert NETWORK in gap[0].evidence["dynamic_rules"]
    assert "test case" in gap[0].message
