"""What the cache holds, and planned, then executed, deletions.

``scan_cache`` never fails on odd content: what it cannot classify becomes a
warning. Deleting is two steps (huggingface_hub's pattern): a ``plan_*``
function returns a :class:`DeletePlan` that says what would go and how much it
frees; only ``plan.execute()`` removes anything, and it does so holding each
model's lock, so it never deletes what another process is downloading.
"""

from __future__ import annotations

import datetime
import enum
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from hubmagic.core import config
from hubmagic.core.errors import CacheError, ModelNotFoundError
from hubmagic.core.handle import cache_key
from hubmagic.core.lock import LockHolder, lock_content, new_uid, parse_holder
from hubmagic.core.savedmodel import find_problem
from hubmagic.core.store import DESCRIPTOR_SUFFIX, LOCK_SUFFIX, Item, Store, open_store
from hubmagic.core.units import format_bytes

_KEY = re.compile(r"^([0-9a-f]{40})(?:\.(.*))?$")
_TMP = re.compile(r"^[0-9a-f]+\.tmp$")


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
        handle: the handle, from the descriptor file (``None`` when there is none).
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

    def export_as_table(self) -> str:
        """A plain-text table for terminals and logs."""
        header = ("STATUS", "SIZE", "LAST USED", "HANDLE")
        rows = [(e.status.value, e.size_str, e.last_used_str, e.label) for e in self.entries]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row))
            for row in [header, *rows]
        ]
        problems = [f"  {e.label}: {e.problem}" for e in self.entries if e.problem]
        summary = f"{len(self.entries)} entries, {self.size_str} in {self.cache_dir}"
        out = [*lines, "", summary]
        if problems:
            out += ["Problems:", *problems]
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


def _descriptor_handle(text: str | None) -> str | None:
    if not text:
        return None
    first = text.splitlines()[0] if text.splitlines() else ""
    return first[len("Module: ") :] if first.startswith("Module: ") else None


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
    for item in items:
        match = _KEY.match(item.name)
        if match is None:
            warnings.append(f"{store.path(item.name)} is not a cache entry; left alone")
            continue
        groups.setdefault(match.group(1), []).append(item)
    now = time.time()
    entries = [_entry(store, key, group, now) for key, group in groups.items()]
    entries.sort(key=lambda e: (e.label.lower(), e.key))
    return CacheInfo(store.root, tuple(entries), tuple(warnings))


def _entry(store: Store, key: str, group: list[Item], now: float) -> CacheEntry:
    by_name = {item.name: item for item in group}
    folder = by_name.get(key)
    lock_item = by_name.get(key + LOCK_SUFFIX)
    descriptor = by_name.get(key + DESCRIPTOR_SUFFIX)
    tmps = [i for i in group if i.is_dir and _TMP.match(i.name[len(key) + 1 :])]
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
        handle=_descriptor_handle(store.read_text(descriptor.name) if descriptor else None),
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


# -- deletions ---------------------------------------------------------------


