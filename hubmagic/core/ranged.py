"""A parallel ranged download, handed to the extractor in order while it arrives.

One HTTP stream over a long path is capped well below the link (about 40 MB/s
against 300+ MB/s over several, huggingface_hub#2658; aria2 and gcloud's sliced
downloads exist for this). :class:`RangedDownload` fetches the archive as
fixed-size ranges (``HUBMAGIC_RANGE_SIZE``) over several connections
(``HUBMAGIC_CONNECTIONS``) and is itself a read-once stream of the archive's
bytes in order, so the decompressor and the tar extractor run while later
ranges are still arriving.

**A bounded reorder window in memory, not a sparse file.** Ranges are taken in
order and none starts more than ``window`` ranges ahead of the one the
extractor reads, so at most ``window`` range buffers exist (reused): 12 x 4 MiB
with the defaults, whatever the model's size. A sparse file would bound memory
too, but would write the archive to disk and read it back (two more copies of
every byte, and the archive's size in extra disk space while the model is
written next to it), which costs more CPU than the extraction can spare on a
small machine. The price of the window: one slow connection stops the others
``window`` ranges ahead of it until it catches up; the extractor reads the range
at the head as its bytes land, so it never waits for a whole range.

Failures are handled per range by the backend's errors (see
``http_ranges`` / ``gcs_ranges``):

- :class:`Transient` (reset, timeout, 5xx): the range resumes from its own
  offset on a new connection, after a backoff; two in a row on one connection
  lower the number of connections by one;
- :class:`Throttled` (429 / 503): one connection fewer; the last one waits for
  ``Retry-After`` instead;
- :class:`Expired` (a signed URL past its time): the backend asks the handle's
  URL for a fresh redirect, once for all connections, and the range goes on;
- :class:`RangesUnusable` (Range ignored, the file changed, a Content-Range
  that does not fit): the whole download falls back to one stream from the
  start (the caller does that, once);
- any other :class:`HubmagicError` ends the download.

No byte for ``HUBMAGIC_STALL_TIMEOUT`` over all connections ends it too.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hubmagic.core import config, signals
from hubmagic.core.budget import ConnectionBudget
from hubmagic.core.errors import DownloadError, Fix
from hubmagic.core.progress import Phase, ProgressReporter
from hubmagic.core.readahead import forwardable
from hubmagic.core.units import format_duration, plural

_POLL = 0.2
"""Seconds between two looks at the stop flag while waiting."""
_JOIN = 1.0
"""Seconds close() waits, in all, for the workers to end."""
_LOWER_AFTER = 2
"""Failures in a row on one connection after which the download uses one connection fewer."""


class RangeFailure(Exception):
    """Why one ranged request failed (raised by backends; never leaves this module)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(RangeFailure):
    """Worth retrying on a new connection, from the bytes already received."""


class Throttled(RangeFailure):
    """The server asked for fewer requests (429, 503), perhaps saying when to come back."""

    def __init__(self, reason: str, delay: float | None) -> None:
        super().__init__(reason)
        self.delay = delay


class Expired(RangeFailure):
    """The signed URL is past its time: a fresh redirect is needed."""


class RangesUnusable(DownloadError):
    """Ranges cannot be trusted here: download again as one stream from the start."""

    def __init__(self, reason: str, *, url: str) -> None:
        super().__init__(f"Parallel download of {url} stopped: {reason}.", url=url)
        self.reason = reason


class RangeReader(Protocol):
    """One connection's way of fetching ranges of the archive."""

    def read_range(
        self, start: int, into: memoryview, on_bytes: Callable[[int], None], stop: threading.Event
    ) -> None:
        """Fills ``into`` with the bytes from ``start`` on, calling ``on_bytes(n)`` per piece.

        Raises:
            RangeFailure: a subclass saying what to do.
            HubmagicError: a failure no retry can fix (404, access denied...).
        """

    def close(self) -> None: ...


class RangeBackend(Protocol):
    url: str
    generation: int

    def connect(self) -> RangeReader: ...

    def refresh(self, seen: int) -> None:
        """Gets a fresh signed URL unless another connection did since ``seen``."""


class Head(Protocol):
    """An open stream of the archive from byte 0 (the first request's answer)."""

    def readinto(self, buffer: Any, /) -> int: ...

    def close(self) -> None: ...


@dataclass
class _Range:
    index: int
    start: int
    size: int
    buffer: memoryview
    filled: int = 0


@dataclass
class _Counters:
    resumes: int = 0
    retries: int = 0
    last_byte: float = field(default_factory=time.monotonic)


