from __future__ import annotations

import pytest
from packaging.version import Version

from mlvet.env.audit.versions import (
    Event,
    describe_range,
    in_range,
    normalize_name,
    parse_events,
    public_version,
)


def events(*pairs: tuple[str, str]) -> tuple[Event, ...]:
    return parse_events([{kind: version} for kind, version in pairs])


def test_local_labels_are_stripped_before_comparing() -> None:
    assert public_version("2.5.1+cpu") == Version("2.5.1")
    assert public_version("2.5.1+cu121") == Version("2.5.1")
    assert public_version(" 2.13.0+cpu ") == Version("2.13.0")


def test_an_invalid_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PEP 440 version"):
        public_version("latest")


def test_introduced_fixed_range_includes_pre_releases_of_the_fix_but_not_the_fix() -> None:
    torch = events(("introduced", "0"), ("fixed", "2.6.0"))
    assert in_range(public_version("2.5.1+cpu"), torch)
    assert in_range(public_version("2.6.0rc1"), torch)
    assert in_range(public_version("2.6.0.dev20241112"), torch)
    assert not in_range(public_version("2.6.0"), torch)
    assert not in_range(public_version("2.6.0+cu124"), torch)
    assert not in_range(public_version("2.13.0"), torch)


def test_last_affected_includes_the_bound_itself() -> None:
    onnx = events(("introduced", "0"), ("last_affected", "1.17.0"))
    assert in_range(Version("1.17.0"), onnx)
    assert not in_range(Version("1.17.1"), onnx)
    assert not in_range(Version("1.18.0rc1"), onnx)


def test_several_introduced_fixed_segments_leave_the_gaps_clean() -> None:
    tensorflow = events(
        ("introduced", "2.3.0"), ("fixed", "2.3.4"), ("introduced", "2.4.0"), ("fixed", "2.4.3")
    )
    assert not in_range(Version("2.2.0"), tensorflow)
    assert in_range(Version("2.3.1"), tensorflow)
    assert not in_range(Version("2.3.4"), tensorflow)
    assert in_range(Version("2.4.2"), tensorflow)
    assert not in_range(Version("2.4.3"), tensorflow)


def test_limit_caps_an_open_range() -> None:
    capped = events(("introduced", "1.0"), ("limit", "2.0"))
    assert in_range(Version("1.5"), capped)
    assert not in_range(Version("2.0"), capped)


@pytest.mark.parametrize(
    "raw",
    [
        [{"fixed": "1.0"}],
        [{"introduced": "0", "fixed": "1.0"}],
        [{"introduced": "banana"}],
        [{"unknown": "1"}],
    ],
)
def test_malformed_events_are_refused(raw: list[dict[str, str]]) -> None:
    with pytest.raises(ValueError):
        parse_events(raw)


def test_ranges_are_described_for_people() -> None:
    assert describe_range(events(("introduced", "3.0.0"), ("fixed", "3.8.0"))) == ">=3.0.0,<3.8.0"
    assert describe_range(events(("introduced", "0"))) == "all versions"
    assert normalize_name("Huggingface_Hub") == "huggingface-hub"
