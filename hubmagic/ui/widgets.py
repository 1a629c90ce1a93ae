"""Notebook widgets: live download progress and the cache panel.

A display layer, like :mod:`hubmagic.textprogress`: these classes turn what the
core returns (:class:`~hubmagic.progress.ProgressEvent`,
:class:`~hubmagic.cache.CacheInfo`, :class:`~hubmagic.cache.DeletePlan`,
:class:`~hubmagic.cache.DeleteResult`) into ipywidgets, and call the core
(``scan_cache``, ``plan_*``, ``execute``) when a button is pressed; they never
touch the cache folder themselves.

ipywidgets is imported here and nowhere else, and nothing imports this module
until a widget is asked for, so ``%load_ext hubmagic`` stays light. Only APIs
present in both ipywidgets 7.7 (Colab's pin) and 8 are used (``add_class``,
``layout``, ``bar_style``, ``Button.click``); text is HTML-escaped here rather
than relying on the 8-only ``description_allow_html``.

The CSS classes and button labels below are a contract with the browser test
(``tests/ui/test_browser.py``): keep them.
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from hubmagic.core import cache as cache_api
from hubmagic.core.cache import CacheEntry, CacheInfo, DeletePlan, DeleteResult, Status
from hubmagic.core.errors import HubmagicError
from hubmagic.core.handle import cache_key
from hubmagic.core.lock import parse_holder
from hubmagic.core.progress import Phase, ProgressEvent, add_listener, remove_listener
from hubmagic.core.units import format_bytes, format_duration
from hubmagic.ui.textprogress import Rate, describe, rate_of

__all__ = [
    "CachePanel",
    "CacheRow",
    "ProgressBox",
    "ProgressRow",
    "WidgetProgress",
    "amount_text",
    "panel",
    "phase_text",
    "status_text",
]

# -- the contract with the browser test ------------------------------------------------
PROGRESS_CLASS = "hubmagic-progress"
PROGRESS_ROW_CLASS = "hubmagic-progress-row"
PROGRESS_PHASE_CLASS = "hubmagic-progress-phase"
PANEL_CLASS = "hubmagic-panel"
ROW_CLASS = "hubmagic-row"
MESSAGE_CLASS = "hubmagic-message"
REFRESH = "Refresh"
VERIFY = "Verify"
REPAIR = "Repair"
CLEAR_ALL = "Clear all"
DELETE = "Delete"
CONFIRM = "Confirm"
CANCEL = "Cancel"

UPDATE_INTERVAL = 0.1
"""Least seconds between two redraws caused by byte counts: at most ~10 per second."""

RED = "#c62828"
ORANGE = "#e65100"
BLUE = "#1565c0"
GREY = "#616161"

_THROTTLED = (Phase.DOWNLOADING, Phase.WAITING)
_FINAL = (Phase.DONE, Phase.FAILED)
_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
_NOWRAP = "overflow:hidden;text-overflow:ellipsis;white-space:nowrap"


def _span(text: str, *, color: str | None = None, title: str | None = None, style: str = "") -> str:
    """Escaped text in a span (HTML widgets show markup; handles may hold ``&`` or ``<``)."""
    styles = ([f"color:{color}"] if color else []) + ([style] if style else [])
    attributes = f' style="{";".join(styles)}"' if styles else ""
    if title:
        attributes += f' title="{html.escape(title)}"'
    return f"<span{attributes}>{html.escape(text)}</span>"


def _pre(text: str) -> str:
    return f'<pre style="margin:0;white-space:pre-wrap">{html.escape(text)}</pre>'


def _close_tree(widget: Any) -> None:
    """Closes a widget and the boxes' children under it (ipywidgets closes only the one)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


class _TextRepr:
    """Gives a widget its whole ``repr()`` as text/plain.

    Notebook viewers without a widget manager (GitHub, nbviewer, a terminal
    IPython) show text/plain, and ipywidgets cuts it to 110 characters (7.7 in
    ``_ipython_display_``, 8 in ``_repr_mimebundle_``): too short for a panel.
    """

    comm: Any
    model_id: Any

    # IPython prefers ``_ipython_display_`` (ipywidgets 7) over the bundle; None
    # (not callable) makes both ipywidgets versions display through the bundle below.
    _ipython_display_ = None

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self)}
        if self.comm is not None:  # a closed widget has no view
            bundle[_VIEW_MIME] = {"version_major": 2, "version_minor": 0, "model_id": self.model_id}
        return bundle


