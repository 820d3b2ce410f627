"""PyTorch archives: layout, pickles under any name, storages only sniffed, TorchScript code, legacy."""

from __future__ import annotations

import io
import pickletools
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet._internal.zipreader import ZipArchive, ZipEntry
from mlvet.artifacts import Buffer, Format
from mlvet.config import Settings
from mlvet.findings import Finding, ProblemKind, Severity, Subject
from mlvet.scan import dispatch, scan
from mlvet.scan.archives.members import MemberWalk
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.pytorch.legacy import scan_legacy_tail, storage_keys, storage_record_ends
from mlvet.scan.pytorch.torchscript import RULES as TORCHSCRIPT_RULES
from mlvet.scan.pytorch.torchscript import scan_torchscript_code
from mlvet.scan.pytorch.zip_layout import RULES, SNIFF_BYTES, TorchLayout, embeds_content, looks_like_pickle
from tests.corpus.containers import EMPTY_DICT, PAYLOAD, _legacy_torch, _torch_members, _torchscript, _zip


def context() -> tuple[ScanContext, Collector]:
    collector = Collector()
    return ScanContext(Subject("sample"), Settings(), collector, dispatch), collector


def run(data: Buffer) -> Collector:
    ctx, collector = context()
    dispatch(data, ctx, None)
    return collector


def rule_ids(findings: list[Finding]) -> list[str]:
    return [f.rule.id for f in findings]


def pickles(collector: Collector) -> list[str | None]:
    return [s.member for s in collector.subjects if s.format == "pickle"]


def entries(*names: str) -> list[ZipEntry]:
    return [ZipEntry(name, 0, 0, 0, 0, 0, 0) for name in names]


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    folder = tmp_path_factory.mktemp("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    paths = {name: folder / f"{name}.pt" for name in ("state", "legacy", "script", "big", "export")}
    torch.save(module.state_dict(), paths["state"])
    torch.save(module.state_dict(), paths["legacy"], _use_new_zipfile_serialization=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, still widely used
        torch.jit.save(torch.jit.script(module), str(paths["script"]))
    torch.save({f"w{i}": torch.ones(4 << 20) for i in range(3)}, paths["big"])  # 48 MiB of storages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(torch.nn.Linear(64, 64), (torch.ones(1, 64),))
        torch.export.save(program, paths["export"])
    return paths


def test_rules() -> None:
    assert [(r.id, r.severity) for r in RULES] == [("MLV202", Severity.MEDIUM)]
    assert [(r.id, r.severity) for r in TORCHSCRIPT_RULES] == [("MLV203", Severity.HIGH)]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["model/data.pkl", "model/data/0", "model/version"], TorchLayout("model/", False)),
        (["data.pkl", "data/0"], TorchLayout("", False)),
        (["data/data.pkl", "data/data/0"], TorchLayout("data/", False)),
        (["code/data.pkl", "code/data/0"], TorchLayout("code/", False)),
        (["m/code/__torch__.py", "m/constants.pkl", "m/data.pkl"], TorchLayout("m/", True)),
        (["m/data.txt", "m/version", "m/byteorder", "m/data/0"], TorchLayout("m/", False)),
        (["m/.data/version", "m/.data/serialization_id", "m/code/x.py"], TorchLayout("m/", True)),
        (["code/__torch__.py", "version"], TorchLayout("", True)),
        (["version", "data/images.json"], None),
        (["weights.npy", "config.json"], None),
    ],
)
def test_layout_detection(names: list[str], expected: TorchLayout | None) -> None:
    assert TorchLayout.detect(entries(*names)) == expected


def test_layout_roles() -> None:
    layout = TorchLayout("m/", True)
    assert layout.is_standard_pickle("m/data.pkl") and layout.is_standard_pickle("m/code/x.py.debug_pkl")
    assert not layout.is_standard_pickle("m/extra/data.pkl") and not layout.is_standard_pickle("x/data.pkl")
    assert (
        layout.is_data("m/data/12")
        and layout.is_data("m/constants/0")
        and layout.is_data("m/data/weights/w0")
    )
    assert not layout.is_data("m/.data/version") and not layout.is_data("m/data.pkl")
    assert layout.is_code("m/code/__torch__/x.py") and not TorchLayout("m/", False).is_code("m/code/x.py")


def test_torch_save_scans_only_data_pkl(torch_files: dict[str, Path]) -> None:
    report = scan([torch_files["state"]])
    assert [s.member for s in report.subjects if s.format == "pickle"] == ["state/data.pkl"]
    assert report.problems == ()
    assert all(f.severity < Severity.HIGH for f in report.findings)
    assert not {"MLV201", "MLV202", "MLV203", "MLV205"} & {f.rule.id for f in report.findings}


