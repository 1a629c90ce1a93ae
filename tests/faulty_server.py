"""A real HTTP server on 127.0.0.1 that serves one payload and misbehaves on cue.

Each request takes the next :class:`Fault` from a script (then serves normally):
an HTTP status, a connection reset or a stall after some bytes, a short body,
an HTML page, a redirect, or silence (the request is read and never answered).
Range requests are honoured (206) unless ``ranges=False``; ``resume_payload``
serves other bytes to them (a file that changed, a proxy without ETag), and
``etag=False`` sends no validator.
Every request is recorded with its Range header, so tests can see a resume.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What one request gets.

    Attributes:
        status: answer with this status and no body (e.g. 404, 500).
        reset_after: send this many body bytes, then reset the connection.
        close_after: send this many body bytes, then close it cleanly (short body).
        stall_after: send this many body bytes, then stop sending for ``stall_for`` s.
        html: answer 200 with a web page.
        redirect: answer 302 to this URL.
        silent: read the request and send nothing back for ``stall_for`` s.
    """

    status: int | None = None
    reset_after: int | None = None
    close_after: int | None = None
    stall_after: int | None = None
    stall_for: float = 30.0
    html: bool = False
    redirect: str | None = None
    silent: bool = False


OK = Fault()


@dataclass
class FaultyServer:
    payload: bytes
    faults: list[Fault] = field(default_factory=list)
    ranges: bool = True
    content_type: str = "application/x-gzip"
    requests: list[dict[str, str | None]] = field(default_factory=list)
    resume_payload: bytes | None = None
    etag: bool = True

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # serve_forever notices shutdown() only between polls (0.5 s by default).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_fault(self, request: BaseHTTPRequestHandler) -> Fault:
        with self._lock:
            self.requests.append({"path": request.path, "range": request.headers.get("Range")})
            return self.faults.pop(0) if self.faults else OK

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        fault = self._next_fault(request)
        if fault.status is not None:
            request.send_response(fault.status)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if fault.silent:
            self._stop.wait(fault.stall_for)
            request.close_connection = True
            return
        if fault.redirect is not None:
            request.send_response(302)
            request.send_header("Location", fault.redirect)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if fault.html:
            body = b"<!doctype html><html><body>Sign in to continue</body></html>"
            request.send_response(200)
            request.send_header("Content-Type", "text/html; charset=utf-8")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
            return
        start = 0
        payload = self.payload
        wanted = request.headers.get("Range")
        if wanted and self.ranges and wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[len("bytes=") : -1])
            payload = self.payload if self.resume_payload is None else self.resume_payload
            request.send_response(206)
            request.send_header(
                "Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}"
            )
        else:
            request.send_response(200)
        body = payload[start:]
        request.send_header("Content-Type", self.content_type)
        request.send_header("Content-Length", str(len(body)))
        if self.ranges:
            request.send_header("Accept-Ranges", "bytes")
            if self.etag:
                request.send_header("ETag", '"payload-v1"')
        request.end_headers()
        for limit, action in (
            (fault.reset_after, "reset"),
            (fault.close_after, "close"),
            (fault.stall_after, "stall"),
        ):
            if limit is not None:
                request.wfile.write(body[:limit])
                request.wfile.flush()
                if action == "stall":
                    self._stop.wait(fault.stall_for)
                elif action == "reset":
                    # SO_LINGER 0: close() sends RST, the client sees a reset.
                    request.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                request.close_connection = True
                request.connection.close()
                return
        for chunk in _chunks(body):
            request.wfile.write(chunk)


def _chunks(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
        time.sleep(0)
