"""End to end in a real JupyterLab and headless chromium: the cache panel as a person uses it.

Needs the ``[browser]`` extra and Debian's ``/usr/bin/chromium`` (``tests/run.sh``
installs both); without them these tests fail with what to install.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hubmagic.core.handle import cache_key
from hubmagic.server import HubServer
from tests.hub_fixtures import BIG_1, TINY_1
from tests.jupyter_fixtures import (
    JupyterLab,
    open_notebook,
    run_all,
    run_new_cell,
    screenshot,
    wait_until,
    write_notebook,
)
from tests.panel_dom import MESSAGE, PANEL, PROGRESS_PHASE, PROGRESS_ROW, ROW

pytestmark = pytest.mark.browser


def _snapshot(folder: Path) -> dict[str, int]:
    """Every file and folder under ``folder``: relative path -> size (-1 for folders)."""
    found: dict[str, int] = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs:
            found[os.path.relpath(os.path.join(top, name), folder)] = -1
        for name in files:
            path = os.path.join(top, name)
            found[os.path.relpath(path, folder)] = os.path.getsize(path)
    return found


def test_widget_click_reaches_the_kernel(
    jupyterlab: JupyterLab, browser_page: object, tmp_path: Path
) -> None:
    """The harness itself: a widget rendered in JupyterLab, clicked, runs kernel code."""
    from playwright.sync_api import Page, expect

    assert isinstance(browser_page, Page)
    page = browser_page
    marker = tmp_path / "clicked.txt"
    write_notebook(
        jupyterlab,
        "probe.ipynb",
        [
            "import pathlib\n"
            "import ipywidgets as widgets\n"
            'button = widgets.Button(description="Probe")\n'
            'button.add_class("probe")\n'
            f'button.on_click(lambda _: pathlib.Path({str(marker)!r}).write_text("clicked"))\n'
            "button",
        ],
    )
    open_notebook(page, jupyterlab, "probe.ipynb")
    run_all(page)
    button = page.locator(".probe")
    expect(button).to_have_text("Probe")
    button.click()
    wait_until(marker.exists, 10, f"the click did not write {marker}")
    assert marker.read_text() == "clicked"
    # And back: a new cell typed in changes the widget the page shows.
    run_new_cell(page, f"button.description = pathlib.Path({str(marker)!r}).read_text()")
    expect(button).to_have_text("clicked")


@pytest.mark.tf
def test_panel_deletes_a_model_and_cancel_keeps_the_cache(
    jupyterlab: JupyterLab, browser_page: object, hub_server: HubServer, tmp_path: Path
) -> None:
    """%hub_load shows progress to done; the panel lists, deletes and refuses to clear on Cancel."""
    from playwright.sync_api import Page, expect

    assert isinstance(browser_page, Page)
    page = browser_page
    started = time.monotonic()
    cache = tmp_path / "cache"
    big = f"{hub_server.url}/{BIG_1}"
    tiny = f"{hub_server.url}/{TINY_1}"
    write_notebook(
        jupyterlab,
        "panel.ipynb",
        [
            "%load_ext hubmagic",
            f"%hub_setup --cache {cache}",
            f"model = %hub_load {big}",
            "%hub_panel",
        ],
    )
    open_notebook(page, jupyterlab, "panel.ipynb")
    run_all(page)
    print(f"notebook ran in {time.monotonic() - started:.1f} s")
    big_folder = cache / cache_key(big)
    assert big_folder.is_dir(), f"%hub_load did not cache {big} in {big_folder}"

    # The download's progress row (under %hub_load) ends on "done".
    progress_row = page.locator(PROGRESS_ROW, has_text=big)
    expect(progress_row).to_have_count(1)
    expect(progress_row.locator(PROGRESS_PHASE)).to_contain_text("done")

    # The panel lists the model; Delete, then Confirm, removes it from disk.
    panel = page.locator(PANEL)
    expect(panel).to_have_count(1)
    big_row = panel.locator(ROW, has_text=big)
    expect(big_row).to_have_count(1)
    screenshot(page, tmp_path, "panel-loaded", panel)
    big_row.get_by_role("button", name="Delete", exact=True).click()
    panel.get_by_role("button", name="Confirm", exact=True).click()
    wait_until(lambda: not big_folder.exists(), 15, f"Delete + Confirm left {big_folder}")
    expect(big_row).to_have_count(0)
    print(f"message after Delete: {panel.locator(MESSAGE).all_inner_texts()}")

    # Another model, loaded in a new cell; Refresh lists it.
    run_new_cell(page, f"model2 = %hub_load {tiny}")
    assert (cache / cache_key(tiny)).is_dir()
    panel.get_by_role("button", name="Refresh", exact=True).click()
    tiny_row = panel.locator(ROW, has_text=tiny)
    expect(tiny_row).to_have_count(1)

    # Clear all, then Cancel: nothing on disk changes.
    before = _snapshot(cache)
    panel.get_by_role("button", name="Clear all", exact=True).click()
    cancel = panel.get_by_role("button", name="Cancel", exact=True)
    cancel.click()
    expect(cancel).to_have_count(0)
    # The kernel handles one message at a time, so a cell runs only once the
    # Cancel click was handled: a Cancel that deleted anyway has done it by then.
    run_new_cell(page, "pass")
    assert _snapshot(cache) == before
    expect(tiny_row).to_have_count(1)
    print(f"message after Cancel: {panel.locator(MESSAGE).all_inner_texts()}")
    screenshot(page, tmp_path, "panel-after-cancel", panel)
    screenshot(page, tmp_path, "page-after-cancel")
    print(f"panel test took {time.monotonic() - started:.1f} s")
