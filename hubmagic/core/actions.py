"""The cache actions every front end offers, decided once: ls, verify, rm, repair, clear, prune.

``%hub_cache``, ``hubmagic cache`` and the panel's buttons all call
:func:`cache_action` (or :func:`verify_cache`) and render the record it
returns; none of them decides which entries need attention or what a
destructive action did not do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubmagic.core.errors import Fix, InvalidSettingError
from hubmagic.core.units import plural

if TYPE_CHECKING:
    from hubmagic.core.cache import CacheEntry, CacheInfo
    from hubmagic.core.plans import DeletePlan, DeleteResult

# The scan and the plans are imported by the functions that use them: the
# magics read CACHE_ACTIONS when %load_ext runs, which must stay light.

CACHE_ACTIONS = ("ls", "verify", "rm", "repair", "clear", "prune")
"""Every action, in the order help texts list them."""
DESTRUCTIVE_ACTIONS = ("rm", "repair", "clear", "prune")
"""The actions that plan deletions and act only when confirmed (``--yes``, Confirm)."""

REPAIR_FIX = Fix("Fix them with {repair}.")


@dataclass(frozen=True)
class VerifyReport:
    """Which entries of a cache need attention.

    Attributes:
        cache_dir: the cache checked.
        count: how many entries it has.
        problems: the entries that need attention (a live download does not).
        warnings: what the scan could not read or classify.
    """

    cache_dir: str
    count: int
    problems: tuple[CacheEntry, ...]
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fix(self) -> Fix | None:
        """What to do about the problems, when there are some."""
        return None if self.ok else REPAIR_FIX

    def lines(self) -> list[str]:
        """The report without its fix: a summary line, then one line per problem."""
        entries = plural(self.count, "entry", "entries")
        if self.ok and self.count == 1:
            return [f"The 1 entry in {self.cache_dir} is complete."]
        if self.ok:
            return [f"All {entries} in {self.cache_dir} are complete."]
        verb = "needs" if len(self.problems) == 1 else "need"
        out = [f"{len(self.problems)} of {entries} {verb} attention:"]
        out += [f"  {e.status.value}: {e.label}: {e.problem}" for e in self.problems]
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "cache_dir": self.cache_dir,
            "ok": self.ok,
            "count": self.count,
            "problems": [e.to_dict() for e in self.problems],
            "warnings": list(self.warnings),
        }


def verify(info: CacheInfo) -> VerifyReport:
    """The report for a scan already made."""
    bad = tuple(e for e in info.entries if e.needs_attention)
    return VerifyReport(info.cache_dir, len(info.entries), bad, info.warnings)


def verify_cache(cache_dir: str | None = None) -> VerifyReport:
    """Scans the cache and says which entries need attention."""
    from hubmagic.core.cache import scan_cache

    return verify(scan_cache(cache_dir))


@dataclass(frozen=True)
class CacheActionResult:
    """What one cache action found or did.

    Attributes:
        action: one of :data:`CACHE_ACTIONS`.
        info: the scan, for ``ls``.
        report: the verify report, for ``verify``.
        plan: the deletions planned, for destructive actions.
        result: what was deleted, when the plan was executed.
        not_done: (label, reason) of what was asked and did not happen: entries
            planned but not removed (a download took their lock meanwhile), and
            ``rm`` targets that are being downloaded.
    """

    action: str
    info: CacheInfo | None = None
    report: VerifyReport | None = None
    plan: DeletePlan | None = None
    result: DeleteResult | None = None
    not_done: tuple[tuple[str, str], ...] = ()

    @property
    def executed(self) -> bool:
        return self.result is not None

    @property
    def ok(self) -> bool:
        """Nothing needs attention (verify) and everything asked was done (destructive)."""
        if self.report is not None:
            return self.report.ok
        return not self.not_done

    @property
    def needs_confirmation(self) -> bool:
        """A plan with deletions that was not executed."""
        return self.plan is not None and self.plan.has_deletions and self.result is None

    def to_dict(self) -> dict[str, object]:
        if self.info is not None:
            return self.info.to_dict()
        if self.report is not None:
            return self.report.to_dict()
        assert self.plan is not None
        return {
            **self.plan.to_dict(),
            "executed": self.executed,
            "result": self.result.to_dict() if self.result is not None else None,
            "not_done": [{"label": label, "reason": why} for label, why in self.not_done],
        }


def cache_action(
    action: str,
    *,
    handles: Sequence[str] = (),
    max_bytes: int | None = None,
    yes: bool = False,
    cache_dir: str | None = None,
) -> CacheActionResult:
    """Runs one cache action; destructive ones only plan unless ``yes``.

    Raises:
        InvalidSettingError: an unknown action, or arguments that do not go with it.
        ModelNotFoundError: ``rm`` of a handle that is not in the cache.
    """
    if action not in CACHE_ACTIONS:
        raise InvalidSettingError(
            f"{action!r} is not a cache action: use one of {', '.join(CACHE_ACTIONS)}."
        )
    if bool(handles) != (action == "rm"):
        raise InvalidSettingError(
            "rm needs at least one handle" if action == "rm" else f"{action} takes no handles",
            fix=Fix("List what is there with {ls}."),
        )
    if (max_bytes is None) == (action == "prune"):
        raise InvalidSettingError(
            "prune needs a maximum size" if action == "prune" else f"{action} takes no size",
            fix=Fix("Prune with {prune}."),
        )
    from hubmagic.core import plans
    from hubmagic.core.cache import Status, scan_cache

    if action == "ls":
        return CacheActionResult(action, info=scan_cache(cache_dir))
    if action == "verify":
        return CacheActionResult(action, report=verify_cache(cache_dir))
    if action == "rm":
        plan = plans.plan_delete(handles, cache_dir)
    elif action == "repair":
        plan = plans.plan_repair(cache_dir)
    elif action == "clear":
        plan = plans.plan_clear(cache_dir)
    else:
        assert max_bytes is not None
        plan = plans.plan_prune(max_bytes, cache_dir)
    result = plan.execute() if yes and plan.has_deletions else None
    not_done = list(result.skipped[len(plan.skipped) :]) if result is not None else []
    if action == "rm" and yes:
        busy = [
            (i.entry.label, "being downloaded; only its leftovers were planned")
            for i in plan.items
            if i.entry.status is Status.DOWNLOADING
        ]
        not_done = [*plan.skipped, *busy, *not_done]
    return CacheActionResult(action, plan=plan, result=result, not_done=tuple(not_done))
