"""Shared fixtures: every test runs with its own cache and a clean environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cache_fixtures import damaged_cache, sleeper  # noqa: F401  (fixtures, used by name)
from tests.gcs_fixtures import (  # noqa: F401  (fixtures, used by name)
    forbidding_endpoint,
    gcs,
    gcs_emulator,
)
from tests.hub_fixtures import (  # noqa: F401  (fixtures, used by name)
    REAL_MODEL_FIXTURES,
    TF_INSTALLED,
    fake_hub_server,
    fake_models_dir,
    hub_server,
    hub_server_factory,
    saved_models_dir,
    tfhub_cache_dir,
)
from tests.jupyter_fixtures import (  # noqa: F401  (fixtures, used by name)
    browser_page,
    jupyterlab,
    playwright_session,
)
from tests.shell_fixtures import shell  # noqa: F401  (fixture, used by name)
from tests.tf_gcs_proxy import tf_gcs, tf_gcs_proxy  # noqa: F401  (fixtures, used by name)

# Variables that change what hubmagic or tensorflow_hub do: none may leak in
# from the machine running the tests.
_ISOLATED = (
    "TFHUB_CACHE_DIR",
    "TFHUB_MODEL_LOAD_FORMAT",
    "TFHUB_DOWNLOAD_PROGRESS",
    "HUBMAGIC_ENDPOINT",
    "HUBMAGIC_OFFLINE",
    "HUBMAGIC_LOCK_TIMEOUT",
    "HUBMAGIC_HEARTBEAT_INTERVAL",
    "HUBMAGIC_MAX_EXTRACT_BYTES",
    "HUBMAGIC_CONNECT_TIMEOUT",
    "HUBMAGIC_READ_TIMEOUT",
    "HUBMAGIC_RETRIES",
    "HUBMAGIC_RETRY_BACKOFF",
    "HUBMAGIC_CONNECTIONS",
    "HUBMAGIC_PARALLEL_THRESHOLD",
    "HUBMAGIC_RANGE_SIZE",
    # Where kagglehub (and hubmagic) look for Kaggle credentials: none leak in.
    "KAGGLE_API_TOKEN",
    "KAGGLE_USERNAME",
    "KAGGLE_KEY",
    "KAGGLE_CONFIG_DIR",
    "KAGGLE_API_ENDPOINT",
    "KAGGLE_KERNEL_RUN_TYPE",
    "KAGGLE_DATA_PROXY_URL",
    "KAGGLE_API_V1_TOKEN",
    # Certificates and proxies (hubmagic.core.tls) as the machine may set them.
    "TFHUB_DISABLE_CERT_VALIDATION",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "no_proxy",
    "all_proxy",
    "HUBMAGIC_STALL_TIMEOUT",
    "STORAGE_EMULATOR_HOST",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuses a test that uses the TensorFlow-built models without the ``tf`` marker.

    So ``-m "not tf"`` never builds them (and never imports TensorFlow): a
    test that only downloads, caches or serves a model uses ``fake_hub_server``
    / ``fake_models_dir`` (tests/fake_models.py) instead.
    """
    wrong = [
        f"{item.nodeid} (uses {', '.join(used)})"
        for item in items
        if item.get_closest_marker("tf") is None
        and (used := [f for f in REAL_MODEL_FIXTURES if f in getattr(item, "fixturenames", ())])
    ]
    if wrong:
        raise pytest.UsageError(
            "These tests use the real SavedModels, built with TensorFlow, but are not marked "
            "@pytest.mark.tf: mark them, or use fake_hub_server / fake_models_dir if they do "
            "not load a model with TensorFlow:\n  " + "\n  ".join(wrong)
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skips a test marked ``tf`` where TensorFlow is not installed (the [test] extra alone)."""
    if item.get_closest_marker("tf") is not None and not TF_INSTALLED:
        pytest.skip("needs TensorFlow and tensorflow_hub: pip install -e '.[tf]'")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fails a run that selected no ``tf`` test but imported TensorFlow all the same."""
    items = getattr(session, "items", [])
    if not items or any(item.get_closest_marker("tf") for item in items):
        return
    if "tensorflow" in sys.modules:
        writer = session.config.get_terminal_writer()
        writer.line()
        writer.sep(
            "!",
            "no test marked tf ran, yet TensorFlow was imported in the pytest process "
            "(`python -X importtime -m pytest ...` shows by whom)",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in _ISOLATED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    # The default cache is <tempdir>/tfhub_modules: keep it inside the test.
    monkeypatch.setenv("TMPDIR", str(tmp_path / "systmp"))
    (tmp_path / "systmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    yield


@pytest.fixture
def no_leftover_listeners() -> Iterator[None]:
    """Puts back hubmagic's progress listeners as they were before the test.

    A panel left open by a failing test must not watch the next tests' downloads.
    For the widget tests: ``pytest.mark.usefixtures("no_leftover_listeners")``.
    """
    from hubmagic.core import progress

    before = list(progress._listeners)
    yield
    progress._listeners[:] = before


@pytest.fixture
def cache(tmp_path: Path) -> str:
    """An empty cache folder path (not yet created)."""
    return os.path.join(tmp_path, "cache")
