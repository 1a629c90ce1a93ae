"""Pytest plugin: JupyterLab (or Jupyter Notebook) on 127.0.0.1 and Debian's chromium.

Load it by importing its fixtures in ``tests/conftest.py`` (``jupyterlab``,
``playwright_session``, ``browser_page``; ``jupyter_notebook`` is imported by
the test module that uses it), or with ``pytest -p tests.jupyter_fixtures``.
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
    jupyter_notebook (session): a running :class:`JupyterNotebook`, started as
        ``jupyterlab`` is (same environment, token and folders), from the
        ``notebook`` package this venv has: Notebook 7 (JupyterLab's components
        and widget manager, ``window.jupyterapp`` exposed) or Notebook 6, the
        classic notebook (``.classic``; widgetsnbextension renders the widgets).
    playwright_session (session): Playwright's sync API, started once; fails
        (not skips) when Playwright or ``/usr/bin/chromium`` is missing.
    browser_page: a Playwright (sync API) ``Page`` in headless chromium with a
        fresh ``--user-data-dir``, viewport 1400x1000; closed after the test
        (:func:`chromium_page`, for a page that lives longer, e.g. a module's).

Helpers (those on a page take the ``Page`` first):
    chromium_page(playwright_session, profile): a context manager yielding a ``Page``
        as ``browser_page``'s, on the profile folder given; closes it and removes
        the folder.
    wait_until(condition, timeout, what): polls ``condition()``, fails with ``what``.
    write_notebook(lab, name, cells) -> Path: an nbformat 4 notebook in the root dir.
    open_notebook(page, lab, name): opens it and waits until the kernel is
        ``Python 3 (ipykernel) | Idle`` (a run sent before that is lost).
    run_all(page, timeout=...): ``runmenu:run-all``, then waits until every code
        cell has an execution count and the kernel is idle.
    run_new_cell(page, code, timeout=...): adds a cell at the end, types ``code``
        and runs it like a person (Esc, B, type, Ctrl+Enter).
    screenshot(page, folder, name, locator=None) -> Path: a PNG artifact (path printed).
    open_in_notebook(page, server, name): a ``jupyter_notebook`` page at
        ``/notebooks/<name>``, once the kernel is connected and idle (Notebook 7:
        the toolbar's kernel name and execution indicator; Notebook 6: the kernel
        indicator icon and widgetsnbextension's manager on the kernel).
    notebook_run_all(page, server, timeout=...): runs every cell there
        (``notebook:run-all-cells``; Notebook 6: ``Jupyter.notebook.execute_all_cells()``)
        and waits until each ran and the kernel is idle; fails on an error.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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
class JupyterServer:
    """A running Jupyter server (see the ``jupyterlab`` and ``jupyter_notebook`` fixtures)."""

    url: str
    """``http://127.0.0.1:<port>``, no trailing slash."""
    token: str
    root_dir: Path
    """Notebooks written here are at ``/lab/tree/<name>`` (``/notebooks/<name>``)."""
    cache_dir: Path
    """``TFHUB_CACHE_DIR`` of the kernels (a test may use its own with ``%hub_setup --cache``)."""
    log_path: Path
    """The server's stdout and stderr."""
    process: subprocess.Popen[bytes]
    frontend: str = "JupyterLab"
    """What serves the page and its version, e.g. ``Notebook 7.6.5``."""

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


@dataclass
class JupyterLab(JupyterServer):
    """A running JupyterLab server (see the ``jupyterlab`` fixture)."""

    def lab_url(self, name: str) -> str:
        """The address that opens ``root_dir/name`` in JupyterLab, alone.

        Each address names a new workspace: JupyterLab would otherwise restore
        the tabs that an earlier test left open, and one of them could be the
        current tab.
        """
        workspace = f"w{os.urandom(6).hex()}"
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?token={self.token}"


@dataclass
class JupyterNotebook(JupyterServer):
    """A running Jupyter Notebook server (see the ``jupyter_notebook`` fixture)."""

    classic: bool = False
    """The classic notebook (Notebook 6's pages: jQuery/RequireJS, ``Jupyter.notebook``)
    rather than Notebook 7 (JupyterLab's components, ``window.jupyterapp``)."""
    prefix: str = ""
    """Where the pages are: ``/nbclassic`` for nbclassic beside Notebook 7."""

    def notebook_url(self, name: str) -> str:
        """The address of ``root_dir/name`` (one notebook per page, in both versions)."""
        quoted = urllib.parse.quote(name)
        return f"{self.url}{self.prefix}/notebooks/{quoted}?token={self.token}"


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


