"""What the resolver, the lock and the cache scan need of a cache root: the :class:`Store` protocol.

The layout is tensorflow_hub's (``docs/compatibility.md``): for a model whose
cache key is ``K`` (sha1 of the handle) the cache root holds ``K/``,
``K.lock``, ``K.<uid>.tmp/`` and ``K.descriptor.txt``
(:mod:`hubmagic.core.names`). :class:`~hubmagic.core.local_store.LocalStore`
implements the protocol on a local (or mounted) file system and
:class:`~hubmagic.core.gcs_store.GcsStore` in a ``gs://`` bucket;
:func:`hubmagic.core.stores.open_store` picks one for a cache location, so
every caller goes through one code path.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from hubmagic.core.errors import CacheError, Fix


@dataclass(frozen=True)
class Item:
    """One name at the top of the cache root, with what is below it.

    Attributes:
        name: the file or folder name at the root.
        is_dir: whether it is a folder.
        size: bytes, all files below it added up.
        mtime: its own modification time (POSIX seconds); hubmagic touches a
            model folder on every cache hit, so this is "last used".
        newest: the newest modification time of anything below it.
        files: for folders, each file's POSIX path relative to it, with its size.
    """

    name: str
    is_dir: bool
    size: int
    mtime: float
    newest: float
    files: dict[str, int] = field(default_factory=dict)


def describe_os_error(exc: OSError) -> tuple[str, Fix | None]:
    """What a file-system error means for the cache, and what to do next."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the cache folder is not writable by this user", Fix(
            "Point TFHUB_CACHE_DIR at a folder you can write ({setup_cache}), "
            "or fix its permissions."
        )
    if exc.errno == errno.EFBIG:
        return (
            "a file is larger than this file system or this process's file size limit "
            "allows (ulimit -f)",
            Fix("Point TFHUB_CACHE_DIR at another disk ({setup_cache}), or raise the limit."),
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full", Fix(
            "Free space ({prune}) or point TFHUB_CACHE_DIR at a bigger disk ({setup_cache})."
        )
    return str(exc.strerror or exc), None


def cache_error(exc: OSError, path: str, doing: str) -> CacheError:
    """``CacheError("Could not <doing> <path>: <what it means>", fix=...)``."""
    what, fix = describe_os_error(exc)
    return CacheError(f"Could not {doing} {path}: {what}.", path=path, fix=fix)


def walk(path: str) -> Iterator[tuple[str, os.stat_result]]:
    """Yields (relative POSIX path, lstat) of every file below ``path``."""
    stack = [("", path)]
    while stack:
        rel, full = stack.pop()
        try:
            entries = list(os.scandir(full))
        except FileNotFoundError:
            continue
        for entry in entries:
            name = f"{rel}{entry.name}"
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the listing (a holder's heartbeat file is replaced)
            if stat.S_ISDIR(st.st_mode):
                stack.append((name + "/", entry.path))
            else:
                yield name, st


class TmpGuard(Protocol):
    """What a holder's :class:`~hubmagic.core.lock.Heartbeat` offers the store (``Store.guard``)."""

    lost: bool

    def check(self) -> None:
        """Raises :class:`CacheError` unless the lock is still ours (read now)."""
        ...

    def stop(self) -> None:
        """Stops writing ``<tmp>/.hubmagic-heartbeat``; nothing is written after it returns."""
        ...


class Store(Protocol):
    """What the resolver and the cache scan need of a cache root.

    Names are relative to the root (``K``, ``K.lock``, ``K.<uid>.tmp``, ...).
    """

    root: str

    def path(self, name: str) -> str: ...
    def lock_name(self, key: str) -> str: ...
    def tmp_name(self, key: str, uid: str) -> str: ...
    def descriptor_name(self, key: str) -> str: ...
    def folder_files(self, name: str) -> dict[str, int] | None: ...
    def model_files(self, name: str) -> dict[str, int] | None: ...
    def tmp_names(self, key: str) -> list[str]: ...
    def read_text(self, name: str) -> str | None: ...
    def tree_size(self, name: str) -> int: ...
    def inventory(self) -> tuple[list[Item], list[str]]: ...
    def ensure_root(self) -> None: ...
    def create_exclusive(self, name: str, content: str) -> bool: ...
    def write_text(self, name: str, content: str) -> None: ...
    def remove_file(self, name: str) -> bool: ...
    def remove_tree(self, name: str) -> bool: ...
    def take_file(self, name: str, expected: str) -> bool: ...

    def make_folder(self, name: str) -> str:
        """A new, empty LOCAL folder to extract download ``name`` into; returns its path."""
        ...

    def file_hook(self, tmp: str) -> Callable[[str, int], None] | None:
        """Called by the extraction before each file of download ``tmp`` is written, or None.

        A gs:// store uses it to upload each file as soon as the next one starts
        (the previous one is then complete), overlapping uploads with the download.
        """
        ...

    def publish(self, tmp: str, name: str, report: Callable[[str], None] | None = None) -> bool:
        """Makes the folder made by ``make_folder(tmp)`` the entry ``name``; False if it exists.

        With a guard for ``tmp`` (:meth:`guard`), ``guard.check()`` runs right
        before the entry becomes visible: a holder that lost its lock publishes nothing.
        """
        ...

    def guard(self, tmp: str, guard: TmpGuard) -> None:
        """Ties download ``tmp``'s heartbeat to it: checked by ``publish``, stopped before
        ``tmp`` is renamed or removed (a beat must not land in the entry or recreate ``tmp``)."""
        ...

    def touch(self, name: str) -> None: ...
