"""What ranged downloads are made of: the failure kinds and the backend protocols.

A backend (:mod:`~hubmagic.core.http_ranges`, :mod:`~hubmagic.core.gcs_ranges`)
fetches ranges and sorts what fails into these kinds;
:class:`~hubmagic.core.ranged.RangedDownload` decides what each means.

Failures are handled per range:

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

import threading
from collections.abc import Callable
from typing import Any, Protocol

from hubmagic.core import config
from hubmagic.core.errors import DownloadError

TRANSIENT_STATUSES = frozenset({408, 500, 502, 504})
"""Answers to a ranged request worth retrying from the bytes received (:class:`Transient`)."""
THROTTLE_STATUSES = frozenset({429, 503})
"""Answers asking for fewer requests (:class:`Throttled`)."""


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


def worth_it(size: int | None, *, single: bool = False) -> bool:
    """Whether an archive of ``size`` bytes is fetched in parallel ranges (the settings)."""
    return (
        not single
        and size is not None
        and config.connections() > 1
        and size >= config.parallel_threshold()
    )
