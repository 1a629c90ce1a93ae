"""tensorflow_hub-compatible download locks, with a faster answer for dead holders.

The lock file holds ``"<hostname>.<pid>.<uid>"`` and the holder extracts into
``<key>.<uid>.tmp``: tensorflow_hub and hubmagic processes exclude each other
through the same file. tensorflow_hub takes a lock over only after 10 minutes
without visible progress (tensorflow/hub#55, #579, #326: "hangs" after a
crash). hubmagic does the same for holders on other hosts, which it cannot
see, but takes over at once when the holder is a dead process on this host.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

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
