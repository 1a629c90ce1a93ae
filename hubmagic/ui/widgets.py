"""Notebook widgets: live download progress and the cache panel.

The widgets live in :mod:`hubmagic.ui.progress_widget` (:class:`WidgetProgress`
and its rows), :mod:`hubmagic.ui.panel` (:func:`panel`, :class:`CachePanel`),
:mod:`hubmagic.ui.cache_row` (the panel's rows) and
:mod:`hubmagic.ui.panel_header`; their words are :mod:`hubmagic.ui.wording`'s.
This module names them all, as before the split: ``from hubmagic.ui.widgets
import panel`` (and the older ``from hubmagic.widgets import panel``) keep working.

ipywidgets is imported by those modules and nowhere else, and nothing
imports them until a widget is asked for, so ``%load_ext hubmagic`` stays
light.
"""

from hubmagic.ui.cache_row import DELETE, ROW_CLASS, CacheRow
from hubmagic.ui.html import BLUE, GREY, ORANGE, RED
from hubmagic.ui.panel import (
    CANCEL,
    CLEAR_ALL,
    CONFIRM,
    MESSAGE_CLASS,
    PANEL_CLASS,
    PRUNE,
    REFRESH,
    REPAIR,
    VERIFY,
    CachePanel,
    panel,
)
from hubmagic.ui.progress_widget import (
    PROGRESS_CLASS,
    PROGRESS_PHASE_CLASS,
    PROGRESS_ROW_CLASS,
    ProgressBox,
    ProgressRow,
    WidgetProgress,
)
from hubmagic.ui.widget_base import UPDATE_INTERVAL
from hubmagic.ui.wording import Rate, amount_text, phase_text, rate_of, status_text

__all__ = [
    "BLUE",
    "CANCEL",
    "CLEAR_ALL",
    "CONFIRM",
    "DELETE",
    "GREY",
    "MESSAGE_CLASS",
    "ORANGE",
    "PANEL_CLASS",
    "PROGRESS_CLASS",
    "PROGRESS_PHASE_CLASS",
    "PROGRESS_ROW_CLASS",
    "PRUNE",
    "RED",
    "REFRESH",
    "REPAIR",
    "ROW_CLASS",
    "UPDATE_INTERVAL",
    "VERIFY",
    "CachePanel",
    "CacheRow",
    "ProgressBox",
    "ProgressRow",
    "Rate",
    "WidgetProgress",
    "amount_text",
    "panel",
    "phase_text",
    "rate_of",
    "status_text",
]
