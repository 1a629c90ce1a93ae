"""The progress wording: connections in use, resumes and retries after rate and time left."""

from __future__ import annotations

from typing import Any

from hubmagic.core.cache import CacheEntry
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.ui.wording import (
    Rate,
    amount_text,
    phase_change_line,
    progress_line,
    status_text,
    transfer_parts,
)

MiB = 1024**2
RATE = Rate(2 * MiB, 1.5)  # 2.0 MiB/s, 1.50 s left


def _event(phase: Phase = Phase.DOWNLOADING, **fields: Any) -> ProgressEvent:
    base: dict[str, Any] = {"bytes_done": MiB, "total": 4 * MiB, "elapsed": 2.0}
    return ProgressEvent("hub/a/1", phase, **{**base, **fields})


def test_transfer_parts_say_only_what_is_news() -> None:
    assert transfer_parts(8, 2, 3) == ["8 connections", "2 resumed", "3 retries"]
    assert transfer_parts(2, 1, 1) == ["2 connections", "1 resumed", "1 retry"]
    assert transfer_parts(1, 0, 0) == transfer_parts(0, 0, 0) == []


def test_a_parallel_download_shows_connections_resumes_and_retries() -> None:
    event = _event(connections=8, resumes=2, retries=3)
    assert amount_text(event, RATE) == (
        "25% · 1.0 MiB / 4.0 MiB · 2.0 MiB/s · 1.50 s left · 8 connections · 2 resumed · 3 retries"
    )
    assert progress_line(event, RATE) == (
        "hub/a/1: 25%, 1.0 MiB / 4.0 MiB, 2.0 MiB/s, 1.50 s left, "
        "8 connections, 2 resumed, 3 retries [downloading]"
    )


def test_a_single_stream_reads_as_before() -> None:
    for connections in (0, 1):
        event = _event(connections=connections)
        assert amount_text(event, RATE) == "25% · 1.0 MiB / 4.0 MiB · 2.0 MiB/s · 1.50 s left"
        assert progress_line(event, RATE) == (
            "hub/a/1: 25%, 1.0 MiB / 4.0 MiB, 2.0 MiB/s, 1.50 s left [downloading]"
        )
    one_retry = _event(connections=1, retries=1)
    assert progress_line(one_retry, RATE).endswith("1.50 s left, 1 retry [downloading]")


def test_a_finished_download_keeps_its_resumes_and_retries_not_its_connections() -> None:
    done = _event(Phase.DONE, bytes_done=4 * MiB, connections=8, resumes=2, retries=3)
    assert progress_line(done, RATE) == (
        "hub/a/1: done in 2.00 s, 4.0 MiB downloaded, 2 resumed, 3 retries"
    )
    assert phase_change_line(done) == "hub/a/1: done, 4.0 MiB in 2.00 s, 2 resumed, 3 retries"
    assert amount_text(done, RATE) == "100% · 4.0 MiB / 4.0 MiB · 2 resumed · 3 retries"
    clean = _event(Phase.DONE, bytes_done=4 * MiB)
    assert progress_line(clean, RATE) == "hub/a/1: done in 2.00 s, 4.0 MiB downloaded"
    assert phase_change_line(clean) == "hub/a/1: done, 4.0 MiB in 2.00 s"


def test_the_panels_live_status_says_the_same() -> None:
    entry: CacheEntry | None = None
    parallel = _event(connections=8, resumes=2, retries=3)
    assert status_text(entry, parallel) == (
        "downloading now 25% · 8 connections · 2 resumed · 3 retries"
    )
    assert status_text(entry, _event(connections=1)) == "downloading now 25%"
