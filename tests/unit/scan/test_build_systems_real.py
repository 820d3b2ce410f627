"""Real sdists and wheels from the package index: a whole ``mlvet scan`` of each stays clean.

The archives are fetched once through the PyPI JSON API into ``tests/.cache/build_systems`` (git-ignored),
checked against the sha256 pinned below (and the one the index lists), and reused. ``pip download`` is
not used: it builds an sdist to read its metadata, which takes minutes for numpy (meson-python) and needs
a Rust toolchain for maturin packages. A failed download fails the tests, it never skips them.

Two things are judged: the build-system rules (MLV821-MLV849) against the exact findings below medium
justified in ``JUSTIFIED``; and the whole scan (library code, data files, native code, archives) of each
archive and of its unpacked tree: no finding at high or above and no problem, except the entries of
``KNOWN_ELSEWHERE``: findings of other scanners that are right by their own definitions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlvet.findings import Report, Severity, Subject
from mlvet.scan import scan
from mlvet.scan.build_systems import RULES

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "build_systems"
PYPI = "https://pypi.org/pypi"
_MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


@dataclass(frozen=True)
class Release:
    """One file of one release on the package index, pinned by its sha256."""

    project: str
    version: str
    filename: str
    sha256: str
    backend: str

    @property
    def is_sdist(self) -> bool:
        return self.filename.endswith(".tar.gz")


RELEASES = (
    Release("six", "1.16.0", "six-1.16.0.tar.gz",
            "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926", "setuptools, setup.py only"),
    Release("PyYAML", "6.0.2", "pyyaml-6.0.2.tar.gz",
            "d584d9ec91ad65861cc08d42e834324ef890a082e591037abe114850ff7bbc3e",
            "setuptools with cmdclass overrides and an in-tree backend"),
    Release("attrs", "24.2.0", "attrs-24.2.0.tar.gz",
            "5cfb1b9148b5b086569baec03f20d7b6bf3bcacc9a42bebf87ffaaca362f6346", "hatchling with hatch-vcs"),
    Release("hatchling", "1.25.0", "hatchling-1.25.0.tar.gz",
            "7064631a512610b52250a4d3ff1bd81551d6d1431c4eb7b72e734df6c74f4262", "hatchling building itself"),
    Release("flit-core", "3.9.0", "flit_core-3.9.0.tar.gz",
            "72ad266176c4a3fcfab5f2930d76896059851240570ce9a98733b658cb786eba", "flit building itself"),
    Release("pdm-backend", "2.4.3", "pdm_backend-2.4.3.tar.gz",
            "dbd9047a7ac10d11a5227e97163b617ad5d665050476ff63867d971758200728", "pdm building itself"),
    Release("poetry-core", "1.9.0", "poetry_core-1.9.0.tar.gz",
            "fa7a4001eae8aa572ee84f35feb510b321bd652e5cf9293249d62853e1f935a2", "poetry-core, in-tree"),
    Release("setuptools", "75.1.0", "setuptools-75.1.0.tar.gz",
            "d59a21b17a275fb872a9c3dae73963160ae079f1049ed956880cd7c09b120538", "setuptools building itself"),
    Release("meson-python", "0.17.1", "meson_python-0.17.1.tar.gz",
            "efb91f69f2e19eef7bc9a471ed2a4e730088cc6b39eacaf3e49fc4f930eb5f83", "meson-python, meson.build"),
    Release("pybind11", "3.0.0", "pybind11-3.0.0.tar.gz",
            "c3f07bce3ada51c3e4b76badfa85df11688d12c46111f9d242bc5c9415af7862",
            "scikit-build-core, CMake with FetchContent"),
    Release("scikit-build-core", "0.10.7", "scikit_build_core-0.10.7.tar.gz",
            "04cbb59fe795202a7eeede1849112ee9dcbf3469feebd9b8b36aa541336ac4f8", "CMake test projects"),
    Release("numpy", "2.1.3", "numpy-2.1.3.tar.gz",
            "aa08e04e08aaf974d4458def539dece0d28146d866a39da5639596f4921fd761",
            "meson-python with a vendored meson, C/C++ sources"),
    Release("rpds-py", "0.20.0", "rpds_py-0.20.0.tar.gz",
            "d72a210824facfdaf8768cf2d7ca25a042c30320b3020de2fa04640920d4e121", "maturin (Rust)"),
    Release("setuptools", "75.1.0", "setuptools-75.1.0-py3-none-any.whl",
            "35ab7fd3bcd95e6b7fd704e4a1539513edad446c097797f2985e0e4b960772f2",
            "pure wheel: distutils-precedence.pth, Windows launchers"),
    Release("pytest-cov", "5.0.0", "pytest_cov-5.0.0-py3-none-any.whl",
            "4f0764a1219df53214206bf1feea4633c3b558a2925c8b59f144f682861ce652",
            "pure wheel: pytest-cov.pth (exec of a string)"),
    Release("six", "1.16.0", "six-1.16.0-py2.py3-none-any.whl",
            "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254", "pure wheel, one module"),
    Release("attrs", "24.2.0", "attrs-24.2.0-py3-none-any.whl",
            "81921eb96de3191c8258c199618104dd27ac608d9366f5e35d011eae1867ede2", "pure wheel"),
    Release("numpy", "2.1.3", f"numpy-2.1.3-{_MANYLINUX}",
            "bc6f24b3d1ecc1eebfbf5d6051faa49af40b03be1aaa781ebdadcbc090b4539b",
            "binary wheel: extension modules, static library, bytecode, test data"),
    Release("MarkupSafe", "2.1.5", f"MarkupSafe-2.1.5-{_MANYLINUX}",
            "b91c037585eba9095565a3556f611e3cbfaa42ca1e865f7b8015fe5c7336d5a5", "binary wheel (C extension)"),
    Release("rpds-py", "0.20.0", f"rpds_py-0.20.0-{_MANYLINUX}",
            "5c1dc0f53856b9cc9a0ccca0a7cc61d3d20a7088201c0937f3f4048c1718a209", "binary wheel (Rust)"),
)  # fmt: skip
SDISTS = [r.filename for r in RELEASES if r.is_sdist]
WHEELS = [r.filename for r in RELEASES if not r.is_sdist]
_BY_NAME = {r.filename: r for r in RELEASES}

_MESON_TESTS = "numpy-2.1.3/vendored-meson/meson/test cases"
JUSTIFIED: dict[str, set[tuple[str, Severity, str]]] = {
    "pyyaml-6.0.2.tar.gz": {
        # backend-path = ["packaging"], build-backend = "_pyyaml_pep517": the build imports PyYAML's own
        # wrapper around setuptools from the sdist; exactly what the rule asks a reviewer to read.
        ("MLV832", Severity.MEDIUM, "pyyaml-6.0.2/pyproject.toml"),
    },
    "pybind11-3.0.0.tar.gz": {
        # tools/FindCatch.cmake downloads catch.hpp (test framework, DOWNLOAD_CATCH=ON) with no hash.
        ("MLV841", Severity.MEDIUM, "pybind11-3.0.0/tools/FindCatch.cmake"),
    },
    "scikit_build_core-0.10.7.tar.gz": {
        # a test project fetches pybind11 at the tag v2.12.0 rather than a commit.
        ("MLV843", Severity.LOW, "scikit_build_core-0.10.7/tests/packages/sdist_config/CMakeLists.txt"),
    },
    "numpy-2.1.3.tar.gz": {
        # meson's own test projects (vendored): `cmd /c echo hello`, `bash -c env`, `bash --version`.
        ("MLV844", Severity.MEDIUM, f"{_MESON_TESTS}/common/33 run program/meson.build"),
        ("MLV844", Severity.MEDIUM, f"{_MESON_TESTS}/common/41 test args/meson.build"),
        ("MLV844", Severity.LOW, f"{_MESON_TESTS}/unit/46 native file binary/meson.build"),
    },
    "setuptools-75.1.0-py3-none-any.whl": {
        # import os; ... __import__('_distutils_hack').add_shim(): a start-up hook, importing its own module.
        ("MLV847", Severity.LOW, "distutils-precedence.pth"),
    },
    "pytest_cov-5.0.0-py3-none-any.whl": {
        # import os, sys; exec('if COV_CORE_SOURCE in os.environ: from pytest_cov.embed import init ...').
        ("MLV847", Severity.LOW, "pytest-cov.pth"),
    },
}  # fmt: skip
_NUMPY_OBJECT_PICKLE = "numpy/lib/tests/data/py2-np0-objarr.npy"
_MESON_DMG = "vendored-meson/meson/manual tests/4 standalone binaries/template.dmg.gz"
KNOWN_ELSEWHERE: dict[str, set[tuple[str, str]]] = {
    # Findings of other scanners that are right by their own definitions:
    # - MLV103: numpy's own test pickle names numpy.core._internal._reconstruct (numpy 0.x), which is
    #   not in the pickle allowlist.
    f"numpy-2.1.3-{_MANYLINUX}": {("MLV103", _NUMPY_OBJECT_PICKLE)},
    # - MLV703 + limit: a DMG template in meson's manual tests really expands 250x (37 KB -> 9 MB+); by the
    #   archive rules' definition that is a bomb, and the rest was not examined.
    "numpy-2.1.3.tar.gz": {
        ("MLV103", _NUMPY_OBJECT_PICKLE),
        ("MLV703", _MESON_DMG),
        ("limit", _MESON_DMG),
    },
}
_BUILD_RULES = {rule.id for rule in RULES}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _index_entry(release: Release) -> tuple[str, str]:
    """``(url, sha256)`` of the release file, from the JSON API (per-release page, else the project page)."""
    pages = [f"{PYPI}/{release.project}/{release.version}/json", f"{PYPI}/{release.project}/json"]
    for page in pages:
        try:
            with urllib.request.urlopen(page, timeout=60) as response:
                document = json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and page != pages[-1]:
                continue  # some mirrors serve only the project page
            raise
        files = document["urls"] if page == pages[0] else document["releases"].get(release.version, [])
        for entry in files:
            if entry["filename"] == release.filename:
                return urllib.parse.urljoin(page, entry["url"]), entry["digests"]["sha256"]
    raise LookupError(f"{release.filename} is not listed for {release.project} {release.version}")


def _fetch(release: Release) -> None:
    path = CACHE / release.filename
    if path.is_file() and _sha256(path) == release.sha256:
        return
    try:
        url, listed = _index_entry(release)
        with urllib.request.urlopen(url, timeout=600) as response:
            data = response.read()
    except (OSError, LookupError, KeyError, ValueError) as exc:
        pytest.fail(f"could not download {release.filename} through {PYPI}: {exc}", pytrace=False)
    actual = hashlib.sha256(data).hexdigest()
    if not actual == listed == release.sha256:
        pytest.fail(
            f"{release.filename}: sha256 {actual} does not match the pinned {release.sha256} "
            f"(the index lists {listed})",
            pytrace=False,
        )
    path.write_bytes(data)


@pytest.fixture(scope="session")
def real_packages() -> Path:
    """Every archive above in the download cache (downloaded on first use; a failure fails the test)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for release in RELEASES:
        _fetch(release)
    return CACHE


