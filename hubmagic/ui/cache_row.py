"""One row of the cache panel's table: model, size with a bar, last used, status badge, Delete.

A row is a ``GridBox`` with the table head's columns (:data:`GRID`), so the cells
of one column share their x position in every row, whatever their text. The
status is :func:`hubmagic.ui.wording.status_text`'s (its badge
:func:`~hubmagic.ui.wording.badge_text` and
:func:`~hubmagic.ui.wording.status_kind`), and whether the entry needs attention
is the core's :attr:`~hubmagic.core.cache.CacheEntry.needs_attention`: the row
only colours it. A download running in this process shows its bar, amounts,
rate, time left and connections in the status cell.

The CSS classes and the button label are a contract with the browser tests.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from hubmagic.core.cache import CacheEntry, Status
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.units import format_bytes
from hubmagic.ui import panel_html
from hubmagic.ui.html import GREY, RED
from hubmagic.ui.widget_base import TextRepr
from hubmagic.ui.wording import (
    Rate,
    ago_text,
    amount_text,
    badge_text,
    rate_of,
    row_phase_text,
    status_kind,
    status_text,
)

ROW_CLASS = "hubmagic-row"
DELETE = "Delete"
COLUMNS = ("model", "size", "used", "status", "actions")
"""The table's columns; each cell has the class ``hubmagic-col-<name>``."""
GRID = "minmax(0, 5fr) minmax(6.5em, 1.6fr) minmax(6.5em, 1.4fr) minmax(0, 4fr) 5.5em"
"""The columns' widths, the same in the head and in every row."""


def grid_layout(**more: str) -> widgets.Layout:
    """A table line's layout: the shared columns, full width."""
    return widgets.Layout(
        grid_template_columns=GRID,
        grid_gap="0 0.8em",
        width="100%",
        align_items="center",
        **more,
    )


def column_class(widget: widgets.Widget, name: str) -> widgets.Widget:
    widget.add_class(f"hubmagic-col-{name}")
    return widget


class CacheRow(TextRepr, widgets.GridBox):  # type: ignore[misc]
    """One cache entry (or one download not yet on disk): model, size, last used, status.

    Args:
        key: the entry's cache key.
        on_delete: called with the key when Delete is pressed.
    """

    def __init__(self, key: str, on_delete: Callable[[str], None]) -> None:
        self.key = key
        self.entry: CacheEntry | None = None
        self.live: ProgressEvent | None = None
        self.rate = Rate(None, None)
        self._since: tuple[float, int] | None = None
        self.handle_html = column_class(widgets.HTML(), "model")
        self.size_html = column_class(widgets.HTML(), "size")
        self.used_html = column_class(widgets.HTML(), "used")
        self.status_html = column_class(widgets.HTML(), "status")
        self.status_html.add_class("hubmagic-status")
        self.delete_button = column_class(
            widgets.Button(description=DELETE, layout=widgets.Layout(width="auto")), "actions"
        )
        self.delete_button.on_click(lambda _button: on_delete(self.key))
        super().__init__(
            children=[
                self.handle_html,
                self.size_html,
                self.used_html,
                self.status_html,
                self.delete_button,
            ],
            layout=grid_layout(padding="2px 0"),
        )
        self.add_class(ROW_CLASS)

    @property
    def name(self) -> str:
        """The handle, or the folder name when the handle is unknown."""
        if self.entry is not None and self.entry.handle:
            return self.entry.handle
        return self.live.handle if self.live is not None else self.key

    @property
    def status(self) -> str:
        return status_text(self.entry, self.live)

    @property
    def kind(self) -> str:
        """The badge's kind (``data-status``): complete, partial, downloading, locked, ..."""
        return status_kind(self.entry, self.live)

    @property
    def size(self) -> int:
        return self.entry.size if self.entry is not None else 0

    @property
    def last_used(self) -> float | None:
        return self.entry.last_used if self.entry is not None else None

    @property
    def problem(self) -> str | None:
        """What is wrong, when the core says the entry needs attention (never a live download)."""
        if self.live is not None or self.entry is None or not self.entry.needs_attention:
            return None
        return self.entry.problem

    def follow(self, live: ProgressEvent | None) -> None:
        """Takes the download's latest event: its rate is measured from its start."""
        if live is None:
            self._since = None
        elif live.phase is Phase.STARTED or self._since is None:
            self._since = (live.elapsed, live.bytes_done)
        self.live = live
        self.rate = rate_of(live, self._since) if live is not None else Rate(None, None)

    def show(
        self,
        entry: CacheEntry | None,
        verified: bool,
        *,
        largest: int,
        now: float,
    ) -> None:
        """Draws the entry as scanned, with the live download (:meth:`follow`) over it.

        Args:
            entry: the entry as scanned (``None``: a download not yet on disk).
            verified: Verify was pressed: problems are named in red.
            largest: the largest entry's size, for the size bar.
            now: the time "last used" is counted back from.
        """
        self.entry = entry
        live = self.live
        self.handle_html.value = panel_html.cell_text(
            self.name, title=self.name, cls="hubmagic-model"
        )
        if live is not None and live.total:  # a download: what is coming, not its tmp folder
            self.size_html.value = panel_html.cell_text(
                format_bytes(live.total), title="the download's size"
            )
        elif entry is not None:
            fraction = entry.size / largest if largest else 0.0
            self.size_html.value = panel_html.cell_text(entry.size_str) + panel_html.bar(
                fraction, name="size"
            )
        else:
            self.size_html.value = panel_html.cell_text("-")
        self.used_html.value = panel_html.when(self.last_used, ago_text(self.last_used, now))
        self.status_html.value = self._status_html(verified)
        self._mark("hubmagic-problem", self.problem is not None)
        self._mark("hubmagic-live", live is not None or self.status == "downloading now")
        locked = entry is not None and entry.status is Status.DOWNLOADING
        self.delete_button.disabled = entry is None or live is not None or locked

    def _status_html(self, verified: bool) -> str:
        problem = self.problem
        if problem is not None:
            text = f"{self.status}: {problem}" if verified else self.status
            note = panel_html.small(problem, color=RED if verified else GREY)
            return panel_html.badge(self.kind, badge_text(self.entry, None), title=text) + note
        live = self.live
        title = self.entry.problem if self.entry is not None else None
        shown = panel_html.badge(
            self.kind, badge_text(self.entry, live), title=title or self.status
        )
        if live is None:
            return shown
        if live.phase in (Phase.STARTED, Phase.DOWNLOADING, Phase.EXTRACTING):
            shown += panel_html.bar(live.fraction or 0.0, name="progress")
        detail = row_phase_text(live) if live.phase is not Phase.DOWNLOADING else ""
        amounts = amount_text(live, self.rate)
        return shown + "".join(panel_html.small(x) for x in (amounts, detail) if x)

    def _mark(self, cls: str, on: bool) -> None:
        if on:
            self.add_class(cls)
        else:
            self.remove_class(cls)

    def __repr__(self) -> str:
        size = self.entry.size_str if self.entry else "-"
        return f"{self.status}  {size}  {self.name}"
