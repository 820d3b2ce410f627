"""Code that runs inside the sandbox, next to the untrusted file.

Everything here uses the standard library (plus ``pyseccomp`` and the loader's framework) and imports
nothing else from mlvet: the supervisor starts ``python -I -S -B inside/__main__.py CONFIG`` and the
bootstrap in ``__main__`` makes this package importable without running ``mlvet/__init__``.
"""
