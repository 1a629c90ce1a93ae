"""hubmagic.resolve against the real hub server on 127.0.0.1."""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

import hubmagic
from hubmagic.core.errors import (
    InvalidSettingError,
    ModelNotFoundError,
    NotASavedModelError,
    OfflineError,
    UncompressedNotSupportedError,
)
from hubmagic.core.handle import cache_key
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.server import HubServer


def files_of(folder: str | Path) -> dict[str, bytes]:
    root = Path(folder)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def cache_names(cache: str) -> list[str]:
    return sorted(os.listdir(cache)) if os.path.isdir(cache) else []


def test_compressed_download_lands_in_tensorflow_hub_layout(
    fake_hub_server: HubServer, fake_models_dir: Path, cache: str
) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    mark = fake_hub_server.mark()
    result = hubmagic.resolve_model(handle, cache_dir=cache)

    key = cache_key(handle)
    assert result.path == os.path.join(cache, key)
    assert result.source == "download" and not result.from_cache
    assert result.downloaded_bytes > 0
    assert files_of(result.path) == files_of(fake_models_dir / "google/tiny/1")
    # Nothing left but the folder and its descriptor: no lock, no tmp folder.
    assert cache_names(cache) == [key, f"{key}.descriptor.txt"]
    descriptor = Path(cache, f"{key}.descriptor.txt").read_text()
    assert re.fullmatch(
        rf"Module: {re.escape(handle)}\nDownload Time: \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\n"
        rf"Downloader Hostname: .+ \(PID:{os.getpid()}\)",
        descriptor,
    )
    (request,) = fake_hub_server.requests_since(mark)
    assert request.path == "/google/tiny/1"
    assert request.query == {"tf-hub-format": "compressed"}


def test_cache_hit_makes_no_request(fake_hub_server: HubServer, cache: str) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    first = hubmagic.resolve(handle, cache_dir=cache)
    mark = fake_hub_server.mark()
    events: list[ProgressEvent] = []
    result = hubmagic.resolve_model(handle, cache_dir=cache, progress=events.append)
    assert result.path == first
    assert result.source == "cache"
    assert fake_hub_server.requests_since(mark) == ()
    assert [e.phase for e in events] == [Phase.DONE]
    assert events[0].from_cache


def test_defaults_come_from_tfhub_cache_dir(
    fake_hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "from-env"))
    path = hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/1")
    assert Path(path).parent == tmp_path / "from-env"


def test_default_cache_is_tensorflow_hubs_temp_folder(fake_hub_server: HubServer) -> None:
    import tempfile

    path = hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/1")
    assert Path(path).parent == Path(tempfile.gettempdir(), "tfhub_modules")


@pytest.mark.parametrize(
    ("handle", "served_path"),
    [
        ("https://tfhub.dev/google/tiny/2", "/google/tiny/2"),
        (
            "https://www.kaggle.com/models/google/tiny/frameworks/tensorFlow2/variations/tiny/"
            "versions/2",
            "/models/google/tiny/frameworks/tensorFlow2/variations/tiny/versions/2",
        ),
        (
            "https://www.kaggle.com/api/v1/models/google/tiny/tensorFlow2/tiny/2/download",
            "/_blobs/google/tiny/2.tar.gz",  # after the redirect
        ),
        ("https://hub.tensorflow.google.cn/google/tiny/2", "/tfhub-modules/google/tiny/2.tar.gz"),
    ],
)
def test_endpoint_mirror_serves_hub_handles_under_their_canonical_key(
    fake_hub_server: HubServer,
    fake_models_dir: Path,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
    handle: str,
    served_path: str,
) -> None:
    monkeypatch.setenv("HUBMAGIC_ENDPOINT", fake_hub_server.url)
    mark = fake_hub_server.mark()
    path = hubmagic.resolve(handle, cache_dir=cache)
    assert os.path.basename(path) == cache_key(handle)
    assert files_of(path) == files_of(fake_models_dir / "google/tiny/2")
    assert served_path in [r.path for r in fake_hub_server.requests_since(mark)]


