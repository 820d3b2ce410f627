"""Every sample family in one list (one line per family)."""

from __future__ import annotations

from tests.corpus.sample import Sample

MIN_MALICIOUS = 70
MIN_BENIGN = 25

ALL_SAMPLES: list[Sample] = []

DEMO: frozenset[str] = frozenset()
"""Names of the samples ``make demo`` builds: a few of each family."""