def _server_options(port: int, token: str, root_dir: Path) -> list[str]:
    """jupyter_server's options for ip, port, root dir and token, no browser, as root.

    What JupyterLab, Notebook 7 and nbclassic share (each adds its own app's
    options); Notebook 6's server (``--NotebookApp.*``) spells them otherwise.
    """
    return [
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
    ]


_Server = TypeVar("_Server", bound=JupyterServer)


def _serve(
    tmp_path_factory: pytest.TempPathFactory,
    kind: type[_Server],
    frontend: str,
    module: str,
    options: Callable[[int, str, Path], list[str]],
    **fields: Any,
) -> Iterator[_Server]:
    """Starts ``python -m module`` on 127.0.0.1, yields it once it answers, stops it.

    ``options(port, token, root_dir)`` are the server's command-line options
    (its own spelling of ip, port, token, root dir). The server and its
    kernels get the environment of :func:`_kernel_env` under a temporary
    folder named after ``module``; ``fields`` go to ``kind``.
    """
    base = tmp_path_factory.mktemp(module)
    root_dir = base / "root"
    cache_dir = base / "tfhub_cache"
    root_dir.mkdir()
    cache_dir.mkdir()
    env = _kernel_env(base, cache_dir)
    _quiet_lab_settings(base / "settings")
    port = _free_port()
    token = os.urandom(16).hex()
    log_path = base / f"{module}.log"
    command = [sys.executable, "-m", module, *options(port, token, root_dir)]
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
    server = kind(
        url=f"http://127.0.0.1:{port}",
        token=token,
        root_dir=root_dir,
        cache_dir=cache_dir,
        log_path=log_path,
        process=process,
        frontend=frontend,
        **fields,
    )
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"{frontend} exited with {process.returncode} while starting "
                    f"(log {log_path}):\n{server.log_tail()}",
                    pytrace=False,
                )
            try:
                server.api("/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() - started > 60:
                pytest.fail(
                    f"{frontend} did not answer /api/status in 60 s (log {log_path}):\n"
                    f"{server.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.1)
        took = time.monotonic() - started
        print(f"{frontend} up in {took:.1f} s at {server.url} (log {log_path})")
        yield server
    finally:
        _stop(server)


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

    def options(port: int, token: str, root_dir: Path) -> list[str]:
        return [
            *_server_options(port, token, root_dir),
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class="
            "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        ]

    yield from _serve(tmp_path_factory, JupyterLab, "JupyterLab", "jupyterlab", options)


@pytest.fixture(scope="session")
def jupyter_notebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterNotebook]:
    """The Jupyter Notebook server this venv has, on 127.0.0.1 for the session.

    Notebook 7 (``notebook>=7``, in both venvs: JupyterLab's components and
    widget manager, ``window.jupyterapp`` exposed); with ``notebook<7``, Notebook 6
    (``.classic``; see ``nbclassic`` for the classic pages without it). As
    ``jupyterlab`` otherwise (see the module doc).
    """
    try:
        import notebook  # noqa: F401
    except ImportError:
        pytest.fail(
            "Jupyter Notebook is not installed: the frontend tests need notebook>=7 "
            "(the [browser] extra; tests/run.sh installs it into both venvs)",
            pytrace=False,
        )
    version = importlib.metadata.version("notebook")
    classic = int(version.split(".")[0]) < 7

    def options(port: int, token: str, root_dir: Path) -> list[str]:
        if classic:
            return [
                "--no-browser",
                "--allow-root",
                "--NotebookApp.ip=127.0.0.1",
                f"--NotebookApp.port={port}",
                "--NotebookApp.port_retries=0",
                f"--NotebookApp.notebook_dir={root_dir}",
                f"--NotebookApp.token={token}",
                "--NotebookApp.open_browser=False",
                # No "migration plan to Notebook 7" banner over the page.
                "--NotebookApp.show_banner=False",
            ]
        return [
            *_server_options(port, token, root_dir),
            "--JupyterNotebookApp.expose_app_in_browser=True",
        ]

    yield from _serve(
        tmp_path_factory,
        JupyterNotebook,
        f"Notebook {version}",
        "notebook",
        options,
        classic=classic,
    )


@pytest.fixture(scope="session")
def nbclassic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterNotebook]:
    """The classic notebook (Notebook 6's frontend) from ``nbclassic``, on 127.0.0.1.

    nbclassic serves Notebook 6's pages on jupyter_server, and loads the
    nbextensions Notebook 6 did: widgetsnbextension's widget manager (3.6 for
    ipywidgets 7.7.1, 4.0 for ipywidgets 8). Beside Notebook 7 its pages are under
    ``/nbclassic``. (``notebook<7`` itself would pin jupyter_client below 8, whose
    7.4 warns on import on Python 3.13.) As ``jupyterlab`` otherwise.
    """
    if importlib.util.find_spec("nbclassic") is None:
        pytest.fail(
            "nbclassic is not installed: the classic-notebook tests need it "
            "(the [browser] extra; tests/run.sh installs it into both venvs)",
            pytrace=False,
        )
    version = importlib.metadata.version("nbclassic")
    try:
        beside_notebook7 = int(importlib.metadata.version("notebook").split(".")[0]) >= 7
    except importlib.metadata.PackageNotFoundError:
        beside_notebook7 = False

    def options(port: int, token: str, root_dir: Path) -> list[str]:
        return [
            *_server_options(port, token, root_dir),
            # No "migration plan to Notebook 7" banner over the page.
            "--NotebookApp.show_banner=False",
        ]

    yield from _serve(
        tmp_path_factory,
        JupyterNotebook,
        f"nbclassic {version}",
        "nbclassic",
        options,
        classic=True,
        prefix="/nbclassic" if beside_notebook7 else "",
    )


def _stop(server: JupyterServer) -> None:
    """Asks the server to shut down (it stops its kernels), then makes sure it did."""
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            server.api("/api/shutdown", method="POST", timeout=10)
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


@contextlib.contextmanager
def chromium_page(playwright_session: Any, profile: Path) -> Iterator[Page]:
    """A page in headless Debian chromium with ``profile`` as its ``--user-data-dir``.

    Viewport :data:`VIEWPORT`, Playwright's default timeout 30 s. On leaving,
    the browser is closed and ``profile`` removed.
    """
    context = playwright_session.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport=VIEWPORT,
    )
    try:
        context.set_default_timeout(30_000)
        page: Page = context.pages[0] if context.pages else context.new_page()
        yield page
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser_page(playwright_session: Any, tmp_path: Path) -> Iterator[Page]:
    """A fresh page in headless Debian chromium (own profile), closed after the test."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with chromium_page(playwright_session, profile) as page:
        yield page


# -- helpers ---------------------------------------------------------------------------
def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls ``condition`` every 0.1 s; fails the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout} s")
        time.sleep(0.1)


def code_cell(source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": os.urandom(4).hex(),
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def write_notebook(lab: JupyterServer, name: str, cells: Sequence[str]) -> Path:
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


_LAB_IDLE = f"""(() => {{
    const status = document.querySelector('.jp-StatusBar-TextItem[title^="Change kernel"]');
    return status !== null && status.textContent === '{KERNEL_IDLE}';
}})()"""
"""JavaScript: true while JupyterLab's status bar says the kernel is idle."""