@pytest.fixture(scope="session")
def unpacked(real_packages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every archive unpacked: sdists with tarfile's ``data`` filter, wheels into a folder of their name."""
    root = tmp_path_factory.mktemp("unpacked")
    for name in SDISTS:
        with tarfile.open(real_packages / name) as archive:
            archive.extractall(root, filter="data")
    for name in WHEELS:
        with zipfile.ZipFile(real_packages / name) as archive:
            archive.extractall(root / name.removesuffix(".whl"))
    return root


@functools.cache
def _scan(path: Path) -> Report:
    """One scan per archive or tree for the whole session (several tests judge the same report)."""
    return scan([path])


def _tree(unpacked: Path, archive: str) -> Path:
    return unpacked / archive.removesuffix(".tar.gz").removesuffix(".whl")


def _inner(path: str) -> str:
    return path.rsplit("!/", 1)[-1]


def _build_findings(report: Report) -> set[tuple[str, Severity, str]]:
    return {
        (f.rule.id, f.severity, _inner(f.subject.member or f.subject.path))
        for f in report.findings
        if f.rule.id in _BUILD_RULES and f.severity > Severity.INFO
    }


def _where(subject: Subject) -> str:
    return f"{subject.path}!/{subject.member}" if subject.member else subject.path


def _unexplained(report: Report, archive: str, *, on_disk: bool = False) -> list[tuple[str, str]]:
    """Findings at high or above and problems, as (rule or problem kind, where), not in ``KNOWN_ELSEWHERE``
    (an entry matches part of the path; symbolic links are plain files once unpacked)."""
    serious = [(f.rule.id, _where(f.subject)) for f in report.findings if f.severity >= Severity.HIGH]
    serious += [(p.kind.value, _where(p.subject)) for p in report.problems]
    known = [
        (what, path)
        for what, path in KNOWN_ELSEWHERE.get(archive, set())
        if not (on_disk and what == "MLV702")
    ]
    return sorted(
        (what, path) for what, path in serious if not any(what == kind and end in path for kind, end in known)
    )


@pytest.mark.parametrize("archive", [*SDISTS, *WHEELS])
def test_real_package_has_no_unexplained_build_finding(real_packages: Path, archive: str) -> None:
    report = _scan(real_packages / archive)
    found = _build_findings(report)
    assert found == JUSTIFIED.get(archive, set()), sorted(found)
    internal = [p.message for p in report.problems if p.kind.value == "internal"]
    assert not internal


@pytest.mark.parametrize("archive", [*SDISTS, *WHEELS])
def test_whole_scan_of_a_real_package_is_clean(real_packages: Path, archive: str) -> None:
    """Library code, data files, native code and build files together: nothing high and no problem."""
    report = _scan(real_packages / archive)
    assert not _unexplained(report, archive)


@pytest.mark.parametrize("archive", [*SDISTS, *WHEELS])
def test_whole_scan_of_an_unpacked_real_package_is_clean(unpacked: Path, archive: str) -> None:
    report = _scan(_tree(unpacked, archive))
    assert not _unexplained(report, archive, on_disk=True)


def test_library_code_is_graded_as_library_code(real_packages: Path) -> None:
    """Guards the tests above against passing because nothing was analysed: six's __import__(name)."""
    report = scan([real_packages / "six-1.16.0-py2.py3-none-any.whl"])
    graded = {(f.rule.id, f.severity, f.evidence.get("graded_as")) for f in report.findings}
    assert ("MLV812", Severity.LOW, "library-built") in graded
    source = scan([real_packages / "six-1.16.0.tar.gz"])
    assert {f.evidence.get("graded_as") for f in source.findings} == {"library-source"}


def test_native_code_is_reported_as_not_analysed(real_packages: Path) -> None:
    """Extension modules of binary wheels: info findings, no problem; launchers in an sdist: medium."""
    wheel = scan([real_packages / f"MarkupSafe-2.1.5-{_MANYLINUX}"])
    assert [(f.rule.id, f.severity, f.subject.member) for f in wheel.findings] == [
        ("MLV852", Severity.INFO, "markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so")
    ]
    assert not wheel.problems
    sdist = scan([real_packages / "setuptools-75.1.0.tar.gz"])
    launchers = {_inner(f.subject.member or "") for f in sdist.findings if f.rule.id == "MLV852"}
    assert all(f.severity is Severity.MEDIUM for f in sdist.findings if f.rule.id == "MLV852")
    assert "setuptools-75.1.0/setuptools/cli-64.exe" in launchers
    assert len(launchers) == 8


def test_every_build_file_of_the_real_packages_was_analysed(real_packages: Path) -> None:
    """Guards the build tests against passing because nothing was routed to the build analysis."""
    report = scan([real_packages / "pybind11-3.0.0.tar.gz", real_packages / "pyyaml-6.0.2.tar.gz"])
    unpinned = {_inner(f.subject.member or "") for f in report.findings if f.rule.id == "MLV834"}
    assert unpinned == {
        "pybind11-3.0.0/pyproject.toml",
        "pybind11-3.0.0/tests/pyproject.toml",
        "pyyaml-6.0.2/pyproject.toml",
    }


@pytest.mark.parametrize("archive", SDISTS)
def test_real_source_tree_has_the_same_build_findings_as_its_sdist(unpacked: Path, archive: str) -> None:
    """On disk, in-tree backends and hooks named by pyproject.toml also get the build analysis."""
    report = _scan(_tree(unpacked, archive))
    found = {
        (rule, severity, Path(path).relative_to(unpacked).as_posix())
        for rule, severity, path in _build_findings(report)
    }
    assert found == JUSTIFIED.get(archive, set()), sorted(found)


def test_release_table_is_consistent() -> None:
    assert len(_BY_NAME) == len(RELEASES)
    assert all(len(r.sha256) == 64 for r in RELEASES)
