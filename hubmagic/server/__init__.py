"""A small TF Hub / Kaggle Models server for a folder of SavedModels.

:class:`HubServer` answers the same URLs that ``tensorflow_hub`` and hubmagic
request from tfhub.dev, Kaggle and the China mirror, for every SavedModel found
under a root folder. It is a real tool (``hubmagic serve DIR`` shares models on
a team network or an air-gapped machine) and the test fixture of hubmagic.

A *model path* ``P`` is a relative path such that ``root/P`` is a folder holding
``saved_model.pb`` or ``saved_model.pbtxt``, or such that ``root/P.tar.gz``,
``root/P.tgz`` or ``root/P.tar`` is a prebuilt archive. The server answers:

* ``/P?tf-hub-format=compressed``: a tar.gz of the folder, generated while it is
  sent (or the prebuilt archive as-is, with HTTP range support).
* ``/P?tf-hub-format=uncompressed``: ``303 See Other`` with no ``Location`` and
  the ``gs://`` path of the model as body, when started with ``gcs_prefix``.
* ``/P``: a short HTML page saying how to load the model.
* ``/models/<owner>/<model>/frameworks/<fw>/variations/<var>/versions/<n>``:
  the Kaggle model page form, with the same query handling.
* ``/api/v1/models/<owner>/<model>/<fw>/<var>/<n>/download``: Kaggle's API
  download, a ``302`` to ``/_blobs/<P>.tar.gz``, which serves the archive.
* ``/tfhub-modules/<P>.tar.gz``: the ``gcs.tensorflow.google.cn`` form.

Nothing outside the root folder is ever served: paths with ``..``, empty
segments, backslashes or NULs are refused, and symbolic links are followed only
when their target stays inside the root.
"""

from __future__ import annotations

import contextlib
import email.utils
import html
import logging
import os
import re
import socket
import socketserver
import stat
import sys
import tarfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = ["HubServer", "RequestRecord"]

_logger = logging.getLogger(__name__)

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
"""File names that make a folder a SavedModel."""

PREBUILT_SUFFIXES = (
    (".tar.gz", "application/x-gzip"),
    (".tgz", "application/x-gzip"),
    (".tar", "application/x-tar"),
)
"""Suffixes of prebuilt archives, in order of preference, with their content type."""

CHUNK_SIZE = 1 << 20
"""Smallest HTTP chunk sent while streaming a generated archive (but the last)."""

_READ_SIZE = 2 << 20
_RECORD_SIZE = 20 * tarfile.BLOCKSIZE
_KAGGLE_PAGE = ("models", None, None, "frameworks", None, "variations", None, "versions", None)
_KAGGLE_API = ("api", "v1", "models", None, None, None, None, None, "download")
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
_RANGE_RE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


