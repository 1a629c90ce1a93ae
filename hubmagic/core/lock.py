"""tensorflow_hub-compatible download locks as one object, with faster answers for gone holders.

The lock file holds ``"<hostname>.<pid>.<uid>"`` and the holder extracts into
``<key>.<uid>.tmp``: tensorflow_hub and hubmagic processes exclude each other
through the same file. tensorflow_hub takes a lock over only after 10 minutes
without visible progress (tensorflow/hub#55, #579, #326: "hangs" after a
crash). A hubmagic waiter (:meth:`CacheLock.acquire`) decides by who holds it:

- **a dead process on this host** (no such pid): taken over at once;
- **a hubmagic holder on another host** (its uid starts with ``hm``, see
  :data:`~hubmagic.core.names.HEARTBEAT_UID_PREFIX`; the content stays
  ``host.pid.uid``, so tensorflow_hub still honours it): the holder rewrites
  ``<key>.<uid>.tmp/.hubmagic-heartbeat`` every ``HUBMAGIC_HEARTBEAT_INTERVAL``
  (10 s; at most a quarter of ``HUBMAGIC_LOCK_TIMEOUT``), a file that says its
  interval and grows each beat. The waiter takes over (conditionally on the
  lock's content, on ``gs://`` on its generation) after :data:`SILENT_BEATS`
  (4.5) of the announced intervals with no change seen in the lock, the tmp
  folder's size or the heartbeat: 45 s by default. Silence is measured on the
  waiter's own monotonic clock between its observations, never by comparing
  clocks across hosts;
- **anyone else** (tensorflow_hub, an older hubmagic, a live pid on this host, a
  hubmagic holder whose first beat has not been seen yet): tensorflow_hub's rule,
  ``HUBMAGIC_LOCK_TIMEOUT`` (600 s) without such a change.

What is guaranteed to a live hubmagic holder whose heartbeat thread is starved
(GIL, a suspended VM, a slow network):

1. It keeps its lock while its beats land less than 4.5 intervals apart (45 s,
   so three missed beats and a late fourth are tolerated): no waiter takes it
   over before it has itself watched that long without any change.
2. If its beats stopped for longer and a waiter took over, it never publishes
   over the new holder: each beat first re-reads the lock and stops beating
   once the lock is not ours, and ``publish`` checks the lock again right
   before the entry becomes visible (the rename; on ``gs://`` before the first
   copy into ``<key>/``) and raises :class:`CacheError` ("another process took
   over ...") instead, leaving the entry to the new holder. What remains is the
   one step after that check (a rename, or the server-side copies while the
   heartbeat keeps beating): a holder stalled more than 45 s inside it can race
   the new holder; the entry is then whole, or missing files, which the hit
   check catches when they are ``saved_model.pb`` or variables (repaired then).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from hubmagic.core import config
from hubmagic.core.errors import CacheError, Fix, HubmagicError
from hubmagic.core.names import HEARTBEAT_FILE, HEARTBEAT_UID_PREFIX
from hubmagic.core.units import format_bytes, format_duration

if TYPE_CHECKING:
    from hubmagic.core.progress import ProgressReporter
    from hubmagic.core.store import Store

_POLL_FIRST = 0.1
_POLL_MAX = 1.0

SILENT_BEATS = 4.5
"""Announced heartbeat intervals without any change after which a waiter takes over."""
_MIN_INTERVAL = 0.2
"""An announced interval below this counts as this (a garbled file must not rush a waiter)."""
_ANNOUNCED = re.compile(r"^hubmagic heartbeat every ([0-9.]+) s\b")

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

    @property
    def heartbeats(self) -> bool:
        """Whether a hubmagic holder wrote it, which rewrites a heartbeat file while it holds it."""
        return self.uid.startswith(HEARTBEAT_UID_PREFIX)

    def is_dead(self) -> bool:
        """True only when we can be sure the holder is gone (same host, no such process).

        A process on another host, or one we may not signal, counts as alive:
        only the inactivity rules (:func:`takeover_after`) can release its lock.
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
    """``hm`` + uuid4 hex: no dots (tensorflow_hub splits the content on them), and
    never a tensorflow_hub uid (those are plain hex), so waiters know we heartbeat."""
    return HEARTBEAT_UID_PREFIX + uuid.uuid4().hex


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

    POSIX: ``kill(pid, 0)``, which sends nothing; a zombie (exited, not yet
    reaped by its parent) holds nothing any more and counts as dead where
    ``/proc`` says so (Linux), which matters when a test or notebook kills a
    child it started. Windows: ``kill(pid, 0)`` would send CTRL_C_EVENT to a
    process group there, so the process is opened instead (:func:`_windows_pid_alive`).
    """
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
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


def _windows_pid_alive(pid: int) -> bool:
    """OpenProcess + GetExitCodeProcess through ctypes: no dependency, nothing sent."""
    if sys.platform != "win32":
        raise OSError("only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    query_limited_information, still_active, access_denied = 0x1000, 259, 5
    handle = kernel32.OpenProcess(query_limited_information, False, pid)
    if not handle:
        # Denied: it exists, owned by someone else. Anything else: no such process.
        return bool(ctypes.get_last_error() == access_denied)
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return bool(code.value == still_active)
    finally:
        kernel32.CloseHandle(handle)


def heartbeat_text(beat: int, interval: float) -> str:
    """What beat number ``beat`` writes: the interval, for waiters, and a size that grows.

    tensorflow_hub compares the tmp folder's size 10 minutes apart, so the file
    grows by a byte each beat (10 s beats: 8 KiB a day).
    """
    return f"hubmagic heartbeat every {interval:g} s, beat {beat}\n" + "." * beat


def announced_interval(text: str | None) -> float | None:
    """The interval a heartbeat file announces, or None (no file, not ours, garbled)."""
    match = _ANNOUNCED.match(text or "")
    if match is None:
        return None
    try:
        return max(_MIN_INTERVAL, float(match.group(1)))
    except ValueError:
        return None


class Heartbeat:
    """Rewrites ``<tmp>/.hubmagic-heartbeat`` every ``interval`` s while our lock is ours.

    Before each beat it re-reads the lock: once the lock no longer holds our
    content (a waiter took it over), it stops beating and :attr:`lost` is set.
    The store calls :meth:`check` right before publishing and :meth:`stop`
    before the tmp folder goes (see ``Store.guard``).
    """

    def __init__(self, store: Store, lock_name: str, content: str, tmp: str) -> None:
        self.lost = False
        self.interval = config.heartbeat_interval()
        self._store = store
        self._lock_name = lock_name
        self._content = content
        self._file = f"{tmp}/{HEARTBEAT_FILE}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hubmagic-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        beat = 0
        while not self._stop.is_set():
            if not self._still_ours():
                self.lost = True
                return
            # A missed beat is only late: a waiter allows 4.5 intervals.
            with contextlib.suppress(HubmagicError):
                self._store.write_text(self._file, heartbeat_text(beat, self.interval))
            beat += 1
            if self._stop.wait(self.interval):
                return

    def _still_ours(self) -> bool:
        try:
            return self._store.read_text(self._lock_name) == self._content
        except HubmagicError:
            return True  # cannot tell; check() decides before anything is published

    def check(self) -> None:
        """Raises :class:`CacheError` unless the lock still holds our content (read now)."""
        if self._store.read_text(self._lock_name) != self._content:
            self.lost = True
        if self.lost:
            path = self._store.path(self._lock_name)
            raise CacheError(
                f"Another process took over {path} while this one was downloading: this "
                f"process's heartbeat had been silent for over {SILENT_BEATS:g} beats (was "
                "the machine suspended or overloaded?). Nothing was published.",
                path=path,
                fix=Fix("Run it again: it waits for the other process's download and uses it."),
            )

    def stop(self) -> None:
        """Stops beating; returns once no beat can be written any more."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=60)


