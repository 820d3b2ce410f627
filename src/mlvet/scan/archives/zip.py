"""Zip archives of every kind: plain zips, ``.npz``, Keras v3, PyTorch and TorchScript archives.

The archive is read with mlvet's relaxed reader (so evasion quirks are reported, not fatal); the
central directory decides whether the torch layout applies. Every other member is scanned by
content, so a Keras ``config.json`` or an ``.npy`` inside an ``.npz`` reaches its own scanner.
"""

from __future__ import annotations

from mlvet._internal.zipreader import AnomalyKind, ZipArchive, ZipError, open_zip
from mlvet.artifacts import Buffer
from mlvet.findings import Location, ProblemKind
from mlvet.scan.archives.members import DECOMPRESSION_BOMB, ZIP_STRUCTURE, MemberWalk, read_zip_member
from mlvet.scan.base import ScanContext
from mlvet.scan.pytorch.zip_layout import TorchLayout, scan_torch_member

_LINK_TARGET_BYTES = 4096


def scan_zip(data: Buffer, ctx: ScanContext) -> None:
    """Report structural quirks, then scan each member (torch archives by their layout)."""
    try:
        archive = open_zip(data, max_entries=ctx.settings.limits.max_entries)
    except ZipError as exc:
        ctx.problem(ProblemKind.CORRUPT, f"not a readable zip archive: {exc}")
        return
    _report_anomalies(archive, ctx)
    walk = MemberWalk(ctx)
    layout = TorchLayout.detect(archive.entries)
    for entry in archive.entries:
        if walk.stopped or not walk.admit(entry.name):
            return
        if entry.is_dir:
            continue
        if entry.is_symlink:
            target = archive.read_head(entry, _LINK_TARGET_BYTES).decode("utf-8", "replace")
            walk.link(entry.name, target, hard=False)
        elif layout is not None:
            scan_torch_member(archive, entry, layout, walk)
        else:
            member = read_zip_member(archive, entry, walk)
            if member is not None:
                walk.scan(member, entry.name)
    if archive.truncated:
        walk.too_many()


def _report_anomalies(archive: ZipArchive, ctx: ScanContext) -> None:
    for anomaly in archive.anomalies:
        location = Location(member=anomaly.member)
        evidence = {"quirk": anomaly.kind.value, "detail": anomaly.detail}
        if anomaly.kind is AnomalyKind.OVERLAP:
            message = f"member {anomaly.member!r}: {anomaly.detail}"
            ctx.report(DECOMPRESSION_BOMB, message, location=location, evidence=evidence)
            continue
        subject = f"member {anomaly.member!r}: " if anomaly.member else ""
        ctx.report(ZIP_STRUCTURE, f"{subject}{anomaly.detail}", location=location, evidence=evidence)
