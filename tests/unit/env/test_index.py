"""env lock against a real HTTP index (a local server thread): PEP 691 JSON, PEP 503 HTML, range reads."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlvet.env.index import Index, RemoteFile
from mlvet.env.lock import LockSources, RecordFetch, lock_environment
from mlvet.env.target import environment_of
from mlvet.env.wheels import parse_wheel_name, record_from_wheel
from tests.unit.env.environments import WHEEL_CACHE, Venv


class _IndexHandler(BaseHTTPRequestHandler):
    """``/json/<project>/``, ``/html/<project>/`` pages of the cached wheels; ``/files/<name>`` with Range."""

    ranges_served: list[str] = []  # noqa: RUF012 - shared by the test on purpose

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts[0] in {"json", "html"} and len(parts) == 2:
            self._project(parts[0], parts[1])
        elif parts[0] == "files" and len(parts) == 2 and (WHEEL_CACHE / parts[1]).is_file():
            self._file(WHEEL_CACHE / parts[1])
        else:
            self.send_error(404)

    def _project(self, flavour: str, project: str) -> None:
        wheels = [
            p
            for p in sorted(WHEEL_CACHE.glob("*.whl"))
            if (n := parse_wheel_name(p.name)) and n.name == project
        ]
        if not wheels:
            self.send_error(404)
            return
        if flavour == "json":
            files = [
                {
                    "filename": p.name,
                    "url": f"../../files/{p.name}",
                    "hashes": {"sha256": hashlib.sha256(p.read_bytes()).hexdigest()},
                    "size": p.stat().st_size,
                    "upload-time": "2024-01-02T03:04:05.000000Z",
                }
                for p in wheels
            ]
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": files}).encode()
            content_type = "application/vnd.pypi.simple.v1+json"
        else:
            links = "".join(
                f'<a href="/files/{p.name}#sha256={hashlib.sha256(p.read_bytes()).hexdigest()}">{p.name}</a>'
                for p in wheels
            )
            body = f"<html><body>{links}</body></html>".encode()
            content_type = "text/html"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, path: Path) -> None:
        data = path.read_bytes()
        wanted = self.headers.get("Range", "")
        if not wanted.startswith("bytes="):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return
        start, _, end = wanted[len("bytes=") :].partition("-")
        chunk = data[int(start) : int(end) + 1]
        type(self).ranges_served.append(wanted)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        self.wfile.write(chunk)

    do_HEAD = do_GET


@pytest.fixture(scope="module")
def index_url(pristine_venv: Venv) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IndexHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_lock_from_a_json_index_reads_records_by_range(
    pristine_venv: Venv, index_url: str, tmp_path: Path
) -> None:
    _IndexHandler.ranges_served.clear()
    sources = LockSources(index_urls=(f"{index_url}/json/",), records_dir=tmp_path / "records")
    result = lock_environment(environment_of(pristine_venv.python), sources)
    assert result.report.problems == ()
    (six,) = result.lock.packages["six"]
    (wheel,) = six.wheels
    local = WHEEL_CACHE / str(wheel.filename)
    assert wheel.url == f"{index_url}/files/{local.name}"
    assert six.index == f"{index_url}/json/"
    assert wheel.upload_time == "2024-01-02T03:04:05.000000Z"
    record = record_from_wheel(local, "six", "1.17.0")
    assert wheel.record_sha256 == hashlib.sha256(record).hexdigest()
    assert _IndexHandler.ranges_served, "the RECORD was read with range requests"
    assert result.report.details["records_pinned"] == 4


def test_lock_from_an_html_index_with_download(pristine_venv: Venv, index_url: str, tmp_path: Path) -> None:
    sources = LockSources(
        index_urls=(f"{index_url}/html/",),
        fetch=RecordFetch.DOWNLOAD,
        records_dir=tmp_path / "records",
        cache_dir=tmp_path / "wheels",
    )
    result = lock_environment(environment_of(pristine_venv.python), sources)
    assert result.report.problems == ()
    (idna,) = result.lock.packages["idna"]
    assert (
        idna.wheels[0].sha256
        == hashlib.sha256((WHEEL_CACHE / str(idna.wheels[0].filename)).read_bytes()).hexdigest()
    )
    assert (tmp_path / "wheels" / str(idna.wheels[0].filename)).is_file()
    assert result.report.details["records_pinned"] == 4


def test_project_missing_from_the_index_is_reported(index_url: str) -> None:
    assert Index((f"{index_url}/json/",)).files("no-such-project") == []


def test_remote_file_reads_ranges(index_url: str) -> None:
    local = next(WHEEL_CACHE.glob("six-1.17.0-*.whl"))
    remote = RemoteFile(f"{index_url}/files/{local.name}", local.stat().st_size)
    remote.seek(-10, 2)
    assert remote.read() == local.read_bytes()[-10:]
    assert remote.read(5) == b""
