"""The real pipeline, built once per session (before the test guard arms), copied per test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.unit.provenance.lineage.pipeline import models, pipeline_template

__all__ = ["models", "pipeline_template"]  # fixtures shared with tests/integration/test_cli_lineage.py


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
