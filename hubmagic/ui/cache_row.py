"""One row of the cache panel: an entry's handle, size, last used, status and Delete.

The status is :func:`hubmagic.ui.wording.status_text`'s, and whether the entry
needs attention is the core's :attr:`~hubmagic.core.cache.CacheEntry.needs_attention`
(the rule :func:`hubmagic.core.actions.verify` applies): the row only colours it.
The CSS class and the button label are a contract with the browser test.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from hubmagic.core.cache import CacheEntry, Status
from hubmagic.core.progress import ProgressEvent
from hubmagic.ui.widget_base import BLUE, GREY, NOWRAP, ORANGE, RED, TextRepr, span
from hubmagic.ui.wording import status_text

ROW_CLASS = "hubmagic-row"
DELETE = "Delete"


class CacheRow(TextRepr, widgets.HBox):  # type: ignore[misc]
    """One cache entry (or one download not yet on disk): handle, size, last used, status.

    Args:
        key: the entry's cache key.
        on_delete: called with the key when Delete is pressed.
    """

    def __init__(self, key: str, on_delete: Callable[[str], None]) -> None:
        self.key = key
        self.entry: CacheEntry | None = None
        self.live: ProgressEvent | None = None
        self.handle_html = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", width="40%"))
        self.size_html = widgets.HTML(layout=widgets.Layout(width="7em"))
        self.used_html = widgets.HTML(layout=widgets.Layout(width="9.5em"))
        self.status_html = widgets.HTML(layout=widgets.Layout(width="30%"))
        self.status_html.add_class("hubmagic-status")
        self.delete_button = widgets.Button(
            description=DELETE, layout=widgets.Layout(width="auto", flex="0 0 auto")
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
            layout=widgets.Layout(width="100%", align_items="center"),
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
    def problem(self) -> str | None:
        """What is wrong, when the core says the entry needs attention (never a live download)."""
        if self.live is not None or self.entry is None or not self.entry.needs_attention:
            return None
        return self.entry.problem

    def show(self, entry: CacheEntry | None, live: ProgressEvent | None, verified: bool) -> None:
        """Draws the entry as scanned, with the live download's state over it."""
        self.entry, self.live = entry, live
        self.handle_html.value = span(self.name, title=self.name, style=NOWRAP)
        self.size_html.value = span(entry.size_str if entry else "-")
        self.used_html.value = span(entry.last_used_str if entry else "-")
        problem = self.problem
        status = self.status
        locked = entry is not None and entry.status is Status.DOWNLOADING
        if problem is not None:
            text = f"{status}: {problem}" if verified else status
            self.status_html.value = span(text, color=RED if verified else ORANGE, title=problem)
            self.add_class("hubmagic-problem")
        else:
            color = BLUE if live is not None else GREY if locked else None
            title = entry.problem if entry is not None else None
            self.status_html.value = span(status, color=color, title=title)
            self.remove_class("hubmagic-problem")
        if live is not None or status == "downloading now":
            self.add_class("hubmagic-live")
        else:
            self.remove_class("hubmagic-live")
        self.delete_button.disabled = entry is None or live is not None or locked

    def __repr__(self) -> str:
        size = self.entry.size_str if self.entry else "-"
        return f"{self.status}  {size}  {self.name}"
