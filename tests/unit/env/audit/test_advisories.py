from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mlvet.env.audit.advisories import merge, parse_advisory
from mlvet.env.audit.database import (
    AdvisoryDatabase,
    bundled_records,
    load_database,
    read_records,
    update_database,
    user_db_path,
)
from mlvet.errors import InputError
from mlvet.findings import Severity


def record(ident: str, name: str, events: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.7.0",
        "id": ident,
        "modified": "2026-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        **extra,
    }


@pytest.fixture(scope="module")
def bundled() -> AdvisoryDatabase:
    return load_database(use_user_db=False)


def test_every_bundled_record_is_valid_osv_with_a_pypi_package() -> None:
    records = bundled_records()
    assert len(records) >= 45
    for raw, _origin in records:
        assert raw["schema_version"].startswith("1.7")
        advisory = parse_advisory(raw, "test")
        assert advisory.affected, raw["id"]
        assert all(a.sources for a in advisory.affected)


def test_research_facts_are_encoded_with_their_exact_ranges(bundled: AdvisoryDatabase) -> None:
    expected = {
        ("torch", "2.5.1+cpu"): "GHSA-53q9-r3pm-6pq6",
        ("keras", "3.11.2"): "CVE-2025-49655",
        ("llama-cpp-python", "0.2.71"): "GHSA-56xg-wfcc-g829",
        ("transformers", "4.47.1"): "PYSEC-2024-227",
        ("onnx", "1.20.1"): "PYSEC-2026-2239",
        ("mlflow", "2.14.1"): "GHSA-x38x-g6gr-jqff",
        ("joblib", "1.1.1"): "PYSEC-2022-288",
        ("gradio", "4.12.0"): "CVE-2024-1561",
    }
    for (name, version), ident in expected.items():
        assert ident in {m.advisory.id for m in bundled.matches(name, version)}, (name, version)
    not_affected = {
        ("torch", "2.6.0"): "GHSA-53q9-r3pm-6pq6",
        ("keras", "3.11.3"): "CVE-2025-49655",
        ("keras", "3.10.0"): "CVE-2025-49655",
        ("llama-cpp-python", "0.2.72"): "GHSA-56xg-wfcc-g829",
        ("transformers", "4.48.0"): "PYSEC-2024-227",
        ("onnx", "1.21.0"): "PYSEC-2026-2239",
        ("mlflow", "2.14.2"): "GHSA-x38x-g6gr-jqff",
        ("mlflow", "1.23.0"): "GHSA-x38x-g6gr-jqff",
    }
    for (name, version), ident in not_affected.items():
        assert ident not in {m.advisory.id for m in bundled.matches(name, version)}, (name, version)
    assert bundled.matches("llama-cpp-python", "0.2.29") == []
    assert not [m for m in bundled.matches("gradio", "4.2.0") if m.advisory.id == "CVE-2024-1561"]


def test_an_alias_finds_the_advisory(bundled: AdvisoryDatabase) -> None:
    advisory = bundled.lookup("CVE-2025-32434")
    assert advisory is not None and advisory.id == "GHSA-53q9-r3pm-6pq6"
    assert advisory.severity is Severity.CRITICAL and "pytorch" in advisory.loads


def test_one_advisory_covers_every_distribution_shipping_the_code(bundled: AdvisoryDatabase) -> None:
    for name in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel"):
        ids = {m.advisory.id for m in bundled.matches(name, "2.4.1")}
        assert "GHSA-r6jx-9g48-2r5r" in ids, name
    (found,) = [m for m in bundled.matches("tf-nightly", "2.4.1") if m.advisory.id == "GHSA-r6jx-9g48-2r5r"]
    assert found.advisory_package in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-rocm")


def test_a_compromised_upload_is_not_spread_to_sibling_distributions(bundled: AdvisoryDatabase) -> None:
    assert [m.advisory.id for m in bundled.matches("lightning", "2.6.2")] == ["MLVET-2026-0002"]
    assert bundled.matches("lightning", "2.6.1") == []
    assert bundled.matches("pytorch-lightning", "2.6.2") == []


def test_exact_versions_lists_match_only_those_releases(bundled: AdvisoryDatabase) -> None:
    for version in ("8.3.41", "8.3.42", "8.3.45", "8.3.46"):
        assert [m.advisory.id for m in bundled.matches("ultralytics", version)] == ["MLVET-2024-0001"]
    for version in ("8.3.40", "8.3.43", "8.3.44", "8.3.47"):
        assert bundled.matches("ultralytics", version) == []
    assert [m.advisory.id for m in bundled.matches("torchtriton", "3.0.0")] == ["MLVET-2022-0001"]
    assert [m.advisory.id for m in bundled.matches("litellm", "1.82.8")] == ["MLVET-2026-0001"]
    assert bundled.matches("litellm", "1.82.6") == []


def test_the_stricter_bound_wins_and_the_disagreement_is_shown(bundled: AdvisoryDatabase) -> None:
    (between,) = [m for m in bundled.matches("keras", "3.8.0") if m.advisory.id == "PYSEC-2025-122"]
    assert between.disputed_bound
    assert any("Safety DB" in s for s in between.affected_per)
    assert any("CVE-2025-1550" in s for s in between.not_affected_per)
    assert between.fixed == ("3.9.0",)
    (agreed,) = [m for m in bundled.matches("keras", "3.7.0") if m.advisory.id == "PYSEC-2025-122"]
    assert not agreed.disputed_bound and agreed.fixed == ("3.8.0", "3.9.0")
    assert not [m for m in bundled.matches("keras", "3.9.0") if m.advisory.id == "PYSEC-2025-122"]


