"""A package index seen through the simple API: PEP 691 JSON (with PEP 700 sizes), PEP 503 HTML as fallback.

Also reads single members of a remote wheel with HTTP range requests, so a wheel's RECORD can be
pinned without downloading a framework's gigabyte of binaries.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from packaging.utils import canonicalize_name

PYPI_SIMPLE = "https://pypi.org/simple/"
_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
_USER_AGENT = "mlvet (env lock)"


class IndexUnavailable(Exception):
    """The index could not be read (network, HTTP status, unparseable page)."""


@dataclass(frozen=True)
class IndexFile:
    """One distribution file an index lists."""

    filename: str
    url: str
    sha256: str | None
    size: int | None
    upload_time: str | None
    index: str


class Index:
    """One or more simple-API base URLs, tried in order; project pages are cached per run."""

    def __init__(self, urls: tuple[str, ...] = (PYPI_SIMPLE,), *, timeout: float = 30.0) -> None:
        self.urls = tuple(u if u.endswith("/") else u + "/" for u in urls)
        self.timeout = timeout
        self._pages: dict[tuple[str, str], list[IndexFile]] = {}

    def files(self, name: str) -> list[IndexFile]:
        """The files of ``name`` on the first index that has the project; [] when none has it."""
        for base in self.urls:
            listed = self._project(base, canonicalize_name(name))
            if listed:
                return listed
        return []

    def _project(self, base: str, key: str) -> list[IndexFile]:
        if (base, key) in self._pages:
            return self._pages[(base, key)]
        url = urljoin(base, f"{key}/")
        request = urllib.request.Request(url, headers={"Accept": _ACCEPT, "User-Agent": _USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
                content_type = response.headers.get("Content-Type", "")
                final_url = response.geturl()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                self._pages[(base, key)] = []
                return []
            raise IndexUnavailable(f"{url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise IndexUnavailable(f"{url}: {getattr(exc, 'reason', exc)}") from None
        files = (
            _from_json(body, final_url, base)
            if "json" in content_type
            else _from_html(body.decode("utf-8", "replace"), final_url, base)
        )
        self._pages[(base, key)] = files
        return files


def _from_json(body: bytes, page_url: str, base: str) -> list[IndexFile]:
    try:
        data = json.loads(body)
        entries = data["files"]
    except (ValueError, KeyError, TypeError):
        raise IndexUnavailable(f"{page_url}: not a PEP 691 project page") from None
    files = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            continue
        hashes: dict[str, Any] = entry["hashes"] if isinstance(entry.get("hashes"), dict) else {}
        size = entry.get("size")
        upload = entry.get("upload-time")
        files.append(
            IndexFile(
                filename=entry["filename"],
                url=urljoin(page_url, str(entry.get("url", ""))),
                sha256=str(hashes["sha256"]).lower() if "sha256" in hashes else None,
                size=size if isinstance(size, int) else None,
                upload_time=upload if isinstance(upload, str) else None,
                index=base,
            )
        )
    return files


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)


def _from_html(text: str, page_url: str, base: str) -> list[IndexFile]:
    parser = _Anchors()
    parser.feed(text)
    files = []
    for href in parser.links:
        url, _, fragment = urljoin(page_url, href).partition("#")
        algorithm, _, digest = fragment.partition("=")
        filename = urlsplit(url).path.rsplit("/", 1)[-1]
        files.append(
            IndexFile(filename, url, digest.lower() if algorithm == "sha256" else None, None, None, base)
        )
    return files


class RemoteFile(io.RawIOBase):
    """A read-only, seekable view of a URL through HTTP range requests (enough for ``zipfile``)."""

    def __init__(self, url: str, size: int, *, timeout: float = 60.0) -> None:
        super().__init__()
        self.url, self.size, self.timeout = url, size, timeout
        self.position = 0
        self.requests = 0
        self.transferred = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, origin + offset)
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self.position + size)
        if end <= self.position:
            return b""
        headers = {"Range": f"bytes={self.position}-{end - 1}", "User-Agent": _USER_AGENT}
        request = urllib.request.Request(self.url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status != 206:
                    raise OSError(
                        f"{self.url}: the server ignored the range request (HTTP {response.status})"
                    )
                data: bytes = response.read()
        except urllib.error.URLError as exc:
            raise OSError(f"{self.url}: {exc.reason}") from None
        self.requests += 1
        self.transferred += len(data)
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def remote_size(url: str, *, timeout: float = 30.0) -> int:
    """The Content-Length of ``url`` from a HEAD request."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.headers["Content-Length"])
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        raise OSError(f"{url}: no size ({exc})") from None


def download(
    url: str, target: Path, *, progress: Callable[[int], None] | None = None, timeout: float = 60.0
) -> None:
    """Stream ``url`` to ``target`` (through a ``.part`` file, renamed when complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, partial.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
    except urllib.error.URLError as exc:
        partial.unlink(missing_ok=True)
        raise OSError(f"{url}: {exc.reason}") from None
    partial.replace(target)
