"""Pytest plugin: JupyterLab on 127.0.0.1 and Debian's chromium driven by Playwright.

Load it by importing its fixtures in ``tests/conftest.py`` (``jupyterlab``,
``playwright_session``, ``browser_page``), or with ``pytest -p tests.jupyter_fixtures``.
Nothing heavy is imported at module level: Playwright is imported by the
fixtures and helpers only.

Needs the ``[browser]`` extra (JupyterLab, Playwright) and ``/usr/bin/chromium``
(Debian's ``chromium`` package; ``tests/run.sh`` installs it). Playwright's own
browser downloads (``playwright install``) are never used. A missing piece makes
the test FAIL with what to install, never skip.

Fixtures:
    jupyterlab (session): a running :class:`JupyterLab` (JupyterLab 4 started from
        this venv's Python, with a token, ``--allow-root``, a temporary root dir
        and temporary Jupyter config/settings/workspaces/runtime/data dirs). Its
        kernels run this venv's ``python3`` kernelspec, so ``hubmagic`` is
        importable there; they get a clean environment (no ``TFHUB_*`` /
        ``HUBMAGIC_*`` / proxy variables from outside, ``TFHUB_CACHE_DIR`` =
        ``jupyterlab.cache_dir``). ``window.jupyterapp`` is exposed.
    playwright_session (session): Playwright's sync API, started once; fails
        (not skips) when Playwright or ``/usr/bin/chromium`` is missing.
    browser_page: a Playwright (sync API) ``Page`` in headless chromium with a
        fresh ``--user-data-dir``, viewport 1400x1000; closed after the test.

Helpers (all take the ``Page`` first):
    write_notebook(lab, name, cells) -> Path: an nbformat 4 notebook in the root dir.
    open_notebook(page, lab, name): opens it and waits until the kernel is
        ``Python 3 (ipykernel) | Idle`` (a run sent before that is lost).
    run_all(page, timeout=...): ``runmenu:run-all``, then waits until every code
        cell has an execution count and the kernel is idle.
    run_new_cell(page, code, timeout=...): adds a cell at the end, types ``code``
        and runs it like a person (Esc, B, type, Ctrl+Enter).
    screenshot(page, folder, name, locator=None) -> Path: a PNG artifact (path printed).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = os.environ.get("HUBMAGIC_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
"""The status bar's kernel text once the kernel is connected and idle."""

# Variables of the machine running the tests that must not reach the kernels.
_DROPPED_PREFIXES = ("TFHUB_", "HUBMAGIC_", "JUPYTER", "IPYTHON", "PYTEST_")
_DROPPED = {
    "STORAGE_EMULATOR_HOST",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "all_proxy",
    "MPLBACKEND",
}


