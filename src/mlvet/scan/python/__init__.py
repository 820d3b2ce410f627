"""Python source shipped with models, analysed with `ast` and never imported."""

from __future__ import annotations

from mlvet.scan.python.source import RULES, scan_python

__all__ = ["RULES", "scan_python"]
