"""The listening socket: one thread per connection, at most ``max_connections`` of them.

:class:`HubHTTPServer` accepts connections for one
:class:`~hubmagic.server.HubServer` and answers each in a thread of its own,
while the accepting thread never waits for a client. A connection takes one of
``max_connections`` slots until it is closed. Past them, a connection is still
read and answered ``503 Service Unavailable`` with ``Retry-After`` (by
:class:`~hubmagic.server.handler.BusyHandler`, in one of as many refusal slots,
with a short timeout), so that a client learns why; past those too (a flood),
it is closed at once. Threads are never joined on close: :meth:`HubServer.stop
<hubmagic.server.HubServer.stop>` cuts the connections instead.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from hubmagic.server.handler import CLIENT_GONE, BusyHandler, Handler, logger

if TYPE_CHECKING:
    from hubmagic.server import HubServer

__all__ = ["HubHTTPServer", "HubHTTPServer6"]

_MIN_REFUSALS = 8


class HubHTTPServer(ThreadingHTTPServer):
    """The listening socket of one :class:`~hubmagic.server.HubServer` (IPv4)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], hub: HubServer) -> None:
        self.hub = hub
        self._slots = threading.BoundedSemaphore(hub.max_connections)
        self._refusals = threading.BoundedSemaphore(max(_MIN_REFUSALS, hub.max_connections))
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (socket.getfqdn), which can
        # wait for a DNS timeout on a machine without network: skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Answers the connection in a new thread, or refuses it when all slots are taken."""
        handler: type[Handler]
        if self._slots.acquire(blocking=False):
            handler, slot = Handler, self._slots
        elif self._refusals.acquire(blocking=False):
            handler, slot = BusyHandler, self._refusals
        else:  # a flood: even the polite refusals are all busy
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address, handler, slot),
            name=f"hubmagic-connection-{client_address[1]}",
            daemon=True,
        )
        try:
            thread.start()
        except BaseException:  # no thread to answer it: socketserver closes the socket
            slot.release()
            raise

    def _serve_connection(
        self,
        request: socket.socket,
        client_address: Any,
        handler: type[Handler],
        slot: threading.BoundedSemaphore,
    ) -> None:
        try:
            handler(request, client_address, self)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            slot.release()
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, CLIENT_GONE) or (isinstance(error, OSError) and self.hub.stopping):
            return  # the client went away, or stop() cut the connection
        logger.error("Error while serving %s", client_address, exc_info=True)
        self.hub._emit(f"{client_address[0]} internal error: {error!r}")


class HubHTTPServer6(HubHTTPServer):
    """The same, for an IPv6 address."""

    address_family = socket.AF_INET6
