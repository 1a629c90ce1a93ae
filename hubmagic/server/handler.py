"""The HTTP side: the handler that answers each request of a connection.

:class:`Handler` answers the requests of one connection accepted by
:class:`~hubmagic.server.listener.HubHTTPServer`: it parses the target, routes
it (``_blobs/`` and ``tfhub-modules/`` archives, the two Kaggle forms, plain
model paths), and answers with a page, a redirect, a generated or prebuilt
archive, or an error. :class:`BusyHandler` answers ``503`` instead, for the
connections past the server's limit. Every request is recorded as a
:class:`~hubmagic.server.RequestRecord` and logged as one line through the hub
server (with secrets redacted, see :mod:`hubmagic.server.redact`).

A connection is closed once it is idle for the server's ``idle_timeout``: no
request head complete within it (however slowly its bytes trickle in), or no
byte of an answer taken by the client within it.

Models are found through :class:`~hubmagic.server.catalog.Catalog` and archive
bytes come from :mod:`hubmagic.server.archive`; this module adds only HTTP:
status lines, headers, chunked encoding, ``sendfile`` for ranges, and what to
do when a client goes away mid-answer.
"""

from __future__ import annotations

import contextlib
import email.utils
import html
import io
import logging
import os
import re
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from hubmagic.server.archive import (
    OPEN_FLAGS,
    ArchiveAborted,
    Unsatisfiable,
    gzip_chunks,
    parse_range,
    tar_stream,
)
from hubmagic.server.catalog import KAGGLE_API, KAGGLE_PAGE, Model
from hubmagic.server.redact import redact

if TYPE_CHECKING:
    from hubmagic.server import HubServer
    from hubmagic.server.listener import HubHTTPServer

__all__ = ["CLIENT_GONE", "RETRY_AFTER_S", "BusyHandler", "Handler", "logger"]

logger = logging.getLogger(__package__)
"""One logger for the whole server, named after the package."""

CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
"""What a client that went away (or stayed idle too long) raises while being answered."""

RETRY_AFTER_S = 1
"""``Retry-After`` of a ``503`` sent past the connection limit, in seconds."""

_BUSY_TIMEOUT_S = 5.0
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


class _HeadReader(io.RawIOBase):
    """The socket's bytes; while :attr:`deadline` is set, no read waits past it."""

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        super().__init__()
        self._sock = sock
        self._idle_timeout = idle_timeout
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request head was not complete in time")
            self._sock.settimeout(min(self._idle_timeout, left))
        return self._sock.recv_into(buffer)

    def stop_clock(self) -> None:
        self.deadline = None
        self._sock.settimeout(self._idle_timeout)


def _split_target(target: str) -> tuple[str, str]:
    """Splits a request target into its (still percent-encoded) path and query."""
    if not target.startswith("/"):  # absolute form: http://host/path?query
        parts = urlsplit(target)
        return parts.path, parts.query
    path, _, query = target.partition("?")
    return path, query.partition("#")[0]


