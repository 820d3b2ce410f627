"""Side-by-side benchmarks of mlvet against peer scanners; run from the repository root with ``python -m``.

Nothing here is collected by pytest or timed in CI: see ``benchmarks/README.md``.
"""