# -- live progress ------------------------------------------------------------------


def phase_text(event: ProgressEvent) -> str:
    """What a download is doing, in a few words (``done in 2.10 s``, ``failed: ...``)."""
    phase = event.phase
    if phase is Phase.DONE:
        if event.from_cache:
            return "done (from the cache)"
        return f"done in {format_duration(event.elapsed)}"
    if phase is Phase.FAILED:
        return f"failed: {event.message}"
    if phase is Phase.WAITING:
        holder = parse_holder(event.lock_holder or "").label
        return f"waiting for a lock held by {holder} for {format_duration(event.waited)}"
    if phase is Phase.RETRYING:
        return f"retrying after {event.message}"
    return str((Phase.DOWNLOADING if phase is Phase.STARTED else phase).value)


def amount_text(event: ProgressEvent, rate: Rate) -> str:
    """Percent, bytes done / total, rate and time left, as far as they are known."""
    parts: list[str] = []
    if event.total:
        parts += [
            f"{event.fraction or 0.0:.0%}",
            f"{format_bytes(event.bytes_done)} / {format_bytes(event.total)}",
        ]
    elif event.bytes_done or event.phase in (Phase.STARTED, Phase.DOWNLOADING):
        parts.append(format_bytes(event.bytes_done))
    if rate.bytes_per_s is not None and event.phase not in _FINAL and parts:
        parts.append(f"{format_bytes(rate.bytes_per_s)}/s")
    if rate.seconds_left is not None and event.phase is Phase.DOWNLOADING:
        parts.append(f"{format_duration(rate.seconds_left)} left")
    return " · ".join(parts)


class ProgressRow(_TextRepr, widgets.HBox):  # type: ignore[misc]
    """One download: handle, bar, amounts, rate, time left and phase.

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
            _span(handle, title=handle, style=_NOWRAP),
            layout=widgets.Layout(width="32%", min_width="12em"),
        )
        self.bar = widgets.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="12em", flex="0 0 auto")
        )
        self.amount_html = widgets.HTML("", layout=widgets.Layout(width="20em"))
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
        return phase_text(self.event) if self.event else "waiting to start"

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
        if event.phase in _THROTTLED and now - self._drawn < self._interval:
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
        self.amount_html.value = _span(self.amount, style="white-space:nowrap")
        failed = event.phase is Phase.FAILED
        self.phase_html.value = _span(self.phase, color=RED if failed else None)
        if failed:
            self.add_class("hubmagic-failed")
        self.redraws += 1

    def __repr__(self) -> str:
        if self.event is None:
            return f"{self.handle}: waiting to start"
        return describe(self.event, self.rate)


class ProgressBox(_TextRepr, widgets.VBox):  # type: ignore[misc]
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


# -- the cache panel -----------------------------------------------------------------


def _free_space(cache_dir: str) -> str:
    if cache_dir.startswith("gs://"):
        return "n/a (gs:// cache)"
    from hubmagic.plan.decide import disk_free  # the core's free-space check, for %hub_setup too

    try:
        return format_bytes(disk_free(cache_dir))
    except OSError as exc:
        return f"unknown ({exc.strerror or exc})"


def status_text(entry: CacheEntry | None, live: ProgressEvent | None) -> str:
    """A row's status: complete, partial, downloading now 42%, locked by host:pid, ..."""
    if live is not None:
        if live.phase in (Phase.WAITING, Phase.RETRYING):
            return phase_text(live)
        if live.phase in (Phase.CONNECTING, Phase.EXTRACTING):
            return f"downloading now ({live.phase.value})"
        fraction = live.fraction
        done = f"{fraction:.0%}" if fraction is not None else format_bytes(live.bytes_done)
        return f"downloading now {done}"
    if entry is None:
        return "downloading now"
    if entry.status is Status.DOWNLOADING:
        holder = entry.lock_holder
        if holder is not None and holder.on_this_host and holder.pid == os.getpid():
            return "downloading now"
        return f"locked by {holder.label if holder else 'another process'}"
    return str(entry.status.value)


