"""One connection budget for all downloads of a process.

``HUBMAGIC_CONNECTIONS`` bounds the connections a download uses, and also all
downloads running at once in this process (``hubmagic fetch`` of several
handles, or two ``%hub_load`` in threads): a download gets a fair share,
``limit // downloads`` and at least one, and a download that holds no
connection is served first, so none starves. A connection is held for one
range at a time, so shares move as downloads start and end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hubmagic.core import config, signals

_POLL = 0.2


class ConnectionBudget:
    """Counts connections per download against one process-wide limit."""

    def __init__(self, limit: Callable[[], int] = config.connections) -> None:
        self._limit = limit
        self._cond = threading.Condition()
        self._held: dict[int, int] = {}

    def limit(self) -> int:
        return max(1, self._limit())

    def join(self, download: int) -> None:
        with self._cond:
            self._held.setdefault(download, 0)

    def leave(self, download: int) -> None:
        with self._cond:
            self._held.pop(download, None)
            self._cond.notify_all()

    def _may_take(self, download: int, limit: int) -> bool:
        held = self._held.get(download, 0)
        total = sum(self._held.values())
        if total >= limit:
            return False
        if held == 0:
            return True
        if any(n == 0 for d, n in self._held.items() if d != download):
            return False  # a download with no connection goes first
        share = max(1, limit // max(1, len(self._held)))
        return held < share

    def try_take(self, download: int) -> bool:
        """Takes a connection for ``download`` if its share allows it now."""
        with self._cond:
            if not self._may_take(download, self.limit()):
                return False
            self._held[download] = self._held.get(download, 0) + 1
            return True

    def take(self, download: int, stop: threading.Event | None = None) -> bool:
        """Waits for a connection; ``False`` when ``stop`` is set first.

        Raises:
            Interrupted: the process was told to stop (Ctrl-C, SIGTERM).
        """
        with self._cond:
            while not self._may_take(download, self.limit()):
                if stop is not None and stop.is_set():
                    return False
                self._cond.wait(_POLL)
                if threading.current_thread() is threading.main_thread():
                    signals.check()
            self._held[download] = self._held.get(download, 0) + 1
            return True

    def give_back(self, download: int) -> None:
        with self._cond:
            if self._held.get(download, 0) > 0:
                self._held[download] -= 1
            self._cond.notify_all()

    def in_use(self) -> dict[int, int]:
        """Connections held now, per download."""
        with self._cond:
            return {d: n for d, n in self._held.items() if n}

    def held(self, download: int) -> int:
        with self._cond:
            return self._held.get(download, 0)


BUDGET = ConnectionBudget()
"""The process's budget: every download takes its connections from it."""
