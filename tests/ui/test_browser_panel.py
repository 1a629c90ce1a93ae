"""The cache panel seen, not assumed: screenshots and DOM checks in JupyterLab and chromium.

One notebook and one kernel for the module (``notebook`` fixture); each test adds
its own cells, so any one of them runs alone. The caches are made in this
process (:func:`tests.cache_fixtures.add_model`, :mod:`tests.fake_models`) and
scanned here with :func:`hubmagic.core.cache.scan_cache` to say what the panel
must show; the live download is a real one, run by ``hubmagic.resolve`` in a
thread of the kernel against :class:`tools.range_server.RangeServer` on
127.0.0.1, held at a crawl (its link cap) while the test looks at it.

What is checked with the DOM (``getBoundingClientRect``, ``getComputedStyle``):
the columns of the head and of every row share their x; each row's badge
carries its entry's status (``data-status`` and its text); the disk bar's
numbers are the cache's (``data-cache-bytes``) and the disk's; the dark theme
changes the colours and keeps a contrast ratio of 3 or more; the Size button
sorts; the filter box shows past 20 entries and filters.

Screenshots land in each test's tmp_path (their paths are printed). With
``HUBMAGIC_SCREENSHOTS=docs`` the README's pictures (``docs/panel.png``,
``docs/panel-dark.png``, ``docs/hub-setup.png``) are written too:

    HUBMAGIC_SCREENSHOTS=docs .venv/bin/python -m pytest tests/ui/test_browser_panel.py -q

Needs the ``[browser]`` extra and Debian's ``/usr/bin/chromium`` (as
``tests/ui/test_browser.py``); no TensorFlow.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hubmagic.core.cache import CacheInfo, Status, scan_cache
from hubmagic.core.handle import cache_key
from hubmagic.core.units import format_bytes
from tests.cache_fixtures import add_model
from tests.fake_models import write_fake_saved_model
from tests.jupyter_fixtures import (
    JupyterLab,
    chromium_page,
    open_notebook,
    run_all,
    run_new_cell,
    screenshot,
    write_notebook,
)
from tests.panel_dom import BADGE, COLUMNS, DISK, FILTER, HEAD, MODEL, PANEL, ROW, SORT
from tools.range_server import RangeServer

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

# The panel's DOM: selectors in tests/panel_dom.py; what its rows say here.
FILTER_AFTER = 20
KIND_WORDS = {
    "complete": "complete",
    "partial": "partial",
    "downloading": "downloading",
    "locked": "locked",
    "stale-lock": "stale lock",
    "orphan-tmp": "orphan tmp",
    "waiting": "waiting",
    "failed": "failed",
}
"""What a badge's text says for each ``data-status``."""

LIGHT = "JupyterLab Light"
DARK = "JupyterLab Dark"
MIN_CONTRAST = 3.0
ALIGN_TOLERANCE = 1.0
FREE_SLACK = 4 * 2**20
"""How far the panel's free disk may lie outside our looks before and after its own."""

SCREENSHOTS_ENV = "HUBMAGIC_SCREENSHOTS"
REPO = Path(__file__).resolve().parents[2]
DOCS_MAX_BYTES = 150_000

NOTEBOOK = "panel_dashboard.ipynb"
HELPERS = '''\
import os, threading
import hubmagic

def start_download(handle, cache, endpoint):
    """hubmagic.resolve(handle) in a thread, from the mirror at endpoint."""
    state = {}
    def run():
        os.environ["HUBMAGIC_ENDPOINT"] = endpoint
        try:
            state["path"] = hubmagic.resolve(handle, cache_dir=cache)
        except BaseException as exc:
            state["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            os.environ.pop("HUBMAGIC_ENDPOINT", None)
    state["thread"] = threading.Thread(target=run, name="live-download", daemon=True)
    state["thread"].start()
    return state

def finish_download(state, timeout=120):
    state["thread"].join(timeout)
    assert not state["thread"].is_alive(), f"the download still runs after {timeout} s"
    assert "error" not in state, state.get("error")
    print("downloaded to", state["path"])
'''

