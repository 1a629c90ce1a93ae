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

Under abuse it stays up and small: at most ``max_connections`` connections are
answered at a time (past them, ``503`` with ``Retry-After``), a connection idle
for ``idle_timeout`` (no complete request head, or no answer byte taken by its
client) is closed, and a generated archive holds about two megabytes per client,
even one that stops reading. Log lines never show secrets: signed-URL
parameters, tokens and ``user:password@`` are replaced by ``REDACTED``.

Nothing outside the root folder is ever served: paths with ``..``, empty
segments, backslashes or NULs are refused, and symbolic links are followed only
when their target stays inside the root.

The package is split by concern, so that each part reads on its own:

* this module: :class:`HubServer` (life cycle, request log) and
  :class:`RequestRecord`;
* :mod:`.listener`: the listening socket (a thread per connection, the limit);
* :mod:`.handler`: the request handler (routing, answers, the idle timeout);
* :mod:`.redact`: secrets out of log lines;
* :mod:`.catalog`: the models under the root and the path of each (the root
  containment checks live there);
* :mod:`.archive`: tar.gz generation while sending, and ``Range`` parsing.

It imports nothing from the rest of hubmagic, so that it stays a stand-in for
tfhub.dev that can be run (or copied) on its own.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from hubmagic.server.archive import CHUNK_SIZE as CHUNK_SIZE
from hubmagic.server.catalog import PREBUILT_SUFFIXES as PREBUILT_SUFFIXES
from hubmagic.server.catalog import SAVED_MODEL_FILES as SAVED_MODEL_FILES
from hubmagic.server.catalog import Catalog
from hubmagic.server.listener import HubHTTPServer, HubHTTPServer6
from hubmagic.server.redact import redact

__all__ = ["HubServer", "RequestRecord"]

_logger = logging.getLogger(__name__)

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
        log: Called with one line per request, secrets redacted; by default
            nothing is logged.
        compresslevel: zlib-style level (0-9) of generated archives. When the
            ``isal`` package is installed, levels 1-9 use the ISA-L deflate
            (1-3, 4-6, 7-9 map to its levels 1, 2, 3): about ten times faster
            than zlib with a similar ratio on model weights.
        max_connections: How many connections are answered at a time (default
            64); past them a connection gets ``503`` with ``Retry-After: 1``.
        idle_timeout: Seconds after which a connection is closed when idle
            (default 60): its request head is not complete, or its client took
            no byte of the answer, for that long.

    Raises:
        NotADirectoryError: ``root`` is not a folder.
        ValueError: ``compresslevel``, ``max_connections`` or ``idle_timeout``
            is out of range.
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
        max_connections: int = 64,
        idle_timeout: float = 60.0,
    ) -> None:
        if not os.path.isdir(root):
            raise NotADirectoryError(f"{os.fspath(root)} is not a folder")
        if not 0 <= compresslevel <= 9:
            raise ValueError(f"compresslevel must be between 0 and 9, not {compresslevel}")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ValueError(f"max_connections must be a whole number, not {max_connections!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be 1 or more, not {max_connections}")
        if not (isinstance(idle_timeout, int | float) and math.isfinite(idle_timeout)):
            raise ValueError(f"idle_timeout must be a number of seconds, not {idle_timeout!r}")
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be more than 0 seconds, not {idle_timeout}")
        self._root = os.path.realpath(root)
        self._catalog = Catalog(self._root)
        self._host = host
        self._port = port
        self.gcs_prefix = gcs_prefix
        self.compresslevel = compresslevel
        self.max_connections = max_connections
        self.idle_timeout = float(idle_timeout)
        self._log = log
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=self.MAX_RECORDS)
        self._total = 0
        self._connections: set[socket.socket] = set()
        self._httpd: HubHTTPServer | None = None
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
                cls = HubHTTPServer6 if ":" in self._host else HubHTTPServer
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

    def _record(
        self, *, method: str, path: str, query: dict[str, str], range: str | None, status: int
    ) -> None:
        record = RequestRecord(method=method, path=path, query=query, range=range, status=status)
        with self._lock:
            self._records.append(record)
            self._total += 1

    def _emit(self, line: str) -> None:
        if self._log is not None:
            try:
                self._log(redact(line))
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
        return self._catalog.models()
