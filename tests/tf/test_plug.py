"""Both directions of cache compatibility with tensorflow_hub itself."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.server import HubServer

pytestmark = pytest.mark.tf


def _hub() -> Any:
    hub = pytest.importorskip("tensorflow_hub")
    return hub


def _run(model: Any) -> list[float]:
    import tensorflow as tf

    return [float(v) for v in model(tf.constant([1.0, 2.0])).numpy()]


def test_cache_filled_by_hubmagic_is_loaded_by_hub_load_with_the_server_gone(
    hub_server_factory: Callable[..., HubServer],
    saved_models_dir: Path,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = _hub()
    server = hub_server_factory(saved_models_dir)
    handle = f"{server.url}/google/tiny/1"
    path = hubmagic.resolve(handle, cache_dir=cache)
    server.stop()

    monkeypatch.setenv("TFHUB_CACHE_DIR", cache)
    assert hub.resolve(handle) == path
    assert _run(hub.load(handle)) == [3.0, 5.0]


def test_cache_filled_by_hub_load_is_scanned_and_reused_without_a_request(
    hub_server: HubServer, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _hub()
    handle = f"{hub_server.url}/google/tiny/2"
    monkeypatch.setenv("TFHUB_CACHE_DIR", cache)
    assert _run(hub.load(handle)) == [3.0, 6.0]

    info = hubmagic.scan_cache(cache)
    (entry,) = info.entries
    assert entry.handle == handle
    assert entry.status is hubmagic.Status.COMPLETE
    assert entry.size > 0

    mark = hub_server.mark()
    result = hubmagic.resolve_model(handle)
    assert result.source == "cache"
    assert result.path == os.path.join(cache, entry.key)
    assert hub_server.requests_since(mark) == ()
