"""pip / pip-tools requirements files as a lock: ``name==version --hash=sha256:...`` lines."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from mlvet.env.lockfile import Lock, LockedFile, LockedPackage
from mlvet.errors import InputError

_HASH = re.compile(r"--hash[=\s]+(\w+):([0-9a-fA-F]+)")
_OPTION = re.compile(r"^-{1,2}[a-z]")


def read_requirements_lock(path: Path, text: str) -> Lock:
    """Pinned requirements with their hashes; unpinned ones are kept with ``version=None``."""
    packages: dict[str, list[LockedPackage]] = {}
    for number, line in _logical_lines(text):
        hashes = [h.lower() for algo, h in _HASH.findall(line) if algo.lower() == "sha256"]
        spec = _HASH.sub("", line).strip()
        if not spec or _OPTION.match(spec):
            continue  # -i/--index-url/--extra-index-url/-r/-c: indexes are 'mlvet deps check' business
        try:
            requirement = Requirement(spec)
        except InvalidRequirement as exc:
            raise InputError(f"{path}:{number}: not a requirement: {exc}") from None
        pins = [s.version for s in requirement.specifier if s.operator in {"==", "==="}]
        package = LockedPackage(
            name=requirement.name,
            version=pins[0] if pins else None,
            wheels=tuple(LockedFile(filename=None, sha256=h) for h in hashes),
            notes=() if pins else ("not pinned with ==",),
        )
        packages.setdefault(package.key, []).append(package)
    if not packages:
        raise InputError(
            f"{path} lists no requirement", hint="pass a pylock.toml, uv.lock or requirements file"
        )
    return Lock(
        "requirements",
        {k: tuple(v) for k, v in packages.items()},
        path,
        None,
        ("a requirements file pins artifact hashes, not the wheel filenames or the RECORD inside them",),
    )


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines joined across trailing backslashes, comments removed, with the first line's number."""
    lines: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        content = re.sub(r"(^|\s)#.*$", "", raw)
        if not pending:
            start = number
        if content.rstrip().endswith("\\"):
            pending += content.rstrip()[:-1] + " "
            continue
        lines.append((start, (pending + content).strip()))
        pending = ""
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines
