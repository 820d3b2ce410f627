"""``mlvet scan``: static detection of malicious code in model files of every common format.

``scan(paths)`` walks files, directories and archives, detects each format from its bytes and hands
it to the scanner registered for it in ``SCANNERS``. Nothing is ever loaded or executed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from mlvet import __version__
from mlvet.artifacts import Buffer, Format, open_buffer, sniff
from mlvet.config import Settings
from mlvet.errors import InputError
from mlvet.findings import Problem, ProblemKind, Report, Rule, Subject
from mlvet.graph import rules as graph_rules
from mlvet.scan import (
    archives,
    build_systems,
    gguf,
    hf_repo,
    json_config,
    keras,
    numpy_format,
    onnx_format,
    pickle,
    python,
    pytorch,
    safetensors_format,
    templates,
    tensorflow,
)
from mlvet.scan.base import Collector, ScanContext, Scanner, Surroundings, small_digest

# One line per format; a format absent here is reported as unscanned unless it is inert.
SCANNERS: dict[Format, Scanner] = {
    Format.PICKLE: pickle.scan_pickle,
    Format.ZIP: archives.scan_zip,
    Format.TAR: archives.scan_tar,
    Format.SEVENZIP: archives.scan_7z,
    Format.GZIP: archives.scan_gzip,
    Format.BZIP2: archives.scan_bzip2,
    Format.XZ: archives.scan_xz,
    Format.LZMA: archives.scan_lzma,
    Format.ZSTD: archives.scan_zstd,
    Format.ZLIB: archives.scan_zlib,
    Format.NUMPY: numpy_format.scan_numpy,
    Format.HDF5: keras.scan_hdf5,
    Format.SAVED_MODEL: tensorflow.scan_saved_model,
    Format.ONNX: onnx_format.scan_onnx,
    Format.GGUF: gguf.scan_gguf,
    Format.SAFETENSORS: safetensors_format.scan_safetensors,
    Format.PYTHON: python.scan_python,
    Format.JSON: json_config.scan_json,
    Format.TEMPLATE: templates.scan_template_text,
}

INERT_FORMATS = frozenset({Format.TEXT, Format.MEDIA, Format.EMPTY})
"""Formats that cannot carry code by themselves: examined, and clean by construction."""

RULE_MODULES: tuple[tuple[Rule, ...], ...] = (
    pickle.RULES,
    pytorch.RULES,
    numpy_format.RULES,
    keras.RULES,
    tensorflow.RULES,
    onnx_format.RULES,
    safetensors_format.RULES,
    gguf.RULES,
    templates.RULES,
    archives.RULES,
    hf_repo.RULES,
    python.RULES,
    build_systems.RULES,
    graph_rules.RULES,
)

Progress = Callable[[Path], None]


def scan(
    paths: Iterable[Path | str],
    settings: Settings | None = None,
    *,
    progress: Progress | None = None,
) -> Report:
    """Scan every file under ``paths``; raises ``InputError`` only when a path does not exist."""
    settings = settings or Settings()
    roots = [Path(p) for p in paths]
    for root in roots:
        if not root.exists() and not root.is_symlink():
            raise InputError(f"{root}: no such file or directory")
    started = datetime.now(UTC)
    collector = Collector()
    for root in roots:
        surroundings = python.DirectoryLayout(root) if root.is_dir() else None
        for file in _files([root]):
            if progress is not None:
                progress(file)
            _scan_file(file, settings, collector, surroundings)
    return _report(collector, settings, started)


def scan_bytes(data: bytes, name: str = "<bytes>", settings: Settings | None = None) -> Report:
    """Scan in-memory content (a download, a registry blob) as if it were a file called ``name``."""
    settings = settings or Settings()
    started = datetime.now(UTC)
    collector = Collector()
    subject = Subject(path=name, size=len(data), sha256=small_digest(data))
    dispatch(data, ScanContext(subject, settings, collector, dispatch), None)
    return _report(collector, settings, started)


def _report(collector: Collector, settings: Settings, started: datetime) -> Report:
    findings = [f for f in collector.findings if f.rule.id not in settings.ignore]
    problems = [p for p in collector.problems if not _is_claimed_data(p, collector.data_files)]
    findings.sort(key=lambda f: (-f.severity, f.subject.display, f.rule.id))
    return Report(
        tool_version=__version__,
        started=started,
        finished=datetime.now(UTC),
        subjects=tuple(collector.subjects),
        findings=tuple(findings),
        problems=tuple(problems),
        suppressed=len(collector.findings) - len(findings),
    )


def _is_claimed_data(problem: Problem, data_files: set[Path]) -> bool:
    """An unrecognised file that a model declared as its external tensor data is data, not a gap."""
    if problem.kind is not ProblemKind.UNSUPPORTED or problem.subject.member is not None:
        return False
    return Path(problem.subject.path).resolve() in data_files


def count_files(paths: Iterable[Path | str]) -> int:
    """How many files ``scan`` would visit (for progress bars)."""
    return sum(1 for _ in _files([Path(p) for p in paths]))


def _files(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_dir():
            yield from _walk(root)
        else:
            yield root


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root`` in sorted order, following symlinks (HF caches use them) without looping."""
    seen: set[tuple[int, int]] = set()
    for directory, subdirs, files in os.walk(root, followlinks=True):
        stat = Path(directory).stat()
        if (stat.st_dev, stat.st_ino) in seen:
            subdirs.clear()
            continue
        seen.add((stat.st_dev, stat.st_ino))
        subdirs[:] = sorted(d for d in subdirs if d != ".git")
        for name in sorted(files):
            yield Path(directory) / name


def _scan_file(
    path: Path, settings: Settings, collector: Collector, surroundings: Surroundings | None = None
) -> None:
    context = ScanContext(Subject(path=str(path)), settings, collector, dispatch, fs_path=path)
    try:
        size = path.stat().st_size
        with open_buffer(path) as data:
            sized = Subject(path=str(path), size=size, sha256=small_digest(data))
            context = ScanContext(
                sized, settings, collector, dispatch, fs_path=path, surroundings=surroundings
            )
            dispatch(data, context, None)
    except OSError as exc:
        context.problem(ProblemKind.UNREADABLE, f"cannot read: {exc.strerror or exc}")


def dispatch(data: Buffer, ctx: ScanContext, expect: Format | None) -> None:
    """Detect the format of ``data`` (unless ``expect`` says it) and run its scanner."""
    try:
        fmt = expect or sniff(data)
    except Exception as exc:  # sniffing hostile bytes must never abort the run
        ctx.problem(ProblemKind.INTERNAL, f"format detection failed: {type(exc).__name__}: {exc}")
        return
    ctx = ctx.with_format(fmt)
    ctx.surroundings = python.archive_layout(data, fmt, ctx) or ctx.surroundings
    scanner = (
        build_systems.scanner_for(ctx.subject, fmt)
        or python.package_scanner_for(ctx, fmt)
        or SCANNERS.get(fmt)
    )
    if scanner is None:
        if fmt not in INERT_FORMATS:
            ctx.problem(ProblemKind.UNSUPPORTED, f"content not recognised as a model format ({fmt.value})")
        return
    try:
        scanner(data, ctx)
    except (MemoryError, RecursionError) as exc:
        ctx.problem(ProblemKind.LIMIT, f"{fmt.value} scanner ran out of resources ({type(exc).__name__})")
    except Exception as exc:  # a scanner bug must be reported, and must not hide the other results
        ctx.problem(ProblemKind.INTERNAL, f"{fmt.value} scanner failed: {type(exc).__name__}: {exc}")
