"""Routes TensorFlow's own ``gs://`` filesystem to fake-gcs-server, for tests only.

TensorFlow's GCS client talks to fixed endpoints (``https://www.googleapis.com``,
``https://storage.googleapis.com``) and ignores ``STORAGE_EMULATOR_HOST``. Its
bundled libcurl does honour ``HTTPS_PROXY`` and ``CURL_CA_BUNDLE``, so this module
runs an HTTPS proxy on 127.0.0.1 that answers ``CONNECT``, terminates TLS with a
throwaway CA and leaf certificate (made once per session with the ``openssl``
CLI), reads the HTTP requests inside the tunnel and forwards each one to the
emulator (plain http on 127.0.0.1).

The proxy runs in its own process (``python tests/tf_gcs_proxy.py --emulator URL
--port 0 --cert-dir DIR``; it prints its port on one stdout line): some
``tf.io.gfile`` calls block while holding the GIL, which would stall a proxy
thread living in the same interpreter.

Quirks it smooths over:
    * TensorFlow sends ``Transfer-Encoding: chunked`` together with
      ``Content-Length``: the body is de-chunked and sent on with its real length.
    * Upload ``Location`` headers name the emulator (or ``http://www.googleapis.com``):
      they are rewritten to ``https://www.googleapis.com/...`` so that the upload
      goes through the proxy again.
    * ``GET /storage/v1/b/<bucket>/storageLayout`` (asked by TF 2.21 before a
      rename) is answered by the proxy: the emulator does not know it.
    * ``storage.googleapis.com/<bucket>/<object>`` reads go to the emulator's
      ``/download/storage/v1/b/<bucket>/o/<object>?alt=media`` route, whatever
      its ``-public-host``.
    * Token endpoints (``oauth2.googleapis.com/token``,
      ``www.googleapis.com/oauth2/v[34]/token``) get a fake bearer token, should
      a test use service-account credentials.

Pytest plugin (``-p tests.tf_gcs_proxy`` or imported in a conftest). Fixtures:
    tf_gcs_proxy (session, needs ``gcs_emulator``): a running proxy, as a
        :class:`TfGcsProxy` whose ``env`` routes TensorFlow's gs:// to the emulator.
    tf_gcs: applies ``tf_gcs_proxy.env`` to this process with monkeypatch and
        returns the proxy. Works after ``import tensorflow``, also for the
        first gs:// access: libcurl and TF's auth provider read these
        variables per request. But TF reads its ``GCS_*`` settings (retries,
        caches) when it is imported, so in-process a broken route retries for
        minutes instead of failing in a second, and stat results are cached
        for 5 s.

:func:`run_tf` runs a Python snippet in a fresh interpreter with that
environment: the tests use it, see its docstring for why.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

GCS_API_HOST = "www.googleapis.com"
GCS_STORAGE_HOST = "storage.googleapis.com"
OAUTH_HOST = "oauth2.googleapis.com"
HOSTS = (GCS_API_HOST, GCS_STORAGE_HOST, OAUTH_HOST)
"""The only hosts the proxy tunnels to (anything else gets 403)."""

FAKE_TOKEN = "hubmagic-test-token"
STARTUP_TIMEOUT = 20.0

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
        "host",
    }
)
_NO_BODY_STATUSES = frozenset({204, 304})
_MAX_LINE = 65536

Headers = list[tuple[str, str]]


# --------------------------------------------------------------------------
# Certificates


def make_certs(cert_dir: str | os.PathLike[str]) -> Path:
    """Creates ``ca.pem``, ``leaf.pem`` and ``leaf.key`` in ``cert_dir`` if missing.

    The CA is throwaway (its key stays in ``cert_dir``); the leaf certificate
    names the Google storage and token hosts and is signed by it.

    Returns:
        The path of ``ca.pem``, the bundle for ``CURL_CA_BUNDLE``.
    """
    folder = Path(cert_dir)
    ca = folder / "ca.pem"
    if ca.exists() and (folder / "leaf.pem").exists() and (folder / "leaf.key").exists():
        return ca
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make the test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (folder / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectAltName=" + ",".join(f"DNS:{host}" for host in HOSTS) + "\n"
    )
    commands = [
        [
            *("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "7"),
            *("-subj", "/CN=hubmagic test-only CA"),
            *("-addext", "basicConstraints=critical,CA:TRUE"),
            *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        ],
        [
            "req",
            "-new",
            *ec,
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            f"/CN={GCS_API_HOST}",
        ],
        [
            *("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
            *("-set_serial", str(int(time.time() * 1000)), "-days", "7", "-sha256"),
            *("-extfile", "leaf.ext", "-out", "leaf.pem"),
        ],
    ]
    for args in commands:
        done = subprocess.run([openssl, *args], cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")
    return ca


# --------------------------------------------------------------------------
# The proxy (runs in its own process)


class _BadRequest(Exception):
    pass


def _read_line(reader: BinaryIO) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _BadRequest("line too long")
    return line


def _read_head(reader: BinaryIO) -> tuple[str, str, Headers] | None:
    """Reads a request line and its headers; None at a clean end of stream."""
    line = _read_line(reader)
    while line in (b"\r\n", b"\n"):
        line = _read_line(reader)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise _BadRequest(f"bad request line {line!r}")
    headers: Headers = []
    while True:
        raw = _read_line(reader)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest(f"bad header line {raw!r}")
        headers.append((name.strip(), value.strip()))
    return parts[0].upper(), parts[1], headers


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _read_exact(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise _BadRequest("body cut short")
    return data


def _read_chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = _read_line(reader)
        if not size_line:
            raise _BadRequest("chunked body cut short")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while _read_line(reader) not in (b"\r\n", b"\n", b""):
                pass  # trailers: dropped
            return b"".join(parts)
        parts.append(_read_exact(reader, size))
        _read_line(reader)  # the CRLF after each chunk


def _read_body(reader: BinaryIO, headers: Headers) -> bytes:
    # With both Transfer-Encoding: chunked and Content-Length (as TensorFlow
    # sends them), chunked wins (RFC 9112 6.3) and Content-Length is dropped.
    encoding = _header(headers, "transfer-encoding")
    if encoding and "chunked" in encoding.lower():
        return _read_chunked(reader)
    length = _header(headers, "content-length")
    return _read_exact(reader, int(length)) if length else b""


@dataclass
class _Reply:
    status: int
    reason: str
    headers: Headers
    body: bytes


def _json_reply(status: int, payload: object) -> _Reply:
    body = json.dumps(payload).encode()
    reason = http.client.responses.get(status, "")
    return _Reply(status, reason, [("Content-Type", "application/json")], body)


class Proxy:
    """The HTTPS proxy: a listening socket and one thread per client connection."""

    def __init__(self, emulator: str, cert_dir: Path, port: int = 0, log: Path | None = None):
        parsed = urllib.parse.urlsplit(emulator)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"the emulator URL must be http://host:port, not {emulator!r}")
        self.emulator = emulator.rstrip("/")
        self._emulator_host = parsed.hostname
        self._emulator_port = parsed.port or 80
        self._emulator_origins = {
            f"http://{parsed.netloc}",
            *(f"http://{host}" for host in HOSTS),
            f"https://{parsed.netloc}",
        }
        make_certs(cert_dir)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert_dir / "leaf.pem", cert_dir / "leaf.key")
        self._tls.set_alpn_protocols(["http/1.1"])
        # TLS 1.3 session tickets go out in small writes of their own after the
        # handshake; with Nagle and delayed ACKs that cost 40 ms per request
        # (TensorFlow opens a new connection for every request).
        self._tls.num_tickets = 0
        self._listener = socket.create_server(("127.0.0.1", port), backlog=64)
        self.port = int(self._listener.getsockname()[1])
        self._log_file = log.open("a", buffering=1) if log else None
        self._log_lock = threading.Lock()

    def log(self, message: str) -> None:
        if self._log_file is not None:
            with self._log_lock:
                self._log_file.write(f"{time.time():.3f} {message}\n")

    def serve_forever(self) -> None:
        while True:
            client, _ = self._listener.accept()
            threading.Thread(target=self._serve_client, args=(client,), daemon=True).start()

    # -- one client connection -------------------------------------------

    def _serve_client(self, client: socket.socket) -> None:
        try:
            with client:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # Unbuffered: nothing past the CONNECT head may be consumed
                # before the TLS handshake.
                raw = client.makefile("rb", buffering=0)
                head = _read_head(raw)  # type: ignore[arg-type]
                if head is None:
                    return
                method, target, _ = head
                if method != "CONNECT":
                    # A plain-http proxy request (absolute URI): served too.
                    self._serve_requests(client, client.makefile("rb"), None, head)
                    return
                host, _, port = target.rpartition(":")
                if host not in HOSTS or port != "443":
                    self.log(f"CONNECT {target} refused")
                    client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                with self._tls.wrap_socket(client, server_side=True) as tls:
                    self._serve_requests(tls, tls.makefile("rb"), host, None)
        except Exception as error:  # a test proxy: log it, drop the connection
            self.log(f"connection dropped: {error!r}")

    def _serve_requests(
        self,
        sock: socket.socket,
        reader: BinaryIO,
        tunnel_host: str | None,
        first: tuple[str, str, Headers] | None,
    ) -> None:
        """Answers the requests of one connection (inside a tunnel or plain)."""
        upstream: http.client.HTTPConnection | None = None
        try:
            while True:
                head = first or _read_head(reader)
                first = None
                if head is None:
                    return
                method, target, headers = head
                if (_header(headers, "expect") or "").lower() == "100-continue":
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = _read_body(reader, headers)
                host = tunnel_host or (_header(headers, "host") or "").split(":")[0].lower()
                if target.startswith(("http://", "https://")):  # absolute form
                    parsed = urllib.parse.urlsplit(target)
                    host = tunnel_host or (parsed.hostname or "")
                    target = urllib.parse.urlunsplit(("", "", parsed.path or "/", parsed.query, ""))
                reply: _Reply | None
                if host not in HOSTS:
                    reply = _Reply(403, "Forbidden", [], f"not a GCS host: {host}\n".encode())
                else:
                    try:
                        reply = self._answer_locally(host, method, target)
                        if reply is None:
                            path = self._upstream_path(host, target)
                            reply, upstream = self._forward(upstream, method, path, headers, body)
                    except OSError as error:
                        upstream = None
                        reply = _Reply(502, "Bad Gateway", [], f"emulator: {error!r}\n".encode())
                self.log(
                    f"{method} {host}{target} -> {reply.status}"
                    f" (sent {len(body)} bytes{_framing(headers)}, got {len(reply.body)})"
                )
                close = (_header(headers, "connection") or "").lower() == "close"
                sock.sendall(self._render(method, reply, close))
                if close:
                    return
        finally:
            if upstream is not None:
                upstream.close()

    # -- what to do with one request -------------------------------------

    def _answer_locally(self, host: str, method: str, target: str) -> _Reply | None:
        path = urllib.parse.urlsplit(target).path
        if (host == OAUTH_HOST and path == "/token") or (
            host == GCS_API_HOST and path in ("/oauth2/v3/token", "/oauth2/v4/token")
        ):
            return _json_reply(
                200, {"access_token": FAKE_TOKEN, "token_type": "Bearer", "expires_in": 3600}
            )
        # GET /storage/v1/b/<bucket>/storageLayout: unknown to fake-gcs-server.
        parts = path.split("/")
        if method != "GET" or len(parts) != 6 or parts[1:4] != ["storage", "v1", "b"]:
            return None
        if parts[5] != "storageLayout":
            return None
        bucket = urllib.parse.unquote(parts[4])
        found = self._fetch("GET", f"/storage/v1/b/{urllib.parse.quote(bucket, safe='')}")
        if found.status != 200:
            return found  # no such bucket: the emulator's own answer
        metadata = json.loads(found.body)
        return _json_reply(
            200,
            {
                "kind": "storage#storageLayout",
                "bucket": bucket,
                "location": metadata.get("location", "US"),
                "locationType": metadata.get("locationType", "region"),
                "hierarchicalNamespace": {"enabled": False},
            },
        )

    def _upstream_path(self, host: str, target: str) -> str:
        if host != GCS_STORAGE_HOST:
            return target
        parsed = urllib.parse.urlsplit(target)
        bucket, _, name = parsed.path.lstrip("/").partition("/")
        if not name or bucket in ("storage", "upload", "download", "batch"):
            return target
        query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
        query = [(key, value) for key, value in query if key != "alt"] + [("alt", "media")]
        return (
            f"/download/storage/v1/b/{bucket}/o/"
            f"{urllib.parse.quote(urllib.parse.unquote(name), safe='')}"
            f"?{urllib.parse.urlencode(query)}"
        )

    def _fetch(self, method: str, path: str) -> _Reply:
        reply, connection = self._forward(None, method, path, [], b"")
        if connection is not None:
            connection.close()
        return reply

    def _forward(
        self,
        upstream: http.client.HTTPConnection | None,
        method: str,
        path: str,
        headers: Headers,
        body: bytes,
    ) -> tuple[_Reply, http.client.HTTPConnection | None]:
        for attempt in (1, 2):
            try:
                if upstream is None:
                    upstream = http.client.HTTPConnection(
                        self._emulator_host, self._emulator_port, timeout=120
                    )
                    upstream.connect()
                    # http.client sends the head and the body in two writes.
                    upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                upstream.putheader("Host", f"{self._emulator_host}:{self._emulator_port}")
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP:
                        upstream.putheader(name, value)
                if body or method in ("POST", "PUT", "PATCH"):
                    upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body or None)
                response = upstream.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                # The emulator closed an idle keep-alive connection: once more
                # on a new one.
                if upstream is not None:
                    upstream.close()
                upstream = None
                if attempt == 2:
                    raise
                continue
            kept: Headers = []
            for name, value in response.getheaders():
                lower = name.lower()
                if lower in ("transfer-encoding", "connection", "keep-alive"):
                    continue
                if lower == "content-length" and method != "HEAD":
                    continue
                if lower == "location":
                    value = self._rewrite_location(value)
                kept.append((name, value))
            if response.will_close:
                upstream.close()
                upstream = None
            return _Reply(response.status, response.reason, kept, data), upstream
        raise AssertionError("unreachable")

    def _rewrite_location(self, location: str) -> str:
        parsed = urllib.parse.urlsplit(location)
        origin = f"{parsed.scheme}://{parsed.netloc}"
        if origin not in self._emulator_origins:
            return location
        host = parsed.hostname if parsed.hostname in HOSTS else GCS_API_HOST
        return urllib.parse.urlunsplit(("https", host, parsed.path, parsed.query, ""))

    @staticmethod
    def _render(method: str, reply: _Reply, close: bool) -> bytes:
        lines = [f"HTTP/1.1 {reply.status} {reply.reason}"]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        no_body = method == "HEAD" or reply.status in _NO_BODY_STATUSES or reply.status < 200
        if not no_body:
            lines.append(f"Content-Length: {len(reply.body)}")
        lines.append(f"Connection: {'close' if close else 'keep-alive'}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if no_body else head + reply.body


def _framing(headers: Headers) -> str:
    """How a request body was framed, for the log: ``chunked``, ``length``, ``expect``."""
    flags = [
        flag
        for flag, name in (
            ("chunked", "transfer-encoding"),
            ("length", "content-length"),
            ("expect", "expect"),
        )
        if _header(headers, name) is not None
    ]
    return f" {'+'.join(flags)}" if flags else ""


def _exit_with_parent() -> None:
    """Ends this process when the one that started it is gone (no orphans)."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", required=True, help="fake-gcs-server URL, http://host:port")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--cert-dir", type=Path, required=True, help="CA and leaf certificates")
    parser.add_argument("--log", type=Path, help="append one line per request to this file")
    args = parser.parse_args(argv)
    proxy = Proxy(args.emulator, args.cert_dir, args.port, args.log)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    print(proxy.port, flush=True)
    proxy.serve_forever()