def takeover_after(holder: LockHolder, announced: float | None) -> float:
    """Seconds without any change after which a waiter takes ``holder``'s lock over.

    ``announced``: the interval its heartbeat file says, once seen (else None).
    """
    timeout = config.lock_timeout()
    if announced is None or not holder.heartbeats or holder.on_this_host:
        return timeout
    return min(timeout, SILENT_BEATS * announced)


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
        self._heartbeat: Heartbeat | None = None

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
        """Our tmp folder (local, for every store), removed on release; returns its path.

        From here until the store publishes it (or release), our
        :class:`Heartbeat` shows waiters on other hosts that we are alive.
        """
        path = self.store.make_folder(self.tmp)
        self._tmp_made = True
        self._heartbeat = Heartbeat(self.store, self.name, self.content, self.tmp)
        self.store.guard(self.tmp, self._heartbeat)
        return path

    def release(self) -> None:
        """Removes our tmp folder, then our lock (only if it still holds our content)."""
        try:
            if self._heartbeat is not None:
                self._heartbeat.stop()  # before the tmp folder goes: no beat recreates it
                self._heartbeat = None
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
        other holder keeps it while its lock content, its ``.tmp`` folder size or
        (hubmagic holders) its heartbeat file changes at least once per
        :func:`takeover_after` seconds, as timed by this process's own clock.
        """
        began = last_change = time.monotonic()
        seen: tuple[str, int, str | None] | None = None
        announced: float | None = None  # the holder's beat interval, once seen
        poll = _POLL_FIRST
        while True:
            content = self.store.read_text(self.name)
            if content is None:
                return time.monotonic() - began
            holder = parse_holder(content)
            if holder.is_dead():
                self.take_over(content)
                return time.monotonic() - began
            tmp = self.store.tmp_name(self.key, holder.uid) if holder.uid else None
            beat = None
            if tmp is not None and holder.heartbeats:
                beat = self.store.read_text(f"{tmp}/{HEARTBEAT_FILE}")
            if seen is not None and seen[0] != content:
                announced = None  # another holder now
            announced = announced_interval(beat) or announced
            now = time.monotonic()
            state = (content, self.store.tree_size(tmp) if tmp else 0, beat)
            if state != seen:
                seen, last_change = state, now
            limit = takeover_after(holder, announced)
            if now - last_change > limit:
                self.take_over(content)  # only if it still holds that content
                return now - began
            if self._reporter is not None:
                self._reporter.waiting(
                    content,
                    now - began,
                    waiting_message(holder, state[1], limit - (now - last_change), announced),
                )
            # Poll often enough to see a fast heartbeat change between two looks.
            time.sleep(min(poll, limit / 4))
            poll = min(_POLL_MAX, poll * 2)


def waiting_message(holder: LockHolder, size: int, left: float, announced: float | None) -> str:
    """``<whom we wait for>; <when we take over>``: ui/wording.py shows the two parts."""
    so_far = format_bytes(size)
    who = f"waiting for {holder.label}, which is downloading this model ({so_far} so far)"
    when = format_duration(max(0.0, left))
    if announced is not None and holder.heartbeats and not holder.on_this_host:
        return f"{who}; taking over in {when} if its heartbeat (every {announced:g} s) stays silent"
    return f"{who}; taking over in {when} if it shows no progress"