# -- what the page shows, read with the DOM -------------------------------------------
_ROWS_JS = """(panel) => [...panel.querySelectorAll('.hubmagic-row')]
    .filter(row => row.getClientRects().length > 0)
    .map(row => {
        const badge = row.querySelector('.hubmagic-badge');
        const model = row.querySelector('.hubmagic-model');
        return {
            model: model ? (model.getAttribute('title') || model.textContent) : null,
            status: badge ? badge.dataset.status : null,
            badge: badge ? badge.textContent : null,
            live: row.classList.contains('hubmagic-live'),
            text: row.innerText,
            progress: [...row.querySelectorAll('.hubmagic-progress-fill')].map(
                f => ({fraction: Number(f.dataset.fraction), width: f.style.width})),
        };
    })"""

_COLUMNS_JS = """(panel, names) => {
    const lines = [panel.querySelector('.hubmagic-table-head'),
        ...[...panel.querySelectorAll('.hubmagic-row')]
            .filter(row => row.getClientRects().length > 0)];
    const out = {};
    for (const name of names) {
        out[name] = lines.map(line => {
            if (line === null) return 'no table head';
            const cells = line.querySelectorAll('.hubmagic-col-' + name);
            if (cells.length !== 1) return cells.length + ' cells';
            return cells[0].getBoundingClientRect().left;
        });
    }
    return out;
}"""

# Colours as the page paints them (any CSS colour syntax, through a canvas pixel), the
# background as composited from the element up to the first opaque ancestor, and the
# WCAG contrast ratio of the text over it.
_COLOURS_JS = """(panel, selectors) => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const rgba = (css) => {
        ctx.clearRect(0, 0, 1, 1);
        ctx.fillStyle = 'rgba(0, 0, 0, 0)';
        ctx.fillStyle = css;
        ctx.fillRect(0, 0, 1, 1);
        const d = ctx.getImageData(0, 0, 1, 1).data;
        return [d[0], d[1], d[2], d[3] / 255];
    };
    const over = (top, base) => [0, 1, 2].map(i => top[i] * top[3] + base[i] * (1 - top[3]));
    const background = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c[3] > 0) layers.push(c);
            if (c[3] >= 0.99) break;
        }
        let base = [255, 255, 255];
        for (const layer of layers.reverse()) base = over(layer, base);
        return base;
    };
    const luminance = (c) => {
        const [r, g, b] = c.map(v => {
            const s = v / 255;
            return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const out = [];
    for (const selector of selectors) {
        for (const el of panel.querySelectorAll(selector)) {
            if (el.getClientRects().length === 0 || !el.textContent.trim()) continue;
            const bg = background(el);
            const fg = over(rgba(getComputedStyle(el).color), bg);
            const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
            out.push({
                selector, text: el.textContent.trim().slice(0, 40),
                status: el.dataset.status || null,
                fg: fg.map(Math.round), bg: bg.map(Math.round),
                ratio: (hi + 0.05) / (lo + 0.05),
            });
        }
    }
    return out;
}"""
_COLOURED = (
    BADGE,
    MODEL,
    ".hubmagic-ago",
    ".hubmagic-disk-numbers",
    ".hubmagic-facts",
    ".hubmagic-status .widget-html-content > div",  # the lines under a badge
)


# -- the shared notebook ----------------------------------------------------------------
@pytest.fixture(scope="module")
def notebook(
    jupyterlab: JupyterLab, playwright_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Page]:
    """One page on one notebook whose kernel ran ``%load_ext hubmagic`` and the helpers."""
    profile = tmp_path_factory.mktemp("panel-chromium-profile")
    with chromium_page(playwright_session, profile) as page:
        write_notebook(jupyterlab, NOTEBOOK, ["%load_ext hubmagic", HELPERS])
        open_notebook(page, jupyterlab, NOTEBOOK)
        run_all(page)
        yield page


def show_panel(page: Page, cache: Path, then: str = "") -> Locator:
    """Runs ``%hub_panel --cache CACHE`` (and ``then``) in a new cell; returns its panel."""
    from playwright.sync_api import expect

    code = f"%hub_panel --cache {shlex.quote(str(cache))}" + (f"\n{then}" if then else "")
    cell = run_new_cell(page, code)
    panel = cell.locator(PANEL)
    expect(panel).to_have_count(1, timeout=30_000)  # a loaded machine renders slowly
    panel.scroll_into_view_if_needed()
    return panel


