"""A self-signed HTTPS hub server and a small HTTP proxy, both on 127.0.0.1.

- :func:`make_certificate`: a self-signed certificate for ``IP:127.0.0.1``,
  made with the ``openssl`` CLI (as a user would make one for a mirror).
- :class:`TlsHub`: a :class:`hubmagic.server.HubServer` whose listening
  socket is wrapped in TLS with that certificate; :attr:`TlsHub.url` is its
  ``https://`` address.
- :class:`Proxy`: a forward proxy (plain ``GET http://...`` and ``CONNECT``
  tunnels), standard library only, keeping the request lines it was sent.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hubmagic.server import HubServer
from tests.fake_models import write_fake_saved_model

MB = 1024 * 1024


@dataclass(frozen=True)
class Certificate:
    cert: Path
    """The PEM certificate: also the CA bundle that trusts it."""
    key: Path


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


class TlsHub:
    """A started HubServer over ``root`` speaking HTTPS with ``certificate``."""

    def __init__(self, root: Path, certificate: Certificate) -> None:
        self.server = HubServer(root).bind()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert, certificate.key)
        httpd = self.server._httpd
        assert httpd is not None
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url.replace("http://", "https://", 1)

    def stop(self) -> None:
        self.server.stop()


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        self.server.seen.append(f"CONNECT {self.path}")
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=30)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        client = self.connection
        with upstream:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 30)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(256 * 1024)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)

    def do_GET(self) -> None:
        self.server.seen.append(f"GET {self.path}")
        url = urllib.parse.urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")}
        upstream = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=30)
        path = url.path + (f"?{url.query}" if url.query else "")
        upstream.request("GET", path, headers=headers)
        response = upstream.getresponse()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            # http.client undid any chunking: the body goes out delimited by the close.
            if name.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        while data := response.read(256 * 1024):
            self.wfile.write(data)
        upstream.close()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def server_bind(self) -> None:
        import socketserver

        socketserver.TCPServer.server_bind(self)  # no getfqdn: no DNS wait offline


class Proxy:
    """A forward proxy on 127.0.0.1; :attr:`seen` lists the request lines it got."""

    def __init__(self) -> None:
        self._httpd = _ProxyServer()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def seen(self) -> list[str]:
        return list(self._httpd.seen)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``google/tls/1`` (small, generated archive) and ``google/tlsbig/1`` (2 MB of
    weights, a prebuilt archive: served with ranges)."""
    root = tmp_path_factory.mktemp("tls_models")
    write_fake_saved_model(root / "google" / "tls" / "1")
    big = write_fake_saved_model(root / "google" / "tlsbig" / "1", data_bytes=2 * MB)
    with tarfile.open(root / "google" / "tlsbig" / "1.tar.gz", "w:gz", compresslevel=1) as tar:
        for item in sorted(big.rglob("*")):
            tar.add(item, arcname=item.relative_to(big).as_posix(), recursive=False)
    return root


@pytest.fixture(scope="session")
def tls_hub(tls_models: Path, certificate: Certificate) -> Iterator[TlsHub]:
    hub = TlsHub(tls_models, certificate)
    yield hub
    hub.stop()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    started = Proxy()
    yield started
    with contextlib.suppress(OSError):
        started.stop()
