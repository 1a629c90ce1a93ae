"""The cache panel's header: runtime, settings in force, free disk, cache size.

Built from the records the setup layer returns
(:func:`~hubmagic.plan.detect.detect_runtime`,
:func:`~hubmagic.plan.info.settings_info`) and worded by
:mod:`hubmagic.ui.wording`, like ``%hub_info``. A part that cannot be
collected (a bad setting) shows its error and fix in its place; the others
are still there. :func:`header_lines` is the text (terminals, notebook viewers),
:func:`header_html` the same rows as the panel draws them, with the disk bar.
Nothing here imports ipywidgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hubmagic.core import config
from hubmagic.core.cache import CacheInfo
from hubmagic.core.errors import HubmagicError
from hubmagic.core.units import format_bytes, plural
from hubmagic.plan.checks import disk_free
from hubmagic.plan.detect import detect_runtime
from hubmagic.plan.info import collect, settings_info
from hubmagic.plan.records import is_gcs
from hubmagic.ui import panel_html
from hubmagic.ui.html import SURFACE
from hubmagic.ui.wording import SETTING_LABELS, aligned, section_error_lines, settings_rows

Row = tuple[str, str]


def free_space(folder: str, free_bytes: Callable[[str], int] = disk_free) -> tuple[int | None, str]:
    """Free space on the disk of a cache folder: bytes (``None``: n/a or unknown) and words."""
    if is_gcs(folder):
        return None, "n/a (gs:// cache)"
    try:
        free = free_bytes(folder)
    except OSError as exc:
        return None, f"unknown ({exc.strerror or exc})"
    return free, format_bytes(free)


def cache_size(info: CacheInfo | None) -> str:
    """``1.2 MiB in 3 entries``; ``unknown`` when the cache could not be scanned."""
    if info is None:
        return "unknown (the cache could not be read)"
    return f"{info.size_str} in {plural(len(info.entries), 'entry', 'entries')}"


@dataclass(frozen=True)
class Header:
    """The header's rows, the errors of the parts that failed, and the disk's numbers.

    Attributes:
        rows: (label, value) in order.
        failed: error lines to show before ``rows[index]``, by index.
        disk: what the disk bar shows.
    """

    rows: tuple[Row, ...]
    failed: tuple[tuple[int, tuple[str, ...]], ...]
    disk: panel_html.DiskUse

    def lines(self) -> list[str]:
        """One ``label: value`` line each, values in one column, errors in their place."""
        lines = aligned(list(self.rows), indent="")
        for index, failed in sorted(self.failed, reverse=True):
            lines[index:index] = failed
        return lines


# The rows the header shows at once; the other settings are one click away.
_FIRST = ("runtime", SETTING_LABELS["models_from"], SETTING_LABELS["cache_dir"])


def header_html(header: Header) -> str:
    """The header as the panel draws it: runtime, models from, cache folder, the disk bar;
    the other settings folded under "settings". A part that failed shows its error in
    its place."""
    failed = dict(header.failed)
    first: list[str] = []
    rest: list[Row] = []
    run: list[Row] = []  # rows of one table, so that their values line up
    for index, row in enumerate([*header.rows, None]):
        errors = failed.get(index)
        if errors or row is None:
            if run:
                first.append(panel_html.facts(run))
                run = []
            if errors:
                first.append(panel_html.error_block(list(errors)))
        if row is not None:
            (run if row[0] in _FIRST else rest).append(row)
    folded = (
        '<details style="margin-top:0.2em"><summary style="cursor:pointer">settings</summary>'
        + panel_html.facts(rest)
        + "</details>"
        if rest
        else ""
    )
    box = f"background:{SURFACE};padding:0.5em 0.8em;border-radius:4px"
    return (
        panel_html.STYLE
        + f'<div class="hubmagic-header-box" style="{box}">'
        + "".join(first)
        + panel_html.disk(header.disk)
        + folded
        + "</div>"
    )


def _limit() -> int | None:
    try:
        return config.max_extract_bytes()
    except HubmagicError:  # a bad value is shown where the settings are
        return None


def disk_use(
    info: CacheInfo | None, folder: str | None, free_bytes: Callable[[str], int] = disk_free
) -> panel_html.DiskUse:
    """The disk bar's numbers: the cache's size, the free space, the per-model limit."""
    free, free_text = free_space(folder, free_bytes) if folder is not None else (None, "unknown")
    return panel_html.DiskUse(
        cache_bytes=None if info is None else info.size,
        entries=0 if info is None else len(info.entries),
        free_bytes=free,
        free_text=free_text,
        limit_bytes=_limit(),
    )


def header(info: CacheInfo | None, folder: str | None, *, other_cache: bool) -> Header:
    """The header of a panel showing ``info`` (``None``: the cache could not be scanned).

    Args:
        info: the scan shown.
        folder: the cache folder shown (``None``: not even its name is known).
        other_cache: the panel shows ``folder`` rather than the cache in force.
    """
    rows: list[Row] = []
    failed: list[tuple[int, tuple[str, ...]]] = []

    def section(name: str, build: Callable[[], list[Row]]) -> bool:
        collected = collect(name, build)
        if collected.value is None:
            failed.append((len(rows), (f"{name}:", *section_error_lines(collected, "magic"))))
            return False
        rows.extend(collected.value)
        return True

    section("runtime", lambda: [("runtime", detect_runtime().summary)])
    settings = section(
        "settings",
        lambda: settings_rows(settings_info(), cache_dir=folder if other_cache else None),
    )
    disk = disk_use(info, folder)
    if folder is not None:
        if not settings:  # the folder shown is known all the same
            rows.append((SETTING_LABELS["cache_dir"], folder))
        rows.append(("free disk", disk.free_text))
    rows.append(("cache size", cache_size(info)))
    return Header(tuple(rows), tuple(failed), disk)


def header_lines(info: CacheInfo | None, folder: str | None, *, other_cache: bool) -> list[str]:
    """The header as text (see :func:`header`)."""
    return header(info, folder, other_cache=other_cache).lines()