class Handler(BaseHTTPRequestHandler):
    """Answers the requests of one connection (see the module doc)."""

    protocol_version = "HTTP/1.1"
    server_version = "hubmagic"

    server: HubHTTPServer
    _reader: _HeadReader
    _sent = 0
    _note = ""
    _status = 0
    _in_dispatch = False

    # -- plumbing -----------------------------------------------------------------

    @property
    def hub(self) -> HubServer:
        return self.server.hub

    def _target(self) -> str:
        """The request target as sent (``self.path`` has leading slashes collapsed)."""
        words = (getattr(self, "requestline", "") or "").split()
        if len(words) >= 2:
            return words[1]
        return getattr(self, "path", "") or ""

    def _path_and_query(self) -> tuple[str, dict[str, str]]:
        """The target's path (still percent-encoded) and query (the last value wins)."""
        raw_path, query_string = _split_target(self._target())
        return raw_path, dict(parse_qsl(query_string, keep_blank_values=True))

    def version_string(self) -> str:
        return self.server_version

    def _idle_timeout(self) -> float:
        return self.hub.idle_timeout

    def setup(self) -> None:
        super().setup()
        timeout = self._idle_timeout()
        self.connection.settimeout(timeout)  # every socket operation waits at most this
        self.rfile.close()
        self._reader = _HeadReader(self.connection, timeout)
        self.rfile = io.BufferedReader(self._reader)
        self.hub._add_connection(self.connection)

    def handle_one_request(self) -> None:
        # The whole request head, from the wait for its first byte, within the idle timeout.
        self._reader.deadline = time.monotonic() + self._idle_timeout()
        super().handle_one_request()

    def parse_request(self) -> bool:
        try:
            return super().parse_request()
        finally:
            self._reader.stop_clock()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.hub._remove_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silences BaseHTTPRequestHandler: requests are logged by log_request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = int(code) if isinstance(code, int) else 0
        self._status = status
        raw_path, query = self._path_and_query()
        headers = getattr(self, "headers", None)
        self.hub._record(
            method=getattr(self, "command", None) or "",
            path=raw_path,
            query=query,
            range=headers.get("Range") if headers is not None else None,
            status=status,
        )
        if not self._in_dispatch:  # an error answered by BaseHTTPRequestHandler itself
            self._sent = 0
            self._note = ""
            self._log_line(0.0)

    def _log_line(self, seconds: float) -> None:
        request = str(getattr(self, "requestline", "")).translate(_CONTROL_ESCAPES)
        line = (
            f'{self.client_address[0]} "{request}" '
            f"{self._status or '-'} {self._sent} {seconds:.2f}s"
        )
        if self._note:
            line += f" ({self._note})"
        self.hub._emit(line)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, *, head: bool) -> None:
        self.hub._request_started()
        try:
            self._dispatch_and_log(head=head)
        finally:
            self.hub._request_ended()

    def _dispatch_and_log(self, *, head: bool) -> None:
        started = time.monotonic()
        self._sent = 0
        self._note = ""
        self._status = 0
        self._in_dispatch = True
        try:
            self._route(head)
        except TimeoutError:
            self.close_connection = True
            self._note = f"closed: the client took nothing for {self._idle_timeout():g} s"
        except CLIENT_GONE:
            self.close_connection = True
            self._note = "client disconnected"
        except ArchiveAborted as error:
            self.close_connection = True
            self._note = f"aborted: {error}"
        except OSError as error:
            if self.hub.stopping:
                self.close_connection = True
                self._note = "server stopped"
            else:
                self._internal_error(error)
        except Exception as error:
            self._internal_error(error)
        finally:
            self._in_dispatch = False
            self._log_line(time.monotonic() - started)

    def _internal_error(self, error: Exception) -> None:
        self.close_connection = True
        self._note = f"internal error: {error!r}"
        logger.error("Error while answering %s", redact(self.requestline), exc_info=True)
        if not self._status:
            with contextlib.suppress(OSError):
                self._send_text(500, "500 Internal Server Error\n", head=False)

    # -- routing ------------------------------------------------------------------

    def _route(self, head: bool) -> None:
        raw_path, query = self._path_and_query()
        try:
            path = unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            self._not_found(head)
            return
        if not path.startswith("/"):
            self._not_found(head)
            return
        rel = path[1:]
        catalog = self.hub._catalog

        for prefix in ("_blobs/", "tfhub-modules/"):
            if rel.startswith(prefix) and rel.endswith(".tar.gz"):
                model = catalog.resolve(rel[len(prefix) : -len(".tar.gz")])
                if model is not None:
                    self._send_archive(model, head)
                    return

        segments = rel.split("/")
        model = catalog.resolve_kaggle(segments, KAGGLE_API)
        if model is not None:
            location = f"/_blobs/{quote(model.path)}.tar.gz"
            self._send_text(302, f"Found: {location}\n", head, {"Location": location})
            return
        model = catalog.resolve_kaggle(segments, KAGGLE_PAGE)
        if model is not None:
            self._send_model(model, query, head)
            return

        model = catalog.resolve(rel)
        if model is not None:
            self._send_model(model, query, head)
            return
        self._not_found(head)

    def _send_model(self, model: Model, query: dict[str, str], head: bool) -> None:
        fmt = query.get("tf-hub-format")
        if fmt is None:
            self._send_page(model, head)
        elif fmt == "compressed":
            self._send_archive(model, head)
        elif fmt == "uncompressed":
            prefix = self.hub.gcs_prefix
            if prefix is None:
                self._send_text(
                    400,
                    "This server was started without --gcs-prefix, so it does not offer "
                    "uncompressed models. Load the compressed archive instead "
                    "(unset TFHUB_MODEL_LOAD_FORMAT or set it to COMPRESSED).\n",
                    head,
                )
            else:
                # tensorflow_hub expects exactly this: 303, no Location, gs:// path as body.
                self._send_text(303, model.gcs_location(prefix), head)
        else:
            self._send_text(
                400,
                f"Unknown tf-hub-format {fmt!r}: use 'compressed' or 'uncompressed'.\n",
                head,
            )

    # -- answers --------------------------------------------------------------------

    def _not_found(self, head: bool) -> None:
        self._send_text(404, "404 Not Found: no model at this address.\n", head)

    def _send_text(
        self,
        status: int,
        text: str,
        head: bool,
        headers: dict[str, str] | None = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)
            self._sent += len(body)

    def _send_page(self, model: Model, head: bool) -> None:
        host = self.headers.get("Host") or self.hub.url.split("://", 1)[1]
        handle = f"http://{host}{_split_target(self._target())[0]}"
        name = html.escape(model.path)
        load = html.escape(f'model = hub.load("{handle}")')
        compressed = html.escape(f"{handle}?tf-hub-format=compressed", quote=True)
        prefix = self.hub.gcs_prefix
        uncompressed = ""
        if prefix:
            location = html.escape(model.gcs_location(prefix))
            uncompressed = f"<p>Uncompressed (gs://) location: <code>{location}</code></p>\n"
        page = (
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<title>{name} - hubmagic</title></head><body>\n"
            f"<h1>{name}</h1>\n<p>A SavedModel served by hubmagic. Load it with:</p>\n"
            f"<pre>import tensorflow_hub as hub\n{load}</pre>\n"
            f"<p>Download: <a href='{compressed}'>compressed archive (tar.gz)</a></p>\n"
            f"{uncompressed}</body></html>\n"
        )
        self._send_text(200, page, head, content_type="text/html; charset=utf-8")

    def _send_archive(self, model: Model, head: bool) -> None:
        if model.archive is not None:
            self._send_file(model.archive, model.archive_type, head)
        elif model.folder is not None:
            self._send_generated(model, model.folder, head)
        else:  # pragma: no cover - Catalog.resolve never returns such a model
            self._not_found(head)

    def _download_name(self, model: Model) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model.path.replace("/", "_"))
        return f'attachment; filename="{safe}.tar.gz"'

    def _send_generated(self, model: Model, folder: str, head: bool) -> None:
        try:
            entries = self.hub._catalog.scan(folder)
        except OSError as error:
            self._note = f"cannot list {model.path}: {error}"
            self._send_text(500, f"500 Cannot read the model folder: {error.strerror}\n", head)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Content-Disposition", self._download_name(model))
        self.end_headers()
        if head:
            return
        write = self.wfile.write
        # Each chunk's parts are written one by one (never joined): a client that stops
        # reading holds at most one chunk, the read buffer and the compressor in memory.
        for parts in gzip_chunks(tar_stream(entries), self.hub.compresslevel):
            size = sum(len(part) for part in parts)
            if size:
                write(b"%X\r\n" % size)
                for part in parts:
                    write(part)
                write(b"\r\n")
                self._sent += size
        write(b"0\r\n\r\n")

    def _send_file(self, path: str, content_type: str, head: bool) -> None:
        try:
            fd = os.open(path, OPEN_FLAGS)
        except OSError as error:
            self._note = f"cannot open archive: {error}"
            self._not_found(head)
            return
        with open(fd, "rb") as file:
            info = os.fstat(fd)
            size = info.st_size
            byte_range: tuple[int, int] | None = None
            header = self.headers.get("Range")
            if header is not None:
                try:
                    byte_range = parse_range(header, size)
                except Unsatisfiable:
                    self._send_text(
                        416,
                        f"416 Range Not Satisfiable: the file has {size} bytes.\n",
                        head,
                        {"Content-Range": f"bytes */{size}"},
                    )
                    return
            start, end = byte_range if byte_range is not None else (0, size - 1)
            length = end - start + 1
            self.send_response(206 if byte_range is not None else 200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Last-Modified", email.utils.formatdate(info.st_mtime, usegmt=True))
            if byte_range is not None:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if head or length <= 0:
                return
            sent = self.connection.sendfile(file, start, length)
            self._sent += sent
            if sent < length:
                self.close_connection = True
                self._note = "archive shrank while it was being sent"


class BusyHandler(Handler):
    """Answers ``503`` with ``Retry-After`` to a connection past the server's limit."""

    def _idle_timeout(self) -> float:
        return min(self.hub.idle_timeout, _BUSY_TIMEOUT_S)

    def _route(self, head: bool) -> None:
        limit = self.hub.max_connections
        self._note = f"refused: {limit} connections open, the limit"
        self._send_text(
            503,
            f"503 Service Unavailable: this server already has {limit} connections open, "
            f"its limit; retry in {RETRY_AFTER_S} s.\n",
            head,
            {"Retry-After": str(RETRY_AFTER_S), "Connection": "close"},
        )
