"""The cache panel's header, as text: runtime, settings in force, free disk, cache size.

Built from the records the setup layer returns
(:func:`~hubmagic.plan.detect.detect_runtime`,
:func:`~hubmagic.plan.info.settings_info`) and worded by
:mod:`hubmagic.ui.wording`, like ``%hub_info``. A part that cannot be
collected (a bad setting) shows its error and fix in its place; the others
are still there. Nothing here imports ipywidgets.
"""

from __future__ import annotations

from collections.abc import Callable

from hubmagic.core.cache import CacheInfo
from hubmagic.core.units import format_bytes, plural
from hubmagic.plan.checks import disk_free
from hubmagic.plan.detect import detect_runtime
from hubmagic.plan.info import collect, settings_info
from hubmagic.plan.records import is_gcs
from hubmagic.ui.wording import SETTING_LABELS, aligned, section_error_lines, settings_rows

Row = tuple[str, str]


def free_space(folder: str, free_bytes: Callable[[str], int] = disk_free) -> str:
    """Free space on the disk of a cache folder, as the panel shows it."""
    if is_gcs(folder):
        return "n/a (gs:// cache)"
    try:
        return format_bytes(free_bytes(folder))
    except OSError as exc:
        return f"unknown ({exc.strerror or exc})"


def cache_size(info: CacheInfo | None) -> str:
    """``1.2 MiB in 3 entries``; ``unknown`` when the cache could not be scanned."""
    if info is None:
        return "unknown (the cache could not be read)"
    return f"{info.size_str} in {plural(len(info.entries), 'entry', 'entries')}"


def header_lines(info: CacheInfo | None, folder: str | None, *, other_cache: bool) -> list[str]:
    """The header, one ``label: value`` line each, values in one column.

    Args:
        info: the scan shown, ``None`` when the cache could not be scanned.
        folder: the cache folder shown (``None``: not even its name is known).
        other_cache: the panel shows ``folder`` rather than the cache in force.
    """
    rows: list[Row] = []
    failed: dict[int, list[str]] = {}  # error lines to put before rows[index]

    def section(name: str, build: Callable[[], list[Row]]) -> bool:
        collected = collect(name, build)
        if collected.value is None:
            failed[len(rows)] = [f"{name}:", *section_error_lines(collected, "magic")]
            return False
        rows.extend(collected.value)
        return True

    section("runtime", lambda: [("runtime", detect_runtime().summary)])
    settings = section(
        "settings",
        lambda: settings_rows(settings_info(), cache_dir=folder if other_cache else None),
    )
    if folder is not None:
        if not settings:  # the folder shown is known all the same
            rows.append((SETTING_LABELS["cache_dir"], folder))
        rows.append(("free disk", free_space(folder)))
    rows.append(("cache size", cache_size(info)))

    lines = aligned(rows, indent="")
    for index in sorted(failed, reverse=True):
        lines[index:index] = failed[index]
    return lines
