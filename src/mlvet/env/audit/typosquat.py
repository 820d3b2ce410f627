"""Names that imitate ML packages: homoglyphs, separator games, affixes, truncations and near-misses."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from mlvet.env.audit.catalog import catalog
from mlvet.env.audit.versions import normalize_name

_CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ɡ": "g", "ӏ": "l", "һ": "h", "ԛ": "q", "ԝ": "w", "к": "k", "м": "m",
        "т": "t", "н": "h", "в": "b", "α": "a", "ο": "o", "ν": "v", "τ": "t", "ι": "i", "κ": "k",
        "ρ": "p", "ε": "e", "ℓ": "l", "ı": "i",
    }
)  # fmt: skip
"""Non-Latin letters that render like Latin ones (Cyrillic, Greek, a few symbols)."""
_ASCII_LOOKALIKES = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("0", "o"), ("1", "l"), ("i", "l"), ("5", "s"))
_CUDA_AFFIX = re.compile(r"^(?P<base>.+?)-?(?:cu\d{2,3}|cuda\d*(?:x)?|rocm\d*)$")
_SEPARATORS = re.compile(r"[-_.]+")


@dataclass(frozen=True)
class LookAlike:
    """``name`` imitates the ML package ``target`` by ``technique``."""

    name: str
    target: str
    technique: str
    """``homoglyph``, ``separator``, ``affix``, ``truncation`` or ``edit-distance``."""
    detail: str


def look_alike(name: str) -> LookAlike | None:
    """The ML package ``name`` imitates, or None for a real ML package or an unrelated name."""
    data = catalog()
    skeleton = unicodedata.normalize("NFKC", name).translate(_CONFUSABLES)
    if not skeleton.isascii():
        return LookAlike(name, "?", "homoglyph", "non-ASCII letters in a distribution name")
    canonical = normalize_name(skeleton)
    if skeleton != name and data.is_known(canonical):
        return LookAlike(name, canonical, "homoglyph", "letters from another script that look Latin")
    if data.is_known(canonical):
        return None
    for check in (_separator_game, _ascii_homoglyph, _affix, _truncation, _near_miss):
        found = check(canonical)
        if found is not None:
            target, technique, detail = found
            return LookAlike(name, target, technique, detail)
    return None


def _ascii_homoglyph(name: str) -> tuple[str, str, str] | None:
    target = _skeletons().get(_ascii_skeleton(name))
    if target is None or _SEPARATORS.sub("", target) == _SEPARATORS.sub("", name):
        return None
    return target, "homoglyph", f"reads like {target} ('rn'/'m', '0'/'o', '1'/'l' and similar swaps)"


def _separator_game(name: str) -> tuple[str, str, str] | None:
    target = _stripped().get(_SEPARATORS.sub("", name))
    if target is None:
        return None
    return target, "separator", f"same letters as {target} with the separators moved"


def _affix(name: str) -> tuple[str, str, str] | None:
    data = catalog()
    stripped = _SEPARATORS.sub("", name)
    cuda = _CUDA_AFFIX.match(name)
    if cuda and _stripped().get(_SEPARATORS.sub("", cuda["base"])):
        target = _stripped()[_SEPARATORS.sub("", cuda["base"])]
        return target, "affix", f"{target} with a CUDA/ROCm build suffix that no official build uses"
    for target in data.ml_packages:
        if len(target) < 4:
            continue
        base = _SEPARATORS.sub("", target)
        for suffix in (*data.suffixes, "s", "es"):
            if stripped == base + _SEPARATORS.sub("", suffix):
                return target, "affix", f"{target} plus the suffix '{suffix}'"
        for prefix in data.prefixes:
            if stripped == _SEPARATORS.sub("", prefix) + base:
                return target, "affix", f"{target} behind the prefix '{prefix}'"
    return None


def _truncation(name: str) -> tuple[str, str, str] | None:
    for target in catalog().ml_packages:
        if target.startswith(name) and len(target) - len(name) >= 2 and len(name) >= 0.75 * len(target):
            return target, "truncation", f"the first {len(name)} characters of {target}"
    return None


def _near_miss(name: str) -> tuple[str, str, str] | None:
    if len(name) < 5:
        return None
    stripped = _SEPARATORS.sub("", name)
    best: tuple[int, str] | None = None
    for target in catalog().ml_packages:
        # two edits only for long names that keep the opening letters a reader anchors on
        limit = 2 if len(target) >= 10 and name[:2] == target[:2] else 1 if len(target) >= 5 else 0
        if not limit or abs(len(target) - len(name)) > limit + 1:
            continue
        distance = min(
            edit_distance(name, target, limit), edit_distance(stripped, _SEPARATORS.sub("", target), limit)
        )
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, target)
    if best is None:
        return None
    return best[1], "edit-distance", f"{best[0]} edit(s) away from {best[1]}"


def edit_distance(a: str, b: str, limit: int = 1_000) -> int:
    """Optimal-string-alignment distance (edits plus neighbour swaps), capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _ascii_skeleton(name: str) -> str:
    text = _SEPARATORS.sub("", name)
    for look, like in _ASCII_LOOKALIKES:
        text = text.replace(look, like)
    return text


@cache
def _skeletons() -> dict[str, str]:
    return {_ascii_skeleton(n): n for n in catalog().ml_packages}


@cache
def _stripped() -> dict[str, str]:
    return {_SEPARATORS.sub("", n): n for n in catalog().ml_packages}
