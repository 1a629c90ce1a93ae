"""Progress as text, for terminals, logs and plain kernels.

:class:`TextProgress` keeps one updating line for a download (``%hub_load`` in
a terminal, plain ``hub.load`` with ``TFHUB_DOWNLOAD_PROGRESS``);
:class:`FetchProgress` shows several downloads at once (``hubmagic fetch``).
Both only turn the core's :class:`~hubmagic.core.progress.ProgressEvent`
records into the sentences of :mod:`hubmagic.ui.wording`.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.units import format_bytes
from hubmagic.ui.wording import FINAL_PHASES, phase_change_line, progress_line, rate_of


class TextProgress:
    """A progress callback that keeps one line per download up to date.

    Args:
        stream: where to write; default ``sys.stdout`` at the time of each event.
        show_hits: also print a line for a cache hit.
    """

    def __init__(self, stream: TextIO | None = None, *, show_hits: bool = True) -> None:
        self._stream = stream
        self._show_hits = show_hits
        self._lock = threading.Lock()
        self._since: tuple[float, int] | None = None
        self._width = 0

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase is Phase.STARTED:
            self._since = (event.elapsed, event.bytes_done)
        if event.phase is Phase.DONE and event.from_cache and not self._show_hits:
            return
        line = progress_line(event, rate_of(event, self._since))
        final = event.phase in FINAL_PHASES
        stream = self._stream or sys.stdout
        with self._lock:
            padding = " " * max(0, self._width - len(line))
            stream.write("\r" + line + padding + ("\n" if final else ""))
            stream.flush()
            self._width = 0 if final else len(line)


class FetchProgress:
    """Terminal progress for several downloads at once, from several threads.

    Each handle gets whole lines when its phase changes (connecting,
    downloading, extracting, waiting for a lock, retrying, done, failed);
    below them one status line, redrawn in place at most ``interval`` apart:
    ``n of m done, k running, X downloaded, Y/s``.

    Args:
        stream: a terminal.
        total: the number of handles.
        interval: seconds between two redraws of the status line.
        clock: the time source (tests).
    """

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._total = total
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._phase: dict[str, Phase] = {}
        self._bytes: dict[str, int] = {}
        self._done = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._status = ""
        self._drawn = -1e9

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            now = self._clock()
            self._bytes[event.handle] = event.bytes_done
            previous = self._phase.get(event.handle)
            self._phase[event.handle] = event.phase
            line = None
            if event.phase is not previous:
                line = phase_change_line(event)
            if event.phase in (Phase.DONE, Phase.FAILED):
                self._done += 1
            self._sample(now)
            if line is not None or now - self._drawn >= self._interval:
                self._draw(now, line)

    def finish(self) -> None:
        """Clears the status line."""
        with self._lock:
            self._clear()
            self._stream.flush()

    def _sample(self, now: float) -> None:
        self._samples.append((now, sum(self._bytes.values())))
        while len(self._samples) > 2 and now - self._samples[0][0] > 3.0:
            self._samples.popleft()

    def _status_text(self) -> str:
        running = sum(1 for p in self._phase.values() if p not in (Phase.DONE, Phase.FAILED))
        total_bytes = sum(self._bytes.values())
        parts = [f"{self._done} of {self._total} done"]
        if running:
            parts.append(f"{running} running")
        parts.append(f"{format_bytes(total_bytes)} downloaded")
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 - t0 > 0.2:
            parts.append(f"{format_bytes(max(0, b1 - b0) / (t1 - t0))}/s")
        return ", ".join(parts)

    def _clear(self) -> None:
        if self._status:
            self._stream.write("\r" + " " * len(self._status) + "\r")
            self._status = ""

    def _draw(self, now: float, line: str | None) -> None:
        self._clear()
        if line is not None:
            self._stream.write(line + "\n")
        self._status = self._status_text()
        self._stream.write(self._status)
        self._stream.flush()
        self._drawn = now
