"""Parallel ranged downloads against a real 127.0.0.1 server that caps and misbehaves.

A download starts as one stream and adds connections once the extractor waits
for bytes, so the tests that need several cap each connection (8 MB/s): the
uncapped loopback outruns the decompressor with one.

The server (``tools/range_server.py``) stands in for tfhub.dev / Kaggle: the
handle URL answers 302 to a signed-style storage URL that honours Range. Each
test ends in a complete entry, byte-identical to the model, or a clear error
with the cache exactly as it was.
"""

from __future__ import annotations

import filecmp
import os
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

import hubmagic
from hubmagic.core.budget import BUDGET
from hubmagic.core.checksum import ChecksumMismatchError
from hubmagic.core.errors import HubmagicError
from hubmagic.core.names import CacheNames, cache_key
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.resolver import resolve_model
from tests.fake_models import write_fake_saved_model
from tests.snapshot import snapshot
from tools.range_server import Faults, RangeServer

RANGE = 256 * 1024
MB = 10**6


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ranged")
    return write_fake_saved_model(root / "google" / "big" / "1", data_bytes=6 * MB)


@pytest.fixture(scope="module")
def archive(model: Path) -> Path:
    path = model.parent.parent.parent / "big.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for item in sorted(model.rglob("*")):
            tar.add(item, arcname=item.relative_to(model).as_posix(), recursive=False)
    return path


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of 256 KiB from 1 MiB on, 4 connections, quick retries."""
    monkeypatch.setenv("HUBMAGIC_PARALLEL_THRESHOLD", "1M")
    monkeypatch.setenv("HUBMAGIC_RANGE_SIZE", "256K")
    monkeypatch.setenv("HUBMAGIC_CONNECTIONS", "4")
    monkeypatch.setenv("HUBMAGIC_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("HUBMAGIC_RETRIES", "3")


class Serve(Protocol):
    def __call__(
        self,
        *,
        faults: Faults | None = None,
        per_connection_rate: float | None = None,
        ranges: bool = True,
    ) -> RangeServer: ...


@pytest.fixture
def serve(archive: Path) -> Iterator[Serve]:
    """Starts range servers of the archive (stopped after the test)."""
    started: list[RangeServer] = []

    def start(
        *,
        faults: Faults | None = None,
        per_connection_rate: float | None = None,
        ranges: bool = True,
    ) -> RangeServer:
        server = RangeServer(
            archive, faults=faults, per_connection_rate=per_connection_rate, ranges=ranges
        )
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


class Events:
    """A progress callback that keeps the events (not a list: an empty one is falsy)."""

    def __init__(self) -> None:
        self.seen: list[ProgressEvent] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.seen.append(event)

    def __iter__(self) -> Iterator[ProgressEvent]:
        return iter(list(self.seen))

    def retrying(self) -> list[str]:
        return [e.message for e in self if e.phase is Phase.RETRYING]


def fetch(server: RangeServer, cache: str) -> tuple[str, Events]:
    events = Events()
    path = hubmagic.resolve(server.handle_url, cache_dir=cache, progress=events)
    return path, events


def same_files(model: Path, path: str) -> None:
    compare = filecmp.dircmp(model, path)
    assert not compare.left_only and not compare.right_only
    for folder in ("", "variables"):
        names = [p.name for p in (model / folder).iterdir() if p.is_file()]
        _, mismatch, errors = filecmp.cmpfiles(model / folder, Path(path) / folder, names, False)
        assert not mismatch and not errors


def ranges_served(server: RangeServer) -> list[tuple[int, int]]:
    return [
        (r.start, r.end)
        for r in server.storage_requests()
        if r.status == 206 and r.start is not None and r.end is not None
    ]


def test_several_connections_fill_tensorflow_hubs_layout(
    serve: Serve, model: Path, cache: str
) -> None:
    server = serve(per_connection_rate=8 * MB)
    events = Events()
    result = resolve_model(server.handle_url, cache_dir=cache, progress=events)
    path = result.path

    same_files(model, path)
    assert result.downloaded_bytes == server.size, "each byte counted once"
    key = cache_key(server.handle_url)
    assert path == os.path.join(cache, key)
    assert sorted(os.listdir(cache)) == sorted([key, CacheNames.descriptor_name(key)])
    assert server.connections_used() >= 3  # the first answer's, then the range connections
    ranged = ranges_served(server)
    assert len(ranged) >= server.size // RANGE // 2, "most ranges came as ranged requests"
    # Keep-alive: far fewer connections than ranges.
    assert server.connections_used() <= 5 < len(ranged)
    assert max(e.connections for e in events) > 1
    assert not events.retrying()


def test_a_stream_faster_than_the_extractor_stays_one_connection(
    serve: Serve, model: Path, cache: str
) -> None:
    server = serve(per_connection_rate=400 * MB)  # loopback, well above gunzip's speed
    path, events = fetch(server, cache)
    same_files(model, path)
    assert [r.range for r in server.storage_requests()] == [None]
    assert {e.connections for e in events if e.phase is Phase.DOWNLOADING} <= {1}


def test_one_connection_is_one_stream(
    serve: Serve, model: Path, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBMAGIC_CONNECTIONS", "1")
    server = serve()
    path, events = fetch(server, cache)
    same_files(model, path)
    assert [r.range for r in server.storage_requests()] == [None]
    assert {e.connections for e in events if e.phase is Phase.DOWNLOADING} <= {1}


def test_a_server_without_ranges_gets_one_stream(serve: Serve, model: Path, cache: str) -> None:
    server = serve(ranges=False)
    same_files(model, fetch(server, cache)[0])
    assert len(server.storage_requests()) == 1


def test_a_reset_range_resumes_from_its_own_offset(serve: Serve, model: Path, cache: str) -> None:
    server = serve(faults=Faults(reset_after={3: 100_000}), per_connection_rate=8 * MB)
    path, events = fetch(server, cache)
    same_files(model, path)
    cut = server.storage_requests()[2]
    assert cut.start is not None and cut.end is not None
    resumed = [
        (start, end)
        for start, end in ranges_served(server)
        if cut.start < start <= cut.start + 100_000
    ]
    assert resumed == [(resumed[0][0], cut.end)], "the rest of that range, once"
    assert any(e.resumes for e in events)
    # Nothing was fetched twice but the bytes the reset lost on the way.
    assert sum(end - start + 1 for start, end in ranges_served(server)) < server.size + 100_000


@pytest.mark.parametrize(
    "faults",
    [Faults(ignore_range_on={2}), Faults(etag_change_after=3)],
    ids=["range-ignored", "etag-changed"],
)
def test_untrustworthy_ranges_fall_back_to_one_stream(
    serve: Serve, model: Path, cache: str, faults: Faults
) -> None:
    server = serve(faults=faults, per_connection_rate=8 * MB)
    path, events = fetch(server, cache)
    same_files(model, path)
    assert [m for m in events.retrying() if "as one stream" in m]
    assert [r for r in server.storage_requests()[1:] if r.range is None], "then one stream"


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "ExpiredToken"), (403, "SignatureDoesNotMatch")],
)
def test_an_expired_signature_gets_a_fresh_redirect_for_the_missing_ranges(
    serve: Serve, model: Path, cache: str, status: int, code: str
) -> None:
    faults = Faults(signature_ttl=0.3, expired_status=status, expired_code=code)
    server = serve(faults=faults, per_connection_rate=2 * MB)
    path, events = fetch(server, cache)
    same_files(model, path)
    assert server.redirects >= 2
    assert [m for m in events.retrying() if "fresh download link" in m]
    # Only the missing ranges: no range twice, no restart from byte 0 (bytes=0-0 asks
    # for a fresh redirect).
    ranged = [r for r in ranges_served(server) if r != (0, 0)]
    assert len(set(ranged)) == len(ranged)
    assert all(r.range is not None for r in server.storage_requests()[1:])
    for event in events:
        assert "X-Goog-Signature=" not in event.message or "REDACTED" in event.message


def test_429_with_retry_after_lowers_the_connections(serve: Serve, model: Path, cache: str) -> None:
    server = serve(faults=Faults(throttle={3: 0, 4: 0}), per_connection_rate=8 * MB)
    path, events = fetch(server, cache)
    same_files(model, path)
    assert len([m for m in events.retrying() if "one connection fewer" in m]) == 2
    later = [e.connections for e in events if e.retries >= 2 and e.phase is Phase.DOWNLOADING]
    assert later and max(later) <= 2


def test_the_last_connection_waits_out_retry_after(
    serve: Serve, model: Path, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBMAGIC_CONNECTIONS", "2")
    # Whichever 503 is handled first leaves (one connection fewer); the last one waits.
    server = serve(
        faults=Faults(throttle={2: 1, 3: 1}, throttle_status=503), per_connection_rate=8 * MB
    )
    start = time.monotonic()
    path, events = fetch(server, cache)
    same_files(model, path)
    assert time.monotonic() - start >= 1.0, "Retry-After: 1 was waited for"
    assert [m for m in events.retrying() if "HTTP 503" in m and "retrying in 1.0 s" in m]


def test_a_stalled_range_times_out_and_resumes(
    serve: Serve, model: Path, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBMAGIC_READ_TIMEOUT", "0.5")
    server = serve(faults=Faults(stall_after={3: (50_000, 5.0)}), per_connection_rate=8 * MB)
    path, events = fetch(server, cache)
    same_files(model, path)
    assert any(e.resumes for e in events)


def test_a_wrong_checksum_is_refused_and_the_cache_is_unchanged(
    serve: Serve, cache: str, tmp_path: Path
) -> None:
    server = serve(faults=Faults(wrong_hash=True))
    os.makedirs(cache)
    before = snapshot(tmp_path)
    events = Events()
    with pytest.raises(ChecksumMismatchError, match="crc32c checksum the server announced"):
        hubmagic.resolve(server.handle_url, cache_dir=cache, progress=events)
    assert snapshot(tmp_path) == before
    assert [m for m in events.retrying() if "checksum" in m], "retried once"
    assert [r for r in server.storage_requests()[1:] if r.range is None], "then one stream"


def test_content_md5_is_checked_too(serve: Serve, cache: str) -> None:
    server = serve(faults=Faults(wrong_hash=True, content_md5_only=True))
    with pytest.raises(ChecksumMismatchError, match="md5"):
        hubmagic.resolve(server.handle_url, cache_dir=cache)


@pytest.mark.parametrize("delta", [1000, -1000], ids=["longer", "shorter"])
def test_a_lying_content_length_is_a_clear_error(
    serve: Serve, cache: str, tmp_path: Path, delta: int
) -> None:
    server = serve(faults=Faults(length_delta=delta, no_hash=True))
    os.makedirs(cache)
    before = snapshot(tmp_path)
    with pytest.raises(HubmagicError) as raised:
        hubmagic.resolve(server.handle_url, cache_dir=cache)
    assert "\n" not in raised.value.message
    assert "X-Goog-Signature" not in str(raised.value)
    assert snapshot(tmp_path) == before


def test_downloads_at_once_share_one_connection_budget(
    serve: Serve, model: Path, tmp_path: Path
) -> None:
    servers = [serve(per_connection_rate=4 * MB), serve(per_connection_rate=4 * MB)]
    samples: list[dict[int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(BUDGET.in_use())
            time.sleep(0.002)

    paths: list[str] = []

    def one(server: RangeServer, n: int) -> None:
        paths.append(hubmagic.resolve(server.handle_url, cache_dir=str(tmp_path / f"c{n}")))

    threads = [threading.Thread(target=one, args=(s, n)) for n, s in enumerate(servers)]
    threads.append(threading.Thread(target=sample))
    for thread in threads:
        thread.start()
    for thread in threads[:2]:
        thread.join(60)
    done.set()
    threads[2].join()
    assert len(paths) == 2
    for path in paths:
        same_files(model, path)
    assert max(sum(s.values()) for s in samples) == 4, "the budget is used, never passed"
    both = [s for s in samples if len(s) == 2]
    assert both, "the two downloads ran at once"
    assert max(max(s.values()) for s in both) <= 3, "neither took it all"
    assert sum(r.status == 206 for s in servers for r in s.storage_requests()) > 10


def test_interrupting_a_ranged_download_stops_its_connections(
    serve: Serve, cache: str, tmp_path: Path
) -> None:
    server = serve(per_connection_rate=2 * MB)
    os.makedirs(cache)
    before = snapshot(tmp_path)

    def cancel(event: ProgressEvent) -> None:
        if event.bytes_done > 1 * MB:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hubmagic.resolve(server.handle_url, cache_dir=cache, progress=cancel)
    assert snapshot(tmp_path) == before
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        t.name.startswith("hubmagic-range") for t in threading.enumerate()
    ):
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("hubmagic-range")]
