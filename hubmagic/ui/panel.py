"""The cache panel: what is cached, how big, what is broken, with actions; downloads live.

A dashboard of ipywidgets core widgets only (``HTML``, ``Button``, ``Text``,
``GridBox``, ``VBox``; no widget JavaScript of its own), so it renders alike on
ipywidgets 7.7 (Colab) and 8 (JupyterLab, Notebook 7, VS Code, Kaggle): a header
(:mod:`hubmagic.ui.panel_header`: runtime, where models are read from, the disk
bar), a toolbar (Refresh, Verify, Repair, Clear all, Prune to a size), the plan
awaiting Confirm, a message area, and the table (:mod:`hubmagic.ui.panel_table`).

A display layer: it shows what the core returns (:class:`~hubmagic.core.cache.CacheInfo`,
:class:`~hubmagic.core.actions.VerifyReport`, :class:`~hubmagic.core.plans.DeletePlan`,
:class:`~hubmagic.core.plans.DeleteResult`) worded by :mod:`hubmagic.ui.wording`,
and calls the core (``scan_cache``, ``verify``, ``plan_*``, ``execute``) when a
button is pressed; it never touches the cache folder itself, nor decides which
entries need attention.

A cache that cannot be scanned (``TFHUB_CACHE_DIR`` naming a file, a ``gs://``
bucket without credentials) still makes a panel: the header, and the error in
the message area, so ``%hub_panel`` is a way to see what is wrong.

The CSS classes and button labels below (and those of
:mod:`hubmagic.ui.panel_table`, :mod:`hubmagic.ui.cache_row` and
:mod:`hubmagic.ui.panel_html`) are a contract with the browser tests
(``tests/ui/test_browser*.py``, ``tests/ui/test_frontends.py``): keep them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from hubmagic.core import actions, config, plans
from hubmagic.core.actions import VerifyReport
from hubmagic.core.cache import CacheInfo, scan_cache
from hubmagic.core.errors import Fix, HubmagicError, InvalidSettingError
from hubmagic.core.plans import DeletePlan, DeleteResult
from hubmagic.core.progress import Phase, ProgressEvent, add_listener, remove_listener
from hubmagic.ui import panel_html
from hubmagic.ui.cache_row import CacheRow
from hubmagic.ui.html import RED
from hubmagic.ui.panel_header import Header, header, header_html
from hubmagic.ui.panel_table import CacheTable
from hubmagic.ui.widget_base import THROTTLED, UPDATE_INTERVAL, TextRepr, close_tree, pre
from hubmagic.ui.wording import FINAL_PHASES, error_lines, status_text, verify_lines

PANEL_CLASS = "hubmagic-panel"
MESSAGE_CLASS = "hubmagic-message"
REFRESH = "Refresh"
VERIFY = "Verify"
REPAIR = "Repair"
CLEAR_ALL = "Clear all"
PRUNE = "Prune"
CONFIRM = "Confirm"
CANCEL = "Cancel"

SHOWN_ERRORS = (HubmagicError, OSError)
"""What an action may raise that the panel shows in its message area."""


def error_text(exc: BaseException) -> str:
    """An error as the panel's message area shows it: the message, then the fix."""
    return "\n".join(error_lines(exc, "magic"))


