"""The cache panel: what is cached, how big, what is broken, with actions; downloads live.

A display layer: it shows what the core returns (:class:`~hubmagic.core.cache.CacheInfo`,
:class:`~hubmagic.core.actions.VerifyReport`, :class:`~hubmagic.core.plans.DeletePlan`,
:class:`~hubmagic.core.plans.DeleteResult`) worded by :mod:`hubmagic.ui.wording`,
and calls the core (``scan_cache``, ``verify``, ``plan_*``, ``execute``) when a
button is pressed; it never touches the cache folder itself, nor decides which
entries need attention.

A cache that cannot be scanned (``TFHUB_CACHE_DIR`` naming a file, a ``gs://``
bucket without credentials) still makes a panel: the header, and the error in
the message area, so ``%hub_panel`` is a way to see what is wrong.

The CSS classes and button labels below (and the rows' in
:mod:`hubmagic.ui.cache_row`) are a contract with the browser test
(``tests/ui/test_browser.py``): keep them.
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
from hubmagic.core.errors import HubmagicError
from hubmagic.core.plans import DeletePlan, DeleteResult
from hubmagic.core.progress import Phase, ProgressEvent, add_listener, remove_listener
from hubmagic.ui.cache_row import CacheRow
from hubmagic.ui.panel_header import header_lines
from hubmagic.ui.widget_base import RED, THROTTLED, UPDATE_INTERVAL, TextRepr, close_tree, pre
from hubmagic.ui.wording import FINAL_PHASES, error_lines, status_text, verify_lines

PANEL_CLASS = "hubmagic-panel"
MESSAGE_CLASS = "hubmagic-message"
REFRESH = "Refresh"
VERIFY = "Verify"
REPAIR = "Repair"
CLEAR_ALL = "Clear all"
CONFIRM = "Confirm"
CANCEL = "Cancel"

SHOWN_ERRORS = (HubmagicError, OSError)
"""What an action may raise that the panel shows in its message area."""


def error_text(exc: BaseException) -> str:
    """An error as the panel's message area shows it: the message, then the fix."""
    return "\n".join(error_lines(exc, "magic"))


class CachePanel(TextRepr, widgets.VBox):  # type: ignore[misc]
    """The cache as a table with actions; downloads show up live while it is open.

    Destructive actions (Delete, Repair, Clear all) first show the core's
    :class:`~hubmagic.core.plans.DeletePlan` and act only after Confirm. While
    it listens, every resolve in the kernel updates it; :meth:`close` (or
    :meth:`stop_listening`) ends that.

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
        self._rows: dict[str, CacheRow] = {}
        self._drawn = -1e9
        self._header: list[str] = []
        self._message = ""
        self._listening = False

        self.header_html = widgets.HTML()
        self.header_html.add_class("hubmagic-header")
        pressed: dict[str, Callable[[], object]] = {
            REFRESH: self.refresh,
            VERIFY: self.verify,
            REPAIR: self.repair,
            CLEAR_ALL: self.clear_all,
        }
        self.buttons = {
            name: widgets.Button(description=name, layout=widgets.Layout(width="auto"))
            for name in pressed
        }
        for name, button in self.buttons.items():
            button.on_click(self._handler(pressed[name]))
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
            self._header = header_lines(
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
            parts = [*self.children, self.confirm_area, *self._rows.values()]
            self._rows.clear()
            for part in parts:
                close_tree(part)
        super().close()

    def on_event(self, event: ProgressEvent) -> None:
        """A progress listener: shows a running download; rescans when one ends."""
        key = event.cache_key
        with self._lock:
            if event.phase in FINAL_PHASES:
                was_live = self._live.pop(key, None) is not None
                row = self._rows.get(key)
                known = row is not None and row.entry is not None and row.entry.is_complete
                if was_live or (event.phase is Phase.DONE and not known):
                    self.refresh()
                return
            self._live[key] = event
            soon = time.monotonic() - self._drawn < self._interval
            if key in self._rows and event.phase in THROTTLED and soon:
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
            self.confirm_html.value = pre(plan.describe() + "\nConfirm to go ahead, or Cancel.")
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
        self.message_html.value = pre(text, color=RED if error else None) if text else ""

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        self.redraws += 1
        self.header_html.value = pre("\n".join(self._header))
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

    def __repr__(self) -> str:
        with self._lock:
            out = [*self._header]
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
