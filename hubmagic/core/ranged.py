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

It starts as one stream (the first request's answer, read range after range)
and adds the other connections only once the extractor is seen waiting for
bytes (30 ms in all): where one stream outruns the decompressor (a fast link,
loopback) more connections would only take CPU from it. What each failure
means is in :mod:`~hubmagic.core.range_kinds`.
No byte for ``HUBMAGIC_STALL_TIMEOUT`` over all connections ends it too.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hubmagic.core import config, signals
from hubmagic.core.budget import ConnectionBudget
from hubmagic.core.errors import DownloadError, Fix
from hubmagic.core.progress import Phase, ProgressReporter
from hubmagic.core.range_kinds import (
    Expired,
    Head,
    RangeBackend,
    RangeReader,
    RangesUnusable,
    Throttled,
    Transient,
)
from hubmagic.core.readahead import forwardable
from hubmagic.core.units import format_duration, plural

__all__ = [
    "Expired",
    "RangeBackend",
    "RangeReader",
    "RangedDownload",
    "RangesUnusable",
    "Throttled",
    "Transient",
    "parallel",
]

_POLL = 0.2
"""Seconds between two looks at the stop flag while waiting."""
_JOIN = 1.0
"""Seconds close() waits, in all, for the workers to end."""
_GROW_AFTER = 0.03
"""Seconds the extractor may wait for bytes, in all, before more connections start."""
_WARM_UP = 256 * 1024
"""Bytes received before waits count (the first ones wait for the connection itself)."""
_LOWER_AFTER = 2
"""Failures in a row on one connection after which the download uses one connection fewer."""


@dataclass
class _Range:
    index: int
    start: int
    size: int
    buffer: memoryview
    filled: int = 0


@dataclass
class _Counters:
    received: int = 0
    resumes: int = 0
    retries: int = 0
    last_byte: float = field(default_factory=time.monotonic)


def parallel(
    backend: RangeBackend,
    *,
    total: int,
    reporter: ProgressReporter,
    download: int,
    head: Head | None,
) -> RangedDownload:
    """A :class:`RangedDownload` with the process's budget and the settings."""
    from hubmagic.core.budget import BUDGET

    return RangedDownload(
        backend,
        total=total,
        reporter=reporter,
        budget=BUDGET,
        download=download,
        head=head,
        connections=config.connections(),
        range_size=config.range_size(),
    )


class RangedDownload(io.RawIOBase):
    """Reads an archive of ``total`` bytes through ranges fetched in parallel, in order.

    Args:
        backend: makes connections and refreshes the URL.
        total: the archive's size.
        reporter: receives bytes, connection counts, resumes and retries.
        budget: the process's connection budget; ``download`` is this download's id
            in it, which already holds one connection: the first worker's (it reads
            ``head``, when there is one).
        head: the first request's stream, which fills the first range (``None``:
            the first range is a ranged read like the others).
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
        self._spares = min(connections, self._count) - 1
        self._waited = 0.0
        self._threads: list[threading.Thread] = []
        # The first worker uses the connection the caller holds (the head's, if any);
        # the others start once the extractor is seen waiting for bytes (_grow).
        self._start_worker(head, holds=True)
        if head is None and self._spares:
            self._grow()  # no stream to measure: a ranged read per connection from the start

    def _start_worker(self, head: Head | None, *, holds: bool) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(head, holds),
            name=f"hubmagic-range-{len(self._threads)}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def _grow(self) -> None:
        """Starts the other connections (once): the network, not the extractor, is slow."""
        spares, self._spares = self._spares, 0
        for _ in range(spares):
            self._start_worker(None, holds=False)

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
                began = time.monotonic()
                self._cond.wait(_POLL)
                self._note_wait(time.monotonic() - began)
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

    def _note_wait(self, seconds: float) -> None:
        """The extractor waited for bytes: past ``_GROW_AFTER`` in all, more connections.

        Where one stream outruns the decompressor (a fast link, loopback), more
        connections would only take CPU from it; where the extractor waits, the
        network is the limit and parallel ranges lift it. The first range's
        wait (the connection's start) is not counted.
        """
        if self._spares and self._counts.received >= _WARM_UP:
            self._waited += seconds
            if self._waited >= _GROW_AFTER:
                self._grow()

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
    def _run(self, head: Head | None, holds: bool) -> None:
        if not holds and not self._budget.take(self._download, self._idle):
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

    def _landed(self, taken: _Range, n: int, *, counted: bool = False) -> None:
        """``n`` more bytes of ``taken`` arrived (``counted``: the head stream already
        reported them to the progress)."""
        with self._cond:
            taken.filled += n
            self._counts.received += n
            self._counts.last_byte = time.monotonic()
            if not counted:
                self._reporter.advance(n)
            if taken.index == self._head:
                self._cond.notify_all()

    def _fill_from_head(self, head: Head) -> None:
        """The first request's answer fills ranges 0, 1, 2... while no other connection
        has taken the next one; then it is closed and this worker fetches ranges too."""
        try:
            index = 0
            while not self._stop.is_set():
                with self._cond:
                    while (
                        self._next == index
                        and index >= self._head + self._window
                        and not self._stop.is_set()
                    ):
                        self._cond.wait(_POLL)
                    if self._next != index or index >= self._count:
                        return
                    taken = self._new_range(index)
                    self._ranges[index] = taken
                    self._next = index + 1
                while taken.filled < taken.size and not self._stop.is_set():
                    n = head.readinto(taken.buffer[taken.filled :])
                    if not n:
                        raise DownloadError(
                            f"{self._backend.url} ended after "
                            f"{plural(taken.start + taken.filled, 'byte')}, before the "
                            f"{self._total} it announced.",
                            url=self._backend.url,
                        )
                    self._landed(taken, n, counted=True)
                index += 1
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
