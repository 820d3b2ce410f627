"""Python source (model custom code and package library code), analysed with `ast` and never imported."""

from __future__ import annotations

from mlvet.findings import Rule
from mlvet.scan.python import package_files, source
from mlvet.scan.python.layout import DirectoryLayout, archive_layout
from mlvet.scan.python.package_files import package_scanner_for
from mlvet.scan.python.source import scan_python

RULES: tuple[Rule, ...] = source.RULES + package_files.RULES

__all__ = ["RULES", "DirectoryLayout", "archive_layout", "package_scanner_for", "scan_python"]
