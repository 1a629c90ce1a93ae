"""Progress as one updating line of text, for terminals, logs and plain kernels.

This is a display layer: it turns the core's
:class:`~hubmagic.progress.ProgressEvent` records into text, and nothing else.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import TextIO

from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.units import format_bytes, format_duration


@dataclass(frozen=True)
class Rate:
    """Throughput and time left, from two points of one download."""

    bytes_per_s: float | None
    seconds_left: float | None


def rate_of(event: ProgressEvent, since: tuple[float, int] | None) -> Rate:
    """The average rate since ``since`` (elapsed, bytes), and the time left at that rate."""
    if since is None:
        return Rate(None, None)
    seconds = event.elapsed - since[0]
    if seconds <= 0.05:
        return Rate(None, None)
    speed = (event.bytes_done - since[1]) / seconds
    left = None
    if event.total and speed > 0:
        left = max(0.0, (event.total - event.bytes_done) / speed)
    return Rate(speed, left)


def short_handle(handle: str, width: int = 60) -> str:
    return handle if len(handle) <= width else "..." + handle[-(width - 3) :]


def describe(event: ProgressEvent, rate: Rate) -> str:
    """The event as a short line: what, how far, how fast, what phase."""
    name = short_handle(event.handle)
    if event.phase is Phase.DONE:
        if event.from_cache:
            return f"{name}: in the cache"
        return (
            f"{name}: done in {format_duration(event.elapsed)}, "
            f"{format_bytes(event.bytes_done)} downloaded"
        )
    if event.phase is Phase.FAILED:
        return f"{name}: failed: {event.message}"
    if event.phase is Phase.WAITING:
        return f"{name}: {event.message}, for {format_duration(event.waited)}"
    if event.phase in (Phase.RETRYING, Phase.CONNECTING):
        return f"{name}: {event.message}"
    amount = format_bytes(event.bytes_done)
    if event.total:
        fraction = event.fraction or 0.0
        amount = f"{fraction:4.0%} {amount} / {format_bytes(event.total)}"
    parts = [f"{name}: {amount}"]
    if rate.bytes_per_s is not None:
        parts.append(f"{format_bytes(rate.bytes_per_s)}/s")
    if rate.seconds_left is not None and event.phase is Phase.DOWNLOADING:
        parts.append(f"{format_duration(rate.seconds_left)} left")
    return ", ".join(parts) + f" [{event.phase.value}]"


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
        line = describe(event, rate_of(event, self._since))
        final = event.phase in (Phase.DONE, Phase.FAILED)
        stream = self._stream or sys.stdout
        with self._lock:
            padding = " " * max(0, self._width - len(line))
            stream.write("\r" + line + padding + ("\n" if final else ""))
            stream.flush()
            self._width = 0 if final else len(line)