@dataclass(frozen=True)
class PlannedDeletion:
    """Names of one entry to remove, and the bytes that frees."""

    entry: CacheEntry
    names: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class DeleteResult:
    """What ``DeletePlan.execute()`` did."""

    removed: tuple[str, ...]
    freed_size: int
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def freed_size_str(self) -> str:
        return format_bytes(self.freed_size)

    def describe(self) -> str:
        count = len(self.removed)
        lines = [
            f"Removed {count} entr{'y' if count == 1 else 'ies'}, freed {self.freed_size_str}."
        ]
        lines += [f"  not touched: {label} ({why})" for label, why in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class DeletePlan:
    """Deletions to review before ``execute()``.

    Attributes:
        cache_dir: the cache folder.
        items: what would be removed, per entry.
        skipped: (label, reason) of entries that will not be touched.
        action: "delete", "repair", "prune" or "clear", for messages.
    """

    cache_dir: str
    items: tuple[PlannedDeletion, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    action: str = "delete"

    @property
    def expected_freed_size(self) -> int:
        return sum(i.size for i in self.items)

    @property
    def expected_freed_size_str(self) -> str:
        return format_bytes(self.expected_freed_size)

    @property
    def paths(self) -> tuple[str, ...]:
        store = open_store(self.cache_dir)
        return tuple(store.path(n) for i in self.items for n in i.names)

    def describe(self) -> str:
        """What would happen, in a few lines."""
        if not self.items:
            lines = [f"Nothing to {self.action} in {self.cache_dir}."]
        else:
            lines = [
                f"Will {self.action} {len(self.items)} entr{'y' if len(self.items) == 1 else 'ies'}"
                f" in {self.cache_dir}, freeing {self.expected_freed_size_str}:"
            ]
            lines += [
                f"  {i.entry.label} ({format_bytes(i.size)}): {', '.join(i.names)}"
                for i in self.items
            ]
        lines += [f"  not touched: {label} ({why})" for label, why in self.skipped]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()

    def execute(self) -> DeleteResult:
        """Removes the planned names, each entry under its lock.

        An entry whose lock is held by a live process when we get to it is
        skipped, as is one whose stale lock was meanwhile replaced.
        """
        store = open_store(self.cache_dir)
        removed: list[str] = []
        freed = 0
        skipped = list(self.skipped)
        for item in self.items:
            reason = _remove_under_lock(store, item)
            if reason:
                skipped.append((item.entry.label, reason))
            else:
                removed.append(item.entry.key)
                freed += item.size
        return DeleteResult(tuple(removed), freed, tuple(skipped))


def _remove_under_lock(store: Store, item: PlannedDeletion) -> str | None:
    key = item.entry.key
    if item.entry.status is Status.DOWNLOADING:
        # The holder keeps its lock; what is planned are other, dead downloads' tmp folders.
        return _remove(store, item.names)
    lock = store.lock_name(key)
    mine = lock_content(new_uid())
    if not store.create_exclusive(lock, mine):
        content = store.read_text(lock) or ""
        seen = item.entry.lock_holder
        if seen is None or content != seen.content or lock not in item.names:
            return f"being downloaded by {parse_holder(content).label} right now"
        if not store.take_file(lock, content) or not store.create_exclusive(lock, mine):
            return "its lock changed while deleting; scan again"
    try:
        return _remove(store, [n for n in item.names if n != lock])
    finally:
        store.take_file(lock, mine)  # conditional: never someone else's lock


def _remove(store: Store, names: Iterable[str]) -> str | None:
    try:
        for name in names:
            store.remove_tree(name)
    except CacheError as exc:
        return str(exc)
    return None


def _plan(
    info: CacheInfo, picks: Iterable[tuple[CacheEntry, tuple[str, ...]]], action: str
) -> DeletePlan:
    items: list[PlannedDeletion] = []
    skipped: list[tuple[str, str]] = []
    store = open_store(info.cache_dir)
    for entry, names in picks:
        if entry.status is Status.DOWNLOADING:
            # Only another download's leftovers may go; never the live lock,
            # its tmp folder, or the model it is about to write.
            names = tuple(n for n in names if n in entry.leftovers)
            if not names:
                skipped.append((entry.label, entry.problem or "being downloaded"))
                continue
        if not names:
            continue
        known = dict(entry.name_sizes)
        size = sum(known[n] if n in known else store.tree_size(n) for n in names)
        items.append(PlannedDeletion(entry, names, size))
    return DeletePlan(info.cache_dir, tuple(items), tuple(skipped), action)


def plan_delete(targets: Iterable[str], cache_dir: str | None = None) -> DeletePlan:
    """Plans removing whole entries, given by handle, cache key or folder path.

    Raises:
        ModelNotFoundError: a target is not in the cache (nothing is planned).
    """
    info = scan_cache(cache_dir)
    picks: list[CacheEntry] = []
    missing: list[str] = []
    for target in targets:
        entry = info.find(target)
        if entry is None:
            missing.append(target)
        elif entry not in picks:
            picks.append(entry)
    if missing:
        raise ModelNotFoundError(
            f"Not in the cache {info.cache_dir}: {', '.join(missing)}. "
            "List what is there with hubmagic.scan_cache() or %hub_cache ls."
        )
    return _plan(info, ((e, e.names) for e in picks), "delete")


def plan_clear(cache_dir: str | None = None) -> DeletePlan:
    """Plans removing every entry (those being downloaded are skipped)."""
    info = scan_cache(cache_dir)
    return _plan(info, ((e, e.names) for e in info.entries), "clear")


def plan_repair(cache_dir: str | None = None) -> DeletePlan:
    """Plans removing partial folders, orphan tmp folders and stale locks, nothing else."""
    info = scan_cache(cache_dir)
    return _plan(info, ((e, e.leftovers) for e in info.entries), "repair")


def plan_prune(max_bytes: int, cache_dir: str | None = None) -> DeletePlan:
    """Plans removing least recently used complete models until the cache fits ``max_bytes``."""
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    info = scan_cache(cache_dir)
    excess = info.size - max_bytes
    picks: list[tuple[CacheEntry, tuple[str, ...]]] = []
    complete = [e for e in info.entries if e.status is Status.COMPLETE]
    for entry in sorted(complete, key=lambda e: e.last_used or 0.0):
        if excess <= 0:
            break
        picks.append((entry, entry.names))
        excess -= entry.size
    return _plan(info, picks, "prune")


def prune(max_bytes: int, cache_dir: str | None = None) -> DeleteResult:
    """Removes least recently used complete models until the cache fits ``max_bytes``."""
    return plan_prune(max_bytes, cache_dir).execute()