def test_storages_are_only_sniffed(monkeypatch: pytest.MonkeyPatch, torch_files: dict[str, Path]) -> None:
    reads: list[tuple[str, int]] = []
    original = ZipArchive.read

    def recording(self: ZipArchive, entry: ZipEntry, cap: int) -> object:
        reads.append((entry.name, cap))
        return original(self, entry, cap)

    monkeypatch.setattr(ZipArchive, "read", recording)
    started = time.perf_counter()
    report = scan([torch_files["big"]])
    elapsed = time.perf_counter() - started
    storages = [(name, cap) for name, cap in reads if "/data/" in name]
    assert storages == [(f"big/data/{i}", SNIFF_BYTES) for i in range(3)]
    assert report.problems == ()
    assert elapsed < 1.0


def test_torchscript_archive_pickles_and_code(torch_files: dict[str, Path]) -> None:
    report = scan([torch_files["script"]])
    scanned = [s.member for s in report.subjects if s.format == "pickle"]
    assert "script/data.pkl" in scanned and "script/constants.pkl" in scanned
    assert any(name and name.endswith(".debug_pkl") for name in scanned)
    assert not {"MLV202", "MLV203"} & {f.rule.id for f in report.findings}


def test_export_archive_weights_are_data_and_its_json_is_scanned(torch_files: dict[str, Path]) -> None:
    report = scan([torch_files["export"]])
    assert report.problems == ()
    scanned = {s.member: s.format for s in report.subjects if s.member}
    assert scanned["export/models/model.json"] == "json"
    assert scanned["export/data/sample_inputs/model.pt"] == "zip"
    assert not any(name.startswith("export/data/weights/weight_") for name in scanned)