class CacheRow(_TextRepr, widgets.HBox):  # type: ignore[misc]
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
        """What is wrong, for entries that need attention (not live downloads)."""
        if self.live is not None or self.entry is None:
            return None
        if self.entry.status in (Status.COMPLETE, Status.DOWNLOADING):
            return None
        return self.entry.problem

    def show(self, entry: CacheEntry | None, live: ProgressEvent | None, verified: bool) -> None:
        """Draws the entry as scanned, with the live download's state over it."""
        self.entry, self.live = entry, live
        self.handle_html.value = _span(self.name, title=self.name, style=_NOWRAP)
        self.size_html.value = _span(entry.size_str if entry else "-")
        self.used_html.value = _span(entry.last_used_str if entry else "-")
        problem = self.problem
        status = self.status
        locked = entry is not None and entry.status is Status.DOWNLOADING
        if problem is not None:
            text = f"{status}: {problem}" if verified else status
            self.status_html.value = _span(text, color=RED if verified else ORANGE, title=problem)
            self.add_class("hubmagic-problem")
        else:
            color = BLUE if live is not None else GREY if locked else None
            title = entry.problem if entry is not None else None
            self.status_html.value = _span(status, color=color, title=title)
            self.remove_class("hubmagic-problem")
        live_now = live is not None or status == "downloading now"
        if live_now:
            self.add_class("hubmagic-live")
        else:
            self.remove_class("hubmagic-live")
        self.delete_button.disabled = entry is None or live is not None or locked

    def __repr__(self) -> str:
        size = self.entry.size_str if self.entry else "-"
        return f"{self.status}  {size}  {self.name}"


