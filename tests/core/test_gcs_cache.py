"""A gs:// cache in tensorflow_hub's layout, on a real GCS emulator (fake-gcs-server).

TensorFlow's own gs:// file system reaches the emulator through
tests/tf_gcs_proxy.py's ``run_tf`` (a fresh interpreter per check).
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.core.errors import GcsError, HubmagicError
from hubmagic.core.handle import cache_key
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.server import HubServer
from tests.barrier import StartBarrier
from tests.gcs_fixtures import _binary, _free_port, upload_folder
from tests.resolver_child import start_child
from tests.tf_gcs_proxy import TfGcsProxy, run_tf

TINY = "google/tiny/1"
BIG = "google/big/1"


@pytest.fixture
def bucket(gcs: Any) -> str:
    name = f"cache-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


def _names(gcs: Any, bucket: str, prefix: str = "") -> list[str]:
    return sorted(blob.name for blob in gcs.list_blobs(bucket, prefix=prefix))


def _leftovers(gcs: Any, bucket: str, prefix: str = "cache/") -> list[str]:
    return [n for n in _names(gcs, bucket, prefix) if n.endswith(".lock") or ".tmp/" in n]


def _run_json(proxy: TfGcsProxy, code: str, **env: str) -> dict[str, Any]:
    done = run_tf(code, {**proxy.env, **env})
    tail = f"\n--- stderr:\n{done.stderr[-4000:]}\n--- proxy log:\n{proxy.log_text()[-3000:]}"
    assert done.returncode == 0, f"exit {done.returncode}{tail}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- hubmagic <-> tensorflow_hub ----------------------------------------------


@pytest.mark.tf
def test_resolve_fills_a_gs_cache_that_tensorflow_loads_offline(
    gcs: Any, bucket: str, hub_server: HubServer, tf_gcs_proxy: TfGcsProxy
) -> None:
    cache = f"gs://{bucket}/cache"
    handle = f"{hub_server.url}/{TINY}"
    key = cache_key(handle)
    events: list[ProgressEvent] = []
    result = hubmagic.resolve_model(handle, cache_dir=cache, progress=events.append)
    assert result.path == f"{cache}/{key}"
    assert result.source == "download"
    names = _names(gcs, bucket)
    assert f"cache/{key}/saved_model.pb" in names
    assert f"cache/{key}/variables/variables.index" in names
    assert f"cache/{key}.descriptor.txt" in names
    assert _leftovers(gcs, bucket) == []
    assert any(e.phase is Phase.EXTRACTING and "uploading" in e.message for e in events)
    assert list(Path(tempfile.gettempdir()).glob("hubmagic-*")) == []  # local staging gone
    descriptor = gcs.bucket(bucket).blob(f"cache/{key}.descriptor.txt").download_as_text()
    assert descriptor.startswith(f"Module: {handle}\n")

    mark = hub_server.mark()
    hit = hubmagic.resolve_model(handle, cache_dir=cache)
    assert (hit.source, hit.path) == ("cache", result.path)
    out = _run_json(
        tf_gcs_proxy,
        f"""
import json
import tensorflow as tf
import tensorflow_hub as hub

x = tf.constant([1.0, 2.0])
out = {{}}
out["hub"] = hub.load({handle!r})(x).numpy().tolist()
out["resolved"] = hub.resolve({handle!r})
out["saved_model"] = tf.saved_model.load({result.path!r})(x).numpy().tolist()
print(json.dumps(out))
""",
        TFHUB_CACHE_DIR=cache,
    )
    assert out == {"hub": [3.0, 5.0], "resolved": result.path, "saved_model": [3.0, 5.0]}
    assert hub_server.requests_since(mark) == ()


@pytest.mark.tf
def test_a_gs_cache_filled_by_hub_load_is_scanned_and_reused(
    gcs: Any, bucket: str, hub_server: HubServer, tf_gcs_proxy: TfGcsProxy
) -> None:
    cache = f"gs://{bucket}/tfhub"
    handle = f"{hub_server.url}/{TINY}?hub-load-fill=1"
    out = _run_json(
        tf_gcs_proxy,
        f"""
import json
import tensorflow as tf
import tensorflow_hub as hub

