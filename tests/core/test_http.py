"""Downloads over misbehaving real servers: every failure is clear and leaves no trace."""

from __future__ import annotations

import io
import itertools
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hubmagic
from hubmagic.core.errors import (
    AccessDeniedError,
    ArchiveError,
    DownloadError,
    HttpError,
    ModelNotFoundError,
)
from hubmagic.core.http import RESUMED_DIFFERENTLY
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.ui.wording import phase_text
from tests.faulty_server import OK, Fault, FaultyServer
from tests.snapshot import snapshot


def model_archive(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big_archive(fake_models_dir: Path) -> bytes:
    return model_archive(fake_models_dir / "google/big/1")


@pytest.fixture
def serve(big_archive: bytes) -> Iterator[type[FaultyServer]]:
    started: list[FaultyServer] = []

    class Started(FaultyServer):
        def __post_init__(self) -> None:
            super().__post_init__()
            started.append(self)

    yield Started
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBMAGIC_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("HUBMAGIC_RETRIES", "2")
    # This module tests the single stream; tests/core/test_ranged*.py test the ranges.
    monkeypatch.setenv("HUBMAGIC_CONNECTIONS", "1")


@pytest.fixture
def untouched(tmp_path: Path, cache: str) -> Iterator[None]:
    """Asserts the test left the cache, and everything around it, exactly as before."""
    os.makedirs(cache)
    Path(cache, "f" * 40).mkdir()  # someone else's entry
    Path(cache, "f" * 40, "saved_model.pb").write_bytes(b"other")
    before = snapshot(tmp_path)
    yield
    assert snapshot(tmp_path) == before


def handle_of(server: FaultyServer) -> str:
    return f"{server.url}/models/m.tar.gz"


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (404, ModelNotFoundError, "HTTP 404"),
        (410, ModelNotFoundError, "HTTP 410"),
        (403, AccessDeniedError, "refused access"),
        (401, AccessDeniedError, "refused access"),
        (400, HttpError, "HTTP 400"),
    ],
)
def test_http_errors_are_clear(
    serve: type[FaultyServer],
    big_archive: bytes,
    cache: str,
    untouched: None,
    status: int,
    error: type[Exception],
    message: str,
) -> None:
    server = serve(big_archive, [Fault(status=status)])
    events: list[ProgressEvent] = []
    with pytest.raises(error, match=message) as info:
        hubmagic.resolve(handle_of(server), cache_dir=cache, progress=events.append)
    assert len(server.requests) == 1  # client errors are not retried
    assert events[-1].phase is Phase.FAILED
    assert events[-1].message == str(info.value)


def test_access_denied_is_also_a_permission_error() -> None:
    assert issubclass(AccessDeniedError, PermissionError)


def test_server_error_then_success_is_retried(
    serve: type[FaultyServer], big_archive: bytes, cache: str
) -> None:
    server = serve(big_archive, [Fault(status=500), Fault(status=503)])
    events: list[ProgressEvent] = []
    path = hubmagic.resolve(handle_of(server), cache_dir=cache, progress=events.append)
    assert (Path(path) / "saved_model.pb").exists()
    assert len(server.requests) == 3
    retries = [e for e in events if e.phase is Phase.RETRYING]
    assert [r.message.split(";")[0] for r in retries] == [
        "HTTP 500 Internal Server Error",
        "HTTP 503 Service Unavailable",
    ]


def test_server_errors_past_the_retries_fail_clearly(
    serve: type[FaultyServer], big_archive: bytes, cache: str, untouched: None
) -> None:
    server = serve(big_archive, [Fault(status=502)] * 3)
    with pytest.raises(DownloadError, match="after 3 attempts: HTTP 502"):
        hubmagic.resolve(handle_of(server), cache_dir=cache)


def test_connection_reset_mid_body_is_resumed_with_a_range_request(
    serve: type[FaultyServer], big_archive: bytes, fake_models_dir: Path, cache: str
) -> None:
    cut = len(big_archive) // 3
    server = serve(big_archive, [Fault(reset_after=cut)])
    events: list[ProgressEvent] = []
    path = hubmagic.resolve(handle_of(server), cache_dir=cache, progress=events.append)
    # A reset drops what was in flight: the resume starts where the client got to.
    first, resume = [r["range"] for r in server.requests]
    assert first is None
    assert resume is not None and resume.startswith("bytes=") and resume.endswith("-")
    assert 0 < int(resume[len("bytes=") : -1]) <= cut
    original = fake_models_dir / "google/big/1"
    for name in ("saved_model.pb", "variables/variables.data-00000-of-00001"):
        assert (Path(path) / name).read_bytes() == (original / name).read_bytes()
    assert events[-1].bytes_done == len(big_archive) == events[-1].total
    assert any(e.phase is Phase.RETRYING and "connection" in e.message for e in events)


