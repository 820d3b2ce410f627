"""What a stage ran with: installed ML frameworks (version + RECORD hash) and the git commit of the code.

Both are read from files, never by running a program: distributions through ``importlib.metadata``,
the commit from the ``.git`` directory (``HEAD``, loose refs, ``packed-refs``, worktree ``.git`` files).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Final

from mlvet.provenance.lineage.statement import CodeCommit, Framework

KNOWN_FRAMEWORKS: Final = (
    "torch",
    "torchvision",
    "tensorflow",
    "keras",
    "jax",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxconverter-common",
    "onnxscript",
    "tf2onnx",
    "skl2onnx",
    "transformers",
    "optimum",
    "accelerate",
    "safetensors",
    "bitsandbytes",
    "auto-gptq",
    "neural-compressor",
    "openvino",
    "tensorrt",
    "apache-tvm",
    "scikit-learn",
    "numpy",
)
"""Distributions recorded when installed (``mlvet attest --framework`` chooses others)."""

_MODULES: Final = {"scikit-learn": "sklearn", "onnxruntime-gpu": "onnxruntime", "apache-tvm": "tvm"}
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def installed_frameworks(
    names: Iterable[str] = KNOWN_FRAMEWORKS, *, imported_only: bool = False
) -> list[Framework]:
    """The installed distributions among ``names``; with ``imported_only``, those this process imported."""
    found: list[Framework] = []
    for name in dict.fromkeys(names):
        if imported_only and module_name(name) not in sys.modules:
            continue
        installed = framework(name)
        if installed is not None:
            found.append(installed)
    return found


def framework(name: str) -> Framework | None:
    """The installed distribution ``name`` with the SHA-256 of its RECORD (None when not installed)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    record = dist.read_text("RECORD")
    digest = hashlib.sha256(record.encode("utf-8")).hexdigest() if record is not None else None
    return Framework(dist.metadata["Name"] or name, dist.version, digest)


def module_name(distribution: str) -> str:
    """The top-level import name of a known distribution (``scikit-learn`` -> ``sklearn``)."""
    return _MODULES.get(distribution, distribution.replace("-", "_"))


def git_commit(start: Path) -> CodeCommit | None:
    """The commit checked out in the git work tree holding ``start`` (None outside one)."""
    git_dir = _find_git_dir(start.resolve())
    if git_dir is None:
        return None
    common = _common_dir(git_dir)
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    commit = _resolve(head, git_dir, common)
    return CodeCommit(commit, _origin_url(common)) if commit else None


def _find_git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.removeprefix("gitdir:").strip())
                return target if target.is_absolute() else (directory / target).resolve()
    return None


def _common_dir(git_dir: Path) -> Path:
    marker = git_dir / "commondir"
    if marker.is_file():
        target = Path(marker.read_text(encoding="utf-8").strip())
        return target if target.is_absolute() else (git_dir / target).resolve()
    return git_dir


def _resolve(head: str, git_dir: Path, common: Path) -> str | None:
    for _ in range(8):
        if _COMMIT.fullmatch(head):
            return head
        if not head.startswith("ref:"):
            return None
        ref = head.removeprefix("ref:").strip()
        loose = next((d / ref for d in (git_dir, common) if (d / ref).is_file()), None)
        if loose is not None:
            head = loose.read_text(encoding="utf-8").strip()
            continue
        return _packed(common, ref)
    return None


def _packed(common: Path, ref: str) -> str | None:
    try:
        lines = (common / "packed-refs").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[1] == ref and _COMMIT.fullmatch(parts[0]):
            return parts[0]
    return None


def _origin_url(common: Path) -> str | None:
    try:
        text = (common / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    section = re.search(r'\[remote "origin"\](.*?)(?=^\s*\[|\Z)', text, re.S | re.M)
    if section is None:
        return None
    url = re.search(r"^\s*url\s*=\s*(\S+)", section.group(1), re.M)
    if url is None:
        return None
    return re.sub(r"://[^/@]+@", "://", url.group(1))  # never record user:token@ credentials
