"""The cache panel's table: a head of sort buttons, one :class:`CacheRow` per entry, a filter.

Downloads running in this process are rows too (first, whatever the sort), and
become ordinary entries once the panel rescans. Past :data:`FILTER_AFTER`
entries a filter box shows above the head: rows whose model, key or status
do not contain its text are left out. Sorting and filtering only reorder the
rows the core's scan gave; nothing here reads the cache.

The CSS classes and labels are a contract with the browser tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from hubmagic.core.cache import CacheEntry
from hubmagic.core.progress import ProgressEvent
from hubmagic.ui import panel_html
from hubmagic.ui.cache_row import CacheRow, column_class, grid_layout

FILTER_AFTER = 20
"""More entries than this, and the filter box shows."""
SORT_LABELS = {"model": "Model", "size": "Size", "last_used": "Last used"}
"""The sort buttons' labels; the active one gets an arrow."""
DOWN, UP = " ▼", " ▲"
EMPTY = "The cache is empty: models appear here as they are loaded."


def _sort_value(row: CacheRow, key: str) -> Any:
    if key == "size":
        return row.size
    if key == "last_used":
        return row.last_used or 0.0
    return row.name.lower()


class CacheTable(widgets.VBox):  # type: ignore[misc]
    """The entries as a table with aligned columns, sortable, filterable past 20 entries.

    Args:
        on_delete: called with an entry's key when its Delete is pressed.
    """

    def __init__(self, on_delete: Callable[[str], None]) -> None:
        self._on_delete = on_delete
        self._rows: dict[str, CacheRow] = {}
        self.sort: tuple[str, bool] = ("model", False)
        self.filter_text = ""
        self.sort_buttons = {
            key: widgets.Button(description=label, layout=widgets.Layout(width="auto"))
            for key, label in SORT_LABELS.items()
        }
        for key, button in self.sort_buttons.items():
            button.add_class("hubmagic-sort")
            button.on_click(lambda _button, key=key: self.sort_by(key))
        status = widgets.HTML(panel_html.cell_text("Status"))
        self.head = widgets.GridBox(
            [
                column_class(self.sort_buttons["model"], "model"),
                column_class(self.sort_buttons["size"], "size"),
                column_class(self.sort_buttons["last_used"], "used"),
                column_class(status, "status"),
                column_class(widgets.HTML(""), "actions"),
            ],
            layout=grid_layout(padding="2px 0"),
        )
        self.head.add_class("hubmagic-table-head")
        self.filter_box = widgets.Text(
            placeholder="filter models", layout=widgets.Layout(width="22em")
        )
        self.filter_box.add_class("hubmagic-filter")
        self.filter_box.observe(self._filter_typed, names="value")
        self.empty = widgets.HTML(panel_html.small(EMPTY))
        self.empty.add_class("hubmagic-empty")
        self.body = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.body.add_class("hubmagic-table-body")
        super().__init__(layout=widgets.Layout(width="100%"))
        self.add_class("hubmagic-table")
        self._label_sort_buttons()

    # -- what the panel and tests read --------------------------------------------
    @property
    def rows(self) -> list[CacheRow]:
        """The rows shown, in order (filtered out rows are not)."""
        return list(self.body.children)

    @property
    def all_rows(self) -> list[CacheRow]:
        return list(self._rows.values())

    @property
    def parts(self) -> list[widgets.Widget]:
        """What the table holds now: the filter box (if shown), the head, the rows."""
        return list(self.children)

    @property
    def filtering(self) -> bool:
        """Whether the filter box shows (more than :data:`FILTER_AFTER` entries)."""
        return self.filter_box in self.parts

    # -- sorting and filtering ----------------------------------------------------
    def sort_by(self, key: str, descending: bool | None = None) -> None:
        """Orders the rows by ``model``, ``size`` or ``last_used``.

        Args:
            key: the column.
            descending: ``None`` turns the order round when ``key`` is the sort in
                force; a new column starts with the biggest / latest first (names A-Z).
        """
        if key not in SORT_LABELS:
            raise ValueError(f"cannot sort by {key!r}: use one of {', '.join(SORT_LABELS)}")
        if descending is None:
            current, was = self.sort
            descending = not was if current == key else key != "model"
        self.sort = (key, descending)
        self._label_sort_buttons()
        self._place()

    def set_filter(self, text: str) -> None:
        """Shows only the rows whose model, key or status contain ``text`` (any case)."""
        if self.filter_box.value != text:
            self.filter_box.value = text  # calls back into _filter_typed
        else:
            self._filter_typed({"new": text})

    def _filter_typed(self, change: Mapping[str, Any]) -> None:
        self.filter_text = str(change["new"])
        self._place()

    def _label_sort_buttons(self) -> None:
        key, descending = self.sort
        for name, button in self.sort_buttons.items():
            arrow = (DOWN if descending else UP) if name == key else ""
            button.description = SORT_LABELS[name] + arrow

    # -- drawing -------------------------------------------------------------------
    def show(
        self,
        entries: tuple[CacheEntry, ...],
        live: Mapping[str, ProgressEvent],
        verified: bool,
    ) -> None:
        """Draws the scan's entries, with the live downloads over them (or as new rows)."""
        by_key = {e.key: e for e in entries}
        largest = max((e.size for e in entries), default=0)
        now = time.time()
        for key in [*by_key, *(k for k in live if k not in by_key)]:
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = CacheRow(key, self._on_delete)
            row.follow(live.get(key))
            row.show(by_key.get(key), verified, largest=largest, now=now)
        for key in [k for k in self._rows if k not in by_key and k not in live]:
            self._rows.pop(key).close()
        self._place()

    def _place(self) -> None:
        key, descending = self.sort
        ordered = sorted(self._rows.values(), key=lambda r: _sort_value(r, key), reverse=descending)
        # Downloads first, whatever the order: they are what changes.
        ordered.sort(key=lambda r: r.live is None)
        needle = self.filter_text.strip().lower()
        entries = sum(1 for r in ordered if r.entry is not None)
        filtering = entries > FILTER_AFTER
        if needle and filtering:
            ordered = [r for r in ordered if needle in f"{r.name}\n{r.key}\n{r.status}".lower()]
        if ordered != self.rows:
            self.body.children = ordered
        children: list[widgets.Widget] = [
            *([self.filter_box] if filtering else []),
            self.head,
            *([] if self._rows else [self.empty]),
            self.body,
        ]
        if children != self.parts:
            self.children = children

    def close(self) -> None:
        for row in self._rows.values():
            row.close()
        self._rows.clear()
        for part in (self.head, *self.head.children, self.filter_box, self.empty, self.body):
            part.close()
        super().close()