def set_theme(page: Page, theme: str) -> None:
    """Switches JupyterLab's theme and waits until its colours are in force."""
    if page.evaluate("() => document.body.dataset.jpThemeName") == theme:
        return
    before = page.evaluate(_LAYOUT_COLOUR)
    page.evaluate(
        "t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme
    )
    page.wait_for_function(
        f"([t, before]) => document.body.dataset.jpThemeName === t"
        f" && ({_LAYOUT_COLOUR})() !== before",
        arg=[theme, before],
        timeout=30_000,
    )
    # JupyterLab shows its splash (the logo, over the page) while it swaps themes.
    page.wait_for_function(
        "() => document.getElementById('jupyterlab-splash') === null", timeout=30_000
    )


_LAYOUT_COLOUR = (
    "() => getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim()"
)


def shoot(
    page: Page, folder: Path, name: str, locator: Locator, docs_name: str | None = None
) -> Path:
    """A screenshot of ``locator`` in ``folder``; with HUBMAGIC_SCREENSHOTS, a copy there too."""
    page.mouse.move(0, 0)  # no row under the pointer, so none is drawn as hovered
    path = screenshot(page, folder, name, locator)
    target = os.environ.get(SCREENSHOTS_ENV)
    if target and docs_name is not None:
        size = path.stat().st_size
        assert size < DOCS_MAX_BYTES, f"{path} is {size} bytes: too big for the README"
        docs = Path(target) if Path(target).is_absolute() else REPO / target
        docs.mkdir(parents=True, exist_ok=True)
        kept = docs / f"{docs_name}.png"
        shutil.copyfile(path, kept)
        print(f"screenshot kept: {kept} ({size} bytes)")
    return path


# -- checks -----------------------------------------------------------------------------
def rows_shown(panel: Locator) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = panel.evaluate(_ROWS_JS)
    return rows


def expected_kind(status: Status, live: bool) -> str:
    """The badge's ``data-status`` for an entry as scanned here."""
    if status is Status.DOWNLOADING:
        return "downloading" if live else "locked"
    return str(status.value).replace(" ", "-")


def check_columns_align(panel: Locator) -> None:
    """Each column's cells, in the head and every row shown, share their left x."""
    lefts: dict[str, list[Any]] = panel.evaluate(_COLUMNS_JS, list(COLUMNS))
    for name, xs in lefts.items():
        bad = [x for x in xs if not isinstance(x, (int, float))]
        assert not bad, f"column {name}: lines without exactly one hubmagic-col-{name} cell: {xs}"
        assert max(xs) - min(xs) <= ALIGN_TOLERANCE, f"column {name} does not align: lefts {xs}"
    firsts = [lefts[name][0] for name in COLUMNS]
    assert firsts == sorted(firsts), f"the columns are not in the order {COLUMNS}: {firsts}"


def row_key(model: str) -> str:
    """The cache key of a row: its model is a handle, or the key when the handle is unknown."""
    return model if re.fullmatch(r"[0-9a-f]{40}", model) else cache_key(model)


def check_badges(panel: Locator, info: CacheInfo, live: frozenset[str] = frozenset()) -> None:
    """Each row's badge says its entry's status as the cache holds it (``live``: handles
    downloading in the kernel); every entry has exactly one row."""
    live_keys = {cache_key(handle) for handle in live}
    expected = {e.key: expected_kind(e.status, e.key in live_keys) for e in info.entries}
    rows = rows_shown(panel)
    unnamed = [row for row in rows if row["model"] is None or row["status"] is None]
    assert not unnamed, f"rows without a .hubmagic-model or a .hubmagic-badge[data-status]: {rows}"
    shown = {row_key(row["model"]): row for row in rows}
    assert len(shown) == len(rows), f"a model shows in two rows: {[r['model'] for r in rows]}"
    assert sorted(shown) == sorted(expected), (
        f"rows {[r['model'] for r in rows]} are not the entries "
        f"{[e.handle or e.key for e in info.entries]}"
    )
    for key, kind in expected.items():
        row = shown[key]
        model = row["model"]
        assert row["status"] == kind, (
            f"{model}: badge data-status {row['status']!r}, cache {kind!r}"
        )
        assert KIND_WORDS[kind] in row["badge"].lower(), f"{model}: badge text {row['badge']!r}"