@dataclass
class JupyterLab:
    """A running JupyterLab server (see the ``jupyterlab`` fixture)."""

    url: str
    """``http://127.0.0.1:<port>``, no trailing slash."""
    token: str
    root_dir: Path
    """Notebooks written here are at ``/lab/tree/<name>``."""
    cache_dir: Path
    """``TFHUB_CACHE_DIR`` of the kernels (a test may use its own with ``%hub_setup --cache``)."""
    log_path: Path
    """The server's stdout and stderr."""
    process: subprocess.Popen[bytes]

    def lab_url(self, name: str) -> str:
        """The address that opens ``root_dir/name`` in JupyterLab, alone.

        Each address names a new workspace: JupyterLab would otherwise restore
        the tabs that an earlier test left open, and one of them could be the
        current tab.
        """
        workspace = f"w{os.urandom(6).hex()}"
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> Any:
        """Calls the server's REST API; returns the decoded JSON (or None)."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kernel_env(base: Path, cache_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _DROPPED and not name.startswith(_DROPPED_PREFIXES)
    }
    for name in ("config", "data", "runtime", "settings", "workspaces", "tmp"):
        (base / name).mkdir()
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        # The user data dir comes first in the search path; the venv's
        # share/jupyter (the ipywidgets lab extension, the python3 kernelspec)
        # comes after it and stays found.
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTER_PLATFORM_DIRS="1",
        TMPDIR=str(base / "tmp"),
        TFHUB_CACHE_DIR=str(cache_dir),
        NO_PROXY="127.0.0.1,localhost",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
    )
    return env


def _quiet_lab_settings(settings_dir: Path) -> None:
    """No news or update checks (no network), no first-run toasts over the page."""
    notification = settings_dir / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """A JupyterLab server on 127.0.0.1 for the session (see the module doc)."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        pytest.fail(
            "JupyterLab is not installed: the browser tests need the [browser] extra "
            "(pip install -e '.[tf,test,browser]', as tests/run.sh does)",
            pytrace=False,
        )
    base = tmp_path_factory.mktemp("jupyterlab")
    root_dir = base / "root"
    cache_dir = base / "tfhub_cache"
    root_dir.mkdir()
    cache_dir.mkdir()
    env = _kernel_env(base, cache_dir)
    _quiet_lab_settings(base / "settings")
    port = _free_port()
    token = os.urandom(16).hex()
    log_path = base / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = JupyterLab(
        url=f"http://127.0.0.1:{port}",
        token=token,
        root_dir=root_dir,
        cache_dir=cache_dir,
        log_path=log_path,
        process=process,
    )
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with {process.returncode} while starting "
                    f"(log {log_path}):\n{lab.log_tail()}",
                    pytrace=False,
                )
            try:
                lab.api("/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() - started > 60:
                pytest.fail(
                    f"JupyterLab did not answer /api/status in 60 s (log {log_path}):\n"
                    f"{lab.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.1)
        print(f"JupyterLab up in {time.monotonic() - started:.1f} s at {lab.url} (log {log_path})")
        yield lab
    finally:
        _stop(lab)


def _stop(lab: JupyterLab) -> None:
    """Asks the server to shut down (it stops its kernels), then makes sure it did."""
    process = lab.process
    if process.poll() is None:
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            lab.api("/api/shutdown", method="POST", timeout=10)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Any]:
    """Playwright's sync API for the session; fails when it or chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright is not installed: the browser tests need the [browser] extra "
            "(pip install -e '.[tf,test,browser]', as tests/run.sh does)",
            pytrace=False,
        )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(apt-get install -y --no-install-recommends chromium, as tests/run.sh does "
            "when run as root); `playwright install` is not used",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def browser_page(playwright_session: Any, tmp_path: Path) -> Iterator[Page]:
    """A fresh page in headless Debian chromium (own profile), closed after the test."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    context = playwright_session.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport=VIEWPORT,
    )
    context.set_default_timeout(30_000)
    page = context.pages[0] if context.pages else context.new_page()
    try:
        yield page
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