# How long stop() lets requests being answered finish.
_STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered, as kept in :attr:`HubServer.requests`.

    Attributes:
        method: HTTP method, e.g. ``"GET"``.
        path: Path of the request target as sent, without the query string
            (still percent-encoded).
        query: Query parameters (the last value wins when one is repeated).
        range: Value of the ``Range`` header, or ``None``.
        status: HTTP status code of the answer.
    """

    method: str
    path: str
    query: dict[str, str]
    range: str | None
    status: int


class _Compressor(Protocol):
    def compress(self, data: bytes | memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


class _ArchiveAborted(Exception):
    """The archive cannot be completed after its headers were sent."""


class _Unsatisfiable(Exception):
    """The ``Range`` header asks for bytes past the end of the file."""


@dataclass(frozen=True)
class _Model:
    path: str
    folder: str | None
    archive: str | None
    archive_type: str


@dataclass(frozen=True)
class _Entry:
    name: str
    source: str
    is_dir: bool
    size: int
    mtime: int
    mode: int


def _is_inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _valid_segments(rel: str) -> list[str] | None:
    segments = rel.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or "\\" in segment or "\x00" in segment:
            return None
    return segments


def _split_target(target: str) -> tuple[str, str]:
    """Splits a request target into its (still percent-encoded) path and query."""
    if not target.startswith("/"):  # absolute form: http://host/path?query
        parts = urlsplit(target)
        return parts.path, parts.query
    path, _, query = target.partition("?")
    return path, query.partition("#")[0]


def _new_compressor(level: int) -> _Compressor:
    """A gzip (wbits 31) compressor: ISA-L when installed and level > 0, else zlib."""
    if level > 0:
        try:
            from isal import isal_zlib
        except ImportError:
            pass
        else:
            isal_level = 1 if level <= 3 else 2 if level <= 6 else 3
            return cast(_Compressor, isal_zlib.compressobj(isal_level, isal_zlib.DEFLATED, 31))
    return zlib.compressobj(level, zlib.DEFLATED, 31)


def _tar_header(entry: _Entry) -> bytes:
    info = tarfile.TarInfo(entry.name)
    info.type = tarfile.DIRTYPE if entry.is_dir else tarfile.REGTYPE
    info.size = 0 if entry.is_dir else entry.size
    info.mtime = entry.mtime
    info.mode = entry.mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _tar_stream(entries: Iterable[_Entry]) -> Iterator[bytes | memoryview]:
    """Yields the bytes of an uncompressed tar of ``entries``, file by file.

    Yielded memoryviews point into a reused buffer: consume them before the next.
    """
    buffer = bytearray(_READ_SIZE)
    view = memoryview(buffer)
    total = 0
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    for entry in entries:
        header = _tar_header(entry)
        total += len(header)
        yield header
        if entry.is_dir:
            continue
        try:
            fd = os.open(entry.source, flags)
        except OSError as error:
            raise _ArchiveAborted(f"cannot open {entry.name}: {error}") from error
        with open(fd, "rb", buffering=0) as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _ArchiveAborted(f"{entry.name} is no longer a regular file")
            remaining = entry.size
            while remaining:
                try:
                    count = file.readinto(view[: min(remaining, _READ_SIZE)])
                except OSError as error:
                    raise _ArchiveAborted(f"cannot read {entry.name}: {error}") from error
                if not count:
                    raise _ArchiveAborted(f"{entry.name} shrank while it was being sent")
                remaining -= count
                yield view[:count]
        total += entry.size
        padding = -entry.size % tarfile.BLOCKSIZE
        if padding:
            total += padding
            yield bytes(padding)
    end = 2 * tarfile.BLOCKSIZE
    end += -(total + end) % _RECORD_SIZE
    yield bytes(end)


def _gzip_chunks(pieces: Iterable[bytes | memoryview], level: int) -> Iterator[bytes]:
    """Compresses ``pieces`` into one gzip stream cut in chunks of at least CHUNK_SIZE."""
    compressor = _new_compressor(level)
    parts: list[bytes] = []
    size = 0
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            parts.append(out)
            size += len(out)
            if size >= CHUNK_SIZE:
                yield b"".join(parts)
                parts.clear()
                size = 0
    parts.append(compressor.flush())
    yield b"".join(parts)


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Returns the inclusive byte range asked for, or None to send the whole file.

    Raises:
        _Unsatisfiable: The range starts past the end of the file.
    """
    match = _RANGE_RE.fullmatch(value)
    if not match or match.group(1) == match.group(2) == "":
        return None  # malformed or several ranges: ignored, as RFC 9110 allows
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    return start, min(int(last), size - 1) if last else size - 1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], hub: HubServer) -> None:
        self.hub = hub
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (socket.getfqdn), which can
        # wait for a DNS timeout on a machine without network: skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, _CLIENT_GONE) or (isinstance(error, OSError) and self.hub.stopping):
            return  # the client went away, or stop() cut the connection
        _logger.error("Error while serving %s", client_address, exc_info=True)
        self.hub._emit(f"{client_address[0]} internal error: {error!r}")


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubmagic"
    timeout = 300

    server: _HTTPServer
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

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.hub._add_connection(self.connection)

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
        raw_path, query_string = _split_target(self._target())
        headers = getattr(self, "headers", None)
        self.hub._record(
            RequestRecord(
                method=getattr(self, "command", None) or "",
                path=raw_path,
                query=dict(parse_qsl(query_string, keep_blank_values=True)),
                range=headers.get("Range") if headers is not None else None,
                status=status,
            )
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
        except _CLIENT_GONE:
            self.close_connection = True
            self._note = "client disconnected"
        except _ArchiveAborted as error:
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
        _logger.error("Error while answering %s", self.requestline, exc_info=True)
        if not self._status:
            with contextlib.suppress(OSError):
                self._send_text(500, "500 Internal Server Error\n", head=False)

    # -- routing ------------------------------------------------------------------

    def _route(self, head: bool) -> None:
        raw_path, query_string = _split_target(self._target())
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        try:
            path = unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            self._not_found(head)
            return
        if not path.startswith("/"):
            self._not_found(head)
            return
        rel = path[1:]
        hub = self.hub

        for prefix in ("_blobs/", "tfhub-modules/"):
            if rel.startswith(prefix) and rel.endswith(".tar.gz"):
                model = hub._resolve(rel[len(prefix) : -len(".tar.gz")])
                if model is not None:
                    self._send_archive(model, head)
                    return

        segments = rel.split("/")
        api = self._kaggle_variables(segments, _KAGGLE_API)
        if api is not None:
            model = hub._resolve_kaggle(*api)
            if model is not None:
                location = f"/_blobs/{quote(model.path)}.tar.gz"
                self._send_text(302, f"Found: {location}\n", head, {"Location": location})
                return
        page = self._kaggle_variables(segments, _KAGGLE_PAGE)
        if page is not None:
            model = hub._resolve_kaggle(*page)
            if model is not None:
                self._send_model(model, query, head)
                return

        model = hub._resolve(rel)
        if model is not None:
            self._send_model(model, query, head)
            return
        self._not_found(head)

    @staticmethod
    def _kaggle_variables(
        segments: list[str], pattern: tuple[str | None, ...]
    ) -> tuple[str, str, str, str, str] | None:
        if len(segments) != len(pattern):
            return None
        values: list[str] = []
        for segment, expected in zip(segments, pattern, strict=False):
            if expected is None:
                values.append(segment)
            elif segment != expected:
                return None
        if _valid_segments("/".join(values)) is None or len(values) != 5:
            return None
        owner, model, framework, variation, version = values
        return owner, model, framework, variation, version

    def _send_model(self, model: _Model, query: dict[str, str], head: bool) -> None:
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
                self._send_text(303, f"{prefix.rstrip('/')}/{model.path}", head)
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

    def _send_page(self, model: _Model, head: bool) -> None:
        host = self.headers.get("Host") or self.hub.url.split("://", 1)[1]
        handle = f"http://{host}{_split_target(self._target())[0]}"
        name = html.escape(model.path)
        load = html.escape(f'model = hub.load("{handle}")')
        compressed = html.escape(f"{handle}?tf-hub-format=compressed", quote=True)
        prefix = self.hub.gcs_prefix
        uncompressed = ""
        if prefix:
            location = html.escape(f"{prefix.rstrip('/')}/{model.path}")
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

    def _send_archive(self, model: _Model, head: bool) -> None:
        if model.archive is not None:
            self._send_file(model.archive, model.archive_type, head)
        elif model.folder is not None:
            self._send_generated(model, model.folder, head)
        else:  # pragma: no cover - _resolve never returns such a model
            self._not_found(head)

    def _download_name(self, model: _Model) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model.path.replace("/", "_"))
        return f'attachment; filename="{safe}.tar.gz"'

    def _send_generated(self, model: _Model, folder: str, head: bool) -> None:
        try:
            entries = self.hub._scan(folder)
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
        for chunk in _gzip_chunks(_tar_stream(entries), self.hub.compresslevel):
            if chunk:
                write(b"%X\r\n" % len(chunk))
                write(chunk)
                write(b"\r\n")
                self._sent += len(chunk)
        write(b"0\r\n\r\n")

    def _send_file(self, path: str, content_type: str, head: bool) -> None:
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except OSError as error:
            self._note = f"cannot open archive: {error}"
            self._send_text(404, "404 Not Found: no model at this address.\n", head)
            return
        with open(fd, "rb") as file:
            info = os.fstat(fd)
            size = info.st_size
            byte_range: tuple[int, int] | None = None
            header = self.headers.get("Range")
            if header is not None:
                try:
                    byte_range = _parse_range(header, size)
                except _Unsatisfiable:
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


