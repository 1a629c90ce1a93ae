"""The cache panel as a dashboard, without a browser: table, sorting, filter, disk bar, plans.

Real cache folders, real widgets (ipywidgets 8 here, 7.7.1 in the Colab-pins lane
of ``tests/run.sh``), buttons pressed with ``.click()``. What a browser draws of
them (columns aligned, colours of the dark theme) is ``tests/ui/test_browser_panel.py``'s.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.core.cache import scan_cache
from hubmagic.core.handle import cache_key
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.units import format_bytes
from hubmagic.server import HubServer
from hubmagic.ui import panel_html
from hubmagic.ui.cache_row import COLUMNS, GRID
from hubmagic.ui.panel_table import FILTER_AFTER
from hubmagic.ui.widgets import CachePanel
from hubmagic.ui.wording import STATUS_KINDS, ago_text
from tests.cache_fixtures import add_model

pytestmark = [
    pytest.mark.filterwarnings(
        # ipywidgets 7.7.1 (Colab's pin) with the ipykernel beside it: see test_widgets.py.
        "ignore:The `ipykernel.comm.Comm` class has been deprecated:DeprecationWarning"
    ),
    pytest.mark.usefixtures("no_leftover_listeners"),
]


def classes(widget: Any) -> tuple[str, ...]:
    return tuple(widget._dom_classes)


def attribute(name: str, markup: str) -> str | None:
    found = re.search(rf'{name}="([^"]*)"', markup)
    return html.unescape(found.group(1)) if found else None


def grow(folder: Path, extra_bytes: int) -> None:
    """Makes a model folder bigger by one file of ``extra_bytes``."""
    (folder / "variables" / "padding.bin").write_bytes(os.urandom(extra_bytes))


@pytest.fixture
def sized_cache(tmp_path: Path, fake_models_dir: Path) -> Path:
    """Three complete entries: small and new, big and old, middle and middling."""
    cache = tmp_path / "my cache's folder"
    cache.mkdir()
    tiny = fake_models_dir / "google/tiny/1"
    grow(add_model(cache, "h/small", tiny, age_days=0.01), 1)
    grow(add_model(cache, "h/big", tiny, age_days=40), 300_000)
    grow(add_model(cache, "h/middle", tiny, age_days=3), 100_000)
    return cache


def names(panel: CachePanel) -> list[str]:
    return [row.name for row in panel.rows]


def test_rows_are_grids_with_the_heads_columns(sized_cache: Path) -> None:
    panel = CachePanel(str(sized_cache), listen=False)
    head = panel.table.head
    assert "hubmagic-table-head" in classes(head)
    assert head.layout.grid_template_columns == GRID
    assert [c for w in head.children for c in classes(w) if c.startswith("hubmagic-col-")] == [
        f"hubmagic-col-{name}" for name in COLUMNS
    ]
    for row in panel.rows:
        assert row.layout.grid_template_columns == GRID
        assert [c for w in row.children for c in classes(w) if c.startswith("hubmagic-col-")] == [
            f"hubmagic-col-{name}" for name in COLUMNS
        ]
    labels = [b.description for b in panel.table.sort_buttons.values()]
    assert labels == ["Model ▲", "Size", "Last used"]


def test_size_bars_ages_and_badges(sized_cache: Path) -> None:
    panel = CachePanel(str(sized_cache), listen=False)
    info = scan_cache(str(sized_cache))
    largest = max(e.size for e in info.entries)
    for entry in info.entries:
        row = panel.row(entry.handle or "")
        assert row is not None
        fraction = float(attribute("data-fraction", row.size_html.value) or "nan")
        assert fraction == pytest.approx(entry.size / largest, abs=1e-4)
        assert entry.size_str in row.size_html.value
        assert attribute("data-status", row.status_html.value) == "complete"
        assert ">complete</span>" in row.status_html.value
        assert attribute("title", row.used_html.value) == entry.last_used_str
    big = panel.row("h/big")
    middle = panel.row("h/middle")
    small = panel.row("h/small")
    assert big is not None and middle is not None and small is not None
    assert ">1 month ago<" in big.used_html.value
    assert ">3 days ago<" in middle.used_html.value
    assert ">just now<" in small.used_html.value or "minute" in small.used_html.value


def test_every_state_has_its_badge(damaged_cache: Path, sleeper: int) -> None:
    panel = CachePanel(str(damaged_cache), listen=False)
    kinds = {row.name: attribute("data-status", row.status_html.value) for row in panel.rows}
    assert kinds == {
        "h/complete": "complete",
        "h/complete-stale-lock": "stale-lock",
        "h/empty": "partial",
        "h/no-graph": "partial",
        cache_key("h/dead-lock"): "stale-lock",
        cache_key("h/live"): "locked",
        cache_key("h/orphan"): "orphan-tmp",
    }
    assert set(kinds.values()) <= set(STATUS_KINDS)
    live = panel.row(cache_key("h/live"))
    assert live is not None and f"locked by {live.entry.lock_holder.label}" in (  # type: ignore[union-attr]
        live.status_html.value
    )
    partial = panel.row("h/no-graph")
    assert partial is not None and "has no saved_model.pb" in partial.status_html.value


def test_sort_by_size_and_last_use_from_the_head(sized_cache: Path) -> None:
    panel = CachePanel(str(sized_cache), listen=False)
    assert names(panel) == ["h/big", "h/middle", "h/small"]  # by model, A-Z
    panel.table.sort_buttons["size"].click()
    assert panel.sort == ("size", True) and names(panel) == ["h/big", "h/middle", "h/small"]
    assert panel.table.sort_buttons["size"].description == "Size ▼"
    panel.table.sort_buttons["size"].click()
    assert panel.sort == ("size", False) and names(panel) == ["h/small", "h/middle", "h/big"]
    assert panel.table.sort_buttons["size"].description == "Size ▲"
    panel.table.sort_buttons["last_used"].click()
    assert names(panel) == ["h/small", "h/middle", "h/big"]  # latest first
    assert panel.table.sort_buttons["size"].description == "Size"
    panel.sort_by("last_used", descending=False)
    assert names(panel) == ["h/big", "h/middle", "h/small"]
    # A refresh keeps the order asked for.
    panel.refresh()
    assert names(panel) == ["h/big", "h/middle", "h/small"]
    with pytest.raises(ValueError, match="cannot sort by 'colour'"):
        panel.sort_by("colour")


def test_filter_box_shows_past_twenty_entries(tmp_path: Path, fake_models_dir: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    tiny = fake_models_dir / "google/tiny/1"
    for i in range(FILTER_AFTER):
        add_model(cache, f"https://hub.example/models/m{i:02d}/1", tiny)
    panel = CachePanel(str(cache), listen=False)
    assert panel.filter_box is None and len(panel.rows) == FILTER_AFTER
    add_model(cache, "https://hub.example/other/only/1", tiny)
    panel.refresh()
    box = panel.filter_box
    assert box is not None and "hubmagic-filter" in classes(box)
    assert box.placeholder == "filter models"
    box.value = "M0"  # as typed: any case
    assert names(panel) == [f"https://hub.example/models/m0{i}/1" for i in range(10)]
    panel.set_filter("other/only")
    assert names(panel) == ["https://hub.example/other/only/1"]
    assert panel.row("https://hub.example/models/m05/1") is not None  # hidden, not gone
    panel.set_filter("no such model")
    assert names(panel) == []
    panel.set_filter("")
    assert len(panel.rows) == FILTER_AFTER + 1
    # Back to 20 entries: no box, every row.
    panel.set_filter("m1")
    key = cache_key("https://hub.example/other/only/1")
    shutil.rmtree(cache / key)
    (cache / f"{key}.descriptor.txt").unlink()
    panel.refresh()
    assert panel.filter_box is None and len(panel.rows) == FILTER_AFTER


def test_the_disk_bar_says_what_the_cache_holds(sized_cache: Path) -> None:
    panel = CachePanel(str(sized_cache), listen=False)
    header = panel.header_html.value
    info = scan_cache(str(sized_cache))
    assert attribute("data-cache-bytes", header) == str(info.size)
    free = int(attribute("data-free-bytes", header) or -1)
    assert abs(free - shutil.disk_usage(sized_cache).free) < 64 * 1024**2
    assert attribute("data-limit-bytes", header) == str(64 * 1024**3)
    numbers = header.split('class="hubmagic-disk-numbers"')[1]
    assert f"cache {format_bytes(info.size)} in 3 entries" in html.unescape(numbers)
    assert f"{format_bytes(free)} free" in numbers
    used = float(attribute("data-fraction", header.split("hubmagic-disk-used")[1]) or "nan")
    assert used == pytest.approx(info.size / (info.size + free), abs=1e-4)
    # Where models are read from, and the runtime, at a glance.
    assert "models from" in header and "runtime" in header and "settings</summary>" in header
    assert html.escape(str(sized_cache)) in header


def test_colours_come_from_the_theme(damaged_cache: Path, sleeper: int) -> None:
    panel = CachePanel(str(damaged_cache), listen=False)
    panel.verify()
    markup = panel.header_html.value + "".join(
        row.status_html.value + row.size_html.value for row in panel.rows
    )
    colours = re.findall(r"(?:color|background)\s*:\s*((?:[^;\"}(]|\([^)]*\)?\)?)+)", markup)
    assert colours
    themed = re.compile(
        r"^(var\(--jp-[^)]*\)|color-mix\(in srgb, var\(--jp-[^)]*\) \d+%, transparent\))$"
    )
    bare = [c for c in colours if not themed.match(c.strip()) and c.strip() != "transparent"]
    assert bare == [], bare
    # The badges' text is the theme's text colour, on a tint of the badge's colour.
    assert "color:var(--jp-ui-font-color1, #212121);border:1px solid var(--jp-" in markup


def test_the_classes_the_browser_tests_look_for(damaged_cache: Path, sleeper: int) -> None:
    panel = CachePanel(str(damaged_cache), listen=False)
    header = panel.header_html.value
    for cls in ("hubmagic-facts", "hubmagic-disk", "hubmagic-disk-bar", "hubmagic-disk-used"):
        assert f'class="{cls}"' in header, cls
    assert 'class="hubmagic-disk-numbers"' in header
    row = panel.row("h/complete")
    assert row is not None
    assert 'class="hubmagic-model"' in row.handle_html.value
    assert 'class="hubmagic-ago"' in row.used_html.value
    assert 'class="hubmagic-size-bar"' in row.size_html.value
    assert 'class="hubmagic-badge" data-status="complete"' in row.status_html.value
    assert "class-=" not in header + row.handle_html.value + row.status_html.value
    # The header's facts are one table: their values line up.
    first = header.split("<details")[0]
    assert first.count("<table") == 1 and "runtime" in first and "models from" in first


def test_downloads_into_another_cache_are_not_this_panels(tmp_path: Path) -> None:
    shown, other = tmp_path / "shown", tmp_path / "other"
    shown.mkdir()
    panel = CachePanel(str(shown), interval=0)
    try:
        theirs = ProgressEvent(
            "https://hub.example/a/1", Phase.STARTED, total=9, cache_dir=str(other)
        )
        panel.on_event(theirs)
        assert panel.rows == []
        ours = ProgressEvent(
            "https://hub.example/b/1", Phase.STARTED, total=9, cache_dir=str(shown)
        )
        panel.on_event(ours)
        assert [row.name for row in panel.rows] == ["https://hub.example/b/1"]
        row = panel.rows[0]
        assert ">9 B<" in row.size_html.value  # the download's size, before it is on disk
    finally:
        panel.close()


def test_prune_shows_the_plan_then_removes_the_least_recently_used(sized_cache: Path) -> None:
    panel = CachePanel(str(sized_cache), listen=False)
    info = scan_cache(str(sized_cache))
    big = info.find("h/big")
    assert big is not None
    keep = info.size - big.size  # removing the oldest (and biggest) is enough
    panel.prune_box.value = str(keep)
    before = sorted(os.listdir(sized_cache))
    panel.buttons["Prune"].click()
    assert panel.awaiting_confirmation and panel.pending is not None
    shown = html.unescape(panel.confirm_html.value)
    assert "hubmagic-plan" in shown and "Will prune 1 entry" in shown
    assert f"frees {big.size_str}" in shown and "h/big" in shown and "h/middle" not in shown
    assert sorted(os.listdir(sized_cache)) == before
    panel.cancel_button.click()
    assert sorted(os.listdir(sized_cache)) == before
    panel.prune(str(keep))
    panel.confirm_button.click()
    assert names(panel) == ["h/middle", "h/small"]
    assert panel.message.startswith(f"Removed 1 entry, freed {big.size_str}")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("", "Prune needs a size to keep the cache under."),
        ("lots", "'lots' is not a size"),
        ("-1G", "must be a positive size"),
    ],
)
def test_prune_with_a_bad_size_says_so(sized_cache: Path, typed: str, said: str) -> None:
    panel = CachePanel(str(sized_cache), listen=False)
    panel.prune_box.value = typed
    panel.buttons["Prune"].click()
    assert not panel.awaiting_confirmation and said in panel.message.splitlines()[0]
    assert len(panel.rows) == 3


def test_nothing_to_prune_needs_no_confirm(sized_cache: Path) -> None:
    panel = CachePanel(str(sized_cache), listen=False)
    panel.prune("1T")
    assert not panel.awaiting_confirmation and panel.message.startswith("Nothing to prune")


def test_an_empty_cache_says_so(tmp_path: Path) -> None:
    panel = CachePanel(str(tmp_path), listen=False)
    assert panel.rows == [] and panel.table.empty in panel.table.children
    assert "The cache is empty" in panel.table.empty.value
    assert attribute("data-cache-bytes", panel.header_html.value) == "0"


def test_a_live_download_is_a_row_with_a_bar_then_an_entry(cache: str) -> None:
    panel = CachePanel(cache, interval=0)
    handle = "https://hub.example/m/1"
    try:
        panel.on_event(ProgressEvent(handle, Phase.STARTED, total=1000, elapsed=0.0))
        panel.on_event(
            ProgressEvent(
                handle, Phase.DOWNLOADING, bytes_done=420, total=1000, elapsed=1.0, connections=4
            )
        )
        row = panel.row(handle)
        assert row is not None and panel.rows[0] is row and "hubmagic-live" in classes(row)
        shown = html.unescape(row.status_html.value)
        assert attribute("data-status", shown) == "downloading"
        assert ">downloading 42%<" in shown and "hubmagic-progress-bar" in shown
        assert attribute("data-fraction", shown.split("hubmagic-progress-fill")[1]) == "0.4200"
        assert "420 B / 1000 B" in shown and "420 B/s" in shown and "4 connections" in shown
        assert "s left" in shown
        assert row.delete_button.disabled
    finally:
        panel.close()


def test_a_real_download_turns_into_an_entry(fake_hub_server: HubServer, cache: str) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    panel = CachePanel(cache, interval=0)
    seen: list[tuple[str | None, bool]] = []

    def watch(event: ProgressEvent) -> None:
        row = panel.row(handle)
        if row is not None:
            kind = attribute("data-status", row.status_html.value)
            seen.append((kind, "hubmagic-progress-bar" in row.status_html.value))

    try:
        hubmagic.resolve(handle, cache_dir=cache, progress=watch)
        assert ("downloading", True) in seen
        # Once it started, the rescan found its lock: the header counted it.
        assert "1 entry" in panel.header_html.value
        row = panel.row(handle)
        assert row is not None and "hubmagic-live" not in classes(row)
        assert attribute("data-status", row.status_html.value) == "complete"
        assert "hubmagic-progress-bar" not in row.status_html.value
        assert not row.delete_button.disabled and len(panel.rows) == 1
    finally:
        panel.close()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "just now"),
        (10, "just now"),
        (50, "1 minute ago"),
        (600, "10 minutes ago"),
        (3 * 3600, "3 hours ago"),
        (23 * 3600, "1 day ago"),
        (3 * 86400, "3 days ago"),
        (45 * 86400, "1 month ago"),
        (200 * 86400, "7 months ago"),
        (800 * 86400, "2 years ago"),
    ],
)
def test_ago_text(seconds: float, text: str) -> None:
    now = time.time()
    assert ago_text(now - seconds, now) == text
    assert ago_text(None, now) == "-"


def test_html_pieces_escape_what_they_show() -> None:
    assert "&lt;b&gt;" in panel_html.badge("complete", "<b>")
    assert 'title="a&quot;b"' in panel_html.cell_text("x", title='a"b')
    assert 'data-fraction="1.0000"' in panel_html.bar(7.0, name="size")
    assert 'data-fraction="0.0000"' in panel_html.bar(-1.0, name="size")
