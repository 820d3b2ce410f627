"""env verify on a real pip-installed virtualenv, untouched and tampered with one way per test."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

from mlvet.env.target import environment_of
from mlvet.env.verify import verify_environment
from mlvet.findings import Finding, Report, Severity
from tests.unit.env.environments import Venv

PAYLOAD_PTH = "import os; os.environ.get('X')\n"


def verify(venv: Venv) -> Report:
    return verify_environment(environment_of(venv.python))


def only(report: Report, rule: str) -> Finding:
    matching = [f for f in report.findings if f.rule.id == rule]
    assert len(matching) == 1, [(f.rule.id, f.subject.path) for f in report.findings]
    return matching[0]


def record_of(venv: Venv, name: str) -> Path:
    return next(venv.site.glob(f"{name}-*.dist-info")) / "RECORD"


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def rewrite_record(venv: Venv, name: str, path: str) -> None:
    """What an attacker with write access does next: make RECORD agree with the tampered file."""
    record = record_of(venv, name)
    data = (venv.site / path).read_bytes()
    rows = list(csv.reader(io.StringIO(record.read_text())))
    rows = [[p, record_hash(data), str(len(data))] if p == path else [p, h, s] for p, h, s in rows]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    record.write_text(out.getvalue())


def test_untouched_environment_verifies_clean(pristine_venv: Venv) -> None:
    report = verify(pristine_venv)
    assert report.findings == ()
    assert report.problems == ()
    totals = report.details["totals"]
    assert totals["distributions"] == 4
    assert totals["files_hashed"] > 50
    assert {row["status"] for row in report.details["distributions"]} == {"ok"}
    assert report.details["environment"]["found_by"] == "pyvenv.cfg"


def test_modified_framework_file_is_high(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    target = venv.site / "idna" / "core.py"
    appended = "\n_exfil = __import__('os').environ.get('X')\n"
    target.write_text(target.read_text() + appended)
    finding = only(verify(venv), "MLV2001")
    assert finding.severity is Severity.HIGH
    assert finding.subject.path == str(target)
    assert finding.evidence["owner"] == "idna 3.10"
    assert finding.evidence["actual_size"] == finding.evidence["recorded_size"] + len(appended)


def test_same_size_modification_is_caught_by_the_hash(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    target = venv.site / "six.py"
    data = bytearray(target.read_bytes())
    data[-2] = ord("#") if data[-2] != ord("#") else ord(" ")
    target.write_bytes(bytes(data))
    finding = only(verify(venv), "MLV2001")
    assert "sha256 differs" in finding.message and "size" not in finding.message


def test_malicious_pth_is_critical(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    (venv.site / "zz_init.pth").write_text("# looks harmless\n" + PAYLOAD_PTH)
    report = verify(venv)
    finding = only(report, "MLV2004")
    assert finding.severity is Severity.CRITICAL
    assert finding.location.line == 2
    assert finding.evidence["lines"] == [PAYLOAD_PTH.strip()]
    hooks = report.details["startup_hooks"]
    assert [(h["owner"], h["lines"]) for h in hooks] == [(None, [PAYLOAD_PTH.strip()])]


def test_path_only_pth_is_medium_and_indented_import_is_a_path(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    (venv.site / "extra.pth").write_text("/opt/elsewhere\n import os\n")
    finding = only(verify(venv), "MLV2014")
    assert finding.severity is Severity.MEDIUM


def test_rewritten_record_hides_a_change_from_plain_verify(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    target = venv.site / "idna" / "core.py"
    target.write_text(target.read_text() + "\n# backdoor\n")
    rewrite_record(venv, "idna", "idna/core.py")
    assert verify(venv).findings == ()  # the local RECORD now vouches for the tampered file


def test_unowned_native_library_is_critical(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    real = next((venv.site / "markupsafe").glob("_speedups*.so"))
    dropped = venv.site / "markupsafe" / "_accel.cpython-311-x86_64-linux-gnu.so"
    dropped.write_bytes(real.read_bytes())
    finding = only(verify(venv), "MLV2006")
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.path == str(dropped)


def test_sitecustomize_is_critical(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    (venv.site / "sitecustomize.py").write_text("import os\nos.environ.get('X')\n")
    report = verify(venv)
    assert only(report, "MLV2005").severity is Severity.CRITICAL
    assert [h["kind"] for h in report.details["startup_hooks"]] == ["sitecustomize/usercustomize"]


def test_rewritten_console_script_is_critical(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    script = venv.bin / "pyflakes"
    lines = script.read_text().splitlines(keepends=True)
    script.write_text(lines[0] + "import os; os.environ.get('X')\n" + "".join(lines[1:]))
    finding = only(verify(venv), "MLV2008")
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.path == str(venv.bin / "pyflakes")
    assert "pyflakes 3.2.0" in finding.message


def test_hidden_directory_is_critical(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    hidden = venv.site / "idna" / ".runtime"
    hidden.mkdir()
    (hidden / "start.py").write_text("print('x')\n")
    (hidden / "blob.bin").write_bytes(b"\0" * 16)
    finding = only(verify(venv), "MLV2007")
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence["files"] == ["idna/.runtime/blob.bin", "idna/.runtime/start.py"]


def test_unowned_module_is_high_and_stray_data_is_low(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    (venv.site / "idna" / "helpers.py").write_text("x = 1\n")
    (venv.site / "notes.txt").write_text("left over\n")
    report = verify(venv)
    assert only(report, "MLV2003").severity is Severity.HIGH
    assert only(report, "MLV2015").severity is Severity.LOW


def test_missing_file_is_medium(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    (venv.site / "idna" / "codec.py").unlink()
    report = verify(venv)
    assert only(report, "MLV2002").severity is Severity.MEDIUM
    row = next(r for r in report.details["distributions"] if r["name"] == "idna")
    assert (row["status"], row["missing"]) == ("missing files", 1)


def test_fifo_in_place_of_a_recorded_file_does_not_hang(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    target = venv.site / "idna" / "idnadata.py"
    target.unlink()
    os.mkfifo(target)
    os.mkfifo(venv.site / "zz.pth")
    report = verify(venv)
    assert "not a regular file" in only(report, "MLV2001").message
    assert only(report, "MLV2014").subject.path == str(venv.site / "zz.pth")


def test_other_hash_algorithms(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    record = record_of(venv, "six")
    data = (venv.site / "six.py").read_bytes()
    sha512 = base64.urlsafe_b64encode(hashlib.sha512(data).digest()).rstrip(b"=").decode()
    lines = record.read_text().splitlines()
    with_sha512 = [
        f"six.py,sha512={sha512},{len(data)}" if line.startswith("six.py,") else line for line in lines
    ]
    record.write_text("\n".join(with_sha512) + "\n")
    assert verify(venv).findings == ()
    with_md5 = [
        f"six.py,md5={hashlib.md5(data).hexdigest()},{len(data)}" if x.startswith("six.py,") else x
        for x in lines
    ]
    record.write_text("\n".join(with_md5) + "\n")
    (problem,) = verify(venv).problems
    assert "does not accept: 'md5'" in problem.message


def test_bytecode_compiled_after_install_is_not_flagged(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    cache = venv.site / "idna" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "extra.cpython-311.pyc").write_bytes(b"\0" * 16)
    assert verify(venv).findings == ()


def test_distribution_without_record_is_unverifiable(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    record_of(venv, "six").unlink()
    report = verify(venv)
    assert only(report, "MLV2009").severity is Severity.MEDIUM
    row = next(r for r in report.details["distributions"] if r["name"] == "six")
    assert row["status"] == "unverifiable"
    assert only(report, "MLV2003").subject.path == str(venv.site / "six.py")  # nothing vouches for it now


def test_record_rows_without_hash_are_unverifiable(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    record = record_of(venv, "idna")
    rows = [
        line.split(",")[0] + ",," if line.startswith("idna/core.py") else line
        for line in record.read_text().splitlines()
    ]
    record.write_text("\n".join(rows) + "\n")
    finding = only(verify(venv), "MLV2010")
    assert finding.evidence["examples"] == ["idna/core.py"]


def test_modified_owned_pth_is_critical(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    target = venv.site / "idna" / "package_data.py"
    pth = venv.site / "idna_hook.pth"
    pth.write_text(PAYLOAD_PTH)
    record = record_of(venv, "idna")
    record.write_text(record.read_text() + f"idna_hook.pth,{record_hash(b'')},0\n")
    finding = only(verify(venv), "MLV2001")
    assert finding.severity is Severity.CRITICAL and "start-up .pth" in finding.message
    assert target.exists()


def test_verify_on_the_project_environment_is_clean() -> None:
    """The environment these tests run in is the project's own: it must verify with no findings."""
    from mlvet.env.target import current_environment

    report = verify_environment(current_environment())
    assert [(f.rule.id, f.subject.path) for f in report.findings] == []
    assert report.problems == ()
    owners = {h["owner"] for h in report.details["startup_hooks"]}
    assert None not in owners