print(json.dumps({{"values": hub.load({handle!r})(tf.constant([1.0, 2.0])).numpy().tolist()}}))
""",
        TFHUB_CACHE_DIR=cache,
    )
    assert out["values"] == [3.0, 5.0]

    info = hubmagic.scan_cache(cache)
    assert [(e.handle, e.status) for e in info.entries] == [(handle, hubmagic.Status.COMPLETE)]
    assert info.entries[0].path == f"{cache}/{cache_key(handle)}"
    assert info.entries[0].model_size > 0
    mark = hub_server.mark()
    result = hubmagic.resolve_model(handle, cache_dir=cache)
    assert (result.source, result.path) == ("cache", info.entries[0].path)
    assert hub_server.requests_since(mark) == ()


# -- concurrency ----------------------------------------------------------------


@pytest.mark.slow
def test_eight_processes_fill_one_gs_entry_with_one_download(
    gcs: Any, bucket: str, fake_hub_server: HubServer, tmp_path: Path
) -> None:
    cache = f"gs://{bucket}/cache"
    handle = f"{fake_hub_server.url}/{BIG}"
    barrier = StartBarrier(tmp_path / "barrier")
    mark = fake_hub_server.mark()
    # STORAGE_EMULATOR_HOST is in os.environ (the gcs fixture): the children inherit it.
    children = [start_child(handle, cache, barrier, delay=0.02) for _ in range(8)]
    barrier.release(children)  # all have imported hubmagic: they race for the lock
    outputs = [child.communicate(timeout=180) for child in children]
    assert [child.returncode for child in children] == [0] * 8, [err for _, err in outputs]

    paths = {out.split()[0] for out, _ in outputs}
    sources = sorted(out.split()[1] for out, _ in outputs)
    assert paths == {f"{cache}/{cache_key(handle)}"}
    assert sources.count("download") == 1, sources
    downloads = [r for r in fake_hub_server.requests_since(mark) if r.path == f"/{BIG}"]
    assert len(downloads) == 1
    assert _leftovers(gcs, bucket) == []
    info = hubmagic.scan_cache(cache)
    assert [e.status for e in info.entries] == [hubmagic.Status.COMPLETE]


# -- the emulator going away mid-upload ------------------------------------------


class _Emulator:
    """A private fake-gcs-server whose objects live in a folder (they survive restarts)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(str(_binary()), "-scheme", "http", "-backend", "filesystem"),
                *("-filesystem-root", str(self.root), "-host", "127.0.0.1"),
                *("-port", str(self.port), "-external-url", self.url, "-log-level", "error"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Emulator]:
    emulator = _Emulator(tmp_path / "gcs-root")
    emulator.root.mkdir()
    emulator.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    yield emulator
    emulator.stop()


def _client() -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


@pytest.mark.slow
def test_emulator_stopped_mid_upload_leaves_no_entry_and_the_next_try_succeeds(
    private_emulator: _Emulator, fake_hub_server: HubServer
) -> None:
    client = _client()
    client.create_bucket("midway")
    cache = "gs://midway/cache"
    handle = f"{fake_hub_server.url}/{BIG}?midway=1"
    key = cache_key(handle)
    stopped: list[str] = []

    def stop_after_first_upload(event: ProgressEvent) -> None:
        # Files are uploaded while later ones are extracted: stopping in the
        # middle of the 54 MB variables file fails an upload for sure.
        if event.phase is Phase.DOWNLOADING and event.bytes_done > 20_000_000 and not stopped:
            stopped.append(event.message)
            private_emulator.stop()

    start = time.monotonic()
    with pytest.raises(HubmagicError) as caught:
        hubmagic.resolve(handle, cache_dir=cache, progress=stop_after_first_upload)
    elapsed = time.monotonic() - start
    assert stopped, "the upload never started"
    assert "did not answer" in str(caught.value), caught.value
    assert str(caught.value).startswith("Could not upload the model to gs://midway/cache/")
    print(f"failure reported {elapsed:.1f} s after the start")
    assert list(Path(tempfile.gettempdir()).glob("hubmagic-*")) == []  # local staging gone

    private_emulator.start()
    client = _client()
    assert _names(client, "midway", f"cache/{key}/") == []  # no visible entry
    info = hubmagic.scan_cache(cache)
    assert all(e.status is not hubmagic.Status.COMPLETE for e in info.entries)

    result = hubmagic.resolve_model(handle, cache_dir=cache)
    assert result.source == "download"
    assert result.waited_seconds < 5  # our own abandoned lock is taken over at once
    assert _leftovers(client, "midway") == []
    info = hubmagic.scan_cache(cache)
    assert [e.status for e in info.entries] == [hubmagic.Status.COMPLETE]


# -- errors ------------------------------------------------------------------------


def _fails_fast(match: str, action: Any) -> None:
    start = time.monotonic()
    with pytest.raises(GcsError, match=match) as caught:
        action()
    assert time.monotonic() - start < 10
    assert "did not answer" not in str(caught.value)