def test_progress_events_of_a_download(fake_hub_server: HubServer, cache: str) -> None:
    events: list[ProgressEvent] = []
    hubmagic.resolve(f"{fake_hub_server.url}/google/big/1", cache_dir=cache, progress=events.append)
    phases = [e.phase for e in events]
    assert phases[:2] == [Phase.CONNECTING, Phase.STARTED]
    assert phases[-2:] == [Phase.EXTRACTING, Phase.DONE]
    assert set(phases[2:-2]) <= {Phase.DOWNLOADING}
    done = events[-1]
    assert done.path is not None and not done.from_cache
    counts = [e.bytes_done for e in events]
    assert counts == sorted(counts)
    assert done.bytes_done > 40_000_000  # random floats do not compress
    elapsed = [e.elapsed for e in events]
    assert elapsed == sorted(elapsed)


def test_uncompressed_returns_the_gs_path_and_writes_no_cache(
    hub_server_factory: Callable[..., HubServer], fake_models_dir: Path, cache: str
) -> None:
    server = hub_server_factory(fake_models_dir, gcs_prefix="gs://team-models/hub")
    path = hubmagic.resolve(
        f"{server.url}/google/tiny/1", cache_dir=cache, load_format="UNCOMPRESSED"
    )
    assert path == "gs://team-models/hub/google/tiny/1"
    assert not os.path.exists(cache)
    (request,) = server.requests
    assert request.query == {"tf-hub-format": "uncompressed"}


def test_uncompressed_from_env_like_tensorflow_hub(
    hub_server_factory: Callable[..., HubServer],
    fake_models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = hub_server_factory(fake_models_dir, gcs_prefix="gs://team-models/hub")
    monkeypatch.setenv("TFHUB_MODEL_LOAD_FORMAT", "UNCOMPRESSED")
    assert hubmagic.resolve(f"{server.url}/google/tiny/2") == "gs://team-models/hub/google/tiny/2"


def test_uncompressed_refused_by_server_is_a_clear_error(fake_hub_server: HubServer) -> None:
    with pytest.raises(UncompressedNotSupportedError, match="does not offer uncompressed"):
        hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/1", load_format="UNCOMPRESSED")


def test_bad_load_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFHUB_MODEL_LOAD_FORMAT", "uncompressed")
    with pytest.raises(InvalidSettingError, match="COMPRESSED, UNCOMPRESSED, AUTO"):
        hubmagic.resolve("https://tfhub.dev/google/spice/2")


def test_local_folder_is_used_in_place(fake_models_dir: Path, cache: str) -> None:
    folder = str(fake_models_dir / "google/tiny/1")
    result = hubmagic.resolve_model(folder, cache_dir=cache)
    assert result.path == folder and result.source == "folder"
    assert not os.path.exists(cache)


def test_folder_without_saved_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model/variables").mkdir(parents=True)
    (tmp_path / "model/variables/variables.index").write_bytes(b"x")
    with pytest.raises(NotASavedModelError, match=r"has no saved_model\.pb"):
        hubmagic.resolve(str(tmp_path / "model"))


def test_missing_model_is_404_and_leaves_no_trace(fake_hub_server: HubServer, cache: str) -> None:
    with pytest.raises(ModelNotFoundError, match="HTTP 404"):
        hubmagic.resolve(f"{fake_hub_server.url}/google/nothing/1", cache_dir=cache)
    assert cache_names(cache) == []


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_archive_without_saved_model_is_refused_and_leaves_no_trace(
    hub_server_factory: Callable[..., HubServer], tmp_path: Path, cache: str
) -> None:
    root = tmp_path / "root"
    (root / "acme/readme").mkdir(parents=True)
    (root / "acme/readme/1.tar.gz").write_bytes(_tar_gz({"README.md": b"hello"}))
    server = hub_server_factory(root)
    with pytest.raises(NotASavedModelError, match=r"no saved_model\.pb"):
        hubmagic.resolve(f"{server.url}/acme/readme/1", cache_dir=cache)
    assert cache_names(cache) == []


def test_offline_miss_fails_fast_without_network(fake_hub_server: HubServer, cache: str) -> None:
    mark = fake_hub_server.mark()
    with pytest.raises(OfflineError, match="not in the cache"):
        hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/1", cache_dir=cache, offline=True)
    assert fake_hub_server.requests_since(mark) == ()


def test_offline_env_serves_hits(
    fake_hub_server: HubServer, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    path = hubmagic.resolve(handle, cache_dir=cache)
    monkeypatch.setenv("HUBMAGIC_OFFLINE", "1")
    mark = fake_hub_server.mark()
    assert hubmagic.resolve(handle, cache_dir=cache) == path
    assert fake_hub_server.requests_since(mark) == ()
    with pytest.raises(OfflineError):
        hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/2", cache_dir=cache)


def _damage_empty(folder: Path) -> None:
    for p in sorted(folder.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()


def _damage_no_graph(folder: Path) -> None:
    (folder / "saved_model.pb").unlink()


def _damage_no_shard(folder: Path) -> None:
    next(folder.glob("variables/variables.data-*")).unlink()


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_damage_empty, "is empty"),
        (_damage_no_graph, "has no saved_model.pb"),
        (_damage_no_shard, "no variables data file"),
    ],
)
def test_damaged_entry_is_downloaded_again_with_a_warning(
    fake_hub_server: HubServer,
    fake_models_dir: Path,
    cache: str,
    damage: Callable[[Path], None],
    problem: str,
) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    path = hubmagic.resolve(handle, cache_dir=cache)
    damage(Path(path))
    mark = fake_hub_server.mark()
    with pytest.warns(hubmagic.CacheRepairWarning, match=problem):
        result = hubmagic.resolve_model(handle, cache_dir=cache)
    assert result.path == path
    assert result.repaired is not None and problem in result.repaired
    assert files_of(path) == files_of(fake_models_dir / "google/tiny/1")
    assert len(fake_hub_server.requests_since(mark)) == 1
    assert not [n for n in cache_names(cache) if n.endswith((".lock", ".tmp"))]


