"""What the cache holds: :func:`scan_cache` and its frozen records.

``scan_cache`` never fails on odd content: what it cannot classify becomes a
warning. Deleting is planned from a scan in :mod:`hubmagic.core.plans`.
"""

from __future__ import annotations

import datetime
import enum
import os
import time
from dataclasses import dataclass, field

from hubmagic.core import config
from hubmagic.core.errors import CacheError, Fix, InvalidSettingError
from hubmagic.core.lock import LockHolder, parse_holder
from hubmagic.core.names import (
    DESCRIPTOR_SUFFIX,
    KEY_PATTERN,
    LOCK_SUFFIX,
    TMP_TAIL,
    cache_key,
    descriptor_handle,
)
from hubmagic.core.redact import redact_optional
from hubmagic.core.savedmodel import find_problem
from hubmagic.core.store import Item, Store
from hubmagic.core.stores import open_store
from hubmagic.core.units import format_bytes, plural


class Status(str, enum.Enum):
    """The state of one cache entry; the value is what listings show."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    DOWNLOADING = "downloading"
    STALE_LOCK = "stale lock"
    ORPHAN_TMP = "orphan tmp"


@dataclass(frozen=True)
class CacheEntry:
    """One model's files in the cache (its folder and the files beside it).

    Attributes:
        key: the folder name, ``sha1(handle)``.
        handle: the handle, from the descriptor file, redacted (``None`` when there is none).
        path: the model folder's full path (it may not exist).
        status: see :class:`Status`; the most urgent state wins.
        problem: what is wrong, in words (``None`` when complete).
        size: bytes of everything the entry holds (folder, tmp folders, small files).
        model_size: bytes of the model folder alone.
        last_used: when the model was last resolved by hubmagic, or written.
        lock_holder: who holds its lock, when locked.
        names: every name at the cache root that belongs to the entry.
        leftovers: the names a repair would remove (stale lock, orphan tmp
            folders, a partial folder).
        name_sizes: (name, bytes) for each of ``names``, from the scan: plans
            need no second look at the store (on gs:// that would be requests
            per name).
    """

    key: str
    handle: str | None
    path: str
    status: Status
    problem: str | None
    size: int
    model_size: int
    last_used: float | None
    lock_holder: LockHolder | None
    names: tuple[str, ...]
    leftovers: tuple[str, ...]
    name_sizes: tuple[tuple[str, int], ...] = ()

    @property
    def label(self) -> str:
        return self.handle or f"(unknown handle) {self.key}"

    @property
    def size_str(self) -> str:
        return format_bytes(self.size)

    @property
    def last_used_str(self) -> str:
        if self.last_used is None:
            return "-"
        return datetime.datetime.fromtimestamp(self.last_used).strftime("%Y-%m-%d %H:%M")

    @property
    def is_complete(self) -> bool:
        """The model folder itself is whole (whatever leftovers sit beside it)."""
        return self.model_size > 0 and self.key in self.names and self.key not in self.leftovers

    @property
    def needs_attention(self) -> bool:
        """Something is wrong that a repair fixes (a live download is not wrong)."""
        return self.problem is not None and self.status is not Status.DOWNLOADING

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "handle": self.handle,
            "path": self.path,
            "status": self.status.value,
            "problem": self.problem,
            "size": self.size,
            "model_size": self.model_size,
            "last_used": self.last_used,
            "lock_holder": self.lock_holder.label if self.lock_holder else None,
            "leftovers": list(self.leftovers),
        }


@dataclass(frozen=True)
class CacheInfo:
    """A scan of one cache folder.

    Attributes:
        cache_dir: the folder scanned.
        entries: one per model key, sorted by label.
        warnings: what could not be read or classified (left alone).
        scanned_at: POSIX time of the scan.
    """

    cache_dir: str
    entries: tuple[CacheEntry, ...]
    warnings: tuple[str, ...] = ()
    scanned_at: float = field(default_factory=time.time)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def size_str(self) -> str:
        return format_bytes(self.size)

    def find(self, target: str) -> CacheEntry | None:
        """The entry for a handle, a key or a model folder path, if any."""
        for entry in self.entries:
            if target in (entry.handle, entry.key, entry.path):
                return entry
        key = cache_key(target)
        return next((e for e in self.entries if e.key == key), None)

    def to_dict(self) -> dict[str, object]:
        return {
            "cache_dir": self.cache_dir,
            "entries": [e.to_dict() for e in self.entries],
            "count": len(self.entries),
            "size": self.size,
            "warnings": list(self.warnings),
        }

    def table_rows(self) -> list[tuple[str, str, str, str]]:
        """The table's header, then one row per entry: status, size, last used, handle."""
        header = ("STATUS", "SIZE", "LAST USED", "HANDLE")
        return [
            header,
            *((e.status.value, e.size_str, e.last_used_str, e.label) for e in self.entries),
        ]

    @property
    def summary(self) -> str:
        """``3 entries, 1.2 MiB in /path``."""
        return (
            f"{plural(len(self.entries), 'entry', 'entries')}, {self.size_str} in {self.cache_dir}"
        )

    def problem_lines(self) -> list[str]:
        """``label: problem`` of each entry that has one."""
        return [f"{e.label}: {e.problem}" for e in self.entries if e.problem]

    def export_as_table(self) -> str:
        """A plain-text table for terminals and logs (a notebook lays out the same parts)."""
        rows = self.table_rows()
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row))
            for row in rows
        ]
        problems = self.problem_lines()
        out = [*lines, "", self.summary]
        if problems:
            out += ["Problems:", *(f"  {p}" for p in problems)]
        if self.warnings:
            out += ["Warnings:", *(f"  {w}" for w in self.warnings)]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.export_as_table()