def test_short_body_is_resumed(serve: type[FaultyServer], big_archive: bytes, cache: str) -> None:
    cut = len(big_archive) // 2
    server = serve(big_archive, [Fault(close_after=cut)])
    path = hubmagic.resolve(handle_of(server), cache_dir=cache)
    assert (Path(path) / "saved_model.pb").exists()
    assert server.requests[-1]["range"] == f"bytes={cut}-"


def test_reset_without_range_support_fails_clearly(
    serve: type[FaultyServer], big_archive: bytes, cache: str, untouched: None
) -> None:
    server = serve(big_archive, [Fault(reset_after=100_000)], ranges=False)
    with pytest.raises(DownloadError, match="cannot resume"):
        hubmagic.resolve(handle_of(server), cache_dir=cache)


def test_stalled_server_times_out_and_resumes(
    serve: type[FaultyServer],
    big_archive: bytes,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBMAGIC_READ_TIMEOUT", "0.5")
    server = serve(big_archive, [Fault(stall_after=200_000)])
    path = hubmagic.resolve(handle_of(server), cache_dir=cache)
    assert (Path(path) / "saved_model.pb").exists()
    assert server.requests[-1]["range"] == "bytes=200000-"


def test_server_that_keeps_stalling_is_a_clear_error(
    serve: type[FaultyServer],
    big_archive: bytes,
    cache: str,
    untouched: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBMAGIC_READ_TIMEOUT", "0.3")
    server = serve(big_archive, [Fault(stall_after=0)] * 5)
    with pytest.raises(DownloadError, match=r"after 3 attempts: waiting for the server"):
        hubmagic.resolve(handle_of(server), cache_dir=cache)


def test_nothing_listening_is_a_clear_error(cache: str, untouched: None) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="connection failed"):
        hubmagic.resolve(f"http://127.0.0.1:{port}/m.tar.gz", cache_dir=cache)


def test_html_page_instead_of_an_archive(
    serve: type[FaultyServer], big_archive: bytes, cache: str, untouched: None
) -> None:
    server = serve(big_archive, [Fault(html=True)])
    with pytest.raises(ArchiveError, match="web page, not a model archive"):
        hubmagic.resolve(handle_of(server), cache_dir=cache)


def test_not_an_archive(serve: type[FaultyServer], cache: str, untouched: None) -> None:
    server = serve(b"this is not a tar file at all " * 100, content_type="application/octet-stream")
    with pytest.raises(ArchiveError, match="not a tar archive"):
        hubmagic.resolve(handle_of(server), cache_dir=cache)


def test_truncated_gzip(
    serve: type[FaultyServer], big_archive: bytes, cache: str, untouched: None
) -> None:
    server = serve(big_archive[: len(big_archive) // 2])
    with pytest.raises(ArchiveError, match="truncated"):
        hubmagic.resolve(handle_of(server), cache_dir=cache)


def test_corrupt_gzip(
    serve: type[FaultyServer], big_archive: bytes, cache: str, untouched: None
) -> None:
    damaged = bytearray(big_archive)
    damaged[len(damaged) // 2 : len(damaged) // 2 + 64] = bytes(64)
    server = serve(bytes(damaged))
    with pytest.raises(ArchiveError):
        hubmagic.resolve(handle_of(server), cache_dir=cache)


def test_progress_events_are_ordered_throttled_and_total(
    serve: type[FaultyServer], big_archive: bytes, cache: str
) -> None:
    server = serve(big_archive)
    events: list[ProgressEvent] = []
    hubmagic.resolve(handle_of(server), cache_dir=cache, progress=events.append)
    phases = [e.phase for e in events]
    assert phases[:2] == [Phase.CONNECTING, Phase.STARTED]
    assert phases[-2:] == [Phase.EXTRACTING, Phase.DONE]
    started = events[1]
    assert started.total == len(big_archive)
    downloading = [e for e in events if e.phase is Phase.DOWNLOADING]
    gaps = [b.elapsed - a.elapsed for a, b in itertools.pairwise(downloading)]
    assert all(gap >= 0.099 for gap in gaps), gaps  # at most ~10 events a second
    counts = [e.bytes_done for e in events]
    assert counts == sorted(counts)
    assert events[-1].bytes_done == events[-1].total == len(big_archive)
    assert all(e.fraction is not None and 0 <= e.fraction <= 1 for e in downloading)


def test_a_silent_server_is_given_up_on_after_the_stall_timeout(
    serve: type[FaultyServer],
    big_archive: bytes,
    cache: str,
    untouched: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 50 retries of a 0.4 s read timeout would take 20 s: the deadline ends it at 1.5 s.
    monkeypatch.setenv("HUBMAGIC_READ_TIMEOUT", "0.4")
    monkeypatch.setenv("HUBMAGIC_RETRIES", "50")
    monkeypatch.setenv("HUBMAGIC_STALL_TIMEOUT", "1.5")
    server = serve(big_archive, [Fault(silent=True)] * 60)
    events: list[ProgressEvent] = []
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        hubmagic.resolve(handle_of(server), cache_dir=cache, progress=events.append)
    assert time.monotonic() - start < 12  # generous: the point is far below 20 s
    message = info.value.message
    assert message.startswith("The server sent nothing for ")
    assert "past HUBMAGIC_STALL_TIMEOUT (1.5 s)" in message and "\n" not in message
    assert info.value.fix is not None and "HUBMAGIC_STALL_TIMEOUT" in info.value.fix.text
    assert len(server.requests) < 10
    waits = [e for e in events if e.phase is Phase.RETRYING]
    assert waits
    assert all(e.message.startswith("waiting for the server (no byte for ") for e in waits)
    assert "waiting for the server (no byte for" in phase_text(waits[0])


def test_a_silence_shorter_than_the_stall_timeout_is_waited_out(
    serve: type[FaultyServer],
    big_archive: bytes,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBMAGIC_READ_TIMEOUT", "0.3")
    monkeypatch.setenv("HUBMAGIC_STALL_TIMEOUT", "30")
    server = serve(big_archive, [Fault(silent=True), Fault(silent=True)])
    path = hubmagic.resolve(handle_of(server), cache_dir=cache)
    assert (Path(path) / "saved_model.pb").exists()
    assert len(server.requests) == 3


def changed(data: bytes) -> bytes:
    """Other bytes of the same length: what a changed file or a bad proxy resumes with."""
    return bytes(b ^ 0x5A for b in data)


def test_a_resume_with_different_bytes_downloads_again_from_the_start(
    serve: type[FaultyServer], big_archive: bytes, fake_models_dir: Path, cache: str
) -> None:
    cut = len(big_archive) // 3
    server = serve(
        big_archive, [Fault(reset_after=cut)], resume_payload=changed(big_archive), etag=False
    )
    events: list[ProgressEvent] = []
    path = hubmagic.resolve(handle_of(server), cache_dir=cache, progress=events.append)
    ranges = [r["range"] for r in server.requests]
    assert len(ranges) == 3 and ranges[0] is None and ranges[1] and ranges[2] is None
    original = fake_models_dir / "google/big/1"
    for name in ("saved_model.pb", "variables/variables.data-00000-of-00001"):
        assert (Path(path) / name).read_bytes() == (original / name).read_bytes()
    restarts = [e for e in events if e.message == RESUMED_DIFFERENTLY]
    assert len(restarts) == 1 and restarts[0].phase is Phase.RETRYING
    assert phase_text(restarts[0]) == (
        "retrying after the server sent different bytes on resume; downloading again from the start"
    )
    assert events[-1].phase is Phase.DONE and events[-1].bytes_done == len(big_archive)
    assert not any("Error -" in e.message or "deflate" in e.message for e in events)


def test_a_second_resume_with_different_bytes_fails_in_plain_words(
    serve: type[FaultyServer], big_archive: bytes, cache: str, untouched: None
) -> None:
    cut = len(big_archive) // 3
    server = serve(
        big_archive,
        [Fault(reset_after=cut), OK, Fault(reset_after=cut)],
        resume_payload=changed(big_archive),
        etag=False,
    )
    events: list[ProgressEvent] = []
    with pytest.raises(ArchiveError) as info:
        hubmagic.resolve(handle_of(server), cache_dir=cache, progress=events.append)
    message = info.value.message
    assert message.startswith("The server sent different bytes on resume twice for http://")
    assert "\n" not in message and "deflate" not in message and "Error -" not in message
    assert info.value.__cause__ is None
    assert [e.message for e in events].count(RESUMED_DIFFERENTLY) == 1
    assert len(server.requests) == 4