def test_missing_bucket_fails_fast(gcs: Any, fake_hub_server: HubServer) -> None:
    handle = f"{fake_hub_server.url}/{TINY}"
    cache = f"gs://no-such-bucket-{uuid.uuid4().hex[:8]}/cache"
    _fails_fast("does not exist", lambda: hubmagic.resolve(handle, cache_dir=cache))
    _fails_fast("does not exist", lambda: hubmagic.scan_cache(cache))


def test_permission_denied_fails_fast(forbidding_endpoint: str, fake_hub_server: HubServer) -> None:
    handle = f"{fake_hub_server.url}/{TINY}"
    _fails_fast(
        "permission denied .HTTP 403.",
        lambda: hubmagic.resolve(handle, cache_dir="gs://some-bucket/cache"),
    )
    _fails_fast("permission denied", lambda: hubmagic.scan_cache("gs://some-bucket/cache"))


def test_bad_bucket_name_fails_fast(gcs: Any, fake_hub_server: HubServer) -> None:
    handle = f"{fake_hub_server.url}/{TINY}"
    for cache in ("gs://Bad_Bucket!/cache", "gs://ab/cache", "gs:///cache"):
        _fails_fast(
            "is not a valid bucket name", lambda c=cache: hubmagic.resolve(handle, cache_dir=c)
        )
    _fails_fast("is not a valid bucket name", lambda: hubmagic.plan_clear("gs://-x-/c"))


def test_no_credentials_fails_fast(
    fake_hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    handle = f"{fake_hub_server.url}/{TINY}"
    _fails_fast(
        "No Google Cloud credentials",
        lambda: hubmagic.resolve(handle, cache_dir="gs://some-bucket/cache"),
    )


# -- scan and planned deletions ----------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_scan_repair_delete_prune_on_a_gs_cache(
    gcs: Any, bucket: str, fake_models_dir: Path
) -> None:
    cache = f"gs://{bucket}/cache"
    b = gcs.bucket(bucket)
    model = fake_models_dir / TINY

    def put_entry(handle: str) -> str:
        key = cache_key(handle)
        upload_folder(gcs, model, f"{cache}/{key}")
        b.blob(f"cache/{key}.descriptor.txt").upload_from_string(f"Module: {handle}\n")
        return key

    complete = put_entry("https://example.com/complete")
    with_tmp = put_entry("https://example.com/with-tmp")
    b.blob(f"cache/{with_tmp}.0badc0de.tmp/saved_model.pb").upload_from_string(b"x" * 10)
    partial = cache_key("https://example.com/partial")
    b.blob(f"cache/{partial}/variables/variables.index").upload_from_string(b"i" * 10)
    b.blob(f"cache/{partial}.descriptor.txt").upload_from_string(
        "Module: https://example.com/partial\n"
    )
    locked = cache_key("https://example.com/locked")
    holder = f"{socket.gethostname()}.{_dead_pid()}.feedbeef"
    b.blob(f"cache/{locked}.lock").upload_from_string(holder)
    b.blob(f"cache/{locked}.feedbeef.tmp/variables/variables.index").upload_from_string(b"p")
    b.blob("cache/README").upload_from_string("not an entry")

    info = hubmagic.scan_cache(cache)
    statuses = {e.key: e.status for e in info.entries}
    assert statuses == {
        complete: hubmagic.Status.COMPLETE,
        with_tmp: hubmagic.Status.ORPHAN_TMP,
        partial: hubmagic.Status.PARTIAL,
        locked: hubmagic.Status.STALE_LOCK,
    }
    assert info.find("https://example.com/complete").path == f"{cache}/{complete}"  # type: ignore[union-attr]
    assert any("README" in w for w in info.warnings)

    repair = hubmagic.plan_repair(cache)
    assert repair.expected_freed_size == 10 + 10 + 1 + len(holder) + len(
        "Module: https://example.com/partial\n"
    )
    assert f"{cache}/{locked}.lock" in repair.paths
    result = repair.execute()
    assert sorted(result.removed) == sorted([with_tmp, partial, locked])
    names = _names(gcs, bucket, "cache/")
    assert not [n for n in names if partial in n or locked in n or ".tmp/" in n], names
    info = hubmagic.scan_cache(cache)
    assert {e.key: e.status for e in info.entries} == {
        complete: hubmagic.Status.COMPLETE,
        with_tmp: hubmagic.Status.COMPLETE,
    }

    hubmagic.plan_delete(["https://example.com/complete"], cache).execute()
    assert not [n for n in _names(gcs, bucket, "cache/") if complete in n]
    pruned = hubmagic.prune(0, cache)
    assert pruned.removed == (with_tmp,)
    assert _names(gcs, bucket, "cache/") == ["cache/README"]
    assert hubmagic.plan_clear(cache).items == ()