# --------------------------------------------------------------------------
# Pytest side


@dataclass(frozen=True)
class TfGcsProxy:
    """A running proxy and the environment that routes TensorFlow's gs:// through it."""

    url: str
    """``http://127.0.0.1:<port>``."""
    emulator: str
    ca_bundle: str
    env: dict[str, str]
    """Variables to set for TensorFlow (and google-cloud-storage) to use the emulator."""
    log: Path
    """One line per request the proxy saw (handy in assertion messages)."""
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def proxy_env(proxy_url: str, emulator: str, ca_bundle: str) -> dict[str, str]:
    """The environment routing TensorFlow's GCS client through the proxy."""
    return {
        # libcurl (bundled with TensorFlow) reads both spellings.
        "HTTPS_PROXY": proxy_url,
        "https_proxy": proxy_url,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "CURL_CA_BUNDLE": ca_bundle,
        # No probe of the GCE metadata server (169.254.169.254) for a token.
        "NO_GCE_CHECK": "true",
        # Checked first by TensorFlow's auth provider: no look for real
        # credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's files) of the
        # machine running the tests, and no "empty token" warnings.
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": FAKE_TOKEN,
        # For google-cloud-storage in the same process.
        "STORAGE_EMULATOR_HOST": emulator,
        # Fail fast instead of retrying for minutes (read when TensorFlow's
        # filesystem is created, i.e. only in a fresh process).
        "GCS_RETRY_CONFIG_MAX_RETRIES": "2",
        "GCS_RETRY_CONFIG_INIT_DELAY_TIME_US": "100000",
        "GCS_RETRY_CONFIG_MAX_DELAY_TIME_US": "1000000",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def start_proxy(emulator: str, workdir: str | os.PathLike[str]) -> TfGcsProxy:
    """Starts ``python tests/tf_gcs_proxy.py`` for ``emulator``; stop it with :func:`stop_proxy`.

    Certificates and logs go to ``workdir``.
    """
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    cert_dir = folder / "certs"
    ca = make_certs(cert_dir)
    log = folder / "requests.log"
    with (folder / "proxy.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [
                *(sys.executable, os.path.abspath(__file__), "--emulator", emulator),
                *("--port", "0", "--cert-dir", str(cert_dir), "--log", str(log)),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    line = b""
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            break
    if not line.strip().isdigit():
        process.kill()
        process.wait()
        errors = (folder / "proxy.stderr").read_text(errors="replace")
        raise RuntimeError(f"the tf_gcs proxy did not start: {errors.strip()}")
    url = f"http://127.0.0.1:{int(line)}"
    return TfGcsProxy(url, emulator, str(ca), proxy_env(url, emulator, str(ca)), log, process)


def stop_proxy(proxy: TfGcsProxy) -> None:
    proxy.process.terminate()
    try:
        proxy.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proxy.process.kill()
        proxy.process.wait()
    if proxy.process.stdout is not None:
        proxy.process.stdout.close()


def run_tf(
    code: str, env: Mapping[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Runs the Python ``code`` in a fresh interpreter with ``env`` added to os.environ.

    A fresh process is the reliable route: TensorFlow creates its GCS
    filesystem when it is imported and reads its retry and cache settings
    then, and that filesystem keeps stat and location caches for the life of
    the process; a subprocess starts from none of these and cannot stall the
    test process. The working directory is the repository root, so ``tests``
    and ``hubmagic`` import.
    """
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def tf_gcs_proxy(
    gcs_emulator: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TfGcsProxy]:
    """A running proxy in front of ``gcs_emulator``; see :class:`TfGcsProxy`."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    proxy = start_proxy(gcs_emulator, tmp_path_factory.mktemp("tf_gcs_proxy"))
    yield proxy
    stop_proxy(proxy)


@pytest.fixture
def tf_gcs(tf_gcs_proxy: TfGcsProxy, monkeypatch: pytest.MonkeyPatch) -> TfGcsProxy:
    """Sets ``tf_gcs_proxy.env`` in this process for the test and returns the proxy."""
    for name, value in tf_gcs_proxy.env.items():
        monkeypatch.setenv(name, value)
    return tf_gcs_proxy


if __name__ == "__main__":
    main()
