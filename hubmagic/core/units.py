"""Human-readable sizes and durations, shared by every text view."""

from __future__ import annotations


def format_bytes(n: int | float) -> str:
    """``1536`` -> ``"1.5 KiB"``; binary units, as disks and ``du -h`` count."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``0.42`` -> ``"0.42 s"``, ``75`` -> ``"1 min 15 s"``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``plural(1, "entry", "entries")`` -> ``"1 entry"``, ``plural(2, "file")``: ``"2 files"``."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"
