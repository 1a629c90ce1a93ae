"""The local staging folders of ``gs://`` fills, named after their owner.

A download into a ``gs://`` cache is extracted into a local folder first
(:meth:`~hubmagic.core.gcs_store.GcsStore.make_folder`), named

    <tmp>/hubmagic-<key>.<uid>.tmp-<host>.<pid>-<random>

``<key>.<uid>.tmp`` is the tmp prefix it is uploaded to and ``<host>.<pid>``
the process that owns it, as in the lock's content (``host.pid.uid``). Every
exit of the download removes it, Ctrl-C and SIGTERM included; a process killed
outright (SIGKILL, a preempted VM) cannot, so ``cache repair`` and the next
resolve of the same model on this machine remove those whose owner is dead,
and never one whose owner still runs.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass

from hubmagic.core.lock import LockHolder, hostname
from hubmagic.core.store import walk

PREFIX = "hubmagic-"
_NAME = re.compile(
    r"^hubmagic-(?P<key>[0-9a-f]{40})\.(?P<uid>[0-9a-f]+)\.tmp-(?P<host>.+)\.(?P<pid>\d+)-[a-z0-9_]+$"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class StagingFolder:
    """One local staging folder, parsed from its name.

    Attributes:
        path: its full path.
        key: the cache key of the model it holds.
        owner: the process that made it (as if read from its lock).
    """

    path: str
    key: str
    owner: LockHolder

    def is_dead(self) -> bool:
        """True only when the owner is surely gone (a process on this host that is not running)."""
        return self.owner.is_dead()

    def size(self) -> int:
        return sum(st.st_size for _, st in walk(self.path))


def staging_root(root: str | None = None) -> str:
    """Where staging folders go: ``root``, or ``tempfile.gettempdir()``."""
    return root or tempfile.gettempdir()


def _host() -> str:
    return _UNSAFE.sub("_", hostname())


def make(tmp_name: str, root: str | None = None) -> str:
    """A new staging folder for the tmp prefix ``tmp_name``, owned by this process."""
    prefix = f"{PREFIX}{tmp_name}-{_host()}.{os.getpid()}-"
    return tempfile.mkdtemp(prefix=prefix, dir=staging_root(root))


def parse(path: str) -> StagingFolder | None:
    """The staging folder at ``path``, or None when the name is not one."""
    match = _NAME.match(os.path.basename(path))
    if match is None:
        return None
    host = match["host"]
    if host == _host():
        host = hostname()  # the name holds a file-safe copy of the host name
    content = f"{host}.{match['pid']}.{match['uid']}"
    return StagingFolder(
        path, match["key"], LockHolder(content, host, int(match["pid"]), match["uid"])
    )


def find(root: str | None = None, key: str | None = None) -> list[StagingFolder]:
    """Every staging folder under ``root`` (of model ``key`` only, when given)."""
    start = PREFIX + (key or "")
    folder = staging_root(root)
    try:
        names = [n for n in os.listdir(folder) if n.startswith(start)]
    except OSError:
        return []
    found = [parse(os.path.join(folder, n)) for n in sorted(names)]
    return [f for f in found if f is not None and os.path.isdir(f.path)]


def dead(root: str | None = None, key: str | None = None) -> list[StagingFolder]:
    """The staging folders whose owner is dead."""
    return [f for f in find(root, key) if f.is_dead()]


def remove(folder: StagingFolder) -> bool:
    """Removes a dead owner's folder, checking again first; whether it went."""
    if not folder.is_dead():
        return False
    shutil.rmtree(folder.path, ignore_errors=True)
    return not os.path.exists(folder.path)


def remove_dead(root: str | None = None, key: str | None = None) -> int:
    """Removes the staging folders whose owner is dead; returns how many went."""
    return sum(remove(f) for f in dead(root, key))
