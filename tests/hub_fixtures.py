"""Pytest plugin: real SavedModels and a real hub server on 127.0.0.1.

Load it with ``pytest_plugins = ["tests.hub_fixtures"]`` in a conftest, or
``pytest -p tests.hub_fixtures``. Importing this module does not import
TensorFlow; the model builders (from :mod:`tools.samples`) import it when
called, and the model fixtures skip the test when TensorFlow is not installed.

Fixtures:
    saved_models_dir (session): a folder holding ``google/tiny/1``
        (``x * 2.0 + 1.0``), ``google/tiny/2`` (``x * 3.0 + 0.0``) and
        ``google/big/1`` (a >= 50 MB variable; ``x * mean(v)``).
    hub_server (session): a started :class:`hubmagic.server.HubServer` over it.
    hub_server_factory: ``make(root, **kwargs) -> HubServer``, started and
        stopped at the end of the test.
    tfhub_cache_dir: a fresh ``TFHUB_CACHE_DIR`` for the test
        (``TFHUB_MODEL_LOAD_FORMAT`` unset).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubmagic.server import HubServer
from tools.samples import BIG_1, TINY_1, TINY_2, build_big, build_tiny

__all__ = ["BIG_1", "BIG_MB", "TINY_1", "TINY_2", "build_big", "build_tiny"]

BIG_MB = 54
"""Size of the variable of ``google/big/1`` in MB (10**6 bytes): 13.5M float32."""


@pytest.fixture(scope="session")
def saved_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real SavedModels built with TensorFlow (see the module doc)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    pytest.importorskip("tensorflow")
    root = tmp_path_factory.mktemp("hub_models")
    build_tiny(root / TINY_1, 2.0, 1.0)
    build_tiny(root / TINY_2, 3.0, 0.0)
    build_big(root / BIG_1, BIG_MB)
    return root


@pytest.fixture(scope="session")
def hub_server(saved_models_dir: Path) -> Iterator[HubServer]:
    """A started HubServer over ``saved_models_dir`` (no gcs_prefix)."""
    server = HubServer(saved_models_dir).start()
    yield server
    server.stop()


@pytest.fixture
def hub_server_factory() -> Iterator[Callable[..., HubServer]]:
    """Returns ``make(root, **kwargs)``: a started HubServer, stopped after the test."""
    servers: list[HubServer] = []

    def make(root: str | os.PathLike[str], **kwargs: Any) -> HubServer:
        server = HubServer(root, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def tfhub_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Points ``TFHUB_CACHE_DIR`` at a fresh folder and unsets TFHUB_MODEL_LOAD_FORMAT."""
    cache = tmp_path / "tfhub_cache"
    cache.mkdir()
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    monkeypatch.delenv("TFHUB_MODEL_LOAD_FORMAT", raising=False)
    return cache
