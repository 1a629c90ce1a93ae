"""Progress of a resolve, as structured events for whoever displays them.

The core never prints: it calls a ``progress`` callback with
:class:`ProgressEvent` records and the UI decides between a widget, a text
line or silence. Byte events are throttled here so that a slow renderer can
never slow a download; every other kind of event is always delivered.

A callback that raises aborts the resolve (the cache is cleaned up as for any
other failure): that is how a UI offers a "cancel" button.

An event's handle and message are redacted (:func:`hubmagic.core.redact.redact`):
no password or URL signature reaches a progress view; its ``key`` still names
the cache entry of the handle as given.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hubmagic.core.names import cache_key
from hubmagic.core.redact import redact


class Phase(str, enum.Enum):
    """What the resolve is doing; the value is what text views show."""

    STARTED = "started"
    CONNECTING = "connecting"
    DOWNLOADING = "downloading"
    EXTRACTING = "extracting"
    WAITING = "waiting"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of one resolve.

    Attributes:
        handle: the handle being resolved, as given but redacted.
        phase: what is happening.
        bytes_done: bytes received so far (compressed, as on the wire).
        total: bytes expected in all, when the server said so.
        elapsed: seconds since the resolve started.
        message: a short human sentence (the error for FAILED, the lock holder
            for WAITING, the reason for RETRYING).
        lock_holder: for WAITING, the lock's content ``host.pid.uid``.
        waited: for WAITING, seconds spent waiting so far.
        path: for DONE, the SavedModel folder.
        from_cache: for DONE, whether nothing had to be downloaded.
        key: the cache key of the handle as given (``sha1``); empty when the
            event was built by hand, then :attr:`cache_key` computes it.
        connections: connections downloading right now (0 when none, or not
            downloading); several for a parallel ranged download.
        resumes: dropped connections or ranges resumed from their own offset so far.
        retries: requests retried so far (errors, 429/503, expired signatures).
        cache_dir: the cache the model goes into (its store's root), once the
            resolve knows it; empty before, and for folders and uncompressed reads.
    """

    handle: str
    phase: Phase
    bytes_done: int = 0
    total: int | None = None
    elapsed: float = 0.0
    message: str = ""
    lock_holder: str | None = None
    waited: float = 0.0
    path: str | None = None
    from_cache: bool = False
    key: str = ""
    connections: int = 0
    resumes: int = 0
    retries: int = 0
    cache_dir: str = ""

    @property
    def cache_key(self) -> str:
        """The cache entry this event is about."""
        return self.key or cache_key(self.handle)

    @property
    def fraction(self) -> float | None:
        """Share done in [0, 1], or ``None`` when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, self.bytes_done / self.total)


ProgressCallback = Callable[[ProgressEvent], None]

# Watchers of every resolve in this process (the cache panel shows downloads it
# did not start). Unlike a resolve's own callback, they cannot cancel it.
_listeners: list[ProgressCallback] = []


def add_listener(listener: ProgressCallback) -> None:
    """Calls ``listener`` with the events of every resolve in this process."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_listener(listener: ProgressCallback) -> None:
    with contextlib.suppress(ValueError):
        _listeners.remove(listener)


@dataclass
class ProgressReporter:
    """Builds events for one resolve and throttles the frequent ones.

    Args:
        handle: the handle, copied into every event.
        callback: where events go; ``None`` for silence.
        interval: the least time between two DOWNLOADING / WAITING events.
    """

    handle: str
    callback: ProgressCallback | None
    interval: float = 0.1
    total: int | None = None
    bytes_done: int = 0
    connections: int = 0
    resumes: int = 0
    retries: int = 0
    cache_dir: str = ""
    _start: float = field(default_factory=time.monotonic)
    _count_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_emit: float = -1e9
    _shown: str = ""
    _key: str = ""

    def __post_init__(self) -> None:
        self._shown = redact(self.handle)
        self._key = cache_key(self.handle)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def emit(self, phase: Phase, **fields: object) -> None:
        """Delivers an event now, whatever the throttle says."""
        if self.callback is None and not _listeners:
            return
        self._last_emit = time.monotonic()
        message = fields.pop("message", "")
        event = ProgressEvent(
            handle=self._shown,
            phase=phase,
            bytes_done=self.bytes_done,
            total=self.total,
            elapsed=self.elapsed,
            message=redact(str(message)),
            key=self._key,
            connections=self.connections,
            resumes=self.resumes,
            retries=self.retries,
            cache_dir=self.cache_dir,
            **fields,  # type: ignore[arg-type]
        )
        for listener in tuple(_listeners):
            # A watcher (the cache panel) must never break a download.
            with contextlib.suppress(Exception):
                listener(event)
        if self.callback is not None:
            self.callback(event)

    def _due(self) -> bool:
        has_audience = self.callback is not None or bool(_listeners)
        return has_audience and time.monotonic() - self._last_emit >= self.interval

    def advance(self, nbytes: int) -> None:
        """Counts received bytes; emits DOWNLOADING at most once per interval.

        Safe from several threads at once (the connections of a ranged download).
        """
        with self._count_lock:
            self.bytes_done += nbytes
        if self._due():
            self.emit(Phase.DOWNLOADING)

    def waiting(self, holder: str, waited: float, message: str) -> None:
        if self._due():
            self.emit(Phase.WAITING, lock_holder=holder, waited=waited, message=message)
