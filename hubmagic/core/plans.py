"""Planned, then executed, deletions from the cache.

Deleting is two steps (huggingface_hub's pattern): a ``plan_*`` function
returns a :class:`DeletePlan` that says what would go and how much it frees;
only ``plan.execute()`` removes anything, and it does so holding each model's
lock (:class:`~hubmagic.core.lock.CacheLock`), so it never deletes what another
process is downloading. A repair of a ``gs://`` cache also removes this
machine's local staging folders (:mod:`hubmagic.core.staging`) whose owner is dead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hubmagic.core import staging
from hubmagic.core.cache import CacheEntry, CacheInfo, Status, scan_cache
from hubmagic.core.errors import CacheError, Fix, InvalidSettingError, ModelNotFoundError
from hubmagic.core.lock import CacheLock, parse_holder
from hubmagic.core.store import Store
from hubmagic.core.stores import open_store
from hubmagic.core.units import format_bytes, plural


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
    removed_staging: tuple[str, ...] = ()

    @property
    def freed_size_str(self) -> str:
        return format_bytes(self.freed_size)

    def to_dict(self) -> dict[str, object]:
        return {
            "removed": list(self.removed),
            "removed_staging": list(self.removed_staging),
            "freed_size": self.freed_size,
            "skipped": [{"label": label, "reason": why} for label, why in self.skipped],
        }

    def describe(self) -> str:
        count = len(self.removed)
        staged = (
            f" and {plural(len(self.removed_staging), 'staging folder')}"
            if self.removed_staging
            else ""
        )
        lines = [
            f"Removed {plural(count, 'entry', 'entries')}{staged}, freed {self.freed_size_str}."
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
        staging: (path, bytes) of local staging folders of ``gs://``
            downloads whose owner is dead (repair only).
    """

    cache_dir: str
    items: tuple[PlannedDeletion, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    action: str = "delete"
    staging: tuple[tuple[str, int], ...] = ()

    @property
    def has_deletions(self) -> bool:
        """Whether executing it would remove anything."""
        return bool(self.items or self.staging)

    @property
    def expected_freed_size(self) -> int:
        return sum(i.size for i in self.items) + sum(size for _, size in self.staging)

    @property
    def expected_freed_size_str(self) -> str:
        return format_bytes(self.expected_freed_size)

    @property
    def paths(self) -> tuple[str, ...]:
        store = open_store(self.cache_dir)
        return tuple(store.path(n) for i in self.items for n in i.names)

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "cache_dir": self.cache_dir,
            "items": [
                {
                    "key": i.entry.key,
                    "handle": i.entry.handle,
                    "names": list(i.names),
                    "size": i.size,
                }
                for i in self.items
            ],
            "staging": [{"path": path, "size": size} for path, size in self.staging],
            "expected_freed_size": self.expected_freed_size,
            "skipped": [{"label": label, "reason": why} for label, why in self.skipped],
        }

    @property
    def headline(self) -> str:
        """The first line: ``Will delete 1 entry in ..., freeing 1.2 MiB:`` (or nothing to do)."""
        if not self.has_deletions:
            return f"Nothing to {self.action} in {self.cache_dir}."
        if not self.items:
            return f"Nothing to {self.action} in {self.cache_dir} itself."
        return (
            f"Will {self.action} {plural(len(self.items), 'entry', 'entries')}"
            f" in {self.cache_dir}, freeing {self.expected_freed_size_str}:"
        )

    def side_lines(self) -> list[str]:
        """What else happens: staging folders removed, entries not touched (and why)."""
        lines: list[str] = []
        if self.staging:
            lines.append(
                f"Will remove {plural(len(self.staging), 'staging folder')} of interrupted "
                "downloads on this machine (their process is gone):"
            )
            lines += [f"  {path} ({format_bytes(size)})" for path, size in self.staging]
        lines += [f"  not touched: {label} ({why})" for label, why in self.skipped]
        return lines

    def describe(self) -> str:
        """What would happen, in a few lines."""
        lines = [self.headline]
        lines += [
            f"  {i.entry.label} ({format_bytes(i.size)}): {', '.join(i.names)}" for i in self.items
        ]
        return "\n".join(lines + self.side_lines())

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
        gone: list[str] = []
        for path, size in self.staging:
            folder = staging.parse(path)
            # Checked again: a pid may have been reused since the plan was made.
            if folder is not None and staging.remove(folder):
                gone.append(path)
                freed += size
        return DeleteResult(tuple(removed), freed, tuple(skipped), tuple(gone))


def _remove_under_lock(store: Store, item: PlannedDeletion) -> str | None:
    key = item.entry.key
    if item.entry.status is Status.DOWNLOADING:
        # The holder keeps its lock; what is planned are other, dead downloads' tmp folders.
        return _remove(store, item.names)
    with CacheLock(store, key) as lock:
        if not lock.try_acquire():
            content = store.read_text(lock.name) or ""
            seen = item.entry.lock_holder
            if seen is None or content != seen.content or lock.name not in item.names:
                return f"being downloaded by {parse_holder(content).label} right now"
            if not lock.take_over(content) or not lock.try_acquire():
                return "its lock changed while deleting; scan again"
        return _remove(store, [n for n in item.names if n != lock.name])


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
            f"Not in the cache {info.cache_dir}: {', '.join(missing)}.",
            fix=Fix("List what is there with {ls}."),
        )
    return _plan(info, ((e, e.names) for e in picks), "delete")


def plan_clear(cache_dir: str | None = None) -> DeletePlan:
    """Plans removing every entry (those being downloaded are skipped)."""
    info = scan_cache(cache_dir)
    return _plan(info, ((e, e.names) for e in info.entries), "clear")


def plan_repair(cache_dir: str | None = None) -> DeletePlan:
    """Plans removing partial folders, orphan tmp folders and stale locks, nothing else.

    For a ``gs://`` cache, also the local staging folders whose owner is dead.
    """
    info = scan_cache(cache_dir)
    plan = _plan(info, ((e, e.leftovers) for e in info.entries), "repair")
    if not info.cache_dir.startswith("gs://"):
        return plan  # only gs:// downloads are staged locally
    dead = tuple((f.path, f.size()) for f in staging.dead())
    return DeletePlan(plan.cache_dir, plan.items, plan.skipped, plan.action, dead)


def plan_prune(max_bytes: int, cache_dir: str | None = None) -> DeletePlan:
    """Plans removing least recently used complete models until the cache fits ``max_bytes``."""
    if not isinstance(max_bytes, int) or max_bytes < 0:
        raise InvalidSettingError(
            f"max_bytes={max_bytes!r}: give the size to keep the cache under, in bytes (>= 0).",
            fix=Fix("For example hubmagic.prune(20 * 1024**3) keeps it under 20 GiB."),
        )
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