def test_offline_with_damaged_entry_says_so(fake_hub_server: HubServer, cache: str) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    path = hubmagic.resolve(handle, cache_dir=cache)
    _damage_no_graph(Path(path))
    with pytest.raises(OfflineError, match="is damaged in"):
        hubmagic.resolve(handle, cache_dir=cache, offline=True)


def test_callback_that_raises_aborts_and_cleans_up(fake_hub_server: HubServer, cache: str) -> None:
    class Cancel(Exception):
        pass

    def cancel_on_first_bytes(event: ProgressEvent) -> None:
        if event.phase is Phase.DOWNLOADING:
            raise Cancel

    with pytest.raises(Cancel):
        hubmagic.resolve(
            f"{fake_hub_server.url}/google/big/1", cache_dir=cache, progress=cancel_on_first_bytes
        )
    assert cache_names(cache) == []


def test_listeners_see_every_resolve_and_cannot_break_it(
    fake_hub_server: HubServer, cache: str
) -> None:
    from hubmagic.core.progress import add_listener, remove_listener

    seen: list[ProgressEvent] = []

    def broken(event: ProgressEvent) -> None:
        raise RuntimeError("a watcher's bug")

    add_listener(seen.append)
    add_listener(broken)
    try:
        path = hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/1", cache_dir=cache)
        with pytest.raises(ModelNotFoundError):
            hubmagic.resolve(f"{fake_hub_server.url}/google/none/1", cache_dir=cache)
    finally:
        remove_listener(seen.append)
        remove_listener(broken)
    assert (Path(path) / "saved_model.pb").exists()
    phases = [(e.handle.rsplit("/", 2)[-2], e.phase) for e in seen]
    assert ("tiny", Phase.DONE) in phases and ("none", Phase.FAILED) in phases
    hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/2", cache_dir=cache)
    assert len(seen) == len(phases)  # removed listeners hear nothing more


def test_overlapping_downloads_leave_the_switch_interval_as_it_was() -> None:
    # Two resolves in threads: the first to start and the first to end are the
    # same one (the order that leaked the shorter interval for good).
    import sys
    import threading

    from hubmagic.core.download import _quick_thread_switches

    before = sys.getswitchinterval()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    during: list[float] = []

    def first() -> None:
        with _quick_thread_switches():
            a_in.set()
            assert b_in.wait(10)
        a_out.set()

    def second() -> None:
        assert a_in.wait(10)
        with _quick_thread_switches():
            b_in.set()
            assert a_out.wait(10)
            during.append(sys.getswitchinterval())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert during == [min(before, 0.0005)]  # still short while one download runs
    assert sys.getswitchinterval() == before
