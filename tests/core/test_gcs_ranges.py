"""gs:// archives read as parallel ranges on the emulator, checked against the object's crc32c.

A small proxy between hubmagic and fake-gcs-server sees every request (the
ranged media GETs, and how many run at once) and can damage what it forwards:
flip one byte of the object in media answers, answer a ranged read with an
HTTP error, or drop a connection half-way through a range. fake-gcs-server
computes an object's crc32c from its bytes and ignores one given at upload
(and a metadata patch), so a "corrupted object" is one whose bytes arrive
damaged: the crc32c announced is the true one, the bytes read are not.
"""

from __future__ import annotations

import http.client
import http.server
import io
import os
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.core.checksum import ChecksumMismatchError
from hubmagic.core.handle import cache_key
from hubmagic.core.progress import Phase

RANGE = 256 * 1024


@dataclass
class Proxy:
    """What the proxy saw, and the harm it is told to do."""

    url: str = ""
    upstream: str = ""
    ranges: list[str] = field(default_factory=list)  # Range of each media GET ("" if none)
    in_flight: int = 0
    most_in_flight: int = 0
    flip_at: int | None = None  # object offset of the byte flipped in media answers
    flips_left: int | None = None  # None: every time
    fail_status: int | None = None  # answer the ``fail_nth`` small ranged read with this
    fail_nth: int = 3
    drop_nth: int | None = None  # send half of the ``drop_nth`` small ranged read, then close
    delay: float = 0.05  # per media answer, so parallel reads overlap
    lock: threading.Lock = field(default_factory=threading.Lock)

    def small_ranges(self) -> list[str]:
        """The ranged reads of RangedDownload (the one stream asks for 8 MiB at a time)."""
        with self.lock:
            return [r for r in self.ranges if r and _span(r) <= RANGE]