def check_disk(page: Page, panel: Locator, cache: Path) -> None:
    """After Refresh, the disk bar's bytes are the cache's as scanned here, and its free
    space the disk's (between our looks before and after the Refresh: other processes
    write to this disk too)."""
    from playwright.sync_api import expect

    disk = panel.locator(DISK)
    expect(disk, f"no {DISK} in the panel").to_have_count(1)
    before = shutil.disk_usage(cache).free
    panel.get_by_role("button", name="Refresh", exact=True).click()
    # The kernel takes one message at a time: once this cell ran, the Refresh was handled.
    run_new_cell(page, "pass")
    after = shutil.disk_usage(cache).free
    attributes: dict[str, str | None] = disk.evaluate(
        "d => ({cache: d.dataset.cacheBytes ?? null, free: d.dataset.freeBytes ?? null})"
    )
    size = scan_cache(str(cache)).size
    assert attributes["cache"] is not None and attributes["free"] is not None, attributes
    shown_size, shown_free = int(attributes["cache"]), int(attributes["free"])
    assert shown_size == size, f"data-cache-bytes {shown_size}, the cache holds {size}"
    low, high = sorted((before, after))
    assert low - FREE_SLACK <= shown_free <= high + FREE_SLACK, (
        f"data-free-bytes {shown_free}, the disk had {before} then {after} free"
    )
    numbers = disk.locator(".hubmagic-disk-numbers").inner_text()
    assert format_bytes(size) in numbers, f"{format_bytes(size)!r} not in {numbers!r}"
    assert format_bytes(shown_free) in numbers, f"{format_bytes(shown_free)!r} not in {numbers!r}"


