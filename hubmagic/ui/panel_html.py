"""The cache panel's HTML pieces: badges, bars, "3 days ago", the disk bar, a plan.

Plain functions from the core's records (and :mod:`hubmagic.ui.wording`'s words)
to escaped HTML that the panel puts in ipywidgets ``HTML`` widgets. Nothing here
imports ipywidgets, so each piece is tested as a string. Colours are theme
variables (:mod:`hubmagic.ui.html`), so the dark theme stays readable.

The CSS classes and ``data-*`` attributes are a contract with the browser tests
(``tests/ui/test_browser_panel.py``): keep them.
"""

from __future__ import annotations

import datetime
import html
from dataclasses import dataclass

from hubmagic.core.plans import DeletePlan
from hubmagic.core.units import format_bytes, plural
from hubmagic.ui.html import BLUE, BORDER, GREY, RED, SURFACE, TEXT, TRACK

# Each badge's colour: a theme variable and its light-theme value. The badge's text is
# the theme's own text colour on a tint of it (so its contrast is the theme's, light or
# dark), edged with the colour itself.
_BADGE_COLOURS = {
    "complete": ("--jp-success-color1", "#2e7d32"),
    "partial": ("--jp-error-color1", "#c62828"),
    "failed": ("--jp-error-color1", "#c62828"),
    "stale-lock": ("--jp-warn-color1", "#e65100"),
    "orphan-tmp": ("--jp-warn-color1", "#e65100"),
    "downloading": ("--jp-brand-color1", "#1565c0"),
    "waiting": ("--jp-brand-color1", "#1565c0"),
    "locked": ("--jp-ui-font-color2", "#616161"),
}
SMALL = "font-size:var(--jp-ui-font-size0, 0.85em);line-height:1.4"

STYLE = f"""<style>
.hubmagic-panel .hubmagic-row {{ border-top: 1px solid {BORDER}; }}
.hubmagic-panel .hubmagic-row:hover {{ background: {SURFACE}; }}
.hubmagic-panel summary {{ display: list-item; }}
.hubmagic-panel .hubmagic-table-head {{ background: {SURFACE}; font-weight: 600; }}
.hubmagic-panel .hubmagic-sort button, .hubmagic-panel button.hubmagic-sort {{
  background: transparent; box-shadow: none; font-weight: 600; padding: 0 0.3em;
  justify-content: flex-start; text-align: left; }}
.hubmagic-panel .hubmagic-row .widget-html-content,
.hubmagic-panel .hubmagic-table-head .widget-html-content {{ line-height: 1.4; }}
.hubmagic-panel .hubmagic-row > *, .hubmagic-panel .hubmagic-table-head > *,
.hubmagic-panel .hubmagic-row .widget-html-content {{ min-width: 0; overflow: hidden; }}
</style>"""
"""Rules that ipywidgets' layouts cannot say on 7.7 (row borders, the head's tint);
drawn once, in the header. A ``<style>`` in an HTML widget reaches the whole page,
so every rule is under ``.hubmagic-panel``."""


def _attributes(**values: str | None) -> str:
    """`` name="value"`` for each value given (``data_x`` is ``data-x``, ``class_`` is
    ``class``), escaped."""
    return "".join(
        f' {name.rstrip("_").replace("_", "-")}="{html.escape(value)}"'
        for name, value in values.items()
        if value is not None
    )


def badge(kind: str, text: str, *, title: str | None = None) -> str:
    """A status as a coloured pill; ``kind`` is one of :data:`~hubmagic.ui.wording.STATUS_KINDS`."""
    variable, fallback = _BADGE_COLOURS.get(kind, _BADGE_COLOURS["locked"])
    colour = f"var({variable}, {fallback})"
    style = (
        "display:inline-block;padding:0 0.6em;border-radius:0.8em;line-height:1.5;"
        f"white-space:nowrap;color:{TEXT};border:1px solid {colour};"
        f"border-left:0.45em solid {colour};"
        f"background:color-mix(in srgb, {colour} 16%, transparent)"
    )
    attributes = _attributes(class_="hubmagic-badge", data_status=kind, title=title, style=style)
    return f"<span{attributes}>{html.escape(text)}</span>"


def bar(fraction: float, *, name: str, color: str = BLUE, height: str = "6px") -> str:
    """A horizontal bar: ``hubmagic-<name>-bar`` holding ``hubmagic-<name>-fill``.

    A fraction above zero shows at least a sliver, so a small entry is not mistaken
    for an empty one.
    """
    fraction = min(1.0, max(0.0, fraction))
    width = 0.0 if fraction <= 0 else max(fraction * 100, 1.0)
    track = f"width:100%;height:{height};background:{TRACK};border-radius:{height};overflow:hidden"
    fill = f"width:{width:.1f}%;height:100%;background:{color}"
    return (
        f'<div class="hubmagic-{name}-bar" style="{track}">'
        f'<div class="hubmagic-{name}-fill" data-fraction="{fraction:.4f}" style="{fill}">'
        "</div></div>"
    )


def when(then: float | None, ago: str) -> str:
    """``3 days ago``, with the date and time on hover."""
    if then is None:
        return f'<span class="hubmagic-ago" style="color:{GREY}">-</span>'
    stamp = datetime.datetime.fromtimestamp(then).strftime("%Y-%m-%d %H:%M")
    return f"<span{_attributes(class_='hubmagic-ago', title=stamp)}>{html.escape(ago)}</span>"


