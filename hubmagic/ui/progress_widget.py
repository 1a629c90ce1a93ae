"""Live download progress in the notebook: one row per download, as the core reports it.

A display layer, like :mod:`hubmagic.ui.textprogress`: :class:`WidgetProgress`
is a ``progress`` callback that turns the core's
:class:`~hubmagic.core.progress.ProgressEvent` records into ipywidgets, worded
by :mod:`hubmagic.ui.wording` (the same sentences as the text progress).

The CSS classes below are a contract with the browser test
(``tests/ui/test_browser.py``): keep them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.ui.html import RED
from hubmagic.ui.widget_base import NOWRAP, THROTTLED, UPDATE_INTERVAL, TextRepr, span
from hubmagic.ui.wording import Rate, amount_text, progress_line, rate_of, row_phase_text

PROGRESS_CLASS = "hubmagic-progress"
PROGRESS_ROW_CLASS = "hubmagic-progress-row"
PROGRESS_PHASE_CLASS = "hubmagic-progress-phase"
FAILED_CLASS = "hubmagic-failed"


class ProgressRow(TextRepr, widgets.HBox):  # type: ignore[misc]
    """One download: handle, bar, amounts, rate, time left, connections, resumes, retries, phase.

    Args:
        handle: the handle, as the events name it.
        interval: least seconds between two redraws for byte counts.
    """

    def __init__(self, handle: str, *, interval: float = UPDATE_INTERVAL) -> None:
        self.handle = handle
        self.event: ProgressEvent | None = None
        self.rate = Rate(None, None)
        self.redraws = 0
        self._interval = interval
        self._since: tuple[float, int] | None = None
        self._drawn = -1e9
        self.handle_html = widgets.HTML(
            span(handle, title=handle, style=NOWRAP),
            layout=widgets.Layout(width="32%", min_width="12em"),
        )
        self.bar = widgets.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="12em", flex="0 0 auto")
        )
        # At least 20em, so that rows line up; wider when connections, resumes or
        # retries follow the rate (the text never wraps).
        self.amount_html = widgets.HTML(
            "", layout=widgets.Layout(min_width="20em", width="auto", flex="0 0 auto")
        )
        self.phase_html = widgets.HTML("", layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self.phase_html.add_class(PROGRESS_PHASE_CLASS)
        super().__init__(
            children=[self.handle_html, self.bar, self.amount_html, self.phase_html],
            layout=widgets.Layout(width="100%", align_items="center"),
        )
        self.add_class(PROGRESS_ROW_CLASS)

    @property
    def phase(self) -> str:
        """The phase text as shown."""
        return row_phase_text(self.event) if self.event else "waiting to start"

    @property
    def amount(self) -> str:
        """The amounts text as shown."""
        return amount_text(self.event, self.rate) if self.event else ""

    def update(self, event: ProgressEvent) -> bool:
        """Takes an event; redraws unless byte counts come faster than the interval.

        Returns:
            Whether the row was redrawn.
        """
        if event.phase is Phase.STARTED or self._since is None:
            self._since = (event.elapsed, event.bytes_done)
        self.event = event
        self.rate = rate_of(event, self._since)
        now = time.monotonic()
        if event.phase in THROTTLED and now - self._drawn < self._interval:
            return False
        self._drawn = now
        self._draw(event)
        return True

    def _draw(self, event: ProgressEvent) -> None:
        fraction = event.fraction
        if event.phase is Phase.FAILED:
            style, value = "danger", self.bar.value
        elif event.phase is Phase.DONE:
            style, value = "success", 1.0
        elif event.phase in (Phase.WAITING, Phase.RETRYING):
            style, value = "warning", fraction or 0.0
        elif fraction is None and event.phase is not Phase.CONNECTING:
            # Unknown total: a full, pale bar (ipywidgets has no indeterminate bar)
            # while the text shows bytes and rate.
            style, value = "info", 1.0
        else:
            style, value = "", fraction or 0.0
        self.bar.bar_style = style
        self.bar.value = value
        self.amount_html.value = span(self.amount, style="white-space:nowrap")
        failed = event.phase is Phase.FAILED
        self.phase_html.value = span(self.phase, color=RED if failed else None)
        if failed:
            self.add_class(FAILED_CLASS)
        self.redraws += 1

    def __repr__(self) -> str:
        if self.event is None:
            return f"{self.handle}: waiting to start"
        return progress_line(self.event, self.rate)


class ProgressBox(TextRepr, widgets.VBox):  # type: ignore[misc]
    """The rows of one :class:`WidgetProgress`."""

    def __init__(self) -> None:
        super().__init__(children=[], layout=widgets.Layout(width="100%"))
        self.add_class(PROGRESS_CLASS)

    def __repr__(self) -> str:
        return "\n".join(repr(row) for row in self.children) or "(no downloads yet)"


class WidgetProgress:
    """A progress callback that shows one live row per download in the notebook.

    Pass it wherever a ``progress`` callback goes::

        hubmagic.resolve(handle, progress=WidgetProgress())

    The rows are displayed on the first event. Events may come from any
    thread (the core reports bytes from its decompression thread); byte
    counts redraw at most ten times per second, every other phase at once.

    Args:
        show_hits: also show a row for a cache hit.
        interval: least seconds between two redraws for byte counts.
    """

    def __init__(self, *, show_hits: bool = True, interval: float = UPDATE_INTERVAL) -> None:
        self.box = ProgressBox()
        self.rows: dict[str, ProgressRow] = {}
        self._show_hits = show_hits
        self._interval = interval
        self._lock = threading.Lock()
        self._displayed = False

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            row = self.rows.get(event.handle)
            if row is None:
                if event.phase is Phase.DONE and event.from_cache and not self._show_hits:
                    return
                row = self.rows[event.handle] = ProgressRow(event.handle, interval=self._interval)
                self.box.children = (*self.box.children, row)
            row.update(event)
            if not self._displayed:
                self._displayed = True
                display(self.box)  # type: ignore[no-untyped-call]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return self.box._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return repr(self.box)
