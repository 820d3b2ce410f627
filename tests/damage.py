"""Hypothesis strategies that damage a seed file: bit flips and truncation, as the fuzz tests share them."""

from __future__ import annotations

from hypothesis import strategies as st

FLIPS = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), max_size=8)
"""Up to eight (position, bit) pairs; positions wrap around the seed."""
CUTS = st.integers(min_value=0) | st.none()
"""Where to truncate (wrapping), or None to keep the whole file."""


def damage(seed: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    """``seed`` with each listed bit flipped, then truncated at ``cut``."""
    data = bytearray(seed)
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    return bytes(data if cut is None else data[: cut % len(data)])