def cell_text(text: str, *, title: str | None = None, cls: str | None = None) -> str:
    """One line of a table cell, cut with an ellipsis when too long (whole on hover)."""
    style = "display:block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap"
    return f"<span{_attributes(class_=cls, title=title, style=style)}>{html.escape(text)}</span>"


def small(text: str, *, color: str = GREY) -> str:
    return f'<div style="{SMALL};color:{color}">{html.escape(text)}</div>'


def facts(rows: list[tuple[str, str]], *, cls: str = "hubmagic-facts") -> str:
    """``label  value`` rows as a two-column table."""
    cells = "".join(
        f'<tr><th style="text-align:left;font-weight:600;padding:0 1.2em 0 0;'
        f'white-space:nowrap;vertical-align:top">{html.escape(label)}</th>'
        f'<td style="padding:0;word-break:break-all">{html.escape(value)}</td></tr>'
        for label, value in rows
    )
    return f'<table class="{cls}" style="border-collapse:collapse;margin:0">{cells}</table>'


def error_block(lines: list[str]) -> str:
    """Lines that say what could not be read, in the error colour."""
    text = html.escape("\n".join(lines))
    return f'<pre style="color:{RED};margin:0.2em 0;white-space:pre-wrap">{text}</pre>'


@dataclass(frozen=True)
class DiskUse:
    """What the disk bar shows.

    Attributes:
        cache_bytes: the cache's size (``None``: it could not be scanned).
        entries: how many entries that is.
        free_bytes: free space on the cache's disk (``None``: a ``gs://`` cache, or
            unknown; ``free_text`` says which).
        free_text: the free space in words.
        limit_bytes: the most one model may unpack to (``HUBMAGIC_MAX_EXTRACT_BYTES``).
    """

    cache_bytes: int | None
    entries: int
    free_bytes: int | None
    free_text: str
    limit_bytes: int | None = None

    @property
    def fraction(self) -> float | None:
        """The cache's share of the space it could use (its size plus what is free)."""
        if self.cache_bytes is None or self.free_bytes is None:
            return None
        room = self.cache_bytes + self.free_bytes
        return self.cache_bytes / room if room else 0.0

    @property
    def short_of_room(self) -> bool:
        """Less is free than one model may unpack to: a big download could fill the disk."""
        return (
            self.free_bytes is not None
            and self.limit_bytes is not None
            and self.free_bytes < self.limit_bytes
        )

    @property
    def numbers(self) -> str:
        """``cache 12.3 MiB in 3 entries · 40.2 GiB free``, and the per-model limit when
        it is more than is free."""
        if self.cache_bytes is None:
            parts = ["cache size unknown (the cache could not be read)"]
        else:
            count = plural(self.entries, "entry", "entries")
            parts = [f"cache {format_bytes(self.cache_bytes)} in {count}"]
        if self.free_bytes is not None:
            parts.append(f"{format_bytes(self.free_bytes)} free")
        else:
            parts.append(f"free disk {self.free_text}")
        if self.short_of_room and self.limit_bytes is not None:
            parts.append(
                f"a model may unpack to {format_bytes(self.limit_bytes)} "
                "(HUBMAGIC_MAX_EXTRACT_BYTES), more than is free"
            )
        return " · ".join(parts)


def disk(use: DiskUse) -> str:
    """The disk bar: the cache against the free space left, with the numbers."""
    attributes = _attributes(
        class_="hubmagic-disk",
        data_cache_bytes=None if use.cache_bytes is None else str(use.cache_bytes),
        data_free_bytes=None if use.free_bytes is None else str(use.free_bytes),
        data_limit_bytes=None if use.limit_bytes is None else str(use.limit_bytes),
        style="margin-top:0.4em;max-width:48em",
    )
    fraction = use.fraction
    shown = "" if fraction is None else bar(fraction, name="disk", height="10px")
    shown = shown.replace("hubmagic-disk-fill", "hubmagic-disk-used")
    numbers = f'<div class="hubmagic-disk-numbers" style="{SMALL};color:{GREY}">'
    return f"<div{attributes}>{shown}{numbers}{html.escape(use.numbers)}</div></div>"


def plan(plan: DeletePlan, prompt: str) -> str:
    """A delete plan: what goes (one row per entry, with its size), what stays, the total."""
    rows = "".join(
        f'<tr style="border-top:1px solid {BORDER}">'
        f'<td style="padding:0.1em 1em 0.1em 0">{html.escape(item.entry.label)}</td>'
        f'<td style="padding:0.1em 1em 0.1em 0;text-align:right;white-space:nowrap">'
        f"{html.escape(format_bytes(item.size))}</td>"
        f'<td style="padding:0.1em 0;color:{GREY};{SMALL}">'
        f"{html.escape(', '.join(item.names))}</td></tr>"
        for item in plan.items
    )
    total = (
        f'<div class="hubmagic-plan-total" style="font-weight:600;margin-top:0.2em">'
        f"frees {html.escape(plan.expected_freed_size_str)}</div>"
    )
    return (
        f'<div class="hubmagic-plan">'
        f'<div style="font-weight:600">{html.escape(plan.headline)}</div>'
        f'<table style="border-collapse:collapse;margin:0.2em 0">{rows}</table>'
        + "".join(small(line.strip()) for line in plan.side_lines())
        + total
        + small(prompt)
        + "</div>"
    )
