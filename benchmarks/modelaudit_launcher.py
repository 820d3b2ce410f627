"""Start ModelAudit's CLI with the standard library's extension modules already imported.

Run by the peers venv's Python: ``python modelaudit_launcher.py scan ...`` == ``modelaudit scan ...``.

Why: ModelAudit 0.2.54 imports TensorFlow's protobuf stubs with ``sys.path`` cut down to the
site-packages and stdlib roots (its guard against shadowed ``tensorflow`` packages), which leaves out
``lib-dynload``. On interpreters that build ``math``, ``binascii``, ``_struct``... as shared modules
(pyenv, python.org and Docker builds; not Debian's system Python, which links them in), that import
fails, so every SavedModel/GraphDef gets a WARNING "TensorFlow protos unavailable" (a failing verdict)
and is never parsed. Importing those modules first, from the normal path, lets its TensorFlow scanners
work as designed. Nothing else changes: same entry point, same arguments.
"""

from __future__ import annotations

import contextlib
import importlib
import sys

STDLIB_EXTENSIONS = (
    *("_asyncio", "_bisect", "_blake2", "_bz2", "_contextvars", "_csv", "_ctypes", "_datetime", "_decimal"),
    *("_elementtree", "_hashlib", "_heapq", "_json", "_lzma", "_multiprocessing", "_opcode", "_pickle"),
    *("_posixshmem", "_posixsubprocess", "_queue", "_random", "_sha512", "_socket", "_ssl", "_struct"),
    *("_typing", "_uuid", "_zoneinfo", "array", "binascii", "fcntl", "grp", "math", "mmap", "pyexpat"),
    *("resource", "select", "termios", "unicodedata", "zlib", "datetime"),
)
"""What ``import tensorflow`` plus its protobuf stubs load from ``lib-dynload`` (measured once)."""


def main() -> None:
    for name in STDLIB_EXTENSIONS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from modelaudit.__main__ import _run

    sys.argv[0] = "modelaudit"
    _run()


if __name__ == "__main__":
    main()