class HubServer:
    """Serves the SavedModels under a folder with the TF Hub hosting protocol.

    Example:
        >>> with HubServer("/data/models") as server:  # doctest: +SKIP
        ...     hub.load(f"{server.url}/google/tiny/1")

    Args:
        root: Folder holding the models (``root/<owner>/<model>/<version>/...``).
        host: Address to listen on. ``"::1"``-style addresses use IPv6.
        port: Port to listen on; 0 picks a free one (see :attr:`url`).
        gcs_prefix: ``gs://`` folder mirroring ``root``; when set, uncompressed
            requests are answered with ``<gcs_prefix>/<P>`` like tfhub.dev does.
        log: Called with one line per request; by default nothing is logged.
        compresslevel: zlib-style level (0-9) of generated archives. When the
            ``isal`` package is installed, levels 1-9 use the ISA-L deflate
            (1-3, 4-6, 7-9 map to its levels 1, 2, 3): about ten times faster
            than zlib with a similar ratio on model weights.

    Raises:
        NotADirectoryError: ``root`` is not a folder.
    """

    MAX_RECORDS = 100_000
    """How many requests :attr:`requests` keeps (the oldest are dropped)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        gcs_prefix: str | None = None,
        log: Callable[[str], None] | None = None,
        compresslevel: int = 6,
    ) -> None:
        if not os.path.isdir(root):
            raise NotADirectoryError(f"{os.fspath(root)} is not a folder")
        if not 0 <= compresslevel <= 9:
            raise ValueError(f"compresslevel must be between 0 and 9, not {compresslevel}")
        self._root = os.path.realpath(root)
        self._host = host
        self._port = port
        self.gcs_prefix = gcs_prefix
        self.compresslevel = compresslevel
        self._log = log
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=self.MAX_RECORDS)
        self._total = 0
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._active = 0
        self._idle = threading.Condition()
        self._serving = False
        self._stopped = False

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not started"
        return f"HubServer({self._root!r}, {where})"

    # -- lifecycle --------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The served folder (symbolic links resolved)."""
        return Path(self._root)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the listening socket, with the real port.

        Raises:
            RuntimeError: The server is not bound yet (call :meth:`start`).
        """
        httpd = self._httpd
        if httpd is None:
            raise RuntimeError("HubServer is not started: call start() first")
        host = self._host or "0.0.0.0"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{httpd.server_address[1]}"

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopped

    def bind(self) -> HubServer:
        """Opens the listening socket without serving yet (so :attr:`url` is known).

        Returns:
            This server.

        Raises:
            OSError: The address cannot be listened on (e.g. port in use).
            RuntimeError: The server was stopped.
        """
        with self._lock:
            if self._stopped:
                raise RuntimeError("HubServer was stopped; create a new one")
            if self._httpd is None:
                cls = _HTTPServer6 if ":" in self._host else _HTTPServer
                self._httpd = cls((self._host, self._port), self)
        return self

    def start(self) -> HubServer:
        """Starts serving in a background (daemon) thread.

        Returns:
            This server, so that ``server = HubServer(root).start()`` works.
        """
        self.bind()
        with self._lock:
            if self._thread is None and not self._serving:
                httpd = self._httpd
                assert httpd is not None
                self._serving = True
                self._thread = threading.Thread(
                    target=httpd.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name=f"hubmagic-server-{httpd.server_address[1]}",
                    daemon=True,
                )
                self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serves in the calling thread until :meth:`stop` is called from another one.

        KeyboardInterrupt and other exceptions (e.g. raised by a signal handler)
        propagate; call :meth:`stop` afterwards to close the socket.
        """
        self.bind()
        with self._lock:
            if self._serving:
                raise RuntimeError("HubServer is already serving")
            self._serving = True
            httpd = self._httpd
        assert httpd is not None
        httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stops serving, closes the socket and cuts open connections. Idempotent.

        Do not call it from the thread running :meth:`serve_forever`.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            httpd, thread, serving = self._httpd, self._thread, self._serving
            connections = list(self._connections)
        if httpd is None:
            return
        if serving:
            httpd.shutdown()
        httpd.server_close()
        # Let requests being answered finish (and be logged) before cutting
        # connections; idle keep-alive connections do not count.
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=_STOP_GRACE_S)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- request log ------------------------------------------------------------------

    @property
    def requests(self) -> tuple[RequestRecord, ...]:
        """Every request answered so far (at most :attr:`MAX_RECORDS`), oldest first.

        A request is recorded when its status line is sent, so it is visible as
        soon as the client has the answer.
        """
        with self._lock:
            return tuple(self._records)

    def mark(self) -> int:
        """Returns a position in the request log, for :meth:`requests_since`."""
        with self._lock:
            return self._total

    def requests_since(self, mark: int) -> tuple[RequestRecord, ...]:
        """Returns the requests answered after :meth:`mark` returned ``mark``."""
        with self._lock:
            first = self._total - len(self._records)
            return tuple(list(self._records)[max(0, mark - first) :])

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._total += 1

    def _emit(self, line: str) -> None:
        if self._log is not None:
            try:
                self._log(line)
            except Exception:  # a broken log sink must not break serving
                _logger.debug("log callable failed", exc_info=True)

    def _request_started(self) -> None:
        with self._idle:
            self._active += 1

    def _request_ended(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def _add_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _remove_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    # -- models ------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Lists the model paths under the root (folders and prebuilt archives), sorted.

        Model folders are not searched for nested models. Symbolic links are
        followed when they stay inside the root.
        """
        found: set[str] = set()
        seen: set[tuple[int, int]] = set()

        def walk(folder: str, prefix: str) -> None:
            try:
                info = os.stat(folder)
                with os.scandir(folder) as scan:
                    items = sorted(scan, key=lambda item: item.name)
            except OSError:
                return
            if (info.st_dev, info.st_ino) in seen:
                return
            seen.add((info.st_dev, info.st_ino))
            for item in items:
                real = os.path.realpath(item.path)
                if not _is_inside(real, self._root):
                    continue
                rel = prefix + item.name
                if os.path.isdir(real):
                    if self._is_model_folder(real):
                        found.add(rel)
                    else:
                        walk(real, rel + "/")
                elif os.path.isfile(real):
                    for suffix, _ in PREBUILT_SUFFIXES:
                        if item.name.endswith(suffix) and len(item.name) > len(suffix):
                            found.add(rel[: -len(suffix)])
                            break

        walk(self._root, "")
        return sorted(found)

    def _is_model_folder(self, real: str) -> bool:
        for name in SAVED_MODEL_FILES:
            path = os.path.join(real, name)
            if os.path.isfile(path) and _is_inside(os.path.realpath(path), self._root):
                return True
        return False

    def _resolve(self, rel: str) -> _Model | None:
        segments = _valid_segments(rel)
        if segments is None:
            return None
        base = os.path.join(self._root, *segments)
        real = os.path.realpath(base)
        folder = None
        if _is_inside(real, self._root) and os.path.isdir(real) and self._is_model_folder(real):
            folder = real
        for suffix, content_type in PREBUILT_SUFFIXES:
            archive = os.path.realpath(base + suffix)
            if _is_inside(archive, self._root) and os.path.isfile(archive):
                return _Model("/".join(segments), folder, archive, content_type)
        if folder is None:
            return None
        return _Model("/".join(segments), folder, None, "application/x-gzip")

    def _resolve_kaggle(
        self, owner: str, model: str, framework: str, variation: str, version: str
    ) -> _Model | None:
        for candidate in (
            f"{owner}/{model}/{framework}/{variation}/{version}",
            f"{owner}/{model}/{variation}/{version}",
            f"{owner}/{model}/{version}",
        ):
            found = self._resolve(candidate)
            if found is not None:
                return found
        return None

    def _scan(self, folder: str) -> list[_Entry]:
        """Lists the archive entries of a model folder, sorted, depth first.

        Symbolic links are followed when their target is inside the root;
        other links, special files and link loops are left out.
        """
        entries: list[_Entry] = []

        def walk(directory: str, prefix: str, ancestors: frozenset[tuple[int, int]]) -> None:
            with os.scandir(directory) as scan:
                items = sorted(scan, key=lambda item: item.name)
            for item in items:
                source = item.path
                if item.is_symlink():
                    source = os.path.realpath(source)
                    if not _is_inside(source, self._root):
                        continue
                try:
                    info = os.stat(source)
                except OSError:
                    continue
                name = prefix + item.name
                if stat.S_ISDIR(info.st_mode):
                    key = (info.st_dev, info.st_ino)
                    if key in ancestors:
                        continue
                    entries.append(_Entry(name, source, True, 0, int(info.st_mtime), 0o755))
                    walk(source, name + "/", ancestors | {key})
                elif stat.S_ISREG(info.st_mode):
                    mode = 0o755 if info.st_mode & 0o111 else 0o644
                    entries.append(
                        _Entry(name, source, False, info.st_size, int(info.st_mtime), mode)
                    )

        top = os.stat(folder)
        walk(folder, "", frozenset({(top.st_dev, top.st_ino)}))
        return entries
