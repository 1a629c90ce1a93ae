"""Reads a stream ahead in its own thread, so the network never waits for the CPU.

Measured on a 279 MB archive over loopback (benchmarks/bench_download.py):
with the network read and gzip decompression in one thread, that thread was
the bottleneck (0.88 s of CPU for 0.7 s of decompression). A reader thread
that fills a small pool of reused 1 MiB buffers takes the network part off it.
The pool bounds memory: at most ``depth`` buffers are in flight.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from typing import Any, Protocol

from hubmagic.core import signals

CHUNK = 1024 * 1024
_DONE = object()
_POLL = 0.2
"""Seconds between two looks at the stop flag while no data arrives."""
_JOIN = 1.0
"""Seconds close() waits for the thread before leaving it to close the source."""


class Forwarded(Exception):
    """A Ctrl-C or a stop raised in a reader thread, on its way to the download's thread.

    The thread that reads this stream may be isal's decompressor, which hands only
    ``Exception`` on to its reader: a bare ``KeyboardInterrupt`` would end that
    thread instead. ``download`` raises :attr:`original` again.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


def forwardable(exc: BaseException) -> Exception:
    """``exc`` itself, or wrapped in :class:`Forwarded` when it is no ``Exception``."""
    return exc if isinstance(exc, Exception) else Forwarded(exc)


class Source(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...

    def close(self) -> None: ...


class ReadAhead(io.RawIOBase):
    """A read-once raw stream that prefetches ``source`` in a background thread.

    Errors raised by ``source`` are raised again, in order, by :meth:`readinto`.
    :meth:`close` stops the thread and closes ``source`` (a read stuck on a
    silent server is not waited for: the thread closes ``source`` when it
    returns). While no data arrives, :meth:`readinto` raises
    :class:`~hubmagic.core.signals.Interrupted` once the process is told to stop.

    Args:
        source: a stream with ``readinto`` (read front to back, once).
        depth: buffers in flight at most.
        chunk: size of each buffer.
    """

    def __init__(self, source: Source, *, depth: int = 8, chunk: int = CHUNK) -> None:
        super().__init__()
        self._source = source
        self._free: queue.Queue[memoryview] = queue.Queue()
        for _ in range(depth):
            self._free.put(memoryview(bytearray(chunk)))
        self._filled: queue.Queue[Any] = queue.Queue()
        self._current: memoryview | None = None
        self._view = memoryview(b"")
        self._stop = threading.Event()
        self._close_lock = threading.Lock()
        self._source_closed = False
        self._thread = threading.Thread(target=self._fill, name="hubmagic-read-ahead", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            while not self._stop.is_set():
                buffer = self._free.get()
                if self._stop.is_set():
                    return
                n = self._source.readinto(buffer)
                if not n:
                    break
                self._filled.put((buffer, n))
        except BaseException as exc:  # handed to the reader, raised in its thread
            self._filled.put(exc)
            return
        finally:
            if self._stop.is_set():
                # close() did not wait for a read stuck on a silent server: the
                # source is closed here, once that read returns.
                with contextlib.suppress(Exception):
                    self._close_source()
        self._filled.put(_DONE)

    def _close_source(self) -> None:
        with self._close_lock:
            if self._source_closed:
                return
            self._source_closed = True
        self._source.close()

    def _next(self) -> Any:
        """The next filled buffer (or end, or error); raises Interrupted once the process stops."""
        while True:
            try:
                return self._filled.get(timeout=_POLL)
            except queue.Empty:
                signals.check()  # a worker thread gets no signal: it looks at the flag

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._view:
            if self._current is not None:
                self._free.put(self._current)
                self._current = None
            item = self._next()
            if item is _DONE:
                self._filled.put(_DONE)  # later reads see the end too
                return 0
            if isinstance(item, BaseException):
                self._filled.put(item)
                raise forwardable(item)
            self._current, n = item
            assert self._current is not None
            self._view = self._current[:n]
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]
        return n

    def close(self) -> None:
        if self.closed:
            return
        self._stop.set()
        self._free.put(memoryview(bytearray(1)))  # wake the thread if it waits for a buffer
        try:
            # A thread waiting for a buffer ends at once. One stuck in a read (a
            # server that stalls, then Ctrl-C or SIGTERM) is not waited for: closing
            # the source now would block on that very read, up to the read timeout.
            self._thread.join(timeout=_JOIN)
            if not self._thread.is_alive():
                self._close_source()
        finally:
            super().close()