def _store(cache_dir: str | None) -> Store:
    return open_store(cache_dir if cache_dir is not None else config.cache_dir())


def _lock_is_stale(holder: LockHolder, lock_item: Item, tmps: list[Item], now: float) -> bool:
    if holder.is_dead():
        return True
    if holder.on_this_host:
        return False  # alive on this host: downloading
    newest = max([lock_item.mtime, *(t.newest for t in tmps)])
    return now - newest > config.lock_timeout()


def require_cache_folder(cache_dir: str) -> None:
    """Checks that a cache folder someone named exists and is a folder (``gs://``: not checked).

    A default cache that does not exist yet is merely empty; a ``--cache`` given
    on purpose that does not exist is a typo, and listing it as empty would hide it.

    Raises:
        InvalidSettingError: it is empty, or (``UnsupportedCacheError``) not a
            location hubmagic stores to.
        CacheError: it does not exist, or it is a file.
    """
    if not cache_dir.strip():
        raise InvalidSettingError("cache is empty: give a folder or gs://bucket/prefix.")
    location = config.cache_location(cache_dir)
    if location.startswith("gs://"):
        return
    path = os.path.expanduser(location)
    if os.path.isdir(path):
        return
    check = Fix("Check the path, or leave the cache option out to use the default cache.")
    if os.path.exists(path):
        raise CacheError(f"{cache_dir} is a file, not a cache folder.", path=path, fix=check)
    raise CacheError(f"The cache folder {cache_dir} does not exist.", path=path, fix=check)


def scan_cache(cache_dir: str | None = None) -> CacheInfo:
    """Lists every model and leftover in the cache, with sizes and states.

    Args:
        cache_dir: default ``TFHUB_CACHE_DIR`` as tensorflow_hub reads it.

    Returns:
        A :class:`CacheInfo`; a missing cache folder is an empty one.
    """
    store = _store(cache_dir)
    items, warnings = store.inventory()
    groups: dict[str, list[Item]] = {}
    strangers: list[str] = []
    for item in items:
        match = KEY_PATTERN.match(item.name)
        if match is None:
            strangers.append(f"{store.path(item.name)} is not a cache entry; left alone")
            continue
        groups.setdefault(match.group(1), []).append(item)
    if strangers and not groups:
        # A folder that holds no entry at all is not a cache: one line, not one per item.
        warnings = [
            f"{store.root} is not a tensorflow_hub cache: none of its "
            f"{plural(len(items), 'item')} is a cache entry; all left alone"
        ]
    else:
        warnings += strangers
    now = time.time()
    entries = [_entry(store, key, group, now) for key, group in groups.items()]
    entries.sort(key=lambda e: (e.label.lower(), e.key))
    return CacheInfo(store.root, tuple(entries), tuple(warnings))


def _entry(store: Store, key: str, group: list[Item], now: float) -> CacheEntry:
    by_name = {item.name: item for item in group}
    folder = by_name.get(key)
    lock_item = by_name.get(key + LOCK_SUFFIX)
    descriptor = by_name.get(key + DESCRIPTOR_SUFFIX)
    tmps = [i for i in group if i.is_dir and TMP_TAIL.match(i.name[len(key) + 1 :])]
    known = {key, key + LOCK_SUFFIX, key + DESCRIPTOR_SUFFIX, *(t.name for t in tmps)}
    others = [i.name for i in group if i.name not in known]  # e.g. a crashed lock write

    holder = None
    status: Status | None = None
    problem: str | None = None
    leftovers: list[str] = []
    if lock_item is not None:
        holder = parse_holder(store.read_text(lock_item.name) or "")
        live_tmp = store.tmp_name(key, holder.uid) if holder.uid else None
        if _lock_is_stale(holder, lock_item, tmps, now):
            status = Status.STALE_LOCK
            why = "is no longer running" if holder.is_dead() else "has shown no progress"
            problem = f"locked by {holder.label}, which {why}"
            leftovers += [lock_item.name, *(t.name for t in tmps)]
        else:
            status = Status.DOWNLOADING
            problem = f"being downloaded by {holder.label}"
            leftovers += [t.name for t in tmps if t.name != live_tmp]
    else:
        leftovers += [t.name for t in tmps]
    leftovers += others
    if status is None and leftovers:
        status = Status.ORPHAN_TMP
        problem = "leftover files of an interrupted download: " + ", ".join(sorted(leftovers))

    model_problem = "is missing" if folder is None else find_problem(folder.files)
    if model_problem is not None and status is not Status.DOWNLOADING:
        if folder is not None:
            leftovers.append(key)
            if descriptor is not None:
                leftovers.append(descriptor.name)
        if status is None:
            status = Status.PARTIAL
            problem = f"the model folder {model_problem}"
            if folder is None and descriptor is not None:
                leftovers.append(descriptor.name)
                problem = "the model folder is missing; only its descriptor is left"
    return CacheEntry(
        key=key,
        # Redacted: a descriptor written by another tool may hold a password.
        handle=redact_optional(
            descriptor_handle(store.read_text(descriptor.name) if descriptor else None)
        ),
        path=store.path(key),
        status=status or Status.COMPLETE,
        problem=problem,
        size=sum(i.size for i in group),
        model_size=folder.size if folder is not None and model_problem is None else 0,
        last_used=folder.mtime if folder is not None else None,
        lock_holder=holder,
        names=tuple(sorted(by_name)),
        leftovers=tuple(sorted(set(leftovers))),
        name_sizes=tuple(sorted((i.name, i.size) for i in group)),
    )
