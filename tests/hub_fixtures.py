"""Pytest plugin: SavedModels, real or fake, and a real hub server on 127.0.0.1.

Load it with ``pytest_plugins = ["tests.hub_fixtures"]`` in a conftest, or
``pytest -p tests.hub_fixtures``. Importing this module does not import
TensorFlow; the model builders (from :mod:`tools.samples`) import it when
called, and the real-model fixtures skip the test when TensorFlow is not
installed. Tests that use those must be marked ``tf`` (tests/conftest.py
refuses them otherwise); every other test uses the fake ones.

Fixtures:
    saved_models_dir (session): a folder of real SavedModels built with
        TensorFlow: ``google/tiny/1`` (``x * 2.0 + 1.0``), ``google/tiny/2``
        (``x * 3.0 + 0.0``) and ``google/big/1`` (a >= 50 MB variable;
        ``x * mean(v)``). Only for tests that load a model with TensorFlow.
    hub_server (session): a started :class:`hubmagic.server.HubServer` over it.
    fake_models_dir (session): the same three models, SavedModel-shaped but
        written without TensorFlow (:mod:`tests.fake_models`), in a fraction of
        a second; for every test that does not load a model.
    fake_hub_server (session): a started HubServer over ``fake_models_dir``.
    hub_server_factory: ``make(root, **kwargs) -> HubServer``, started and
        stopped at the end of the test.
    tfhub_cache_dir: a fresh ``TFHUB_CACHE_DIR`` for the test
        (``TFHUB_MODEL_LOAD_FORMAT`` unset).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubmagic.server import HubServer
from tests.fake_models import BIG_MB, build_fake_models
from tools.samples import BIG_1, TINY_1, TINY_2, build_big, build_tiny

__all__ = [
    "BIG_1",
    "BIG_MB",
    "REAL_MODEL_FIXTURES",
    "TF_INSTALLED",
    "TINY_1",
    "TINY_2",
    "build_big",
    "build_tiny",
]

TF_INSTALLED = all(
    importlib.util.find_spec(name) is not None for name in ("tensorflow", "tensorflow_hub")
)
"""Whether TensorFlow and tensorflow_hub are installed (found without importing them)."""

REAL_MODEL_FIXTURES = ("saved_models_dir", "hub_server")
"""The fixtures built with TensorFlow: a test using one must be marked ``tf``."""


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


@pytest.fixture(scope="session")
def fake_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The models of ``saved_models_dir``, SavedModel-shaped, without TensorFlow."""
    return build_fake_models(tmp_path_factory.mktemp("fake_models"), big_mb=BIG_MB)


@pytest.fixture(scope="session")
def fake_hub_server(fake_models_dir: Path) -> Iterator[HubServer]:
    """A started HubServer over ``fake_models_dir`` (no gcs_prefix)."""
    server = HubServer(fake_models_dir).start()
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
