"""Advisories, indexes and typosquats: ``audit_environment`` for an installed environment,
``check_requirements`` for a requirement set (requirements.txt, pyproject.toml, pylock.toml, uv.lock)."""

from __future__ import annotations

from mlvet.env.audit.check import check_requirements
from mlvet.env.audit.database import AdvisoryDatabase, load_database, update_database, user_db_path
from mlvet.env.audit.environment import audit_environment, installed_distributions
from mlvet.env.audit.typosquat import LookAlike, look_alike

__all__ = [
    "AdvisoryDatabase",
    "LookAlike",
    "audit_environment",
    "check_requirements",
    "installed_distributions",
    "load_database",
    "look_alike",
    "update_database",
    "user_db_path",
]
