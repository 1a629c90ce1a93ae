"""The magics, the progress rows and the panel show no password or URL signature."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError

import hubmagic
from hubmagic.core.errors import DownloadError
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.server import HubServer
from hubmagic.ui.panel import CachePanel
from hubmagic.ui.progress_widget import ProgressRow
from hubmagic.ui.textprogress import FetchProgress
from tests.faulty_server import Fault, FaultyServer
from tests.secret_urls import (  # noqa: F401  (fast_retries: an autouse fixture)
    assert_no_secret,
    assert_tree_clean,
    dead_port,
    fast_retries,
    signed_url,
    with_password,
)
from tests.shell_fixtures import Shell


@pytest.fixture
def signing() -> Iterator[FaultyServer]:
    server = FaultyServer(b"", [Fault(redirect=signed_url(dead_port()))] * 20)
    yield server
    server.stop()


def texts(widget: Any) -> list[str]:
    """Every string a widget tree shows (values, descriptions, tooltips), and its repr."""
    out = [repr(widget)]
    for name in ("value", "description", "tooltip", "placeholder"):
        value = getattr(widget, name, None)
        if isinstance(value, str):
            out.append(value)
    for child in getattr(widget, "children", ()):
        out += texts(child)
    return out


def failing_events(signing: FaultyServer, cache: str) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    with pytest.raises(DownloadError):
        hubmagic.resolve(f"{signing.url}/m.tar.gz", cache_dir=cache, progress=events.append)
    return events


def test_the_progress_row_and_text_lines_show_no_signature(
    signing: FaultyServer, cache: str
) -> None:
    events = failing_events(signing, cache)
    assert events[-1].phase is Phase.FAILED and "REDACTED" in events[-1].message
    row = ProgressRow(events[0].handle)
    stream = io.StringIO()
    lines = FetchProgress(stream, 1)
    for event in events:
        row.update(event)
        lines(event)
    assert "REDACTED" in row.phase_html.value
    assert stream.getvalue()
    assert_no_secret(*texts(row), stream.getvalue())


def test_the_panel_shows_no_secret(
    signing: FaultyServer, fake_hub_server: HubServer, cache: str
) -> None:
    hubmagic.resolve(with_password(f"{fake_hub_server.url}/google/tiny/1"), cache_dir=cache)
    panel = CachePanel(cache)
    try:
        failing_events(signing, cache)
        shown = texts(panel)
        assert any("REDACTED@127.0.0.1" in text for text in shown)
        assert_no_secret(*shown)
    finally:
        panel.close()


def test_the_magics_show_no_secret(
    shell: Shell,
    signing: FaultyServer,
    fake_hub_server: HubServer,
    cache: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", cache)
    monkeypatch.setenv("HUBMAGIC_PROGRESS", "text")
    with pytest.raises(UsageError) as failed:
        shell.magic("hub_load", f"{signing.url}/m.tar.gz")
    assert "REDACTED" in str(failed.value)
    hubmagic.resolve(with_password(f"{fake_hub_server.url}/google/tiny/1"), cache_dir=cache)
    listing = shell.run("%hub_cache ls")  # displayed: IPython prints its text form
    monkeypatch.setenv("HUBMAGIC_ENDPOINT", with_password(fake_hub_server.url))
    info = shell.run("%hub_info")
    with pytest.raises(UsageError) as missing:
        shell.magic("hub_load", "https://tfhub.dev/google/nothing/1")
    out, err = capfd.readouterr()
    assert "REDACTED@127.0.0.1" in out and "REDACTED@127.0.0.1" in info._repr_html_()
    assert_no_secret(out, err, str(failed.value), str(missing.value))
    assert_no_secret(listing._repr_html_(), info._repr_html_())
    assert_tree_clean(cache)
