"""Shared fixtures: every test runs with its own cache and a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gcs_fixtures import gcs, gcs_emulator  # noqa: F401  (fixtures, used by name)
from tests.hub_fixtures import (  # noqa: F401  (fixtures, used by name)
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
    "HUBMAGIC_MAX_EXTRACT_BYTES",
    "HUBMAGIC_CONNECT_TIMEOUT",
    "HUBMAGIC_READ_TIMEOUT",
    "HUBMAGIC_RETRIES",
    "HUBMAGIC_RETRY_BACKOFF",
    "STORAGE_EMULATOR_HOST",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


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
def cache(tmp_path: Path) -> str:
    """An empty cache folder path (not yet created)."""
    return os.path.join(tmp_path, "cache")
