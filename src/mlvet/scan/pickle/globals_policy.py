"""Judge a pickle global: resolve py2 aliases and dotted names, then denylist first, allowlist second."""

from __future__ import annotations

import enum
import sys
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from dataclasses import dataclass
from functools import cache, lru_cache

from mlvet.scan.pickle.allowlist import ALLOWED_MODULES, CALLED_ARGUMENTS, allowed_globals
from mlvet.scan.pickle.denylist import denylist_entries

MAX_CACHED_NAME = 512
"""Longer names are judged without caching, so hostile names cannot grow the cache."""
MAX_NAME_PARTS = 16
"""Dotted names with more parts are judged on their first parts only (no legitimate name is that deep)."""


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    DANGEROUS = "dangerous"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Judgement:
    """What a (module, name) pair resolves to and how it is judged."""

    module: str
    name: str
    verdict: Verdict
    resolved_via: tuple[str, ...]
    """How the name was resolved: ``alias`` (py2 name), ``dotted`` (attribute path)."""
    traversal: str | None
    """Why the name walks through a module or dunder attribute, when it does."""
    called_arguments: tuple[int, ...]

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class _Lists:
    deny_modules: frozenset[str]
    deny_exact: frozenset[tuple[str, str]]
    allow: frozenset[str]


@cache
def _lists() -> _Lists:
    modules: set[str] = set()
    exact: set[tuple[str, str]] = set()
    for entry in denylist_entries():
        module, _, qualname = entry.partition(":")
        if qualname == "*":
            modules.add(module)
        else:
            exact.add((module, qualname))
    return _Lists(frozenset(modules), frozenset(exact), allowed_globals())


@cache
def _module_like_names() -> frozenset[str]:
    """Names that, as a non-final part of a dotted name, denote a module reached as an attribute."""
    tops = {entry.partition(":")[0].split(".")[0] for entry in denylist_entries()}
    return frozenset(sys.stdlib_module_names | tops | {"np", "torch", "numpy", "builtins", "__builtin__"})


def judge(
    module: str, name: str, extra_allowed: frozenset[str] = frozenset(), fix_imports: bool = True
) -> Judgement:
    """Resolve and judge one global.

    ``extra_allowed`` holds user-trusted ``module.qualname`` names; ``fix_imports`` says whether the
    loader maps Python 2 names (it does for streams below protocol 3). The denylist is checked on
    both spellings either way.
    """
    if len(module) + len(name) > MAX_CACHED_NAME:
        return _judge.__wrapped__(module, name, extra_allowed, fix_imports)
    return _judge(module, name, extra_allowed, fix_imports)


@lru_cache(maxsize=1 << 16)
def _judge(module: str, name: str, extra_allowed: frozenset[str], fix_imports: bool) -> Judgement:
    via: list[str] = []
    written = (module, name)
    mapped = NAME_MAPPING.get((module, name)) or (IMPORT_MAPPING.get(module, module), name)
    if mapped != written:
        via.append("alias")
        if fix_imports:
            module, name = mapped
    parts = name.split(".")[:MAX_NAME_PARTS]
    if len(parts) > 1:
        via.append("dotted")
    lists = _lists()
    candidates = _candidates(module, parts)
    if mapped != written:
        other_module, other_name = written if fix_imports else mapped
        candidates += _candidates(other_module, other_name.split(".")[:MAX_NAME_PARTS])
    dangerous = next((c for c in candidates if _denied(lists, *c)), None)
    traversal = _traversal(parts)
    if dangerous is not None:
        verdict, (module, name) = Verdict.DANGEROUS, dangerous
    elif traversal is None and (
        f"{module}:{name}" in lists.allow
        or f"{module}.{name}" in extra_allowed
        or module.split(".")[0] in ALLOWED_MODULES
    ):
        verdict = Verdict.ALLOWED
    else:
        verdict = Verdict.UNKNOWN
    called = CALLED_ARGUMENTS.get(f"{module}:{name}", ()) if verdict is Verdict.ALLOWED else ()
    return Judgement(module, name, verdict, tuple(via), traversal, called)


def _candidates(module: str, parts: list[str]) -> list[tuple[str, str]]:
    """Every (module, qualname) the loader might reach: as written, through submodules, and through a
    module attribute named after its module (``pathlib`` + ``os.system`` reaches ``os.system``)."""
    found = [(module, ".".join(parts))]
    for split in range(1, len(parts)):
        rest = ".".join(parts[split:])
        found.append((".".join([module, *parts[:split]]), rest))
        found.extend((".".join(parts[start:split]), rest) for start in range(split))
    return found


def _denied(lists: _Lists, module: str, qualname: str) -> bool:
    pieces = module.split(".")
    if any(".".join(pieces[:n]) in lists.deny_modules for n in range(1, len(pieces) + 1)):
        return True
    names = qualname.split(".")
    return any((module, ".".join(names[:n])) in lists.deny_exact for n in range(1, len(names) + 1))


def _traversal(parts: list[str]) -> str | None:
    """Why a name walks through a module or a dunder attribute, or None for a plain name."""
    if len(parts) == 1:
        name = parts[0]
        return f"dunder attribute {name}" if _is_dunder(name) and name not in _PLAIN_DUNDERS else None
    modules = _module_like_names()
    for part in parts[:-1]:
        if _is_dunder(part):
            return f"dunder attribute {part}"
        if part in modules or part.lstrip("_") in modules:
            return f"module attribute {part}"
    if _is_dunder(parts[-1]) and parts[-1] not in _PLAIN_DUNDERS:
        return f"dunder attribute {parts[-1]}"
    return None


_PLAIN_DUNDERS = frozenset({"__newobj__", "__newobj_ex__", "__new__", "__import__"})
"""Dunder names that are plain callables in their module (judged by the lists, not as traversal)."""


def _is_dunder(part: str) -> bool:
    return len(part) > 4 and part.startswith("__") and part.endswith("__")