def test_scan_of_two_thousand_objects_takes_about_a_second(gcs: Any, bucket: str) -> None:
    b = gcs.bucket(bucket)
    names: list[str] = []
    for i in range(20):
        key = cache_key(f"https://example.com/m{i}")
        names += [f"cache/{key}/saved_model.pb", f"cache/{key}.descriptor.txt"]
        names += [f"cache/{key}/assets/a{j}.txt" for j in range(98)]

    def put(name: str) -> None:
        b.blob(name).upload_from_string(f"Module: {name}\n")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, names))
    assert len(names) == 2000

    start = time.monotonic()
    info = hubmagic.scan_cache(f"gs://{bucket}/cache")
    elapsed = time.monotonic() - start
    print(f"scan of {len(names)} objects: {elapsed:.2f} s")
    assert len(info.entries) == 20
    assert all(e.status is hubmagic.Status.COMPLETE for e in info.entries)
    assert elapsed < 5


def test_cache_hit_on_gs_is_one_listing(gcs: Any, bucket: str, fake_models_dir: Path) -> None:
    handle = "https://example.com/listed-once"
    key = hashlib.sha1(handle.encode()).hexdigest()
    upload_folder(gcs, fake_models_dir / TINY, f"gs://{bucket}/c/{key}")
    from hubmagic.core import gcs_store

    calls: list[str] = []
    client = gcs_store._client()
    real = client.list_blobs

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("prefix", ""))
        return real(*args, **kwargs)

    client.list_blobs = counting
    try:
        result = hubmagic.resolve_model(handle, cache_dir=f"gs://{bucket}/c", offline=True)
    finally:
        del client.list_blobs
    assert (result.source, result.path) == ("cache", f"gs://{bucket}/c/{key}")
    assert calls == [f"c/{key}/"]


@pytest.mark.slow
def test_a_slow_download_on_gs_keeps_its_lock_through_the_inactivity_rule(
    gcs: Any, bucket: str, fake_hub_server: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The holder extracts on its own disk, so without its heartbeat object the
    # tmp prefix would not grow and a waiter would take over after the timeout.
    monkeypatch.setenv("HUBMAGIC_LOCK_TIMEOUT", "2")  # the child inherits it too
    cache = f"gs://{bucket}/cache"
    handle = f"{fake_hub_server.url}/{BIG}?slow=1"
    key = cache_key(handle)
    mark = fake_hub_server.mark()
    child = start_child(handle, cache, delay=0.15)
    try:
        deadline = time.monotonic() + 60
        while not _names(gcs, bucket, f"cache/{key}.lock"):
            assert time.monotonic() < deadline and child.poll() is None, child.communicate()
            time.sleep(0.05)
        events: list[ProgressEvent] = []
        result = hubmagic.resolve_model(handle, cache_dir=cache, progress=events.append)
    finally:
        out, err = child.communicate(timeout=120)
    waits = [e for e in events if e.phase is Phase.WAITING]
    assert waits and f":{child.pid}" in waits[0].message, [e.phase for e in events]
    assert child.returncode == 0, err
    assert out.split() == [f"{cache}/{key}", "download"]
    assert result.source == "shared"
    assert result.waited_seconds > 4, result  # well past the 2 s inactivity timeout
    assert len([r for r in fake_hub_server.requests_since(mark) if r.path == f"/{BIG}"]) == 1
    assert _leftovers(gcs, bucket) == []


def test_a_partial_gs_entry_is_repaired_under_the_lock(
    gcs: Any,
    bucket: str,
    fake_hub_server: HubServer,
    fake_models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a copy cut short leaves: variables without saved_model.pb (copied last).
    cache = f"gs://{bucket}/cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", cache)  # as tensorflow_hub reads it
    handle = f"{fake_hub_server.url}/{TINY}?partial=1"
    key = cache_key(handle)
    upload_folder(gcs, fake_models_dir / TINY / "variables", f"{cache}/{key}/variables")
    assert hubmagic.scan_cache().entries[0].status is hubmagic.Status.PARTIAL
    with pytest.warns(hubmagic.CacheRepairWarning, match="has no saved_model.pb"):
        result = hubmagic.resolve_model(handle)
    assert result.path == f"{cache}/{key}"
    assert result.source == "download"
    assert result.repaired is not None and "saved_model.pb" in result.repaired
    assert hubmagic.scan_cache(cache).entries[0].status is hubmagic.Status.COMPLETE
    assert _leftovers(gcs, bucket) == []
