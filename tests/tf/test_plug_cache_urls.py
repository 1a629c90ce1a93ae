"""Plain ``hub.load`` through the plug on the caches tensorflow_hub accepts: file://, and s3://."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.core.handle import cache_key
from hubmagic.server import HubServer
from hubmagic.tf import plug

pytestmark = pytest.mark.tf


@pytest.fixture
def hub() -> Iterator[Any]:
    """tensorflow_hub with hubmagic plugged in (as after ``%load_ext hubmagic``)."""
    hub = pytest.importorskip("tensorflow_hub")
    plug.install()
    yield hub
    plug.uninstall()


def _run(model: Any) -> list[float]:
    import tensorflow as tf

    return [float(v) for v in model(tf.constant([1.0, 2.0])).numpy()]


def test_a_file_url_cache_is_filled_and_read_by_hubmagic_and_hub_load_alike(
    hub: Any, hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFHUB_CACHE_DIR", f"file://{tmp_path}/cache")
    by_plug = f"{hub_server.url}/google/tiny/1"
    by_api = f"{hub_server.url}/google/tiny/2"

    assert plug.RESOLVER.is_supported(by_plug)
    mark = hub_server.mark()
    path = hub.resolve(by_plug)  # through the plug: hubmagic's download
    assert path == os.path.join(tmp_path, "cache", cache_key(by_plug))
    assert len(hub_server.requests_since(mark)) == 1
    hubmagic.resolve(by_api)
    assert not (tmp_path / "file:").exists()

    # Each reads what the other filled, with no request.
    mark = hub_server.mark()
    assert hubmagic.resolve_model(by_plug).source == "cache"
    assert _run(hub.load(by_api)) == [3.0, 6.0]
    assert _run(hub.load(by_plug)) == [3.0, 5.0]
    assert hub_server.requests_since(mark) == ()
    assert {e.handle for e in hubmagic.scan_cache().entries} == {by_plug, by_api}

    # tensorflow_hub alone (the plug off) finds the same entries in the same folder.
    plug.uninstall()
    assert hub.resolve(by_api) == "file://" + os.path.join(tmp_path, "cache", cache_key(by_api))
    assert hub_server.requests_since(mark) == ()
    assert not (tmp_path / "file:").exists()


def test_on_an_s3_cache_the_plug_declines_and_tensorflow_hub_answers(
    hub: Any, hub_server: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", "s3://bucket/x")
    handle = f"{hub_server.url}/google/tiny/1"
    assert not plug.RESOLVER.is_supported(handle)
    mark = hub_server.mark()
    with pytest.raises(Exception) as caught:
        hub.resolve(handle)
    # tensorflow's own file system error, not hubmagic's: hubmagic stayed out of it.
    assert not isinstance(caught.value, hubmagic.HubmagicError)
    assert "s3" in str(caught.value)
    assert hub_server.requests_since(mark) == ()  # tensorflow_hub fails before downloading

    monkeypatch.setenv("TFHUB_CACHE_DIR", "file://otherhost/x")
    assert not plug.RESOLVER.is_supported(handle)
    monkeypatch.setenv("TFHUB_CACHE_DIR", "gs://bucket/x")
    assert plug.RESOLVER.is_supported(handle)