def colours(panel: Locator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = panel.evaluate(_COLOURS_JS, list(_COLOURED))
    return found


def unreadable(found: list[dict[str, Any]], theme: str) -> list[str]:
    """The texts whose contrast over their background is under :data:`MIN_CONTRAST`."""
    if not found:
        return [f"{theme}: no text found to measure"]
    return [
        f"{theme}: {c['selector']} {c['text']!r} ({c['status'] or 'text'}): {c['fg']} on "
        f"{c['bg']}, contrast {c['ratio']:.2f}"
        for c in found
        if c["ratio"] < MIN_CONTRAST
    ]


def unchanged(light: list[dict[str, Any]], dark: list[dict[str, Any]]) -> list[str]:
    """What the dark theme paints as the light one does (badges per status, and texts)."""

    def paint(found: list[dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
        return {c["status"] or c["selector"]: (c["fg"], c["bg"]) for c in found}

    before, after = paint(light), paint(dark)
    if before.keys() != after.keys():
        return [f"measured {sorted(before)} in the light theme, {sorted(after)} in the dark"]
    return [
        f"{name}: {before[name][0]} on {before[name][1]} in both themes"
        for name in before
        if before[name] == after[name]
    ]


def in_both_themes(page: Page, panel: Locator, folder: Path, name: str, docs: bool) -> None:
    """Screenshots ``panel`` in the light and the dark theme, then checks the colours:
    readable in both (contrast >= 3), and changed by the dark theme."""
    shoot(page, folder, f"{name}-light", panel, "panel" if docs else None)
    light = colours(panel)
    set_theme(page, DARK)
    try:
        check_columns_align(panel)
        shoot(page, folder, f"{name}-dark", panel, "panel-dark" if docs else None)
        dark = colours(panel)
    finally:
        set_theme(page, LIGHT)
    problems = [*unreadable(light, LIGHT), *unreadable(dark, DARK), *unchanged(light, dark)]
    assert not problems, "colours:\n" + "\n".join(problems)


def wait_for_progress(page: Page, panel: Locator, fraction: float) -> None:
    """Waits until the panel's live row shows its download's bar at ``fraction`` or more."""
    from playwright.sync_api import expect

    live_row = panel.locator(f"{ROW}.hubmagic-live")
    expect(live_row, "no live row for the download running in the kernel").to_have_count(1)
    live_row.locator(".hubmagic-progress-fill").wait_for()
    page.wait_for_function(
        """([row, fraction]) => {
            const fill = row.querySelector('.hubmagic-progress-fill');
            return fill !== null && Number(fill.dataset.fraction) >= fraction;
        }""",
        arg=[live_row.element_handle(), fraction],
        timeout=60_000,
    )


def check_live_download(panel: Locator, cache: Path, live: str, total: int) -> None:
    """The download in the kernel (``total`` bytes) is the first row: badge, bar, amounts,
    columns; the others as scanned."""
    from playwright.sync_api import expect

    scanned = scan_cache(str(cache))
    entry = next(e for e in scanned.entries if e.key == cache_key(live))
    assert entry.status is Status.DOWNLOADING, entry
    check_badges(panel, scanned, live=frozenset({live}))
    rows = rows_shown(panel)
    first = rows[0]
    assert first["model"] == live and first["live"], f"the download is not the first row: {rows}"
    assert re.search(r"downloading \d+%", first["badge"]), first["badge"]
    fill = first["progress"]
    assert len(fill) == 1 and 0.35 <= fill[0]["fraction"] < 1, fill
    assert float(fill[0]["width"].rstrip("%")) >= 35, fill
    assert f"/ {format_bytes(total)}" in first["text"], f"no total in {first['text']!r}"
    assert not any(row["live"] for row in rows[1:]), rows
    expect(panel.locator(FILTER)).to_have_count(0)
    check_columns_align(panel)


# -- the caches ------------------------------------------------------------------------
def fake_model(folder: Path, name: str, data_bytes: int) -> Path:
    return write_fake_saved_model(folder / name, data_bytes=data_bytes, label=name)


def archive(model: Path, path: Path) -> Path:
    """The model as a tar.gz, as a hub serves it."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for item in sorted(model.rglob("*")):
            tar.add(item, arcname=item.relative_to(model).as_posix(), recursive=False)
    return path


# -- the tests -------------------------------------------------------------------------
def test_hub_setup_output_is_one_display(
    notebook: Page, jupyterlab: JupyterLab, tmp_path: Path
) -> None:
    """``%hub_setup``'s output: one output in its area, the plan as one HTML display."""
    from playwright.sync_api import expect

    cell = run_new_cell(notebook, "%hub_setup")
    outputs = cell.locator(".jp-OutputArea-child")
    print(f"%hub_setup outputs: {outputs.all_inner_texts()}")
    expect(outputs).to_have_count(1)
    expect(outputs.locator("[data-mime-type='text/html']")).to_have_count(1)
    expect(outputs).to_contain_text(re.compile("runtime", re.IGNORECASE))
    expect(outputs).to_contain_text(str(jupyterlab.cache_dir))
    shoot(notebook, tmp_path, "hub-setup", cell.locator(".jp-Cell-outputArea"), "hub-setup")


def test_empty_cache(notebook: Page, tmp_path: Path) -> None:
    """An empty cache: no rows, the head alone, 0 B on the disk bar, no filter box."""
    from playwright.sync_api import expect

    cache = tmp_path / "empty"
    cache.mkdir()
    panel = show_panel(notebook, cache)
    expect(panel.locator(HEAD)).to_have_count(1)
    expect(panel.locator(ROW)).to_have_count(0)
    expect(panel.locator(FILTER)).to_have_count(0)
    check_columns_align(panel)
    check_disk(notebook, panel, cache)
    assert "0 B in 0 entries" in panel.locator(".hubmagic-disk-numbers").inner_text()
    shoot(notebook, tmp_path, "panel-empty", panel)


def test_three_entries_with_a_live_download_light_and_dark(notebook: Page, tmp_path: Path) -> None:
    """Complete, partial and downloading (a real download in the kernel, held at a crawl):
    the live row has its bar; light and dark screenshots; the dark colours are readable;
    the download ends as a complete row."""
    from playwright.sync_api import expect

    cache = tmp_path / "tfhub_modules"  # tensorflow_hub's own name, as in the README picture
    cache.mkdir()
    models = tmp_path / "models"
    complete = "https://tfhub.dev/google/spice/2"
    partial = "https://tfhub.dev/google/yamnet/1"
    live = (
        "https://www.kaggle.com/models/google/movenet/frameworks/tensorFlow2/"
        "variations/singlepose-lightning/versions/4"
    )
    add_model(cache, complete, fake_model(models, "spice", 7_500_000), age_days=3)
    broken = add_model(cache, partial, fake_model(models, "yamnet", 3_700_000))
    (broken / "saved_model.pb").unlink()
    stamp = time.time() - 40 * 86400  # last used 40 days ago: after the unlink, which touched it
    os.utime(broken, (stamp, stamp))
    served = archive(fake_model(models, "movenet", 24_000_000), tmp_path / "movenet.tar.gz")
    name = live.split("/models/", 1)[1]
    with RangeServer(served, name=name, link_rate=2_000_000) as server:
        panel = show_panel(
            notebook, cache, f"live = start_download({live!r}, {str(cache)!r}, {server.url!r})"
        )
        try:
            # Let it get a third of the way, then hold it at a crawl while it is looked at.
            wait_for_progress(notebook, panel, 0.35)
            server.set_link_rate(20_000)
            check_live_download(panel, cache, live, served.stat().st_size)
            in_both_themes(notebook, panel, tmp_path, "panel", docs=True)
        finally:
            server.set_link_rate(1e9)
            run_new_cell(notebook, "live['thread'].join(120)")
        run_new_cell(notebook, "finish_download(live)")
    # Done: the live row is an ordinary complete entry, and the disk bar counts it.
    expect(panel.locator(f"{ROW}.hubmagic-live")).to_have_count(0)
    expect(panel.locator(ROW)).to_have_count(3)
    done = scan_cache(str(cache))
    check_badges(panel, done)
    check_disk(notebook, panel, cache)
    assert [e.status for e in done.entries if e.handle == live] == [Status.COMPLETE]
    shoot(notebook, tmp_path, "panel-done", panel)


def test_every_status_is_readable_in_both_themes(
    notebook: Page, tmp_path: Path, damaged_cache: Path
) -> None:
    """One entry in each state: each badge says it, in both themes, with contrast >= 3."""
    panel = show_panel(notebook, damaged_cache)
    scanned = scan_cache(str(damaged_cache))
    check_badges(panel, scanned)
    check_columns_align(panel)
    check_disk(notebook, panel, damaged_cache)
    in_both_themes(notebook, panel, tmp_path, "panel-states", docs=False)


def test_thirty_entries_filter_and_sort(notebook: Page, tmp_path: Path) -> None:
    """Past 20 entries the filter box shows; typing filters the rows; Size sorts by size."""
    from playwright.sync_api import expect

    cache = tmp_path / "cache"
    cache.mkdir()
    models = tmp_path / "models"
    handles = [f"https://tfhub.dev/google/model-{i:02d}/1" for i in range(30)]
    for i, handle in enumerate(handles):
        # Sizes in an order of their own, so no other column sorts them by accident.
        size = 4_000 + ((i * 7) % 30) * 37_000
        add_model(cache, handle, fake_model(models, f"model-{i:02d}", size), age_days=i * 1.5)
    scanned = scan_cache(str(cache))
    sizes = {e.handle: e.size for e in scanned.entries}
    assert len(set(sizes.values())) == 30

    panel = show_panel(notebook, cache)
    expect(panel.locator(ROW)).to_have_count(30)
    assert len(handles) > FILTER_AFTER
    check_badges(panel, scanned)
    check_columns_align(panel)
    check_disk(notebook, panel, cache)

    # Filter: typed as a person types it.
    box = panel.locator(f"{FILTER} input")
    expect(box).to_have_count(1)
    expect(box).to_have_attribute("placeholder", "filter models")
    box.click()
    box.press_sequentially("model-1")
    wanted = sorted(h for h in handles if "model-1" in h)
    assert len(wanted) == 10

    def shown() -> list[str]:
        return [row["model"] for row in rows_shown(panel)]

    notebook.wait_for_function(
        f"([panel, n]) => ({_ROWS_JS})(panel).length === n",
        arg=[panel.element_handle(), len(wanted)],
    )
    assert sorted(shown()) == wanted
    check_columns_align(panel)
    shoot(notebook, tmp_path, "panel-30-filtered", panel)
    box.fill("")
    notebook.wait_for_function(
        f"([panel, n]) => ({_ROWS_JS})(panel).length === n", arg=[panel.element_handle(), 30]
    )

    # Sort by size: the button says which way, the rows follow; a second click turns it round.
    size_button = panel.locator(f"{HEAD} {SORT}", has_text="Size")
    expect(size_button).to_have_count(1)
    for arrow in ("▼", "▲"):
        size_button.click()
        expect(size_button).to_have_text(re.compile(f"Size {arrow}$"))
        by_size = sorted(handles, key=sizes.__getitem__, reverse=arrow == "▼")
        notebook.wait_for_function(
            f"([panel, want]) => JSON.stringify(({_ROWS_JS})(panel).map(r => r.model))"
            " === JSON.stringify(want)",
            arg=[panel.element_handle(), by_size],
            timeout=10_000,
        )
        order = [sizes[m] for m in shown()]
        assert order == sorted(order, reverse=arrow == "▼"), order
    check_columns_align(panel)
    shoot(notebook, tmp_path, "panel-30-by-size", panel)
