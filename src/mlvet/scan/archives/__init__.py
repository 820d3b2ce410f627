"""Archives and compressed streams: zip, tar, 7z, gzip, bzip2, xz, lzma, zstd, zlib."""

from __future__ import annotations

from mlvet.scan.archives.compressed import scan_bzip2, scan_gzip, scan_lzma, scan_xz, scan_zlib, scan_zstd
from mlvet.scan.archives.members import RULES, scan_tar
from mlvet.scan.archives.sevenzip import scan_7z
from mlvet.scan.archives.zip import scan_zip

__all__ = [
    "RULES",
    "scan_7z",
    "scan_bzip2",
    "scan_gzip",
    "scan_lzma",
    "scan_tar",
    "scan_xz",
    "scan_zip",
    "scan_zlib",
    "scan_zstd",
]