def _span(header: str) -> int:
    first, _, last = header.removeprefix("bytes=").partition("-")
    return int(last) - int(first) + 1 if last else 1 << 62


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _forward(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        media = self.command == "GET" and "alt=media" in self.path
        asked = self.headers.get("Range", "")
        nth = 0
        if media:
            with state.lock:
                state.ranges.append(asked)
                nth = len([r for r in state.ranges if r and _span(r) <= RANGE])
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
        try:
            small = media and bool(asked) and _span(asked) <= RANGE
            if small and state.fail_status is not None and nth == state.fail_nth:
                self._answer(state.fail_status, {"Content-Type": "application/json"}, b"{}")
                return
            host, _, port = state.upstream.removeprefix("http://").partition(":")
            upstream = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
            }
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = bytearray(answer.read())
            out = {
                k: v
                for k, v in answer.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
            upstream.close()
            if media:
                time.sleep(state.delay)
                self._damage(data, answer.getheader("Content-Range"))
            else:  # links in metadata lead back through the proxy
                data = bytearray(bytes(data).replace(state.upstream.encode(), state.url.encode()))
            self._answer(answer.status, out, bytes(data), cut=small and state.drop_nth == nth)
        finally:
            if media:
                with state.lock:
                    state.in_flight -= 1

    def _damage(self, data: bytearray, content_range: str | None) -> None:
        state = self.server.state
        first = int(content_range.split()[1].split("-")[0]) if content_range else 0
        with state.lock:
            if state.flip_at is None or state.flips_left == 0:
                return
            if first <= state.flip_at < first + len(data):
                data[state.flip_at - first] ^= 0xFF
                if state.flips_left is not None:
                    state.flips_left -= 1

    def _answer(
        self, status: int, headers: dict[str, str], body: bytes, *, cut: bool = False
    ) -> None:
        """Sends the answer; ``cut``: only its first half, then the connection closes."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            self.wfile.flush()
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: Proxy


@pytest.fixture
def proxy(gcs: Any, gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """A proxy in front of the emulator; hubmagic's STORAGE_EMULATOR_HOST points at it."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = Proxy(url=f"http://127.0.0.1:{server.server_address[1]}", upstream=gcs_emulator)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.state.url)
    monkeypatch.setenv("HUBMAGIC_PARALLEL_THRESHOLD", "1M")
    monkeypatch.setenv("HUBMAGIC_RANGE_SIZE", "256K")
    monkeypatch.setenv("HUBMAGIC_CONNECTIONS", "4")
    monkeypatch.setenv("HUBMAGIC_RETRY_BACKOFF", "0.05")
    yield server.state
    server.shutdown()
    server.server_close()


@pytest.fixture
def bucket(gcs: Any) -> str:
    name = f"models-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


_WEIGHTS = os.urandom(3 * 1024 * 1024 + 12345)  # random: the archive stays over 1 MiB gzipped


def _archive(fake_models_dir: Path, *, gz: bool) -> bytes:
    """A SavedModel archive of about 3 MiB (``.tar`` bytes when not ``gz``)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz" if gz else "w") as tar:
        tar.add(fake_models_dir / "google/tiny/1", arcname=".")
        info = tarfile.TarInfo("variables/weights.bin")
        info.size = len(_WEIGHTS)
        tar.addfile(info, io.BytesIO(_WEIGHTS))
    return data.getvalue()


def _upload(gcs: Any, bucket: str, name: str, data: bytes) -> str:
    gcs.bucket(bucket).blob(name).upload_from_string(data)
    return f"gs://{bucket}/{name}"


def _same_files(got: Path, fake_models_dir: Path) -> None:
    want = fake_models_dir / "google/tiny/1"
    for path in want.rglob("*"):
        if path.is_file():
            assert (got / path.relative_to(want)).read_bytes() == path.read_bytes()
    assert (got / "variables/weights.bin").read_bytes() == _WEIGHTS


def _leftovers(cache: str) -> list[str]:
    return [n for n in os.listdir(cache) if not n.endswith(".descriptor.txt")]


def test_gcs_archive_comes_as_parallel_ranges(
    proxy: Proxy, gcs: Any, bucket: str, fake_models_dir: Path, cache: str
) -> None:
    data = _archive(fake_models_dir, gz=True)
    url = _upload(gcs, bucket, "archives/big.tar.gz", data)
    events: list[hubmagic.ProgressEvent] = []
    path = hubmagic.resolve(url, cache_dir=cache, progress=events.append)

    assert path == os.path.join(cache, cache_key(url))
    _same_files(Path(path), fake_models_dir)
    small = proxy.small_ranges()
    assert len(small) == -(-len(data) // RANGE)  # every range once, nothing else
    assert "bytes=0-262143" in small
    # All four connections of HUBMAGIC_CONNECTIONS at once, never more.
    assert proxy.most_in_flight == 4
    assert max(e.connections for e in events) > 1
    assert events[-1].bytes_done == len(data) and events[-1].total == len(data)
    assert not [e for e in events if e.phase is Phase.RETRYING]


def test_corrupted_gcs_archive_is_refused_by_its_crc32c(
    proxy: Proxy, gcs: Any, bucket: str, fake_models_dir: Path, cache: str
) -> None:
    # A plain tar: a damaged byte inside a file still extracts (gzip would notice
    # it by its own CRC first), so only the object's crc32c can refuse it.
    data = _archive(fake_models_dir, gz=False)
    url = _upload(gcs, bucket, "archives/damaged.tar.gz", data)
    proxy.flip_at = data.index(_WEIGHTS[:64]) + 1_000_000
    events: list[hubmagic.ProgressEvent] = []
    with pytest.raises(ChecksumMismatchError) as caught:
        hubmagic.resolve(url, cache_dir=cache, progress=events.append)

    message = str(caught.value)
    assert "\n" not in message
    assert f"The archive from {url} does not match the crc32c checksum" in message
    assert "Nothing was written to the cache" in message
    assert _leftovers(cache) == []
    # The parallel attempt was refused, then the one-stream attempt too.
    assert len(proxy.small_ranges()) == -(-len(data) // RANGE)
    retrying = [e.message for e in events if e.phase is Phase.RETRYING]
    assert len(retrying) == 1 and retrying[0].endswith("; downloading it again")


def test_damage_in_the_ranges_only_is_retried_as_one_stream(
    proxy: Proxy, gcs: Any, bucket: str, fake_models_dir: Path, cache: str
) -> None:
    data = _archive(fake_models_dir, gz=False)
    url = _upload(gcs, bucket, "archives/once.tar.gz", data)
    proxy.flip_at, proxy.flips_left = data.index(_WEIGHTS[:64]) + 5, 1
    events: list[hubmagic.ProgressEvent] = []
    path = hubmagic.resolve(url, cache_dir=cache, progress=events.append)

    _same_files(Path(path), fake_models_dir)
    assert proxy.flips_left == 0
    retrying = [e.message for e in events if e.phase is Phase.RETRYING]
    assert len(retrying) == 1 and retrying[0].endswith("; downloading it again")


def test_one_connection_reads_one_stream_and_checks_it(
    proxy: Proxy,
    gcs: Any,
    bucket: str,
    fake_models_dir: Path,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBMAGIC_CONNECTIONS", "1")
    data = _archive(fake_models_dir, gz=False)
    good = _upload(gcs, bucket, "archives/good.tar.gz", data)
    _same_files(Path(hubmagic.resolve(good, cache_dir=cache)), fake_models_dir)
    assert proxy.small_ranges() == [] and proxy.most_in_flight == 1

    bad = _upload(gcs, bucket, "archives/bad.tar.gz", data)
    proxy.flip_at = len(data) // 2
    with pytest.raises(ChecksumMismatchError, match="does not match the crc32c checksum"):
        hubmagic.resolve(bad, cache_dir=cache)
    assert _leftovers(cache) == [cache_key(good)]


def test_a_changed_object_falls_back_to_one_stream(
    proxy: Proxy, gcs: Any, bucket: str, fake_models_dir: Path, cache: str
) -> None:
    # fake-gcs-server ignores ifGenerationMatch on media reads: the proxy answers
    # 412 as GCS does when the object was replaced.
    data = _archive(fake_models_dir, gz=True)
    url = _upload(gcs, bucket, "archives/changed.tar.gz", data)
    proxy.fail_status = 412
    events: list[hubmagic.ProgressEvent] = []
    path = hubmagic.resolve(url, cache_dir=cache, progress=events.append)

    _same_files(Path(path), fake_models_dir)
    assert [e.message for e in events if e.phase is Phase.RETRYING] == [
        "the object changed while it downloaded; downloading again as one stream"
    ]


def test_throttled_and_dropped_ranges_recover(
    proxy: Proxy, gcs: Any, bucket: str, fake_models_dir: Path, cache: str
) -> None:
    data = _archive(fake_models_dir, gz=True)
    url = _upload(gcs, bucket, "archives/flaky.tar.gz", data)
    proxy.fail_status, proxy.drop_nth = 503, 6
    events: list[hubmagic.ProgressEvent] = []
    path = hubmagic.resolve(url, cache_dir=cache, progress=events.append)

    _same_files(Path(path), fake_models_dir)
    retrying = [e.message for e in events if e.phase is Phase.RETRYING]
    assert "HTTP 503 Service Unavailable; one connection fewer" in retrying
    assert any("resuming from byte" in m for m in retrying)
    assert events[-1].resumes >= 1 and events[-1].retries >= 2