@pytest.mark.parametrize(
    ("head", "embedded"),
    [
        (b'{"config": {"a": 1}, "b": [1, 2, 3]}', True),
        (b"PK\x03\x04" + bytes(40), True),
        (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'", True),
        (zlib.compress(b"hello world " * 50)[:40], True),
        (b"cposix\nsystem\n(S'true'\ntR.", True),
        (b"{\xff\xfe\x00\x01" + bytes(100), False),
        (b"\x1f\x8b\x08\x00" + bytes(range(200)), False),
        (b"x\x9c" + bytes(range(100)), False),
        (np.random.default_rng(3).standard_normal(256).astype(np.float32).tobytes(), False),
    ],
)
def test_embedded_content_in_tensor_folders(head: bytes, embedded: bool) -> None:
    assert embeds_content(head) is embedded


def test_pickle_under_any_name_is_scanned_and_reported() -> None:
    collector = run(_zip([*_torch_members(EMPTY_DICT), ("archive/extra.bin", PAYLOAD)]))
    assert rule_ids(collector.findings) == ["MLV202", "MLV101"]
    assert collector.findings[0].location.member == "archive/extra.bin"
    assert pickles(collector) == ["archive/data.pkl", "archive/extra.bin"]


def test_protocol_0_pickle_without_magic_is_found() -> None:
    collector = run(_zip(_torch_members(b"cposix\nsystem\n(S'true'\ntR.", name="data.txt")))
    assert rule_ids(collector.findings) == ["MLV202", "MLV101"]


def test_pickle_hidden_in_a_storage_member() -> None:
    collector = run(_zip([*_torch_members(EMPTY_DICT), ("archive/data/7", PAYLOAD)]))
    assert rule_ids(collector.findings) == ["MLV202", "MLV101"]
    assert collector.problems == []


def test_unknown_storage_bytes_are_not_a_problem() -> None:
    noise = np.random.default_rng(1).standard_normal(4096).astype(np.float32).tobytes()
    collector = run(_zip([*_torch_members(EMPTY_DICT), ("archive/data/1", noise)]))
    assert collector.findings == [] and collector.problems == []


def test_looks_like_pickle_rejects_random_weights() -> None:
    rng = np.random.default_rng(7)
    false_positives = 0
    for _ in range(2000):
        block = bytearray(rng.standard_normal(256).astype(np.float32).tobytes())
        block[0:2] = b"\x80\x02"
        false_positives += looks_like_pickle(bytes(block))
    assert false_positives <= 2
    assert looks_like_pickle(PAYLOAD) and looks_like_pickle(b"\x80\x02).") and looks_like_pickle(EMPTY_DICT)
    assert not looks_like_pickle(b"\x80\x07abc") and not looks_like_pickle(b"\x00\x00\x80?")


def code_findings(source: str) -> list[Finding]:
    ctx, collector = context()
    scan_torchscript_code(source.encode(), "m/code/__torch__.py", MemberWalk(ctx))
    return collector.findings


@pytest.mark.parametrize(
    ("statement", "construct"),
    [
        ("_0 = __import__('os').system('true')", "__import__()"),
        ("_0 = eval('1')", "eval()"),
        ("_0 = exec('x = 1')", "exec()"),
        ("_0 = open('/etc/passwd')", "open()"),
        ("_0 = os.system('true')", "os.system"),
        ("_0 = subprocess.check_output(['id'])", "subprocess.check_output"),
        ("import os", "import os"),
        ("from subprocess import call", "from subprocess import"),
        ("_0 = getattr(self, name)", "getattr() with a computed attribute name"),
        ("_0 = getattr(input, '__globals__')", "getattr(..., '__globals__')"),
        ("_0 = input.__class__.__subclasses__()", "attribute __subclasses__"),
        ("_0 = __builtins__", "__builtins__"),
    ],
)
def test_torchscript_code_outside_the_language(statement: str, construct: str) -> None:
    header = "class M(Module):\n  def forward(self, input: Tensor) -> Tensor:\n"
    source = f"{header}    {statement}\n    return input\n"
    (finding,) = code_findings(source)
    assert finding.rule.id == "MLV203" and finding.severity is Severity.HIGH
    assert construct in finding.evidence["constructs"]
    assert finding.location.line == 3 and finding.location.member == "m/code/__torch__.py"


def test_serialized_torchscript_idioms_are_clean() -> None:
    source = (
        "import __torch__.torch.nn.modules.linear\n"
        "class Sequential(Module):\n"
        "  __parameters__ = []\n"
        '  __annotations__["0"] = __torch__.torch.nn.modules.linear.Linear\n'
        "  def forward(self: __torch__.Sequential, input: Tensor, signal: Tensor) -> Tensor:\n"
        '    _0 = getattr(self, "0")\n'
        "    _1 = ops.prim.NumToTensor(torch.size(input, 0))\n"
        "    return (_0).forward(torch.add(input, signal.mean()), )\n"
    )
    assert code_findings(source) == []


def test_unparsable_code_falls_back_to_tokens() -> None:
    findings = code_findings("def forward(self:\n  x = eval('1') +\n  os.system('true')\n")
    constructs = [c for f in findings for c in f.evidence["constructs"]]
    assert constructs == ["eval()", "os."]
    assert [f.location.line for f in findings] == [2, 3]


def test_tampered_torchscript_archive() -> None:
    collector = run(_zip(_torchscript("_0 = eval('1')"), zipfile.ZIP_DEFLATED))
    assert rule_ids(collector.findings) == ["MLV203"]
    assert pickles(collector) == ["archive/data.pkl", "archive/constants.pkl"]


# --- legacy files ------------------------------------------------------------------------------


def pickle_ends(data: bytes, count: int = 5) -> list[int]:
    stream, ends = io.BytesIO(data), []
    for _ in range(count):
        for _op in pickletools.genops(stream):
            pass
        ends.append(stream.tell())
    return ends


def test_legacy_layout_helpers() -> None:
    data = _legacy_torch(EMPTY_DICT)
    ends = pickle_ends(data)
    assert storage_keys(data, ends[3], ends[4]) == ["0"]
    assert storage_record_ends(data, ends[4], 1) == [ends[4] + 8 + 2, ends[4] + 8 + 4, len(data)]
    assert storage_keys(PAYLOAD, 0, len(PAYLOAD)) is None


def test_benign_legacy_file_is_accounted_for(torch_files: dict[str, Path]) -> None:
    data = torch_files["legacy"].read_bytes()
    ctx, collector = context()
    assert scan_legacy_tail(data, ctx, pickle_ends(data))
    assert collector.findings == [] and collector.problems == []


def test_pickle_hidden_after_the_storages() -> None:
    data = _legacy_torch(EMPTY_DICT) + PAYLOAD
    ctx, collector = context()
    assert scan_legacy_tail(data, ctx, pickle_ends(data))
    assert rule_ids(collector.findings) == ["MLV204", "MLV101"]
    assert (
        collector.findings[0].message
        == f"{len(PAYLOAD)} bytes follow the last storage record (torch.load never reads them)"
    )
    assert pickles(collector) == ["<after storages>"]


def test_storage_records_that_do_not_fit() -> None:
    data = _legacy_torch(EMPTY_DICT)
    ends = pickle_ends(data)
    broken = data[: ends[4]] + (10**9).to_bytes(8, "little") + bytes(8)
    ctx, collector = context()
    assert scan_legacy_tail(broken, ctx, ends)
    assert rule_ids(collector.findings) == ["MLV204"]


def test_not_a_legacy_file() -> None:
    ctx, collector = context()
    assert not scan_legacy_tail(PAYLOAD * 6, ctx, pickle_ends(PAYLOAD * 6))
    assert not scan_legacy_tail(PAYLOAD, ctx, [len(PAYLOAD)])
    assert collector.findings == []


def _torch_seed() -> bytes:
    return _zip([*_torch_members(PAYLOAD), ("archive/code/x.py", b"def f(x):\n  return eval(x)\n")])


_SEED = _torch_seed()


@settings(max_examples=150, deadline=None)
@given(
    cut=st.integers(1, len(_SEED)),
    flips=st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(1, 255)), max_size=8),
)
def test_hostile_torch_archives_never_raise(cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_SEED)
    for position, mask in flips:
        data[position] ^= mask
    ctx, collector = context()
    dispatch(bytes(data[:cut]), ctx, Format.ZIP)
    assert all(p.kind is not ProblemKind.INTERNAL for p in collector.problems), collector.problems
