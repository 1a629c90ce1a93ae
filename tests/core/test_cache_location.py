"""Every cache value tensorflow_hub accepts: paths, ``file://`` URLs, ``gs://``; others refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hubmagic
from hubmagic.core import config
from hubmagic.core.cache import require_cache_folder
from hubmagic.core.errors import InvalidSettingError, UnsupportedCacheError
from hubmagic.core.handle import cache_key
from hubmagic.core.stores import open_store
from hubmagic.plan.cache_choice import choose_cache
from hubmagic.plan.runtime import Runtime, Settings
from hubmagic.server import HubServer


@pytest.mark.parametrize(
    ("value", "location"),
    [
        ("/data/tfhub", "/data/tfhub"),
        ("relative/cache", "relative/cache"),
        ("~/tfhub", "~/tfhub"),
        ("gs://bucket/prefix", "gs://bucket/prefix"),
        ("file:///data/tfhub", "/data/tfhub"),
        ("file:///data/tfhub/", "/data/tfhub/"),
        ("file://localhost/data/tfhub", "/data/tfhub"),
        ("file://LOCALHOST/data/tfhub", "/data/tfhub"),
        ("file:///", "/"),
        # Not decoded: tensorflow's local file system takes the path literally, and
        # tensorflow_hub without hubmagic must name the same folder.
        ("file:///data/my%20models", "/data/my%20models"),
        ("file:///C:/tfhub", "/C:/tfhub"),  # a POSIX path with a colon in it
        ("C:\\tfhub", "C:\\tfhub"),
    ],
)
def test_cache_location_reads_paths_and_file_urls(value: str, location: str) -> None:
    assert config.cache_location(value, windows=False) == location


def test_a_windows_file_url_is_its_drive_path() -> None:
    assert config.cache_location("file:///C:/tfhub", windows=True) == "C:/tfhub"
    assert config.cache_location("file:///c:/a/b", windows=True) == "c:/a/b"
    assert config.cache_location("file:///tmp/x", windows=True) == "/tmp/x"


@pytest.mark.parametrize("scheme", ["s3", "hdfs", "ram", "az", "FILE", "http"])
def test_other_schemes_are_refused_in_one_line_with_what_to_do(scheme: str) -> None:
    value = f"{scheme}://bucket/x"
    with pytest.raises(UnsupportedCacheError) as caught:
        config.cache_location(value, source="TFHUB_CACHE_DIR")
    error = caught.value
    assert isinstance(error, InvalidSettingError) and isinstance(error, ValueError)
    assert error.message == (
        f"TFHUB_CACHE_DIR={value!r}: hubmagic caches on local folders and gs:// only, "
        f"not on {scheme}://."
    )
    assert error.fix is not None
    fix = error.fix.render("cli")
    assert "file:///abs/path" in fix and "gs://bucket/prefix" in fix and "unset it" in fix
    assert f"plain hub.load keeps using {scheme}://" in fix
    assert "\n" not in error.message + fix


@pytest.mark.parametrize(
    "value", ["file://host/data", "file://", "file://localhost", "file:relative", "file:/abs"]
)
def test_file_urls_that_name_no_local_folder_are_refused(value: str) -> None:
    with pytest.raises(UnsupportedCacheError, match=r"is not a local folder: a file:// URL"):
        config.cache_location(value)


def test_cache_dir_reads_a_file_url_and_shows_an_unsupported_one_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", f"file://{tmp_path}/cache")
    assert config.cache_dir() == config.check_cache_dir() == f"{tmp_path}/cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", "s3://bucket/x")
    assert config.cache_dir() == "s3://bucket/x"  # for %hub_info to show
    with pytest.raises(UnsupportedCacheError, match=r"^TFHUB_CACHE_DIR='s3://bucket/x': "):
        config.check_cache_dir()
    monkeypatch.delenv("TFHUB_CACHE_DIR")
    assert config.check_cache_dir() == config.default_cache_dir()


def test_open_store_takes_a_file_url_as_its_folder(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/cache")
    assert store.root == f"{tmp_path}/cache"
    with pytest.raises(UnsupportedCacheError, match=r"^cache='s3://b/x': hubmagic caches"):
        open_store("s3://b/x")


def test_resolve_with_a_file_url_cache_fills_the_folder_and_no_file_colon_folder(
    fake_hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFHUB_CACHE_DIR", f"file://{tmp_path}/cache")
    handle = f"{fake_hub_server.url}/google/tiny/1"
    path = hubmagic.resolve(handle)
    assert path == os.path.join(tmp_path, "cache", cache_key(handle))
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert not (tmp_path / "file:").exists()

    info = hubmagic.scan_cache()
    assert info.cache_dir == f"{tmp_path}/cache"
    assert [e.handle for e in info.entries] == [handle]
    mark = fake_hub_server.mark()
    again = hubmagic.resolve_model(handle, cache_dir=f"file://{tmp_path}/cache")
    assert (again.path, again.source) == (path, "cache")
    assert fake_hub_server.requests_since(mark) == ()
    require_cache_folder(f"file://{tmp_path}/cache")  # exists: no error
    assert not (tmp_path / "file:").exists()


def test_resolve_on_an_s3_cache_says_it_in_one_line(
    fake_hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFHUB_CACHE_DIR", "s3://bucket/x")
    mark = fake_hub_server.mark()
    with pytest.raises(UnsupportedCacheError) as caught:
        hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/1")
    assert caught.value.message == (
        "TFHUB_CACHE_DIR='s3://bucket/x': hubmagic caches on local folders and gs:// only, "
        "not on s3://."
    )
    assert fake_hub_server.requests_since(mark) == ()
    assert list(tmp_path.iterdir()) == [tmp_path / "systmp"]  # nothing made here
    with pytest.raises(UnsupportedCacheError):
        hubmagic.scan_cache()
    with pytest.raises(UnsupportedCacheError, match=r"^cache='hdfs://nn/x'"):
        require_cache_folder("hdfs://nn/x")


def test_setup_takes_a_file_url_cache_as_its_folder(tmp_path: Path) -> None:
    runtime = Runtime(home=str(tmp_path / "home"))
    reasons: list[str] = []
    folder = choose_cache(runtime, "local", f"file://{tmp_path}/given", reasons, [])
    assert folder == f"{tmp_path}/given"
    kept = Runtime(home=str(tmp_path), settings=Settings(cache_dir=f"file://{tmp_path}/env"))
    assert choose_cache(kept, "local", None, [], []) == f"{tmp_path}/env"
    with pytest.raises(UnsupportedCacheError, match=r"^cache='s3://b/c'"):
        choose_cache(runtime, "local", "s3://b/c", [], [])
    s3 = Runtime(home=str(tmp_path), settings=Settings(cache_dir="s3://b/c"))
    with pytest.raises(UnsupportedCacheError, match=r"^TFHUB_CACHE_DIR='s3://b/c'"):
        choose_cache(s3, "local", None, [], [])
