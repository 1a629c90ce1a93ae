"""tensorflow_hub-compatible download locks as one object, with a faster answer for dead holders.

The lock file holds ``"<hostname>.<pid>.<uid>"`` and the holder extracts into
``<key>.<uid>.tmp``: tensorflow_hub and hubmagic processes exclude each other
through the same file. tensorflow_hub takes a lock over only after 10 minutes
without visible progress (tensorflow/hub#55, #579, #326: "hangs" after a
crash). hubmagic does the same for holders on other hosts, which it cannot
see, but takes over at once when the holder is a dead process on this host.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from hubmagic.core import config
from hubmagic.core.errors import HubmagicError
from hubmagic.core.units import format_bytes

if TYPE_CHECKING:
    from hubmagic.core.progress import ProgressReporter
    from hubmagic.core.store import Store

_POLL_FIRST = 0.1
_POLL_MAX = 1.0

_abandoned: set[str] = set()
"""uids of locks this process took and then could not remove (e.g. GCS went away)."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, parsed from the lock file's content.

    Attributes:
        content: the file's text, as read.
        host: the holder's hostname ("" if the content is not in the usual form).
        pid: its process id (-1 if unknown).
        uid: its task id, which names its ``.tmp`` folder ("" if unknown).
    """

    content: str
    host: str
    pid: int
    uid: str

    @property
    def label(self) -> str:
        """``host:pid`` for messages, or the raw content when malformed."""
        return f"{self.host}:{self.pid}" if self.host else repr(self.content)

    @property
    def on_this_host(self) -> bool:
        return bool(self.host) and self.host == hostname()

    def is_dead(self) -> bool:
        """True only when we can be sure the holder is gone (same host, no such process).

        A process on another host, or one we may not signal, counts as alive:
        only the inactivity rule can release its lock.
        """
        if not self.on_this_host or self.pid <= 0:
            return False
        if self.pid == os.getpid():
            # Alive, obviously; but a lock this process failed to remove
            # belongs to no running download, and waiting for it would hang.
            return self.uid in _abandoned
        return not pid_alive(self.pid)


def abandon(uid: str) -> None:
    """Records that this process could not remove its lock ``uid``: it may be taken over."""
    _abandoned.add(uid)


def hostname() -> str:
    return socket.gethostname()


def new_uid() -> str:
    return uuid.uuid4().hex


def lock_content(uid: str) -> str:
    """What tensorflow_hub writes in a lock: ``host.pid.uid``."""
    return f"{hostname()}.{os.getpid()}.{uid}"


def parse_holder(content: str) -> LockHolder:
    """Parses lock content; hostnames may contain dots, so split from the right."""
    parts = content.strip().rsplit(".", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2]:
        return LockHolder(content, parts[0], int(parts[1]), parts[2])
    return LockHolder(content, "", -1, "")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host.

    A zombie (exited, not yet reaped by its parent) holds nothing any more and
    counts as dead; that matters when a test or notebook kills a child it started.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[-1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


class CacheLock:
    """The download lock of one cache entry: ``with CacheLock(store, key) as lock: ...``.

    Entering does not wait: call :meth:`acquire` (wait, taking over a dead or
    stale holder) or :meth:`try_acquire` (never wait). Leaving releases what is
    still ours: our tmp folder (made with :meth:`make_folder`) and the lock
    file, removed only if it still holds our content, so a lock that another
    process took over (and now holds) is never removed. When the block raises,
    a failing cleanup (a ``gs://`` endpoint that went away) does not replace
    the block's error.

    Args:
        store: the cache root.
        key: the entry's cache key.
        reporter: where WAITING events go while :meth:`acquire` waits.
    """

    def __init__(self, store: Store, key: str, reporter: ProgressReporter | None = None) -> None:
        self.store = store
        self.key = key
        self.uid = new_uid()
        self.content = lock_content(self.uid)
        self.name = store.lock_name(key)
        self.tmp = store.tmp_name(key, self.uid)
        self.held = False
        self.waited = 0.0
        self._reporter = reporter
        self._tmp_made = False

    def __enter__(self) -> CacheLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.release()
        else:
            with contextlib.suppress(HubmagicError):
                self.release()

    def try_acquire(self) -> bool:
        """Creates the lock file if nobody holds it; whether we hold it now."""
        self.held = self.held or self.store.create_exclusive(self.name, self.content)
        return self.held

    def acquire(self, *, done: Callable[[], bool] | None = None) -> bool:
        """Waits until we hold the lock; False when ``done()`` says waiting became pointless.

        ``done`` is asked each time the holder goes away (another process
        finished the download, for the resolver).
        """
        while not self.try_acquire():
            self.waited += self._wait()
            if done is not None and done():
                return False
        return True

    def take_over(self, content: str) -> bool:
        """Removes the lock only if it still holds ``content``, and that holder's tmp folder."""
        if not self.store.take_file(self.name, content):
            return False
        holder = parse_holder(content)
        if holder.uid:
            self.store.remove_tree(self.store.tmp_name(self.key, holder.uid))
        return True

    def make_folder(self) -> str:
        """Our tmp folder (local, for every store), removed on release; returns its path."""
        path = self.store.make_folder(self.tmp)
        self._tmp_made = True
        return path

    def release(self) -> None:
        """Removes our tmp folder, then our lock (only if it still holds our content)."""
        try:
            if self._tmp_made:
                self.store.remove_tree(self.tmp)
                self._tmp_made = False
            if self.held:
                self.store.take_file(self.name, self.content)
                self.held = False
        except HubmagicError:
            # Our lock may be left behind: let this process's next resolve take it
            # over at once instead of waiting for a holder that is not running.
            abandon(self.uid)
            raise

    def _wait(self) -> float:
        """Waits until the lock is gone or may be taken over; returns seconds waited.

        A holder that is a dead process on this host loses its lock at once. Any
        other holder keeps it while its lock content or its ``.tmp`` folder size
        changes at least once per ``HUBMAGIC_LOCK_TIMEOUT`` (tensorflow_hub's rule).
        """
        timeout = config.lock_timeout()
        began = last_change = time.monotonic()
        seen: tuple[str, int] | None = None
        poll = _POLL_FIRST
        while True:
            content = self.store.read_text(self.name)
            if content is None:
                return time.monotonic() - began
            holder = parse_holder(content)
            tmp = self.store.tmp_name(self.key, holder.uid) if holder.uid else None
            if holder.is_dead():
                self.take_over(content)
                return time.monotonic() - began
            now = time.monotonic()
            state = (content, self.store.tree_size(tmp) if tmp else 0)
            if state != seen:
                seen, last_change = state, now
            elif now - last_change > timeout:
                self.store.take_file(self.name, content)
                return now - began
            if self._reporter is not None:
                self._reporter.waiting(
                    content,
                    now - began,
                    f"waiting for {holder.label}, which is downloading this model "
                    f"({format_bytes(state[1])} so far)",
                )
            time.sleep(poll)
            poll = min(_POLL_MAX, poll * 2)
