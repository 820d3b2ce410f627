"""PEP 440 versions as advisories compare them: local labels stripped, OSV range events evaluated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


def normalize_name(name: str) -> str:
    """The PEP 503 form of a distribution name (``Torch_Vision`` -> ``torch-vision``)."""
    return str(canonicalize_name(name))


def public_version(text: str) -> Version:
    """``text`` as a version without its local label (``2.5.1+cpu`` -> ``2.5.1``); ValueError if invalid."""
    try:
        version = Version(text.strip())
    except InvalidVersion:
        raise ValueError(f"{text!r} is not a PEP 440 version") from None
    return Version(version.public)


@dataclass(frozen=True)
class Event:
    """One OSV range event: ``kind`` is introduced, fixed, last_affected or limit."""

    kind: str
    version: str


EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


def parse_events(raw: Sequence[Mapping[str, str]]) -> tuple[Event, ...]:
    """Validate OSV ``events``: each object holds exactly one known key with a string value."""
    events: list[Event] = []
    for item in raw:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ValueError(f"a range event must hold exactly one key, got {item!r}")
        ((kind, value),) = item.items()
        if kind not in EVENT_KINDS or not isinstance(value, str):
            raise ValueError(f"unknown range event {item!r}")
        if not (kind == "introduced" and value == "0") and not (kind == "limit" and value == "*"):
            public_version(value)
        events.append(Event(kind, value))
    if not any(e.kind == "introduced" for e in events):
        raise ValueError("a range needs at least one 'introduced' event")
    return tuple(events)


def _sort_key(event: Event) -> tuple[int, Version]:
    if event.version == "0":
        return (0, Version("0"))
    if event.version == "*":
        return (2, Version("0"))
    return (1, public_version(event.version))


def in_range(version: Version, events: Sequence[Event]) -> bool:
    """Whether ``version`` falls inside an OSV ``ECOSYSTEM`` range (the algorithm of the OSV schema)."""
    limits = [e for e in events if e.kind == "limit" and e.version != "*"]
    if any(version >= public_version(e.version) for e in limits):
        return False
    affected = False
    for event in sorted((e for e in events if e.kind != "limit"), key=_sort_key):
        bound = Version("0") if event.version == "0" else public_version(event.version)
        if event.kind == "introduced" and version >= bound:
            affected = True
        elif (event.kind == "fixed" and version >= bound) or (
            event.kind == "last_affected" and version > bound
        ):
            affected = False
    return affected


def describe_range(events: Iterable[Event]) -> str:
    """A short human form of one range, e.g. ``>=3.0.0,<3.8.0``."""
    parts: list[str] = []
    for event in events:
        if event.kind == "introduced" and event.version != "0":
            parts.append(f">={event.version}")
        elif event.kind == "fixed":
            parts.append(f"<{event.version}")
        elif event.kind == "last_affected":
            parts.append(f"<={event.version}")
        elif event.kind == "limit" and event.version != "*":
            parts.append(f"<{event.version}")
    return ",".join(parts) or "all versions"