class RangedDownload(io.RawIOBase):
    """Reads an archive of ``total`` bytes through ranges fetched in parallel, in order.

    Args:
        backend: makes connections and refreshes the URL.
        total: the archive's size.
        reporter: receives bytes, connection counts, resumes and retries.
        budget: the process's connection budget; ``download`` is this download's id
            in it, which already holds one connection (the ``head``'s).
        head: the first request's stream, which fills the first range.
        connections: at most this many at once.
        range_size: bytes per request.
        window: ranges in memory at most (default ``connections + 4``).
    """

    def __init__(
        self,
        backend: RangeBackend,
        *,
        total: int,
        reporter: ProgressReporter,
        budget: ConnectionBudget,
        download: int,
        head: Head | None,
        connections: int,
        range_size: int,
        window: int | None = None,
    ) -> None:
        super().__init__()
        self._backend = backend
        self._total = total
        self._reporter = reporter
        self._budget = budget
        self._download = download
        self._size = range_size
        self._count = -(-total // range_size)
        self._window = window or connections + 4
        self._limit = connections
        self._retries = config.retries()
        self._backoff = config.retry_backoff()
        self._stall = config.stall_timeout()
        self._cond = threading.Condition()
        self._ranges: dict[int, _Range] = {}
        self._pool: list[bytearray] = []
        self._next = 0
        self._returned: list[int] = []
        self._head = 0
        self._head_pos = 0
        self._active = 0
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._idle = threading.Event()  # set when no range is left to take: waiters give up
        self._counts = _Counters()
        self.resumed = 0
        threads = [threading.Thread(target=self._run, args=(head,), daemon=True)]
        threads += [
            threading.Thread(target=self._run, args=(None,), daemon=True)
            for _ in range(min(connections, self._count) - 1)
        ]
        for number, thread in enumerate(threads):
            thread.name = f"hubmagic-range-{number}"
            thread.start()
        self._threads = threads

    # -- the consumer -------------------------------------------------------
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._cond:
            while True:
                if self._error is not None:
                    raise forwardable(self._error)
                if self._head >= self._count:
                    return 0
                current = self._ranges.get(self._head)
                if current is not None and current.filled > self._head_pos:
                    break
                self._cond.wait(_POLL)
                signals.check()
            available = current.filled - self._head_pos
        # Bytes below ``filled`` are never written again: copy them unlocked.
        n = min(len(buffer), available)
        buffer[:n] = current.buffer[self._head_pos : self._head_pos + n]
        self._head_pos += n
        if self._head_pos == current.size:
            with self._cond:
                del self._ranges[self._head]
                self._pool.append(current.buffer.obj)  # type: ignore[arg-type]
                self._head += 1
                self._head_pos = 0
                self._cond.notify_all()
        return n

    def close(self) -> None:
        if self.closed:
            return
        self._stop.set()
        self._idle.set()
        with self._cond:
            self._cond.notify_all()
        # Workers look at the stop flag between two reads; one stuck on a silent
        # server is not waited for (it ends at its read timeout).
        deadline = time.monotonic() + _JOIN
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        super().close()

    # -- the workers --------------------------------------------------------
    def _run(self, head: Head | None) -> None:
        if head is None and not self._budget.take(self._download, self._idle):
            return
        with self._cond:
            self._active += 1
            self._reporter.connections = self._active
        reader: RangeReader | None = None
        left = False  # _take counted this worker out already
        try:
            if head is not None:
                self._fill_from_head(head)
            while not self._stop.is_set():
                taken = self._take()
                if taken is None:
                    left = True
                    return
                reader, left = self._fetch(taken, reader)
                if left:
                    return
        except BaseException as exc:  # handed to the consumer, raised in its thread
            self._fail(exc)
        finally:
            if reader is not None:
                with contextlib.suppress(Exception):
                    reader.close()
            if not left:
                with self._cond:
                    self._leave()
            self._budget.give_back(self._download)

    def _leave(self) -> None:
        """Counts this worker out (under the lock)."""
        self._active -= 1
        self._reporter.connections = self._active
        self._cond.notify_all()

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            if self._error is None and not self._stop.is_set():
                self._error = exc
            self._stop.set()
            self._idle.set()
            self._cond.notify_all()

    def _new_range(self, index: int) -> _Range:
        start = index * self._size
        size = min(self._size, self._total - start)
        raw = self._pool.pop() if self._pool else bytearray(self._size)
        return _Range(index, start, size, memoryview(raw)[:size])

    def _take(self) -> _Range | None:
        """The next range to fetch, once the window allows it; ``None`` when this worker ends.

        Deciding to end and counting the worker out happen under one lock, so
        workers told to leave (fewer connections) never all leave: at least
        ``_limit`` (>= 1) stay while ranges remain, and a range handed back is
        taken before any worker ends for lack of work.
        """
        with self._cond:
            while not self._stop.is_set():
                if self._active > self._limit:
                    break  # fewer connections now: this one leaves
                if self._returned:
                    return self._ranges[heapq.heappop(self._returned)]
                if self._next >= self._count:
                    self._idle.set()
                    break
                if self._next < self._head + self._window:
                    taken = self._new_range(self._next)
                    self._ranges[taken.index] = taken
                    self._next += 1
                    return taken
                self._cond.wait(_POLL)
            self._leave()
            return None

    def _landed(self, taken: _Range, n: int) -> None:
        with self._cond:
            taken.filled += n
            self._counts.last_byte = time.monotonic()
            self._reporter.advance(n)
            if taken.index == self._head:
                self._cond.notify_all()

    def _fill_from_head(self, head: Head) -> None:
        """The first range comes from the first request's answer, which is then closed."""
        with self._cond:
            first = self._new_range(0)
            self._ranges[0] = first
            self._next = 1
        try:
            while first.filled < first.size and not self._stop.is_set():
                n = head.readinto(first.buffer[first.filled :])
                if not n:
                    raise DownloadError(
                        f"{self._backend.url} ended after {plural(first.filled, 'byte')}, "
                        f"before the {self._total} it announced.",
                        url=self._backend.url,
                    )
                self._landed(first, n)
        finally:
            head.close()

    def _fetch(self, taken: _Range, reader: RangeReader | None) -> tuple[RangeReader | None, bool]:
        """Fills one range, resuming from its own offset.

        Returns the connection to reuse, and whether this worker was counted out
        (one connection fewer: the range was handed back).
        """
        failures = 0
        while taken.filled < taken.size:
            if self._stop.is_set():
                return reader, False
            if reader is None:
                reader = self._backend.connect()
            generation = self._backend.generation
            before = taken.filled
            try:
                reader.read_range(
                    taken.start + taken.filled,
                    taken.buffer[taken.filled :],
                    lambda n: self._landed(taken, n),
                    self._stop,
                )
            except Transient as exc:
                with contextlib.suppress(Exception):
                    reader.close()
                reader = None
                failures = 0 if taken.filled > before else failures + 1
                self._count_failure(resumed=taken.filled > 0)
                self._check_stall(exc.reason)
                if failures > self._retries:
                    raise self._gave_up(failures, exc.reason) from None
                if failures >= _LOWER_AFTER and self._lower(taken, exc.reason):
                    return reader, True
                if failures:
                    self._wait(failures, exc.reason)
                else:  # bytes came before it dropped: resume at once
                    self._reporter.emit(
                        Phase.RETRYING,
                        message=f"{exc.reason}; resuming from byte {taken.start + taken.filled}",
                    )
            except Throttled as exc:
                failures += 1
                self._count_failure(resumed=False)
                if self._lower(taken, exc.reason):
                    return reader, True
                if failures > self._retries:
                    raise self._gave_up(failures, exc.reason) from None
                self._check_stall(exc.reason)
                self._wait(failures, exc.reason, exc.delay)
            except Expired as exc:
                failures += 1
                self._count_failure(resumed=False)
                if failures > self._retries:
                    raise self._gave_up(failures, exc.reason) from None
                self._reporter.emit(
                    Phase.RETRYING, message=f"{exc.reason}; asking for a fresh download link"
                )
                self._backend.refresh(generation)
        return reader, False

    def _count_failure(self, *, resumed: bool) -> None:
        with self._cond:
            self._counts.retries += 1
            self._reporter.retries = self._counts.retries
            if resumed:
                self._counts.resumes += 1
                self.resumed = self._counts.resumes
                self._reporter.resumes = self._counts.resumes

    def _lower(self, taken: _Range, reason: str) -> bool:
        """One connection fewer, never below one: hands ``taken`` back and counts this worker
        out, in one step (so two workers cannot both leave the last ranges to nobody).
        ``False`` when this is the last connection, which stays."""
        with self._cond:
            if self._active <= 1:
                return False
            self._limit = min(self._limit, self._active - 1)
            heapq.heappush(self._returned, taken.index)
            self._leave()
        self._reporter.emit(Phase.RETRYING, message=f"{reason}; one connection fewer")
        return True

    def _quiet(self) -> float:
        return time.monotonic() - self._counts.last_byte

    def _check_stall(self, reason: str) -> None:
        quiet = self._quiet()
        if quiet >= self._stall:
            raise DownloadError(
                f"The server sent nothing for {format_duration(quiet)} to download "
                f"{self._backend.url}, past HUBMAGIC_STALL_TIMEOUT ({self._stall:g} s); the "
                f"last attempt: {reason}.",
                url=self._backend.url,
                fix=Fix(
                    "Try again later; to wait longer for a slow server, raise "
                    "HUBMAGIC_STALL_TIMEOUT (seconds)."
                ),
            )

    def _gave_up(self, attempts: int, reason: str) -> DownloadError:
        return DownloadError(
            f"Could not download {self._backend.url} after {plural(attempts, 'attempt')} "
            f"at one range: {reason}.",
            url=self._backend.url,
            fix=Fix("Check the network (or the mirror in HUBMAGIC_ENDPOINT) and try again."),
        )

    def _wait(self, attempt: int, reason: str, delay: float | None = None) -> None:
        wait = delay if delay is not None else self._backoff * (2 ** (attempt - 1))
        wait = max(0.0, min(30.0, wait, self._stall - self._quiet()))
        self._reporter.emit(Phase.RETRYING, message=f"{reason}; retrying in {wait:.1f} s")
        self._stop.wait(wait)
