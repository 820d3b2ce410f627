"""The real virtual environments the env tests tamper with."""

from tests.unit.env.environments import pristine_venv, venv_copy

__all__ = ["pristine_venv", "venv_copy"]
