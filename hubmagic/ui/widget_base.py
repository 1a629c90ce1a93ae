"""What the progress widget and the cache panel share: escaped HTML, text reprs.

Their colours are :mod:`hubmagic.ui.html`'s, the theme's.

Nothing here imports ipywidgets: :mod:`hubmagic.ui.progress_widget`,
:mod:`hubmagic.ui.panel` and :mod:`hubmagic.ui.cache_row` do, and nothing
imports them until a widget is asked for. Only APIs present in both
ipywidgets 7.7 (Colab's pin) and 8 are used there; text is HTML-escaped here
rather than relying on the 8-only ``description_allow_html``.
"""

from __future__ import annotations

import html
from typing import Any

from hubmagic.core.progress import Phase

UPDATE_INTERVAL = 0.1
"""Least seconds between two redraws caused by byte counts: at most ~10 per second."""

THROTTLED = (Phase.DOWNLOADING, Phase.WAITING)
"""The phases whose events come often: their redraws are throttled."""
NOWRAP = "overflow:hidden;text-overflow:ellipsis;white-space:nowrap"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def span(text: str, *, color: str | None = None, title: str | None = None, style: str = "") -> str:
    """Escaped text in a span (HTML widgets show markup; handles may hold ``&`` or ``<``)."""
    styles = ([f"color:{color}"] if color else []) + ([style] if style else [])
    attributes = f' style="{";".join(styles)}"' if styles else ""
    if title:
        attributes += f' title="{html.escape(title)}"'
    return f"<span{attributes}>{html.escape(text)}</span>"


def pre(text: str, *, color: str | None = None) -> str:
    """Escaped text as it is, line by line, wrapped at the widget's width."""
    colour = f"color:{color};" if color else ""
    return f'<pre style="{colour}margin:0;white-space:pre-wrap">{html.escape(text)}</pre>'


def close_tree(widget: Any) -> None:
    """Closes a widget and the boxes' children under it (ipywidgets closes only the one)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()


class TextRepr:
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
            bundle[VIEW_MIME] = {"version_major": 2, "version_minor": 0, "model_id": self.model_id}
        return bundle
