"""Fake-but-real-format environments: ``*.dist-info/METADATA`` written the way installers write them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def write_distribution(site: Path, name: str, version: str) -> Path:
    """A minimal installed distribution: METADATA (Metadata-Version 2.1), INSTALLER and an empty RECORD."""
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n", "utf-8")
    (folder / "INSTALLER").write_text("pip\n", "utf-8")
    (folder / "RECORD").write_text(f"{folder.name}/METADATA,,\n", "utf-8")
    return folder


@pytest.fixture
def make_site(tmp_path: Path) -> Callable[..., Path]:
    """``make_site(("torch", "2.5.1+cpu"), ...)`` -> a site-packages directory holding those distributions."""
    counter = iter(range(1000))

    def build(*distributions: tuple[str, str]) -> Path:
        site = tmp_path / f"site{next(counter)}" / "site-packages"
        site.mkdir(parents=True)
        for name, version in distributions:
            write_distribution(site, name, version)
        return site

    return build


@pytest.fixture
def torch_checkpoint(tmp_path: Path) -> Path:
    """A directory holding a real checkpoint written by ``torch.save`` (a zip with ``archive/data.pkl``)."""
    torch = pytest.importorskip("torch")
    folder = tmp_path / "models"
    folder.mkdir()
    torch.save({"weight": torch.zeros(2, 2)}, folder / "classifier.pt")
    (folder / "README.md").write_text("# a model card, not a model\n", "utf-8")
    return folder


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No pip/uv settings from this machine: empty HOME and XDG dirs, no PIP_*/UV_* variables."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(home / "etc-xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", str(home / "pip.conf"))
    for variable in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "UV_INDEX_URL",
                     "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_INDEX_STRATEGY"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    yield home
