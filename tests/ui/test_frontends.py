"""The cache panel in frontends other than JupyterLab: Notebook 7 and the classic notebook.

Both run in both venvs of ``tests/run.sh``: the main one (ipywidgets 8) and
Colab's pins (ipywidgets 7.7.1, where it runs this file too).

* ``jupyter_notebook``: Notebook 7, built from JupyterLab's components; its
  widgets are rendered by JupyterLab's widget manager (jupyterlab_widgets 3,
  which also renders ipywidgets 7 kernels).
* ``nbclassic``: the classic notebook (Notebook 6's pages on jupyter_server);
  its widgets are rendered by widgetsnbextension (3.6 for ipywidgets 7.7.1, the
  same @jupyter-widgets/controls 1.5 code as Colab's own renderer of 7.7.1).

JupyterLab itself is tests/ui/test_browser*.py. No TensorFlow: the cache entries
are SavedModel-shaped folders written by tests/fake_models.py.

Needs the ``[browser]`` extra (with ``notebook`` and ``nbclassic``) and Debian's
``/usr/bin/chromium`` (``tests/run.sh`` installs them); without them these tests
fail with what to install.
"""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path

import pytest

from hubmagic.core.handle import cache_key
from tests.cache_fixtures import add_model
from tests.fake_models import write_fake_saved_model
from tests.jupyter_fixtures import (
    JupyterNotebook,
    jupyter_notebook,  # noqa: F401  (fixture, used by name)
    nbclassic,  # noqa: F401  (fixture, used by name)
    notebook_run_all,
    open_in_notebook,
    screenshot,
    wait_until,
    write_notebook,
)
from tests.panel_dom import BADGE, COLUMNS, HEAD, MODEL, PANEL, ROW, SORT

pytestmark = pytest.mark.browser

STATUS_BADGE = f"{BADGE}[data-status]"
"""A badge that carries its entry's status."""

# Three complete entries of distinct sizes (bytes of the variables shard) and ages (days).
MODELS = {
    "https://tfhub.dev/google/small/1": (2_000, 30),
    "https://tfhub.dev/google/large/1": (3_000_000, 2),
    "https://tfhub.dev/google/medium/1": (300_000, 10),
}


def _cache(folder: Path) -> Path:
    """A cache of the three :data:`MODELS`, as tensorflow_hub leaves complete entries."""
    cache = folder / "cache"
    cache.mkdir()
    for handle, (data_bytes, age_days) in MODELS.items():
        source = folder / "models" / cache_key(handle)
        write_fake_saved_model(source, data_bytes=data_bytes)
        add_model(cache, handle, source, age_days=age_days)
    return cache


