"""Escaped HTML for the magics' reports: sections, tables, lines, in the theme's colours.

The pieces :mod:`hubmagic.ui.shown` lays the shared wording out with. Every
text is escaped here (a handle may hold ``&`` or ``<``). Colours are
JupyterLab's theme variables (Notebook 7 and VS Code define them too), with the
light theme's value where there is none (Colab, classic frontends), so a dark
theme stays readable. Nothing here imports IPython.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Literal

Tone = Literal["error", "warn"] | None

# The colours of every report and widget. JupyterLab's --jp-* variables (which
# Notebook 7 and VS Code's renderer define too), with the light theme's value
# where there is none (Colab, classic frontends).
TEXT = "var(--jp-ui-font-color1, #212121)"
MUTED = "var(--jp-ui-font-color2, #616161)"
GREY = MUTED
RED = "var(--jp-error-color1, #c62828)"
ORANGE = "var(--jp-warn-color1, #e65100)"
BLUE = "var(--jp-brand-color1, #1565c0)"
GREEN = "var(--jp-success-color1, #2e7d32)"
BORDER = "var(--jp-border-color2, #e0e0e0)"
TRACK = "var(--jp-layout-color3, #e0e0e0)"
"""The empty part of a bar."""
SURFACE = "var(--jp-layout-color2, #eeeeee)"
"""The background of headers: the panel's, a table's head row."""
MONO = "font-family:var(--jp-code-font-family, monospace);font-size:var(--jp-code-font-size, 13px)"
_TONES = {"error": RED, "warn": ORANGE}


def esc(text: str) -> str:
    """``text`` escaped for HTML (quotes too: it may go into an attribute)."""
    return html.escape(text, quote=True)


def _colour(tone: Tone) -> str:
    return _TONES[tone] if tone is not None else TEXT


def report(kind: str, body: Sequence[str]) -> str:
    """The whole report: one ``div.hubmagic-report`` of the sections in ``body``."""
    style = (
        f"color:{TEXT};font-family:var(--jp-ui-font-family, sans-serif);"
        "font-size:var(--jp-ui-font-size1, 13px);line-height:1.5"
    )
    return (
        f'<div class="hubmagic-report hubmagic-{esc(kind)}" style="{style}">{"".join(body)}</div>'
    )


def section(heading: str | None, body: Sequence[str], *, tone: Tone = None, kind: str = "") -> str:
    """A heading and what follows it; a toned section has a coloured bar on its left."""
    style = "margin:0.3em 0"
    if tone is not None:
        style += f";border-left:3px solid {_colour(tone)};padding-left:0.6em"
    title = ""
    if heading is not None:
        title = f'<div style="font-weight:600;color:{_colour(tone)}">{esc(heading)}</div>'
    classes = "hubmagic-section" + (f" hubmagic-{esc(kind)}" if kind else "")
    if tone is not None:
        classes += f" hubmagic-{tone}"
    return f'<div class="{classes}" style="{style}">{title}{"".join(body)}</div>'


def line(text: str, *, tone: Tone = None, mono: bool = False, indent: int = 0) -> str:
    """One line of text (``mono``: in the code font, spaces kept)."""
    style = f"color:{_colour(tone)}"
    if mono:
        style += f";{MONO};white-space:pre-wrap"
    if indent:
        style += f";padding-left:{indent}em"
    return f'<div style="{style}">{esc(text)}</div>'


def items(texts: Sequence[str], *, tone: Tone = None, fixes: Sequence[str] = ()) -> str:
    """A bulleted list; ``fixes[i]`` (a problem's fix) goes under item ``i``."""
    rows = []
    for n, text in enumerate(texts):
        fix = f'<div style="color:{TEXT}">{esc(fixes[n])}</div>' if n < len(fixes) else ""
        rows.append(f'<li style="color:{_colour(tone)}">{esc(text)}{fix}</li>')
    return f'<ul style="margin:0.1em 0;padding-left:1.4em">{"".join(rows)}</ul>'


def table(rows: Sequence[Sequence[str]], *, header: Sequence[str] = (), mono: bool = True) -> str:
    """A table with a shaded header row (when given); cells in the code font by default."""
    cell = f"padding:0.1em 0.8em 0.1em 0;border-bottom:1px solid {BORDER};text-align:left"
    if mono:
        cell += f";{MONO}"
    head = ""
    if header:
        cells = "".join(f'<th style="{cell};background:{SURFACE}">{esc(h)}</th>' for h in header)
        head = f"<thead><tr>{cells}</tr></thead>"
    body = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{esc(c)}</td>' for c in row) + "</tr>" for row in rows
    )
    style = "border-collapse:collapse;margin:0.2em 0"
    return f'<table style="{style}">{head}<tbody>{body}</tbody></table>'


def text_sections(lines: Sequence[str], tones: dict[str, Tone] | None = None) -> list[str]:
    """Text lines as sections: a blank line or an unindented ``Heading:`` starts one.

    Body lines keep their indentation and alignment (in the code font); ``tones``
    colours a section by its heading (``{"Problems:": "error"}``), and a line
    that says ``could not be read`` (with its fix) or starts with ``Warning:``
    is coloured on its own.
    """
    tones = tones or {}
    out: list[str] = []
    heading: str | None = None
    body: list[str] = []
    tone: Tone = None
    line_tone: Tone = None

    def close() -> None:
        if heading is not None or body:
            style = f"{MONO};white-space:pre-wrap;color:{_colour(tone)}"
            text = f'<div style="{style}">{chr(10).join(body)}</div>' if body else ""
            out.append(section(heading, [text], tone=tone))

    for text in lines:
        if not text.strip() or (not text.startswith(" ") and text.endswith(":")):
            close()
            heading, body = (None, []) if not text.strip() else (text, [])
            tone = tones.get(text)
            line_tone = None
            continue
        stripped = text.strip()
        if stripped.startswith("could not be read:"):
            line_tone = "error"
        elif stripped.startswith("Warning:"):
            line_tone = "warn"
        elif not stripped.startswith("fix:"):
            line_tone = None
        if line_tone is not None and line_tone != tone:
            body.append(f'<span style="color:{_colour(line_tone)}">{esc(text)}</span>')
        else:
            body.append(esc(text))
    close()
    return out
