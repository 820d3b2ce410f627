"""The shape of one corpus sample: how to build it and what mlvet must say about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """A generated input. ``expected`` empty means benign: nothing at high or above, no problem."""

    name: str
    """Relative path of the file (or directory) the builder creates under the corpus root."""
    build: Callable[[Path], None]
    """Writes the sample at the given path; parent directories already exist."""
    expected: frozenset[str]
    """Rule IDs that must each be reported at high or above."""
    technique: str
    """One line: what the sample does and where the technique comes from."""

    @property
    def malicious(self) -> bool:
        return bool(self.expected)


def malicious(
    name: str, expected: str | set[str], technique: str
) -> Callable[[Callable[[Path], None]], Sample]:
    """Decorator turning a builder function into a malicious ``Sample``."""
    rules = frozenset({expected} if isinstance(expected, str) else expected)

    def wrap(build: Callable[[Path], None]) -> Sample:
        return Sample(name, build, rules, technique)

    return wrap


def benign(name: str, technique: str) -> Callable[[Callable[[Path], None]], Sample]:
    """Decorator turning a builder function into a benign ``Sample``."""

    def wrap(build: Callable[[Path], None]) -> Sample:
        return Sample(name, build, frozenset(), technique)

    return wrap