def test_merging_two_sources_keeps_the_stricter_bound() -> None:
    lenient = parse_advisory(
        record("GHSA-aaaa-bbbb-cccc", "examplepkg", [{"introduced": "0"}, {"fixed": "1.2.0"}]), "one"
    )
    strict = parse_advisory(
        record(
            "PYSEC-2099-1",
            "examplepkg",
            [{"introduced": "0"}, {"fixed": "1.3.0"}],
            aliases=["GHSA-aaaa-bbbb-cccc"],
        ),
        "two",
    )
    database = AdvisoryDatabase([lenient, strict], [])
    assert len(database.advisories) == 1
    (found,) = database.matches("examplepkg", "1.2.5")
    assert found.fixed == ("1.3.0",) and found.disputed_bound
    (both,) = database.matches("examplepkg", "1.0")
    assert both.fixed == ("1.2.0", "1.3.0") and not both.disputed_bound
    assert merge(lenient, strict).origins == ("one", "two")


def test_records_load_from_a_file_a_directory_a_zip_and_a_vulns_object(tmp_path: Path) -> None:
    one = record("OSV-1", "a", [{"introduced": "0"}])
    (tmp_path / "single.json").write_text(json.dumps(one))
    (tmp_path / "list.json").write_text(json.dumps([one, record("OSV-2", "b", [{"introduced": "0"}])]))
    (tmp_path / "vulns.json").write_text(json.dumps({"vulns": [one]}))
    with zipfile.ZipFile(tmp_path / "all.zip", "w") as archive:
        archive.writestr("OSV-1.json", json.dumps(one))
        archive.writestr("OSV-3.json", json.dumps(record("OSV-3", "c", [{"introduced": "1.0"}])))
    assert len(read_records(str(tmp_path / "single.json"), offline=True)) == 1
    assert len(read_records(str(tmp_path / "list.json"), offline=True)) == 2
    assert len(read_records(str(tmp_path / "vulns.json"), offline=True)) == 1
    assert len(read_records(str(tmp_path / "all.zip"), offline=True)) == 2
    assert len(read_records(str(tmp_path), offline=True)) == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'"a string"', "holds no OSV records"),
        (b'[{"id": "X-1"}]', "needs 'modified'"),
        (b'[{"id": "X-1", "modified": "2026-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "PyPI", "name": "a"},'  # noqa: E501
         b' "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1"}]}]}]}]', "introduced"),
        (b"PK\x03\x04 truncated zip", "corrupt zip"),
        (b"PK\x03\x04", "corrupt zip"),
    ],
)  # fmt: skip
def test_a_corrupt_database_is_refused_with_the_reason(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "db.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_database([str(path)], use_user_db=False)


def test_a_zip_without_records_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "model.zip", "w") as archive:
        archive.writestr("archive/data.pkl", b"not advisories")
    with pytest.raises(InputError, match="without OSV JSON records"):
        load_database([str(tmp_path / "model.zip")], use_user_db=False)


def test_urls_are_refused_offline_and_for_unknown_schemes() -> None:
    with pytest.raises(InputError, match="--offline forbids"):
        read_records("https://example.org/osv.json", offline=True)
    with pytest.raises(InputError, match="unsupported advisory database URL"):
        read_records("ftp://example.org/osv.json", offline=False)
    with pytest.raises(InputError, match="cannot fetch"):
        read_records("http://127.0.0.1:9/osv.json", offline=False)


def test_an_update_is_stored_in_the_user_data_dir_and_used_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    source = tmp_path / "new.json"
    source.write_text(
        json.dumps([record("GHSA-new1-new1-new1", "newpkg", [{"introduced": "0"}, {"fixed": "2.0"}])])
    )
    stored, count = update_database(str(source), offline=True)
    assert count == 1 and stored == user_db_path() and stored.is_relative_to(tmp_path / "data")
    database = load_database()
    assert [m.advisory.id for m in database.matches("newpkg", "1.0")] == ["GHSA-new1-new1-new1"]
    assert [s.name for s in database.sources] == ["bundled", "updated copy"]
    assert load_database(use_user_db=False).matches("newpkg", "1.0") == []


def test_a_bad_update_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    source = tmp_path / "bad.json"
    source.write_text(json.dumps([{"id": "X"}]))
    with pytest.raises(InputError, match="needs 'modified'") as caught:
        update_database(str(source), offline=True)
    assert caught.value.hint == "nothing was stored"
    assert not user_db_path().exists()


def test_a_release_only_one_source_calls_affected_is_reported_with_that_disagreement(
    bundled: AdvisoryDatabase,
) -> None:
    (old,) = [m for m in bundled.matches("tensorflow", "2.2.0") if m.advisory.id == "GHSA-r6jx-9g48-2r5r"]
    assert old.disputed_bound
    assert [s.split(" (")[0] for s in old.not_affected_per] == ["PYSEC-2021-300"]
    assert old.fixed == ("2.3.4",)