def _lefts(page: object, selector: str) -> list[float]:
    """The left edge (px) of every element ``selector`` matches, in DOM order."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    lefts: list[float] = page.locator(selector).evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().left)"
    )
    return lefts


def _order(rows: object) -> list[str]:
    """The handles of ``rows`` (a Locator of panel rows), top to bottom."""
    from playwright.sync_api import Locator

    assert isinstance(rows, Locator)
    titles: list[str] = rows.locator(MODEL).evaluate_all("els => els.map(e => e.title)")
    return titles


IPYWIDGETS_7 = importlib.metadata.version("ipywidgets").startswith("7.")


@pytest.mark.xfail(
    IPYWIDGETS_7,
    strict=True,
    reason="Notebook 7 renders widgets with JupyterLab 4's manager (jupyterlab_widgets 3, "
    "@jupyter-widgets/jupyterlab-manager 5), which registers only @jupyter-widgets/controls "
    "2.0.0: an ipywidgets 7 kernel's widgets (controls ^1.5.0, base ^1.2.0) fail with "
    '"Module @jupyter-widgets/controls, version ^1.5.0 is not registered" '
    "(pip pairs ipywidgets 7.7.1 with jupyterlab_widgets 3: it asks only >=1.0.0)",
)
def test_panel_in_notebook7(
    jupyter_notebook: JupyterNotebook,  # noqa: F811  (the fixture imported above)
    browser_page: object,
    tmp_path: Path,
) -> None:
    """Notebook 7: %hub_panel renders, lines up, sorts by Size and deletes on Confirm."""
    assert not jupyter_notebook.classic, f"{jupyter_notebook.frontend}: not Notebook 7"
    _use_panel(jupyter_notebook, browser_page, tmp_path)


def test_panel_in_classic_notebook(
    nbclassic: JupyterNotebook,  # noqa: F811  (the fixture imported above)
    browser_page: object,
    tmp_path: Path,
) -> None:
    """The classic notebook: %hub_panel renders, lines up, sorts and deletes on Confirm."""
    _use_panel(nbclassic, browser_page, tmp_path)


def _use_panel(server: JupyterNotebook, browser_page: object, tmp_path: Path) -> None:
    """%hub_panel renders, its columns line up, Size sorts and Delete + Confirm deletes."""
    from playwright.sync_api import Page, expect

    assert isinstance(browser_page, Page)
    page = browser_page
    started = time.monotonic()
    print(f"{server.frontend}, ipywidgets {importlib.metadata.version('ipywidgets')}")
    cache = _cache(tmp_path)
    name = f"panel-{'classic' if server.classic else 'nb7'}.ipynb"
    write_notebook(server, name, ["%load_ext hubmagic", f"%hub_panel --cache {cache}"])
    open_in_notebook(page, server, name)
    notebook_run_all(page, server)
    print(f"{server.frontend}: notebook ran in {time.monotonic() - started:.1f} s")

    # The first render in a fresh venv (the frontend's scripts compiled and cached,
    # every widget's comm opened one by one) may take far longer than expect's 5 s.
    panel = page.locator(PANEL)
    expect(panel).to_have_count(1, timeout=60_000)
    rows = panel.locator(ROW)
    expect(rows).to_have_count(len(MODELS), timeout=60_000)
    for handle in MODELS:
        expect(panel.locator(f'{ROW} {MODEL}[title="{handle}"]')).to_have_count(1)
    expect(panel.locator(f"{ROW} {STATUS_BADGE}")).to_have_count(len(MODELS))
    statuses = panel.locator(f"{ROW} {STATUS_BADGE}").evaluate_all(
        "els => els.map(e => e.dataset.status)"
    )
    assert statuses == ["complete"] * len(MODELS), statuses
    screenshot(page, tmp_path, f"{name}-panel", panel)

    # Columns: the head's cell and every row's cell of one column share their x.
    for column in COLUMNS:
        cells = f"{PANEL} :is({HEAD}, {ROW}) > .hubmagic-col-{column}"
        lefts = _lefts(page, cells)
        assert len(lefts) == len(MODELS) + 1, f"{column}: {len(lefts)} cells ({cells})"
        assert max(lefts) - min(lefts) <= 1, f"column {column} is not aligned: x = {lefts}"

    # Size sorts by size, the arrow saying which way; a second click turns it around.
    size_sort = panel.locator(f"{HEAD} {SORT}", has_text="Size")
    expect(size_sort).to_have_count(1)
    sizes = {handle: data_bytes for handle, (data_bytes, _) in MODELS.items()}
    for _ in range(2):
        before = size_sort.inner_text()
        size_sort.click()
        expect(size_sort).not_to_have_text(before)
        label = size_sort.inner_text()
        assert label.rstrip().endswith(("▼", "▲")), label
        descending = label.rstrip().endswith("▼")
        expected = sorted(sizes, key=sizes.__getitem__, reverse=descending)

        def in_order(expected: list[str] = expected) -> bool:
            return _order(rows) == expected

        wait_until(
            in_order,
            10,
            f"after clicking Size ({label!r}) the rows are not in order {expected}",
        )

    # Delete, then Confirm, removes the entry from disk and its row from the panel.
    handle = "https://tfhub.dev/google/medium/1"
    folder = cache / cache_key(handle)
    assert folder.is_dir()
    row = rows.filter(has=page.locator(f'{MODEL}[title="{handle}"]'))
    row.get_by_role("button", name="Delete", exact=True).click()
    panel.get_by_role("button", name="Confirm", exact=True).click()
    wait_until(lambda: not folder.exists(), 15, f"Delete + Confirm left {folder}")
    expect(row).to_have_count(0)
    expect(rows).to_have_count(len(MODELS) - 1)
    screenshot(page, tmp_path, f"{name}-after-delete", panel)
    screenshot(page, tmp_path, f"{name}-page")
    print(f"{server.frontend}: panel test took {time.monotonic() - started:.1f} s")
