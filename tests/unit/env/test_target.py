"""Finding another interpreter's site-packages: from pyvenv.cfg without running it, else by asking it."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

from mlvet.env.target import environment_at, environment_of
from mlvet.errors import InputError
from tests.unit.env.environments import Venv


def test_venv_layout_is_read_from_pyvenv_cfg(pristine_venv: Venv) -> None:
    for given in (pristine_venv.python, pristine_venv.root):
        environment = environment_of(given)
        assert environment.site_dirs == (pristine_venv.site,)
        assert environment.found_by == "pyvenv.cfg"
        assert environment.notes == ()


def test_system_site_packages_are_noted(pristine_venv: Venv, tmp_path: Path) -> None:
    venv = pristine_venv.copy(tmp_path / "with-system")
    cfg = venv.root / "pyvenv.cfg"
    cfg.write_text(
        cfg.read_text().replace("include-system-site-packages = false", "include-system-site-packages = true")
    )
    assert "not examined" in environment_of(venv.python).notes[0]


@pytest.mark.spawns_processes
def test_interpreter_without_pyvenv_cfg_is_asked() -> None:
    base = Path(sys.base_prefix) / "bin" / f"python{sysconfig.get_python_version()}"
    environment = environment_of(base)
    assert environment.found_by == "interpreter query"
    assert (
        Path(
            sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"]
        ).resolve()
        in environment.site_dirs
    )


def test_directory_without_interpreter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no bin/python"):
        environment_of(tmp_path)


def test_path_must_hold_distributions(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no"):
        environment_at(tmp_path)
