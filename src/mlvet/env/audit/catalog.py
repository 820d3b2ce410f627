"""The curated ML package data shipped with mlvet: names, real look-alikes, families and known indexes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

from mlvet.env.audit.versions import normalize_name


@dataclass(frozen=True)
class KnownIndex:
    """A third-party package index ML projects use, and the names it serves."""

    host: str
    name: str
    serves: frozenset[str]
    note: str = ""


@dataclass(frozen=True)
class Catalog:
    """The curated list and what goes with it."""

    ml_packages: tuple[str, ...]
    legitimate: frozenset[str]
    suffixes: tuple[str, ...]
    prefixes: tuple[str, ...]
    families: dict[str, tuple[str, ...]]
    known_indexes: tuple[KnownIndex, ...]
    public_hosts: frozenset[str]
    legitimate_patterns: tuple[re.Pattern[str], ...] = ()

    def is_known(self, name: str) -> bool:
        """A real ML package, a known real look-alike, or a name from a vendor's real naming scheme."""
        return name in self.known_names or any(p.match(name) for p in self.legitimate_patterns)

    @cached_property
    def known_names(self) -> frozenset[str]:
        """Every name that is real and never a squat: the ML list, the look-alikes, the family members."""
        members = {m for names in self.families.values() for m in names}
        return frozenset(self.ml_packages) | self.legitimate | members | set(self.families)


@cache
def catalog() -> Catalog:
    """The shipped ``ml-packages.json``, normalised (read once)."""
    text = (resources.files("mlvet.env.audit") / "data" / "ml-packages.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    families: dict[str, tuple[str, ...]] = {}
    for family in raw["families"]:
        names = [normalize_name(family["canonical"]), *(normalize_name(m) for m in family["members"])]
        for name in names:
            families[name] = tuple(n for n in names if n != name)
    indexes = tuple(
        KnownIndex(i["host"], i["name"], frozenset(normalize_name(n) for n in i["serves"]), i.get("note", ""))
        for i in raw["known_indexes"]
    )
    return Catalog(
        ml_packages=tuple(normalize_name(n) for n in raw["ml_packages"]),
        legitimate=frozenset(normalize_name(n) for n in raw["legitimate_lookalikes"]),
        suffixes=tuple(raw["suffixes"]),
        prefixes=tuple(raw["prefixes"]),
        families=families,
        known_indexes=indexes,
        public_hosts=frozenset(raw["public_index_hosts"]),
        legitimate_patterns=tuple(re.compile(p) for p in raw.get("legitimate_patterns", ())),
    )


def family_of(name: str) -> tuple[str, ...]:
    """The other distribution names that ship the same code as ``name`` (empty when none)."""
    return catalog().families.get(normalize_name(name), ())


def known_index(host: str | None) -> KnownIndex | None:
    return next((i for i in catalog().known_indexes if host and host.lower() == i.host), None)
