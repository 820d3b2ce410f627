"""Every parser of user input either understands it or says why, whatever it is given."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.env.audit.database import load_database
from mlvet.env.audit.imports import read_import
from mlvet.env.audit.requirements import read_requirement_file
from mlvet.errors import InputError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["id", "modified", "affected", "package", "name", "ecosystem", "ranges", "events", "versions", "type",
         "introduced", "fixed", "aliases", "results", "packages", "vulnerabilities", "dependencies", "vulns",
         "version", "database_specific", "mlvet", "source_ranges", "severity", "score"]), inner, max_size=5),
    max_leaves=20,
)  # fmt: skip
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(document=JSON)
def test_any_json_as_an_advisory_database_loads_or_is_refused(tmp_path: Path, document: object) -> None:
    path = tmp_path / "db.json"
    path.write_text(json.dumps(document))
    with contextlib.suppress(InputError):
        load_database([str(path)], use_user_db=False)


@FUZZ
@given(document=JSON)
def test_any_json_as_a_scanner_report_loads_or_is_refused(tmp_path: Path, document: object) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(document))
    with contextlib.suppress(InputError):
        read_import(path)


@FUZZ
@given(
    text=st.text(
        alphabet=st.sampled_from(list("torch=<>!~ ;[]@#\\-_.:/+*'\"\n0123456789aehrsx")), max_size=120
    )
)
@pytest.mark.parametrize("name", ["requirements.txt", "pyproject.toml", "pylock.toml", "uv.lock"])
def test_any_text_as_a_requirement_file_parses_or_is_refused(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with contextlib.suppress(InputError):
        read_requirement_file(path)


TOML_KEYS = st.sampled_from(
    [
        "project",
        "dependencies",
        "optional-dependencies",
        "dependency-groups",
        "build-system",
        "requires",
        "tool",
        "uv",
        "index",
        "sources",
        "index-strategy",
        "url",
        "explicit",
        "lock-version",
        "packages",
        "name",
        "version",
        "wheels",
        "hashes",
        "sdist",
        "vcs",
        "commit-id",
        "directory",
        "package",
        "source",
        "registry",
        "git",
        "hash",
    ]
)
TOML = st.recursive(
    st.booleans()
    | st.integers(min_value=-5, max_value=5)
    | st.text(max_size=12)
    | st.sampled_from(["1.0", "torch>=2"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TOML_KEYS, inner, max_size=4),
    max_leaves=16,
)


@FUZZ
@given(document=st.dictionaries(TOML_KEYS, TOML, max_size=4))
@pytest.mark.parametrize("name", ["pyproject.toml", "pylock.toml", "uv.lock", "uv.toml"])
def test_any_toml_structure_parses_or_is_refused(
    tmp_path: Path, name: str, document: dict[str, object]
) -> None:
    tomli_w = pytest.importorskip("tomli_w")
    path = tmp_path / name
    try:
        path.write_text(tomli_w.dumps(document))
    except (TypeError, ValueError):
        return  # tomli-w cannot write every generated mix (e.g. heterogeneous arrays in old TOML)
    with contextlib.suppress(InputError):
        read_requirement_file(path)