def _wait_counts_above(
    page: Page,
    floor: int,
    first_cell: int,
    end_cell: int | None,
    timeout: float,
    idle: str = _LAB_IDLE,
) -> None:
    """Waits until the code cells ``[first_cell:end_cell]`` ran (count above ``floor``).

    Fails with the notebook's outputs when a cell raised (the kernel then skips
    the cells after it) or the run ended with a cell left unrun. ``idle`` is a
    JavaScript expression, true while the kernel is idle (JupyterLab's status bar
    by default; Notebook 7 has none).
    """
    page.wait_for_function(
        f"""([floor, first, end]) => {{
            const counts = ({_COUNTS})().slice(first, end ?? undefined);
            if (counts.length > 0 && counts.every(c => c !== null && c > floor)) return true;
            // Stopped early: something ran, nothing is queued or running, kernel idle.
            const prompts = [...document.querySelectorAll(
                '{_NOTEBOOK} .jp-CodeCell .jp-InputArea-prompt')].slice(first, end ?? undefined);
            return counts.some(c => c !== null && c > floor)
                && !prompts.some(p => p.textContent.includes('*'))
                && {idle};
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


# -- Jupyter Notebook 7 and 6 (the ``jupyter_notebook`` fixture) -----------------------
# Notebook 7 is built from JupyterLab's components (the same cells, outputs and
# widget manager), but has no status bar: the notebook's toolbar shows the
# kernel's name and an execution indicator whose data-status is the kernel's.
# Notebook 6 (the classic notebook) is another page altogether: Jupyter.notebook,
# .cell / .output_area, the kernel indicator icon, and widgetsnbextension's manager.
_NB7_KERNEL_NAME = ".jp-NotebookPanel .jp-Toolbar-kernelName"
_NB7_INDICATOR = '[data-jp-item-name="executionProgress"] .jp-Notebook-ExecutionIndicator'
_NB7_IDLE = f"document.querySelector('{_NB7_INDICATOR}[data-status=\"idle\"]') !== null"
_CLASSIC_IDLE = "document.querySelector('#kernel_indicator_icon.kernel_idle_icon') !== null"
_CLASSIC_READY = f"""() => window.Jupyter !== undefined && Jupyter.notebook !== undefined
    && Jupyter.notebook.kernel !== null && Jupyter.notebook.kernel !== undefined
    && Jupyter.notebook.kernel.is_connected()
    && Jupyter.notebook.kernel.widget_manager !== undefined
    && {_CLASSIC_IDLE}"""
_CLASSIC_COUNTS = """() => Jupyter.notebook.get_cells().filter(c => c.cell_type === 'code')
    .map(c => typeof c.input_prompt_number === 'number' ? c.input_prompt_number
        : (c.input_prompt_number === '*' ? '*' : null))"""


def wait_for_notebook_idle(page: Page, server: JupyterNotebook, timeout: float = 60) -> None:
    """Waits until the notebook's kernel is connected and idle (Notebook 7 or 6)."""
    from playwright.sync_api import expect

    if server.classic:
        page.wait_for_function(_CLASSIC_READY, timeout=timeout * 1000)
        return
    expect(page.locator(_NB7_KERNEL_NAME)).to_have_text(
        KERNEL_IDLE.split(" | ")[0], timeout=timeout * 1000
    )
    expect(page.locator(_NB7_INDICATOR)).to_have_attribute(
        "data-status", "idle", timeout=timeout * 1000
    )


def open_in_notebook(page: Page, server: JupyterNotebook, name: str, timeout: float = 60) -> None:
    """Opens ``/notebooks/<name>`` and waits until its kernel is connected and idle.

    In Notebook 6 also until widgetsnbextension's widget manager is on the
    kernel (a widget displayed before that would not render).
    """
    page.goto(server.notebook_url(name))
    cell = ".cell" if server.classic else ".jp-Notebook .jp-Cell"
    page.locator(cell).first.wait_for(timeout=timeout * 1000)
    wait_for_notebook_idle(page, server, timeout)


def notebook_run_all(page: Page, server: JupyterNotebook, timeout: float = 120) -> None:
    """Runs all cells, waits until each ran and the kernel is idle (Notebook 7 or 6).

    Notebook 7: ``notebook:run-all-cells`` through ``window.jupyterapp``;
    Notebook 6: ``Jupyter.notebook.execute_all_cells()``. Fails with the outputs
    when a cell raised or was left unrun.
    """
    if not server.classic:
        floor = max((c for c in _execution_counts(page) if c is not None), default=0)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        _wait_counts_above(page, floor, 0, None, timeout, idle=_NB7_IDLE)
        wait_for_notebook_idle(page, server, timeout)
        return
    before: list[int | str | None] = page.evaluate(_CLASSIC_COUNTS)
    floor = max((c for c in before if isinstance(c, int)), default=0)
    page.evaluate("() => Jupyter.notebook.execute_all_cells()")
    page.wait_for_function(
        f"""(floor) => {{
            const counts = ({_CLASSIC_COUNTS})();
            const ran = counts.filter(c => typeof c === 'number' && c > floor);
            if (counts.length > 0 && ran.length === counts.length) return true;
            return ran.length > 0 && !counts.includes('*') && {_CLASSIC_IDLE};
        }}""",
        arg=floor,
        timeout=timeout * 1000,
    )
    counts: list[int | str | None] = page.evaluate(_CLASSIC_COUNTS)
    failed: list[str] = page.evaluate(
        """() => Jupyter.notebook.get_cells().filter(c => c.cell_type === 'code')
            .flatMap(c => c.output_area.outputs)
            .filter(o => o.output_type === 'error'
                || (o.output_type === 'stream' && o.name === 'stderr'
                    && /^(UsageError:|Traceback|-{5,})/.test(o.text)))
            .map(o => o.output_type === 'error'
                ? `${o.ename}: ${o.evalue}` : o.text)"""
    )
    if failed or not all(isinstance(c, int) and c > floor for c in counts):
        outputs = page.locator(".output_area").all_inner_texts()
        pytest.fail(
            f"the notebook did not run through (execution counts {counts}; errors {failed}); "
            "outputs:\n" + "\n---\n".join(text[-2000:] for text in outputs if text.strip()),
            pytrace=False,
        )
    wait_for_notebook_idle(page, server, timeout)


def screenshot(page: Page, folder: Path, name: str, locator: Locator | None = None) -> Path:
    """Saves a PNG of the page (or of ``locator``) as ``folder/name.png``; prints its path."""
    path = Path(folder) / f"{name}.png"
    if locator is None:
        page.screenshot(path=str(path), full_page=True)
    else:
        locator.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path