class CachePanel(_TextRepr, widgets.VBox):  # type: ignore[misc]
    """The cache as a table with actions; downloads show up live while it is open.

    Destructive actions (Delete, Repair, Clear all) first show the core's
    :class:`~hubmagic.cache.DeletePlan` and act only after Confirm. While it
    listens, every resolve in the kernel updates it; :meth:`close` (or
    :meth:`stop_listening`) ends that.

    Args:
        cache_dir: the cache folder; default ``TFHUB_CACHE_DIR`` as read at
            each refresh.
        listen: follow downloads in this process
            (:func:`hubmagic.progress.add_listener`).
        interval: least seconds between two redraws for byte counts.
    """

    def __init__(
        self,
        cache_dir: str | None = None,
        *,
        listen: bool = True,
        interval: float = UPDATE_INTERVAL,
    ) -> None:
        self.cache_dir = cache_dir
        self.info: CacheInfo = CacheInfo(cache_dir or "", ())
        self.pending: DeletePlan | None = None
        self.result: DeleteResult | None = None
        self.verified = False
        self.redraws = 0
        self._interval = interval
        self._lock = threading.RLock()
        self._live: dict[str, ProgressEvent] = {}
        self._rows: dict[str, CacheRow] = {}
        self._drawn = -1e9
        self._header: list[str] = []
        self._message = ""
        self._listening = False

        self.header_html = widgets.HTML()
        self.header_html.add_class("hubmagic-header")
        self.buttons = {
            name: widgets.Button(description=name, layout=widgets.Layout(width="auto"))
            for name in (REFRESH, VERIFY, REPAIR, CLEAR_ALL)
        }
        actions: dict[str, Callable[[], object]] = {
            REFRESH: self.refresh,
            VERIFY: self.verify,
            REPAIR: self.repair,
            CLEAR_ALL: self.clear_all,
        }
        for name, button in self.buttons.items():
            button.on_click(self._handler(actions[name]))
        self.toolbar = widgets.HBox(list(self.buttons.values()))
        self.toolbar.add_class("hubmagic-toolbar")
        self.confirm_html = widgets.HTML()
        self.confirm_button = widgets.Button(
            description=CONFIRM, button_style="danger", layout=widgets.Layout(width="auto")
        )
        self.cancel_button = widgets.Button(description=CANCEL, layout=widgets.Layout(width="auto"))
        self.confirm_button.on_click(self._handler(self.confirm))
        self.cancel_button.on_click(self._handler(self.cancel))
        self.confirm_area = widgets.VBox(
            [self.confirm_html, widgets.HBox([self.confirm_button, self.cancel_button])]
        )
        self.confirm_area.add_class("hubmagic-confirm")
        self.message_html = widgets.HTML()
        self.message_html.add_class(MESSAGE_CLASS)
        self.table_header = widgets.HTML(
            "<b>handle · size · last used · status</b>", layout=widgets.Layout(width="100%")
        )
        self.table = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.table.add_class("hubmagic-table")
        super().__init__(layout=widgets.Layout(width="100%"))
        self.add_class(PANEL_CLASS)
        self.refresh()
        if listen:
            self.start_listening()

    # -- what tests and users read ----------------------------------------------------
    @property
    def rows(self) -> list[CacheRow]:
        """The table's rows, in order."""
        return list(self.table.children)

    def row(self, name: str) -> CacheRow | None:
        """The row of a handle, a cache key, or a folder name."""
        return next((r for r in self.rows if name in (r.name, r.key)), None)

    @property
    def message(self) -> str:
        """The message area's text."""
        return self._message

    @property
    def awaiting_confirmation(self) -> bool:
        """Whether Confirm / Cancel are showing."""
        return self.confirm_area in self.children

    @property
    def header(self) -> list[str]:
        return list(self._header)

    # -- actions (the buttons call these) ----------------------------------------------
    def refresh(self) -> CacheInfo:
        """Scans the cache again and redraws."""
        with self._lock:
            self.info = cache_api.scan_cache(self.cache_dir)
            self._header = self._header_lines()
            self._draw()
            return self.info

    def verify(self) -> CacheInfo:
        """Scans again and shows what needs attention, with what is wrong."""
        with self._lock:
            self.verified = True
            info = self.refresh()
            bad = [r for r in self.rows if r.problem]
            if not bad:
                self._say(f"All {len(info.entries)} entries in {info.cache_dir} are fine.")
            else:
                lines = [f"{len(bad)} of {len(info.entries)} entries need attention:"]
                lines += [f"  {r.status}: {r.name}: {r.problem}" for r in bad]
                self._say("\n".join([*lines, "Repair removes partial folders and leftovers."]))
            return info

    def repair(self) -> DeletePlan:
        """Shows what a repair removes (partial folders, orphan tmp folders, stale locks)."""
        return self._propose(cache_api.plan_repair(self.cache_dir))

    def clear_all(self) -> DeletePlan:
        """Shows what clearing the cache removes (live downloads are kept)."""
        return self._propose(cache_api.plan_clear(self.cache_dir))

    def delete(self, key: str) -> DeletePlan:
        """Shows what deleting one entry (by key or handle) frees."""
        return self._propose(cache_api.plan_delete([key], self.cache_dir))

    def confirm(self) -> DeleteResult | None:
        """Executes the plan on show, rescans and shows what was done."""
        with self._lock:
            plan, self.pending = self.pending, None
            if plan is None:
                return None
            self._show_confirm(False)
            self.result = plan.execute()
            self.refresh()
            self._say(self.result.describe())
            return self.result

    def cancel(self) -> None:
        """Drops the plan on show; nothing is deleted."""
        with self._lock:
            self.pending = None
            self._show_confirm(False)
            self._say("Cancelled: nothing was deleted.")

    # -- live downloads --------------------------------------------------------------
    def start_listening(self) -> None:
        """Follows every resolve in this process (see :func:`hubmagic.progress.add_listener`)."""
        add_listener(self.on_event)
        self._listening = True

    def stop_listening(self) -> None:
        remove_listener(self.on_event)
        self._listening = False

    @property
    def listening(self) -> bool:
        return self._listening

    def close(self) -> None:
        """Stops listening and closes the widget and its parts (their views disappear)."""
        self.stop_listening()
        with self._lock:
            parts = [*self.children, self.confirm_area, *self._rows.values()]
            self._rows.clear()
            for part in parts:
                _close_tree(part)
        super().close()

    def on_event(self, event: ProgressEvent) -> None:
        """A progress listener: shows a running download; rescans when one ends."""
        key = cache_key(event.handle)
        with self._lock:
            if event.phase in _FINAL:
                was_live = self._live.pop(key, None) is not None
                row = self._rows.get(key)
                known = row is not None and row.entry is not None and row.entry.is_complete
                if was_live or (event.phase is Phase.DONE and not known):
                    self.refresh()
                return
            self._live[key] = event
            soon = time.monotonic() - self._drawn < self._interval
            if key in self._rows and event.phase in _THROTTLED and soon:
                return
            self._draw()

    # -- drawing ---------------------------------------------------------------------
    def _handler(self, action: Callable[[], object]) -> Callable[[Any], None]:
        def on_click(_button: Any) -> None:
            try:
                action()
            except (HubmagicError, OSError) as exc:
                self._say(f"{type(exc).__name__}: {exc}", error=True)

        return on_click

    def _propose(self, plan: DeletePlan) -> DeletePlan:
        with self._lock:
            if not plan.items:
                self.pending = None
                self._show_confirm(False)
                self._say(plan.describe())
                return plan
            self.pending = plan
            self.confirm_html.value = _pre(plan.describe() + "\nConfirm to go ahead, or Cancel.")
            self._show_confirm(True)
            self._say("")
            return plan

    def _show_confirm(self, show: bool) -> None:
        # Out of the DOM rather than hidden: Confirm exists only while there is a plan.
        self.children = [
            self.header_html,
            self.toolbar,
            *([self.confirm_area] if show else []),
            self.message_html,
            self.table_header,
            self.table,
        ]

    def _say(self, text: str, *, error: bool = False) -> None:
        self._message = text
        color = f"color:{RED};" if error else ""
        self.message_html.value = (
            f'<pre style="{color}margin:0;white-space:pre-wrap">{html.escape(text)}</pre>'
            if text
            else ""
        )

    def _header_lines(self) -> list[str]:
        from hubmagic.plan.runtime import detect_runtime
        from hubmagic.ui.info import settings_lines

        info = self.info
        lines = [f"{'runtime:':<16}{detect_runtime().summary}"]
        try:
            settings = [line.strip() for line in settings_lines()]
        except HubmagicError as exc:
            settings = [f"{'settings:':<16}{exc}"]
        if self.cache_dir is not None:  # not the folder in force: say which one
            settings = [
                f"{'cache folder:':<16}{info.cache_dir}" if s.startswith("cache folder:") else s
                for s in settings
            ]
        lines += settings
        lines.append(f"{'free disk:':<16}{_free_space(info.cache_dir)}")
        count = len(info.entries)
        entries = f"{count} entr{'y' if count == 1 else 'ies'}"
        lines.append(f"{'cache size:':<16}{info.size_str} in {entries}")
        return lines

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        self.redraws += 1
        self.header_html.value = _pre("\n".join(self._header))
        entries = {e.key: e for e in self.info.entries}
        keys = list(entries) + [k for k in self._live if k not in entries]
        rows: list[CacheRow] = []
        for key in keys:
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = CacheRow(key, self._delete_clicked)
            row.show(entries.get(key), self._live.get(key), self.verified)
            rows.append(row)
        for key in [k for k in self._rows if k not in entries and k not in self._live]:
            self._rows.pop(key).close()
        if rows != list(self.table.children):
            self.table.children = rows
        if not self.children:
            self._show_confirm(False)

    def _delete_clicked(self, key: str) -> None:
        try:
            self.delete(key)
        except (HubmagicError, OSError) as exc:
            self._say(f"{type(exc).__name__}: {exc}", error=True)

    def __repr__(self) -> str:
        with self._lock:
            out = [*self._header, "", self.info.export_as_table()]
            live = [
                f"  {status_text(None, e)}: {e.handle}"
                for k, e in self._live.items()
                if k not in {x.key for x in self.info.entries}
            ]
            if live:
                out += ["Downloading now:", *live]
            if self.pending is not None:
                out += ["", self.pending.describe(), f"[{CONFIRM}] [{CANCEL}]"]
            if self._message:
                out += ["", self._message]
            return "\n".join(out)


def panel(cache_dir: str | None = None) -> CachePanel:
    """The cache panel: what is cached, how big, what is broken, with actions.

    Returns the widget (a notebook shows it when it ends a cell; ``%hub_panel``
    displays it). Call ``.close()`` to stop it following downloads.

    Args:
        cache_dir: the cache folder; default ``TFHUB_CACHE_DIR``.
    """
    return CachePanel(cache_dir)