# -- helpers ---------------------------------------------------------------------------
def code_cell(source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": os.urandom(4).hex(),
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def write_notebook(lab: JupyterLab, name: str, cells: Sequence[str]) -> Path:
    """Writes an nbformat 4 notebook of code cells (python3 kernel) into the root dir."""
    notebook = {
        "cells": [code_cell(source) for source in cells],
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = lab.root_dir / name
    path.write_text(json.dumps(notebook, indent=1))
    return path


def kernel_status(page: Page) -> Locator:
    """The status bar item that reads e.g. ``Python 3 (ipykernel) | Idle``."""
    return page.locator('.jp-StatusBar-TextItem[title^="Change kernel"]').first


def wait_for_kernel_idle(page: Page, timeout: float = 60) -> None:
    """Waits for ``Python 3 (ipykernel) | Idle`` in the status bar."""
    from playwright.sync_api import expect

    expect(kernel_status(page)).to_have_text(KERNEL_IDLE, timeout=timeout * 1000)


def open_notebook(page: Page, lab: JupyterLab, name: str, timeout: float = 60) -> None:
    """Opens ``name`` in JupyterLab and waits until its kernel is connected and idle."""
    from playwright.sync_api import expect

    page.goto(lab.lab_url(name))
    page.locator(f"{_NOTEBOOK} .jp-Cell").first.wait_for(timeout=timeout * 1000)
    current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    expect(current).to_have_count(1)
    expect(current).to_contain_text(name)
    wait_for_kernel_idle(page, timeout)


_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
_COUNTS = f"""() => [...document.querySelectorAll(
    '{_NOTEBOOK} .jp-CodeCell .jp-InputArea-prompt')].map(p => {{
        const m = /\\[(\\d+)\\]/.exec(p.textContent);
        return m ? Number(m[1]) : null;
    }})"""


def _execution_counts(page: Page) -> list[int | None]:
    """The execution count of each code cell of the current notebook (None: not run, or queued)."""
    counts: list[int | None] = page.evaluate(_COUNTS)
    return counts


def _wait_counts_above(
    page: Page, floor: int, first_cell: int, end_cell: int | None, timeout: float
) -> None:
    """Waits until the code cells ``[first_cell:end_cell]`` ran (count above ``floor``).

    Fails with the notebook's outputs when a cell raised (the kernel then skips
    the cells after it) or the run ended with a cell left unrun.
    """
    page.wait_for_function(
        f"""([floor, first, end]) => {{
            const counts = ({_COUNTS})().slice(first, end ?? undefined);
            if (counts.length > 0 && counts.every(c => c !== null && c > floor)) return true;
            // Stopped early: something ran, nothing is queued or running, kernel idle.
            const prompts = [...document.querySelectorAll(
                '{_NOTEBOOK} .jp-CodeCell .jp-InputArea-prompt')].slice(first, end ?? undefined);
            const status = document.querySelector(
                '.jp-StatusBar-TextItem[title^="Change kernel"]');
            return counts.some(c => c !== null && c > floor)
                && !prompts.some(p => p.textContent.includes('*'))
                && status !== null && status.textContent === '{KERNEL_IDLE}';
        }}""",
        arg=[floor, first_cell, end_cell],
        timeout=timeout * 1000,
    )
    counts = _execution_counts(page)[first_cell:end_cell]
    # A traceback, or IPython's one-line UsageError (what a magic shows for a bad
    # argument or a hubmagic error).
    errors = page.locator(
        f'{_NOTEBOOK} [data-mime-type="application/vnd.jupyter.error"], '
        f'{_NOTEBOOK} [data-mime-type="application/vnd.jupyter.stderr"]'
    ).filter(has_text=re.compile(r"^(UsageError:|Traceback|-{5,})"))
    if errors.count() or not all(c is not None and c > floor for c in counts):
        outputs = page.locator(f"{_NOTEBOOK} .jp-OutputArea-output").all_inner_texts()
        pytest.fail(
            f"the notebook did not run through (execution counts {counts}); outputs:\n"
            + "\n---\n".join(text[-2000:] for text in outputs if text.strip()),
            pytrace=False,
        )


def run_all(page: Page, timeout: float = 120) -> None:
    """Runs all cells (``runmenu:run-all``), waits until each ran and the kernel is idle."""
    floor = max((c for c in _execution_counts(page) if c is not None), default=0)
    page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")
    _wait_counts_above(page, floor, 0, None, timeout)
    wait_for_kernel_idle(page, timeout)


def run_new_cell(page: Page, code: str, timeout: float = 120) -> Locator:
    """Adds a code cell at the end, types ``code``, runs it (Ctrl+Enter); returns the cell.

    Like a person: select the last cell, Esc, B (insert below), click into the
    new cell, type, Ctrl+Enter (Shift+Enter would also add an empty cell).
    """
    counts = _execution_counts(page)
    floor = max((c for c in counts if c is not None), default=0)
    cells = page.locator(f"{_NOTEBOOK} .jp-Cell")
    before = cells.count()
    cells.last.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    cell = cells.nth(before)
    cell.locator(".cm-content").click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Control+Enter")
    _wait_counts_above(page, floor, len(counts), len(counts) + 1, timeout)
    wait_for_kernel_idle(page, timeout)
    return cell


def screenshot(page: Page, folder: Path, name: str, locator: Locator | None = None) -> Path:
    """Saves a PNG of the page (or of ``locator``) as ``folder/name.png``; prints its path."""
    path = Path(folder) / f"{name}.png"
    if locator is None:
        page.screenshot(path=str(path), full_page=True)
    else:
        locator.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path
