"""The real pipeline, built once per session (before the test guard arms), copied per test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.provenance.lineage.pipeline import Keys, Models, build_models


@pytest.fixture(scope="session")
def pipeline_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pipeline")
    build_models(directory)
    return directory


@pytest.fixture
def models(pipeline_template: Path, tmp_path: Path) -> Models:
    """A private copy of the pipeline's files for one test."""
    directory = tmp_path / "pipeline"
    shutil.copytree(pipeline_template, directory)
    return Models(directory, Keys(directory / "keys"))


@pytest.fixture(scope="session")
def git_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real git work tree with one commit, and that commit's id as git reports it."""
    root = tmp_path_factory.mktemp("repo")
    environment = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin",
    }

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, env=environment, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("remote", "add", "origin", "https://user:secret@example.org/team/pipeline.git")
    (root / "train.py").write_text("print('train')\n", encoding="utf-8")
    git("add", "train.py")
    git("commit", "-q", "-m", "first")
    git("pack-refs", "--all")
    return root, git("rev-parse", "HEAD")
