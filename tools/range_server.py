"""A stand-in for tfhub.dev / Kaggle plus signed cloud storage, on 127.0.0.1.

``GET {url}/models/{name}`` (with or without ``?tf-hub-format=compressed``)
answers 302 to a V4-signed-style storage URL (a fresh signature each time); the
storage URL serves the archive with ``Accept-Ranges``, single ``Range`` requests
(206), ``If-Range``, ``ETag``, ``Last-Modified`` and ``X-Goog-Hash`` (crc32c and
md5 of the whole file, as GCS sends on every answer), at optional rate caps per
connection and for the whole link, with scripted faults (:class:`Faults`) keyed
to the storage request number.

In a test::

    with RangeServer(path, faults=Faults(reset_after={1: 1000})) as server:
        requests.get(server.handle_url)

For a benchmark, in its own process (prints the base URL on its first line and
the handle URL on the second, then serves until SIGTERM or SIGINT)::

    python -m tools.range_server ARCHIVE [--conn-rate MB/s] [--link-rate MB/s]

With ``redirect=False`` the handle URL serves the archive itself: its requests
are then the storage requests (numbered, faults apply, no signature).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from urllib.parse import parse_qsl, urlsplit

if not __package__:  # run as a script: python tools/range_server.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools import _range_parts as parts

MB = 10**6


@dataclass
class Faults:
    """Scripted misbehaviour; "request n" is the n-th (1-based) request to the storage URL."""

    reset_after: dict[int, int] = field(default_factory=dict)
    """Request n: send this many body bytes, then reset the connection (RST)."""
    ignore_range_on: set[int] = field(default_factory=set)
    """Request n: answer 200 with the whole file despite a Range header."""
    etag_change_after: int | None = None
    """After this many storage requests the ETag and Last-Modified change (not the bytes)."""
    throttle: dict[int, float] = field(default_factory=dict)
    """Request n: answer ``throttle_status`` with ``Retry-After: <seconds>``."""
    throttle_status: int = 429
    signature_ttl: float | None = None
    """A signed URL expires this many seconds after the redirect that issued it."""
    expired_status: int = 400
    expired_code: str = "ExpiredToken"
    wrong_hash: bool = False
    """X-Goog-Hash (or Content-MD5) carries the digests of other bytes."""
    content_md5_only: bool = False
    """Send ``Content-MD5`` instead of ``X-Goog-Hash``."""
    no_hash: bool = False
    length_delta: int = 0
    """200's Content-Length and Content-Range's total announce size + delta (a lie)."""
    stall_after: dict[int, tuple[int, float]] = field(default_factory=dict)
    """Request n: send k bytes, stop sending for s seconds, then close."""


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw and answered it."""

    connection: int
    path: str
    query: dict[str, str]
    range: str | None
    if_range: str | None
    status: int
    start: int | None
    end: int | None
    sent: int
    authorization: bool
    number: int
    time: float
    method: str = "GET"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.owner = self.server.owner
        self.connection_id, self.bucket = self.owner._accepted(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner._closed(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.owner._serve(self, head=False)

    def do_HEAD(self) -> None:
        self.owner._serve(self, head=True)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of parallel connects must not wait on SYN retries
    owner: RangeServer


class RangeServer:
    """The hub and storage server; see the module docstring.

    Args:
        archive: The file served.
        faults: Scripted faults (may be changed while serving).
        per_connection_rate: Cap of each connection, bytes/s.
        link_rate: Cap of all connections together, bytes/s.
        ranges: Honour Range (and send ``Accept-Ranges: bytes``).
        redirect: The handle URL answers 302 to storage; else it serves the archive.
        name: Model name, in the handle URL and the storage file name.
        host: Address to listen on.
        port: Port (0: any free one).
    """

    def __init__(
        self,
        archive: str | os.PathLike[str],
        *,
        faults: Faults | None = None,
        per_connection_rate: float | None = None,
        link_rate: float | None = None,
        ranges: bool = True,
        redirect: bool = True,
        name: str = "google/big/1",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.archive = os.fspath(archive)
        self.faults = faults if faults is not None else Faults()
        self.per_connection_rate = per_connection_rate
        self.link_rate = link_rate
        self.ranges = ranges
        self.redirect = redirect
        self.name = name
        self.size = os.path.getsize(self.archive)
        self.crc32c, self.md5 = parts.file_hashes(self.archive)
        self._mtime = os.path.getmtime(self.archive)
        self.handle_path = f"/models/{name}"
        self.storage_path = f"/storage/{name.replace('/', '_')}.tar.gz"
        self.log: list[RequestRecord] = []
        self.redirects = 0
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._signatures: dict[str, float] = {}
        self._storage_count = 0
        self._connection_count = 0
        self._open: set[socket.socket] = set()
        self._link = parts.TokenBucket(link_rate) if link_rate else None
        self._chunk = parts.chunk_size(per_connection_rate or link_rate)
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life ------------------------------------------------------------------------

    def start(self) -> RangeServer:
        """Binds and serves in a daemon thread; returns self."""
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes every open connection."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RangeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses and what happened -------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (once started)."""
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def handle_url(self) -> str:
        """The hub-style URL of the model."""
        return f"{self.url}{self.handle_path}"

    def signed_url(self) -> str:
        """Issues a fresh signature; returns the absolute signed storage URL."""
        signature = parts.new_signature()
        with self._lock:
            self._signatures[signature] = time.monotonic()
        return f"{self.url}{self.storage_path}?{parts.signed_query(signature, time.time())}"

    def storage_requests(self) -> list[RequestRecord]:
        """The requests to the storage URL, in arrival order."""
        with self._lock:
            return [record for record in self.log if record.number]

    def connections_used(self) -> int:
        """Distinct connections that got (part of) a 200/206 body from storage."""
        return len(
            {r.connection for r in self.storage_requests() if r.status in (200, 206) and r.sent > 0}
        )

    def set_link_rate(self, rate: float) -> None:
        """Changes the cap of the whole link while serving, in bytes/s.

        Only for a server made with ``link_rate``. A test holds a download at a
        crawl while it looks at it, then lets it finish at once.
        """
        if self._link is None:
            raise RuntimeError("the server has no link rate to change (make it with link_rate)")
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self._link.rate = rate

    # -- serving (called by the handler threads) -------------------------------------

    def _accepted(self, sock: socket.socket) -> tuple[int, parts.TokenBucket | None]:
        with self._lock:
            self._connection_count += 1
            self._open.add(sock)
            number = self._connection_count
        rate = self.per_connection_rate
        return number, parts.TokenBucket(rate) if rate else None

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def _serve(self, handler: _Handler, *, head: bool) -> None:
        split = urlsplit(handler.path)
        path, query = split.path, dict(parse_qsl(split.query, keep_blank_values=True))
        storage = path == self.storage_path or (not self.redirect and path == self.handle_path)
        with self._lock:
            number = 0
            if storage:
                self._storage_count += 1
                number = self._storage_count
            index = len(self.log)
            record = RequestRecord(
                connection=handler.connection_id,
                path=path,
                query=query,
                range=handler.headers.get("Range"),
                if_range=handler.headers.get("If-Range"),
                status=0,
                start=None,
                end=None,
                sent=0,
                authorization="Authorization" in handler.headers,
                number=number,
                time=time.monotonic(),
                method=handler.command,
            )
            self.log.append(record)
        if storage:
            answer = self._storage(handler, path, query, number)
        elif path == self.handle_path:
            answer = self._redirect()
        else:
            answer = parts.error(404, "NoSuchKey", f"No such object: {path}")
        if head:
            answer.body, answer.start, answer.end = b"", None, None
        self._send(handler, answer, index)

    def _redirect(self) -> parts.Answer:
        location = self.signed_url()
        with self._lock:
            self.redirects += 1
        return parts.Answer(302, {"Location": location, "Content-Length": "0"})

    def _storage(
        self, handler: _Handler, path: str, query: dict[str, str], number: int
    ) -> parts.Answer:
        faults = self.faults
        if path == self.storage_path:
            with self._lock:
                issued = self._signatures.get(query.get("X-Goog-Signature", ""))
            if issued is None:
                return parts.error(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature "
                    "you provided. Check your Google secret key and signing method.",
                )
            ttl = faults.signature_ttl
            if ttl is not None and time.monotonic() - issued > ttl:
                return parts.error(
                    faults.expired_status, faults.expired_code, "Request has expired"
                )
        if number in faults.throttle:
            answer = parts.error(
                faults.throttle_status, "SlowDown", "Please reduce your request rate."
            )
            answer.headers["Retry-After"] = parts.retry_after(faults.throttle[number])
            return answer
        changed = faults.etag_change_after is not None and number > faults.etag_change_after
        etag = f'"{self.md5.hex()}{"-2" if changed else ""}"'
        modified = formatdate(self._mtime + (3600 if changed else 0), usegmt=True)
        total = self.size + faults.length_delta
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": etag,
            "Last-Modified": modified,
            "x-goog-stored-content-length": str(total),
            "x-goog-stored-content-encoding": "identity",
        }
        if self.ranges:
            headers["Accept-Ranges"] = "bytes"
        headers.update(self._hash_headers())
        status, start, end = 200, 0, self.size - 1
        asked, if_range = handler.headers.get("Range"), handler.headers.get("If-Range")
        fresh = if_range is None or if_range.strip() in (etag, modified)
        if self.ranges and asked and fresh and number not in faults.ignore_range_on:
            try:
                wanted = parts.parse_range(asked, self.size)
            except parts.RangeNotSatisfiable:
                answer = parts.error(
                    416, "InvalidRange", "The requested range cannot be satisfied."
                )
                answer.headers["Content-Range"] = f"bytes */{total}"
                return answer
            if wanted is not None:
                status, (start, end) = 206, wanted
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
            headers["Content-Length"] = str(end - start + 1)
        else:
            headers["Content-Length"] = str(total)
        answer = parts.Answer(status, headers, start=start, end=end)
        if status == 200 and faults.length_delta:
            answer.ending = "close"  # the framing is a lie: the connection cannot go on
        if number in faults.reset_after:
            answer.limit, answer.ending = faults.reset_after[number], "reset"
        elif number in faults.stall_after:
            answer.limit, answer.stall = faults.stall_after[number]
            answer.ending = "stall"
        return answer

    def _hash_headers(self) -> dict[str, str]:
        faults = self.faults
        if faults.no_hash:
            return {}
        crc, md5 = parts.other_hashes() if faults.wrong_hash else (self.crc32c, self.md5)
        if faults.content_md5_only:
            return {"Content-MD5": parts.b64(md5)}
        return {"X-Goog-Hash": parts.goog_hash(crc, md5)}

    def _record(self, index: int, answer: parts.Answer, sent: int) -> None:
        with self._lock:
            self.log[index] = replace(
                self.log[index], status=answer.status, start=answer.start, end=answer.end, sent=sent
            )

    def _send(self, handler: _Handler, answer: parts.Answer, index: int) -> None:
        planned = len(answer.body)
        if answer.start is not None and answer.end is not None:
            planned = answer.end - answer.start + 1
        if answer.limit is not None:
            planned = min(planned, answer.limit)
        # Recorded before the body goes out, so a client that got it all finds it logged.
        self._record(index, answer, planned)
        sent = 0
        try:
            handler.send_response(answer.status)
            for key, value in answer.headers.items():
                handler.send_header(key, value)
            if answer.ending != "keep":
                handler.send_header("Connection", "close")
            handler.end_headers()
            if answer.body:
                handler.wfile.write(answer.body)
                sent = len(answer.body)
            elif answer.start is not None:
                sent = self._send_file(handler, answer.start, planned)
        except OSError:
            self._record(index, answer, sent)
            handler.close_connection = True
            return
        if sent != planned:
            self._record(index, answer, sent)
        if answer.ending == "stall":
            self._stopping.wait(answer.stall)
        if answer.ending == "reset":
            parts.reset(handler.connection, handler.rfile)
        if answer.ending != "keep":
            handler.close_connection = True

    def _send_file(self, handler: _Handler, start: int, count: int) -> int:
        sent = 0
        with open(self.archive, "rb") as file:
            while sent < count and not self._stopping.is_set():
                size = min(self._chunk, count - sent)
                if handler.bucket is not None:
                    handler.bucket.take(size)
                if self._link is not None:
                    self._link.take(size)
                done = handler.connection.sendfile(file, start + sent, size)
                if done == 0:
                    break
                sent += done
        return sent


def main(argv: list[str] | None = None) -> int:
    """Serves ``ARCHIVE`` until SIGTERM or SIGINT; prints the base and handle URLs first."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive")
    parser.add_argument("--conn-rate", type=float, help="cap per connection, MB/s (10^6)")
    parser.add_argument("--link-rate", type=float, help="cap of the whole link, MB/s (10^6)")
    parser.add_argument("--name", default="google/big/1", help="model name (google/big/1)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-ranges", action="store_true", help="ignore Range headers")
    parser.add_argument("--no-redirect", action="store_true", help="serve at the handle URL")
    args = parser.parse_args(argv)
    server = RangeServer(
        args.archive,
        per_connection_rate=args.conn_rate * MB if args.conn_rate else None,
        link_rate=args.link_rate * MB if args.link_rate else None,
        ranges=not args.no_ranges,
        redirect=not args.no_redirect,
        name=args.name,
        port=args.port,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with server:
        print(server.url, flush=True)
        print(server.handle_url, flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
