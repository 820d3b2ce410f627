"""env lock from real wheels, and env verify --lock catching what a rewritten RECORD hides."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mlvet.env.lock import LockSources, lock_environment, lock_requirements
from mlvet.env.lockfile import Lock, read_lock, write_pylock
from mlvet.env.target import environment_of
from mlvet.env.verify import verify_environment
from mlvet.errors import InputError
from mlvet.findings import Severity
from tests.unit.env.environments import WHEEL_CACHE, Venv
from tests.unit.env.test_verify import only, rewrite_record


@pytest.fixture
def records(tmp_path: Path) -> Path:
    return tmp_path / "records"


@pytest.fixture
def lock_file(pristine_venv: Venv, records: Path, tmp_path: Path) -> Path:
    sources = LockSources(wheels_dir=WHEEL_CACHE, offline=True, records_dir=records)
    result = lock_environment(environment_of(pristine_venv.python), sources)
    assert result.report.problems == ()
    path = tmp_path / "pylock.toml"
    path.write_text(write_pylock(result.lock, "mlvet test"))
    return path


def test_lock_pins_every_wheel_and_its_record(lock_file: Path, records: Path) -> None:
    lock = read_lock(lock_file)
    assert sorted(lock.packages) == ["idna", "markupsafe", "pyflakes", "six"]
    for (package,) in lock.packages.values():
        (wheel,) = package.wheels
        local = WHEEL_CACHE / str(wheel.filename)
        assert wheel.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
        assert wheel.size == local.stat().st_size
        with zipfile.ZipFile(local) as archive:
            record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
            assert wheel.record_sha256 == hashlib.sha256(archive.read(record)).hexdigest()
        assert (records / f"{wheel.record_sha256}.RECORD").is_file()
        assert package.installed_tags


def test_pylock_is_pep751_shaped(lock_file: Path) -> None:
    import tomllib

    data = tomllib.loads(lock_file.read_text())
    assert data["lock-version"] == "1.0" and data["created-by"] == "mlvet test"
    package = next(p for p in data["packages"] if p["name"] == "six")
    assert package["version"] == "1.17.0"
    assert set(package["wheels"][0]) >= {"name", "path", "size", "hashes"}
    assert package["tool"]["mlvet"]["record-sha256"]


def test_untouched_environment_matches_the_lock(pristine_venv: Venv, lock_file: Path, records: Path) -> None:
    report = verify_environment(
        environment_of(pristine_venv.python), lock=read_lock(lock_file), records_dir=records
    )
    assert report.findings == () and report.problems == ()
    assert set(report.details["lock"]["records"].values()) == {"match"}


def test_rewritten_record_is_caught_only_with_the_lock(
    venv_copy: Callable[[], Venv], lock_file: Path, records: Path
) -> None:
    venv = venv_copy()
    target = venv.site / "idna" / "core.py"
    target.write_text(target.read_text() + "\n# backdoor\n")
    rewrite_record(venv, "idna", "idna/core.py")
    report = verify_environment(environment_of(venv.python), lock=read_lock(lock_file), records_dir=records)
    finding = only(report, "MLV2011")
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence["differences"][0]["path"] == "idna/core.py"
    assert finding.evidence["differences"][0]["problem"] == "hash differs"
    assert report.details["lock"]["records"]["idna"] == "differs"


def test_vetted_record_comes_from_the_wheels_when_the_store_is_empty(
    venv_copy: Callable[[], Venv], lock_file: Path, tmp_path: Path
) -> None:
    venv = venv_copy()
    (venv.site / "six.py").write_text("# replaced\n")
    rewrite_record(venv, "six", "six.py")
    empty = tmp_path / "empty-store"
    report = verify_environment(
        environment_of(venv.python), lock=read_lock(lock_file), records_dir=empty, wheels_dir=WHEEL_CACHE
    )
    assert only(report, "MLV2011").evidence["differences"][0]["path"] == "six.py"
    assert report.problems == ()


def test_missing_vetted_record_is_a_problem(pristine_venv: Venv, lock_file: Path, tmp_path: Path) -> None:
    report = verify_environment(
        environment_of(pristine_venv.python), lock=read_lock(lock_file), records_dir=tmp_path / "nothing"
    )
    assert len(report.problems) == 4
    assert "pass --wheels DIR" in report.problems[0].message


def test_distribution_missing_from_the_lock(pristine_venv: Venv, lock_file: Path, records: Path) -> None:
    lock = read_lock(lock_file)
    smaller = Lock(lock.format, {k: v for k, v in lock.packages.items() if k != "six"}, lock.path)
    report = verify_environment(environment_of(pristine_venv.python), lock=smaller, records_dir=records)
    finding = only(report, "MLV2012")
    assert finding.severity is Severity.HIGH and "six 1.17.0" in finding.message


def test_version_not_pinned_by_the_lock(pristine_venv: Venv, tmp_path: Path, records: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("six==1.16.0 --hash=sha256:" + "0" * 64 + "\nidna==3.10\nmarkupsafe\npyflakes==3.2.0\n")
    report = verify_environment(
        environment_of(pristine_venv.python), lock=read_lock(lock), records_dir=records
    )
    assert "the lock pins 1.16.0" in only(report, "MLV2012").message
    unpinned = only(report, "MLV2013")
    assert unpinned.severity is Severity.INFO
    assert sorted(unpinned.evidence["distributions"]) == ["MarkupSafe 3.0.2", "idna 3.10", "pyflakes 3.2.0"]


def test_requirements_set_is_locked_from_local_wheels(tmp_path: Path, records: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    six = next(WHEEL_CACHE.glob("six-*.whl"))
    digest = hashlib.sha256(six.read_bytes()).hexdigest()
    requirements.write_text(f"six==1.17.0 \\\n    --hash=sha256:{digest}\nidna==3.10  # comment\n")
    result = lock_requirements(
        requirements, LockSources(wheels_dir=WHEEL_CACHE, offline=True, records_dir=records)
    )
    assert result.report.problems == ()
    assert {p.key: p.wheels[0].sha256 for (p,) in result.lock.packages.values()}["six"] == digest


def test_unpinned_requirement_cannot_be_locked(tmp_path: Path, records: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six>=1\n")
    result = lock_requirements(
        requirements, LockSources(wheels_dir=WHEEL_CACHE, offline=True, records_dir=records)
    )
    assert "not pinned with ==" in result.report.problems[0].message


def test_uv_lock_is_read(tmp_path: Path) -> None:
    path = tmp_path / "uv.lock"
    path.write_text(
        'version = 1\nrequires-python = ">=3.11"\n\n[[package]]\nname = "six"\nversion = "1.17.0"\n'
        'source = { registry = "https://pypi.org/simple" }\nwheels = [\n'
        '  { url = "https://files.pythonhosted.org/x/six-1.17.0-py2.py3-none-any.whl", '
        'hash = "sha256:ABC", size = 11050 },\n'
        ']\n\n[[package]]\nname = "proj"\nversion = "0.1"\nsource = { editable = "." }\n'
    )
    lock = read_lock(path)
    assert lock.format == "uv.lock" and not lock.pins_records
    (six,) = lock.packages["six"]
    assert (six.index, six.wheels[0].filename, six.wheels[0].sha256) == (
        "https://pypi.org/simple",
        "six-1.17.0-py2.py3-none-any.whl",
        "abc",
    )
    (project,) = lock.packages["proj"]
    assert project.editable and project.directory == "."


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("pylock.toml", "lock-version = [", "is not valid TOML"),
        ("pylock.toml", 'lock-version = "2.0"\ncreated-by = "x"\n', "lock-version 2.0 is not supported"),
        ("pylock.toml", 'created-by = "x"\n', "neither a pylock.toml"),
        ("requirements.txt", "# nothing\n", "lists no requirement"),
        ("requirements.txt", "six===\n", "not a requirement"),
    ],
)
def test_bad_lock_files_are_refused(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_lock(path)
