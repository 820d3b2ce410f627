"""Real sdists and wheels from the package index: the build-system rules must stay quiet on them.

The archives are downloaded once by ``pip download`` into ``tests/.cache/build_systems`` (git-ignored)
and reused. Only the build-system rules (MLV821-MLV849) are judged here: the model-code rules
(MLV81x) flag ordinary library code in these packages by design, which is not what this test is about.
Each remaining finding below medium is listed with the reason it is true.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mlvet.findings import Report, Severity
from mlvet.scan import scan
from mlvet.scan.build_systems import RULES

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "build_systems"
SDISTS = {
    "six==1.16.0": "six-1.16.0.tar.gz",  # setuptools, setup.py only
    "PyYAML==6.0.2": "pyyaml-6.0.2.tar.gz",  # setuptools with cmdclass overrides and an in-tree backend
    "attrs==24.2.0": "attrs-24.2.0.tar.gz",  # hatchling with hatch-vcs
    "hatchling==1.25.0": "hatchling-1.25.0.tar.gz",  # hatchling building itself (in-tree)
    "flit_core==3.9.0": "flit_core-3.9.0.tar.gz",  # flit building itself (in-tree)
    "pdm-backend==2.4.3": "pdm_backend-2.4.3.tar.gz",  # pdm building itself (in-tree)
    "poetry-core==1.9.0": "poetry_core-1.9.0.tar.gz",  # poetry-core building itself
    "setuptools==75.1.0": "setuptools-75.1.0.tar.gz",  # setuptools building itself
    "meson-python==0.17.1": "meson_python-0.17.1.tar.gz",  # meson-python, meson.build
    "pybind11==3.0.0": "pybind11-3.0.0.tar.gz",  # scikit-build-core, CMake with FetchContent
    "scikit-build-core==0.10.7": "scikit_build_core-0.10.7.tar.gz",  # CMake test projects
}
WHEELS = {
    "setuptools==75.1.0": "setuptools-75.1.0-py3-none-any.whl",  # distutils-precedence.pth
    "pytest-cov==5.0.0": "pytest_cov-5.0.0-py3-none-any.whl",  # pytest-cov.pth (exec of a string)
    "six==1.16.0": "six-1.16.0-py2.py3-none-any.whl",
    "attrs==24.2.0": "attrs-24.2.0-py3-none-any.whl",
}
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
    "setuptools-75.1.0-py3-none-any.whl": {
        # import os; ... __import__('_distutils_hack').add_shim(): a start-up hook, importing its own module.
        ("MLV847", Severity.LOW, "distutils-precedence.pth"),
    },
    "pytest_cov-5.0.0-py3-none-any.whl": {
        # import os, sys; exec('if COV_CORE_SOURCE in os.environ: from pytest_cov.embed import init ...').
        ("MLV847", Severity.LOW, "pytest-cov.pth"),
    },
}
_BUILD_RULES = {rule.id for rule in RULES}


def _download(requirements: dict[str, str], *options: str) -> None:
    missing = [req for req, name in requirements.items() if not (CACHE / name).is_file()]
    if not missing:
        return
    names = ",".join(req.split("==")[0] for req in missing)
    flags = ["--no-binary", names] if "--only-binary" not in options else []
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        *flags,
        *options,
        "-d",
        str(CACHE),
        *missing,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip download of {missing} timed out after 900 s", pytrace=False)
    still = [req for req, name in requirements.items() if not (CACHE / name).is_file()]
    if still:
        tail = (result.stderr or result.stdout)[-1500:]
        pytest.fail(f"could not download {still} with {' '.join(command)}:\n{tail}", pytrace=False)


@pytest.fixture(scope="session")
def real_packages() -> Path:
    """Every archive above in the download cache (downloaded on first use; a failure fails the test)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    _download(SDISTS)
    _download(WHEELS, "--only-binary", ":all:")
    return CACHE


@pytest.fixture(scope="session")
def unpacked_sdists(real_packages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdists unpacked as source trees (tarfile's ``data`` filter: no links out, no odd modes)."""
    root = tmp_path_factory.mktemp("sdists")
    for name in SDISTS.values():
        with tarfile.open(real_packages / name) as archive:
            archive.extractall(root, filter="data")
    return root


def _build_findings(report: Report) -> set[tuple[str, Severity, str]]:
    return {
        (f.rule.id, f.severity, (f.subject.member or f.subject.path).rsplit("!/", 1)[-1])
        for f in report.findings
        if f.rule.id in _BUILD_RULES and f.severity > Severity.INFO
    }


@pytest.mark.parametrize("archive", [*SDISTS.values(), *WHEELS.values()])
def test_real_package_has_no_unexplained_build_finding(real_packages: Path, archive: str) -> None:
    report = scan([real_packages / archive])
    found = _build_findings(report)
    assert found == JUSTIFIED.get(archive, set()), sorted(found)
    internal = [p.message for p in report.problems if p.kind.value == "internal"]
    assert not internal


def test_every_build_file_of_the_real_packages_was_analysed(real_packages: Path) -> None:
    """Guards the test above against passing because nothing was routed to the build analysis."""
    report = scan([real_packages / SDISTS["pybind11==3.0.0"], real_packages / SDISTS["PyYAML==6.0.2"]])
    unpinned = {
        (f.subject.member or "").rsplit("!/", 1)[-1] for f in report.findings if f.rule.id == "MLV834"
    }
    assert unpinned == {
        "pybind11-3.0.0/pyproject.toml",
        "pybind11-3.0.0/tests/pyproject.toml",
        "pyyaml-6.0.2/pyproject.toml",
    }


@pytest.mark.parametrize("archive", SDISTS.values())
def test_real_source_tree_has_the_same_build_findings_as_its_sdist(
    unpacked_sdists: Path, archive: str
) -> None:
    """On disk, in-tree backends and hooks named by pyproject.toml also get the build analysis."""
    tree = unpacked_sdists / archive.removesuffix(".tar.gz")
    report = scan([tree])
    found = {
        (rule, severity, Path(path).relative_to(unpacked_sdists).as_posix())
        for rule, severity, path in _build_findings(report)
    }
    assert found == JUSTIFIED.get(archive, set()), sorted(found)