class CachePanel(TextRepr, widgets.VBox):  # type: ignore[misc]
    """The cache as a table with actions; downloads show up live while it is open.

    Destructive actions (Delete, Repair, Clear all, Prune) first show the core's
    :class:`~hubmagic.core.plans.DeletePlan` (what goes, how much it frees) and
    act only after Confirm. While it listens, every resolve in the kernel
    updates it; :meth:`close` (or :meth:`stop_listening`) ends that.

    Args:
        cache_dir: the cache folder; default ``TFHUB_CACHE_DIR`` as read at
            each refresh.
        listen: follow downloads in this process
            (:func:`hubmagic.core.progress.add_listener`).
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
        self.scan_error: HubmagicError | OSError | None = None
        self.report: VerifyReport | None = None
        self.pending: DeletePlan | None = None
        self.result: DeleteResult | None = None
        self.redraws = 0
        self._interval = interval
        self._lock = threading.RLock()
        self._live: dict[str, ProgressEvent] = {}
        self._drawn = -1e9
        self._header: Header | None = None
        self._message = ""
        self._listening = False

        self.header_html = widgets.HTML()
        self.header_html.add_class("hubmagic-header")
        pressed: dict[str, Callable[[], object]] = {
            REFRESH: self.refresh,
            VERIFY: self.verify,
            REPAIR: self.repair,
            CLEAR_ALL: self.clear_all,
            PRUNE: lambda: self.prune(self.prune_box.value),
        }
        self.buttons = {
            name: widgets.Button(description=name, layout=widgets.Layout(width="auto"))
            for name in pressed
        }
        for name, button in self.buttons.items():
            button.on_click(self._handler(pressed[name]))
        self.prune_box = widgets.Text(placeholder="e.g. 20G", layout=widgets.Layout(width="7em"))
        self.prune_box.add_class("hubmagic-prune-size")
        self.buttons[PRUNE].tooltip = "Remove the least recently used models until the cache fits"
        tools = [self.buttons[name] for name in (REFRESH, VERIFY, REPAIR, CLEAR_ALL)]
        prune = [widgets.HTML(panel_html.small("keep under")), self.prune_box, self.buttons[PRUNE]]
        self.toolbar = widgets.HBox(
            [
                *tools,
                widgets.HBox(
                    prune, layout=widgets.Layout(margin="0 0 0 1.5em", align_items="center")
                ),
            ],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
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
        self.table = CacheTable(self._delete_clicked)
        super().__init__(layout=widgets.Layout(width="100%", max_width="1100px"))
        self.add_class(PANEL_CLASS)
        self.refresh()
        if listen:
            self.start_listening()

    # -- what tests and users read ----------------------------------------------------
    @property
    def rows(self) -> list[CacheRow]:
        """The table's rows as shown: in order, without those the filter leaves out."""
        return self.table.rows

    def row(self, name: str) -> CacheRow | None:
        """The row of a handle, a cache key, or a folder name (filtered out or not)."""
        return next((r for r in self.table.all_rows if name in (r.name, r.key)), None)

    @property
    def sort(self) -> tuple[str, bool]:
        """The column the rows are sorted by, and whether the order is descending."""
        return self.table.sort

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        """Sorts by ``model``, ``size`` or ``last_used`` (``None``: turn the order round)."""
        self.table.sort_by(key, descending)

    @property
    def filter_box(self) -> widgets.Text | None:
        """The filter box, when there are enough entries to show it."""
        return self.table.filter_box if self.table.filtering else None

    def set_filter(self, text: str) -> None:
        """Shows only the rows whose model, key or status contain ``text``."""
        self.table.set_filter(text)

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
        """The header as text lines (``label: value``)."""
        return self._header.lines() if self._header is not None else []

    @property
    def verified(self) -> bool:
        """Whether Verify was pressed: rows that need attention then say what is wrong."""
        return self.report is not None

    # -- actions (the buttons call these) ----------------------------------------------
    def refresh(self) -> CacheInfo:
        """Scans the cache again and redraws; a scan that fails shows its error instead."""
        with self._lock:
            had_error = self.scan_error is not None
            try:
                self.info = scan_cache(self.cache_dir)
                self.scan_error = None
            except SHOWN_ERRORS as exc:
                self.info = CacheInfo(self._folder() or "", ())
                self.scan_error = exc
            if self.report is not None:
                self.report = actions.verify(self.info)
            scanned = self.scan_error is None
            self._header = header(
                self.info if scanned else None,
                self.info.cache_dir or None,
                other_cache=self.cache_dir is not None,
            )
            self._draw()
            if self.scan_error is not None:
                self._say(error_text(self.scan_error), error=True)
            elif had_error:
                self._say("")
            return self.info

    def verify(self) -> VerifyReport | None:
        """Scans again and shows what needs attention, with what is wrong.

        Returns:
            The core's report; ``None`` when the cache could not be scanned
            (the message area says why).
        """
        with self._lock:
            self.report = actions.verify(self.info)  # from now on each refresh verifies
            self.refresh()
            report = self.report
            if self.scan_error is not None or report is None:
                return None
            self._say("\n".join(verify_lines(report, "magic")))
            return report

    def repair(self) -> DeletePlan:
        """Shows what a repair removes (partial folders, orphan tmp folders, stale locks)."""
        return self._propose(plans.plan_repair(self.cache_dir))

    def clear_all(self) -> DeletePlan:
        """Shows what clearing the cache removes (live downloads are kept)."""
        return self._propose(plans.plan_clear(self.cache_dir))

    def delete(self, key: str) -> DeletePlan:
        """Shows what deleting one entry (by key or handle) frees."""
        return self._propose(plans.plan_delete([key], self.cache_dir))

    def prune(self, size: str | int) -> DeletePlan:
        """Shows what keeping the cache under ``size`` (``"20G"``, or bytes) removes:
        the least recently used complete models first."""
        if isinstance(size, str):
            if not size.strip():
                raise InvalidSettingError(
                    "Prune needs a size to keep the cache under.",
                    fix=Fix("Type one beside Prune, e.g. 20G or 500M, then press Prune."),
                )
            self.prune_box.value = size
        max_bytes = config.parse_size(size) if isinstance(size, str) else size
        return self._propose(plans.plan_prune(max_bytes, self.cache_dir))

    def confirm(self) -> DeleteResult | None:
        """Executes the plan on show, rescans and shows what was done."""
        with self._lock:
            plan, self.pending = self.pending, None
            if plan is None:
                return None
            self._show_confirm(False)
            self.result = plan.execute()
            self.refresh()
            if self.scan_error is None:
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
        """Follows every resolve in this process (:func:`hubmagic.core.progress.add_listener`)."""
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
            self.table.close()
            parts = [*self.children, self.confirm_area]
            for part in parts:
                close_tree(part)
        super().close()

    def on_event(self, event: ProgressEvent) -> None:
        """A progress listener: shows a running download; rescans when one starts and ends.

        A download into another cache than the one shown is not this panel's.
        """
        key = event.cache_key
        with self._lock:
            if event.cache_dir and self.info.cache_dir and event.cache_dir != self.info.cache_dir:
                return
            if event.phase is Phase.STARTED and self.info.find(key) is None:
                self._live[key] = event
                self.refresh()  # its lock and tmp folder: an entry, counted in the header
                return
            if event.phase in FINAL_PHASES:
                was_live = self._live.pop(key, None) is not None
                row = self.row(key)
                known = row is not None and row.entry is not None and row.entry.is_complete
                if was_live or (event.phase is Phase.DONE and not known):
                    self.refresh()
                return
            self._live[key] = event
            soon = time.monotonic() - self._drawn < self._interval
            if self.row(key) is not None and event.phase in THROTTLED and soon:
                return
            self._draw()

    # -- drawing ---------------------------------------------------------------------
    def _folder(self) -> str | None:
        """The cache folder shown, even when it cannot be scanned."""
        if self.cache_dir is not None:
            return self.cache_dir
        try:
            return config.cache_dir()
        except HubmagicError:
            return None

    def _handler(self, action: Callable[[], object]) -> Callable[[Any], None]:
        def on_click(_button: Any) -> None:
            try:
                action()
            except SHOWN_ERRORS as exc:
                self._say(error_text(exc), error=True)

        return on_click

    def _delete_clicked(self, key: str) -> None:
        self._handler(lambda: self.delete(key))(None)

    def _propose(self, plan: DeletePlan) -> DeletePlan:
        with self._lock:
            if not plan.has_deletions:
                self.pending = None
                self._show_confirm(False)
                self._say(plan.describe())
                return plan
            self.pending = plan
            self.confirm_html.value = panel_html.plan(plan, "Confirm to go ahead, or Cancel.")
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
            self.table,
        ]

    def _say(self, text: str, *, error: bool = False) -> None:
        self._message = text
        self.message_html.value = pre(text, color=RED if error else None) if text else ""

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        self.redraws += 1
        if self._header is not None:
            self.header_html.value = header_html(self._header)
        self.table.show(self.info.entries, self._live, self.verified)
        if not self.children:
            self._show_confirm(False)

    def __repr__(self) -> str:
        with self._lock:
            out = self.header
            if self.scan_error is None:
                out += ["", self.info.export_as_table()]
            known = {x.key for x in self.info.entries}
            live = [
                f"  {status_text(None, e)}: {e.handle}"
                for k, e in self._live.items()
                if k not in known
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
    displays it). Call ``.close()`` to stop it following downloads. A cache
    that cannot be scanned still gives a panel, with the error in its
    message area.

    Args:
        cache_dir: the cache folder; default ``TFHUB_CACHE_DIR``.
    """
    return CachePanel(cache_dir)
