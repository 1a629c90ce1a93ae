"""The progress widget and the cache panel, without a browser: real files, real servers.

Buttons are pressed with ``.click()``; each test checks both what the widgets
show and what is on disk. ``tests/ui/test_browser.py`` drives the same widgets in
JupyterLab through the CSS classes and labels checked here.
"""

from __future__ import annotations

import os
import re
import socket
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import hubmagic
from hubmagic.core import progress
from hubmagic.core.errors import InvalidSettingError, ModelNotFoundError
from hubmagic.core.handle import cache_key
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.units import format_bytes
from hubmagic.server import HubServer
from hubmagic.ui import magics
from hubmagic.ui.textprogress import TextProgress
from hubmagic.ui.widgets import (
    RED,
    CachePanel,
    CacheRow,
    ProgressRow,
    WidgetProgress,
    phase_text,
)
from hubmagic.ui.widgets import panel as open_panel
from tests.cache_fixtures import add_model
from tests.faulty_server import Fault, FaultyServer
from tests.shell_fixtures import Shell

pytestmark = [
    pytest.mark.filterwarnings(
        # ipywidgets 7.7.1 (Colab's pin) opens every comm through ipykernel.comm.Comm,
        # which the ipykernel installed beside it in .venv-ipy7 (7.x) deprecates. It
        # is their mismatch, raised inside ipywidgets for every widget: not ours to fix.
        "ignore:The `ipykernel.comm.Comm` class has been deprecated:DeprecationWarning"
    ),
    # A panel left open by a failing test must not watch the next tests' downloads.
    pytest.mark.usefixtures("no_leftover_listeners"),
]

HOST = socket.gethostname()


def classes(widget: Any) -> tuple[str, ...]:
    return tuple(widget._dom_classes)


def confirming(panel: CachePanel) -> bool:
    """Whether Confirm / Cancel show (a call: mypy would keep a property's narrowing)."""
    return panel.awaiting_confirmation


def value_of(label: str, text: str) -> str:
    """The value of a header's ``label:   value`` line (however wide the label column)."""
    found = re.search(rf"^{re.escape(label)}:\s+(.*)$", text, re.MULTILINE)
    assert found is not None, f"no {label!r} line in:\n{text}"
    return found.group(1)


def names_in(cache: Path) -> set[str]:
    return set(os.listdir(cache)) if cache.exists() else set()


def write_archive(model: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for path in sorted(model.rglob("*")):
            tar.add(path, arcname=path.relative_to(model).as_posix(), recursive=False)


@pytest.fixture(scope="module")
def archive_root(fake_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``google/big/1`` as a prebuilt archive: served with its Content-Length (a known total)."""
    root = tmp_path_factory.mktemp("prebuilt")
    (root / "google/big").mkdir(parents=True)
    write_archive(fake_models_dir / "google/big/1", root / "google/big/1.tar.gz")
    return root


@pytest.fixture
def prebuilt_server(archive_root: Path, hub_server_factory: Callable[..., HubServer]) -> HubServer:
    return hub_server_factory(archive_root)


Snapshot = dict[str, Any]


def pause_at_start(event: ProgressEvent) -> None:
    """Waits out the core's byte-event throttle when a download starts.

    Loopback can deliver the 54 MB fake ``google/big/1`` within the throttle's
    0.1 s, which leaves nothing to watch; after this pause (nothing is read
    until the callback returns) the first bytes are always reported.
    """
    if event.phase is Phase.STARTED:
        time.sleep(1.5 * progress.ProgressReporter.interval)


def spy_on(row_of: Callable[[], Any], callback: Callable[[ProgressEvent], None]) -> Any:
    """A callback that passes events on, then records what the row shows."""
    seen: list[Snapshot] = []

    def spy(event: ProgressEvent) -> None:
        callback(event)
        pause_at_start(event)
        row = row_of()
        if row is not None:
            seen.append(
                {
                    "phase": event.phase,
                    "text": row.phase,
                    "amount": row.amount,
                    "value": row.bar.value,
                    "style": row.bar.bar_style,
                    "html": row.phase_html.value,
                }
            )

    spy.seen = seen  # type: ignore[attr-defined]
    return spy


# -- the progress widget ---------------------------------------------------------------


def test_progress_row_follows_a_real_download_to_done(
    prebuilt_server: HubServer, archive_root: Path, cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = f"{prebuilt_server.url}/google/big/1"
    total = (archive_root / "google/big/1.tar.gz").stat().st_size
    widget = WidgetProgress()
    spy = spy_on(lambda: widget.rows.get(handle), widget)
    hubmagic.resolve(handle, cache_dir=cache, progress=spy)

    row = widget.rows[handle]
    phases = [s["phase"] for s in spy.seen]
    assert phases[0] is Phase.CONNECTING and phases[-1] is Phase.DONE
    assert spy.seen[0]["text"] == "connecting"
    downloading = [s for s in spy.seen if s["phase"] is Phase.DOWNLOADING]
    assert downloading, "no byte events: the download was too fast to watch"
    for shown in downloading:
        assert shown["text"] == "downloading" and shown["style"] == ""
        assert f"/ {format_bytes(total)}" in shown["amount"] and "%" in shown["amount"]
        # The network is read ahead of extraction, so a byte event can already
        # say 100% while the archive is still being unpacked.
        assert 0.0 < shown["value"] <= 1.0
    assert any("/s" in s["amount"] and "left" in s["amount"] for s in downloading)
    assert "extracting" in [s["text"] for s in spy.seen]

    assert row.phase.startswith("done in ") and "done in" in row.phase_html.value
    assert row.amount == f"100% · {format_bytes(total)} / {format_bytes(total)}"
    assert row.bar.value == 1.0 and row.bar.bar_style == "success"
    # Byte events are throttled: never more redraws than events, one per phase change.
    assert row.redraws <= len(spy.seen)
    assert handle in repr(row) and "done in" in repr(row)

    # The contract with the browser test.
    assert classes(widget.box) == ("hubmagic-progress",)
    assert classes(row) == ("hubmagic-progress-row",)
    assert classes(row.phase_html) == ("hubmagic-progress-phase",)
    # Shown once, on the first event; without a widget manager, as text.
    out = capsys.readouterr().out
    assert out.startswith(f"{handle}: connecting") and out.count("\n") == 1


def test_unknown_total_looks_indeterminate(fake_hub_server: HubServer, cache: str) -> None:
    # The hub server builds the archive while sending it: no Content-Length.
    handle = f"{fake_hub_server.url}/google/big/1"
    widget = WidgetProgress(interval=0)
    spy = spy_on(lambda: widget.rows.get(handle), widget)
    hubmagic.resolve(handle, cache_dir=cache, progress=spy)
    downloading = [s for s in spy.seen if s["phase"] is Phase.DOWNLOADING]
    assert downloading
    for shown in downloading:
        assert shown["value"] == 1.0 and shown["style"] == "info"
        assert "%" not in shown["amount"] and "iB" in shown["amount"]
    assert any("/s" in s["amount"] for s in downloading)
    assert widget.rows[handle].phase.startswith("done in ")


def test_failed_download_shows_failed_in_red(fake_hub_server: HubServer, cache: str) -> None:
    handle = f"{fake_hub_server.url}/google/none/1"
    widget = WidgetProgress()
    with pytest.raises(ModelNotFoundError):
        hubmagic.resolve(handle, cache_dir=cache, progress=widget)
    row = widget.rows[handle]
    assert row.phase.startswith("failed: ") and "HTTP 404" in row.phase
    assert f"color:{RED}" in row.phase_html.value and "failed" in row.phase_html.value
    assert row.bar.bar_style == "danger"
    assert "hubmagic-failed" in classes(row)
    assert "failed" in repr(widget)


def test_cache_hits_show_only_when_asked(fake_hub_server: HubServer, cache: str) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    hubmagic.resolve(handle, cache_dir=cache)
    quiet = WidgetProgress(show_hits=False)
    hubmagic.resolve(handle, cache_dir=cache, progress=quiet)
    assert quiet.rows == {} and repr(quiet) == "(no downloads yet)"
    loud = WidgetProgress()
    hubmagic.resolve(handle, cache_dir=cache, progress=loud)
    assert loud.rows[handle].phase == "done (from the cache)"


def test_waiting_for_a_lock_names_its_holder(
    fake_hub_server: HubServer, cache: str, sleeper: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A live process on this host holds the lock and shows no progress: after
    # HUBMAGIC_LOCK_TIMEOUT the resolver takes over; until then it waits.
    monkeypatch.setenv("HUBMAGIC_LOCK_TIMEOUT", "1")
    handle = f"{fake_hub_server.url}/google/tiny/1"
    os.makedirs(cache)
    Path(cache, f"{cache_key(handle)}.lock").write_text(f"{HOST}.{sleeper}.abcd")
    widget = WidgetProgress(interval=0)
    spy = spy_on(lambda: widget.rows.get(handle), widget)
    hubmagic.resolve(handle, cache_dir=cache, progress=spy)
    waiting = [s for s in spy.seen if s["phase"] is Phase.WAITING]
    assert waiting
    assert waiting[-1]["text"].startswith(f"waiting for a lock held by {HOST}:{sleeper} for ")
    assert waiting[-1]["style"] == "warning"
    assert widget.rows[handle].phase.startswith("done in ")


def test_retrying_says_after_what(
    fake_models_dir: Path, tmp_path: Path, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBMAGIC_RETRY_BACKOFF", "0.01")
    archive = tmp_path / "tiny.tar.gz"
    write_archive(fake_models_dir / "google/tiny/1", archive)
    server = FaultyServer(archive.read_bytes(), [Fault(status=503)])
    try:
        handle = f"{server.url}/models/m.tar.gz"
        widget = WidgetProgress(interval=0)
        spy = spy_on(lambda: widget.rows.get(handle), widget)
        hubmagic.resolve(handle, cache_dir=cache, progress=spy)
    finally:
        server.stop()
    retrying = [s for s in spy.seen if s["phase"] is Phase.RETRYING]
    assert len(retrying) == 1
    assert retrying[0]["text"].startswith("retrying after HTTP 503")
    assert widget.rows[handle].phase.startswith("done in ")


def test_byte_events_are_throttled_and_safe_from_threads() -> None:
    widget = WidgetProgress()
    handle = "https://example.com/m.tar.gz"
    widget(ProgressEvent(handle, Phase.STARTED, total=1000))
    row = widget.rows[handle]
    drawn = row.redraws

    def feed(start: int) -> None:
        for i in range(start, 1000, 4):
            widget(ProgressEvent(handle, Phase.DOWNLOADING, bytes_done=i, total=1000, elapsed=1.0))

    threads = [threading.Thread(target=feed, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert row.redraws - drawn <= 3  # 1000 events in well under 0.3 s
    widget(ProgressEvent(handle, Phase.DONE, bytes_done=1000, total=1000, elapsed=2.0))
    assert row.phase == "done in 2.00 s" and row.bar.value == 1.0


def test_phase_texts() -> None:
    def text(phase: Phase, **fields: Any) -> str:
        return phase_text(ProgressEvent("h", phase, **fields))

    assert text(Phase.CONNECTING, message="connecting to x") == "connecting"
    assert text(Phase.STARTED) == text(Phase.DOWNLOADING) == "downloading"
    assert text(Phase.EXTRACTING) == "extracting"
    assert text(Phase.WAITING, lock_holder="vm-1.lan.42.abc", waited=12.0) == (
        "waiting for a lock held by vm-1.lan:42 for 12 s"
    )
    assert text(Phase.RETRYING, message="HTTP 503") == "retrying after HTTP 503"
    assert text(Phase.DONE, elapsed=3.5) == "done in 3.50 s"
    assert text(Phase.DONE, from_cache=True) == "done (from the cache)"
    # Text views say only "failed" (the error is shown by whoever catches it);
    # a widget row, the only place the panel's user sees it, adds the message.
    assert text(Phase.FAILED, message="boom") == "failed"
    row = ProgressRow("h")
    row.update(ProgressEvent("h", Phase.FAILED, message="boom"))
    assert row.phase == "failed: boom" and repr(row) == "h: failed"


# -- the cache panel -------------------------------------------------------------------


def hub_magics(shell: Shell) -> magics.HubMagics:
    """The shell's HubMagics, with default options (``%config`` in other tests sticks
    to the shared InteractiveShell)."""
    (magic,) = [c for c in shell.ip.configurables if isinstance(c, magics.HubMagics)]
    magic.progress = "auto"
    magic.summary = True
    return magic


def statuses(panel: CachePanel) -> dict[str, str]:
    return {row.name: row.status for row in panel.rows}


def test_panel_lists_every_state(damaged_cache: Path, sleeper: int) -> None:
    panel = CachePanel(str(damaged_cache), listen=False)
    assert statuses(panel) == {
        "h/complete": "complete",
        "h/complete-stale-lock": "stale lock",
        "h/empty": "partial",
        "h/no-graph": "partial",
        cache_key("h/dead-lock"): "stale lock",
        cache_key("h/live"): f"locked by {HOST}:{sleeper}",
        cache_key("h/orphan"): "orphan tmp",
    }
    header = "\n".join(panel.header)
    for expected in ("runtime:", "load format:", "io device:", "free disk:", "cache size:"):
        assert expected in header
    assert value_of("models from", header).startswith("the cache folder (each model downloaded")
    assert value_of("cache folder", header) == str(damaged_cache)
    assert f"{panel.info.size_str} in 7 entries" in header

    # The contract with the browser test.
    assert "hubmagic-panel" in classes(panel)
    assert all("hubmagic-row" in classes(row) for row in panel.rows)
    assert [b.description for b in panel.buttons.values()] == [
        "Refresh",
        "Verify",
        "Repair",
        "Clear all",
        "Prune",
    ]
    assert {row.delete_button.description for row in panel.rows} == {"Delete"}
    assert panel.row(cache_key("h/live")).delete_button.disabled  # type: ignore[union-attr]
    assert not panel.row("h/complete").delete_button.disabled  # type: ignore[union-attr]
    assert "hubmagic-message" in classes(panel.message_html)
    assert not confirming(panel)
    assert "h/complete" in panel.row("h/complete").handle_html.value  # type: ignore[union-attr]
    assert "hubmagic-problem" in classes(panel.row("h/empty"))

    # Text for terminals and notebook viewers: the header and the table, whole.
    text = repr(panel)
    assert text.startswith("runtime:") and "STATUS" in text and "h/no-graph" in text
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == text and len(text) > 110
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_delete_asks_then_removes_only_on_confirm(damaged_cache: Path) -> None:
    panel = CachePanel(str(damaged_cache), listen=False)
    key = cache_key("h/complete")
    before = names_in(damaged_cache)

    panel.row("h/complete").delete_button.click()  # type: ignore[union-attr]
    assert confirming(panel)
    assert panel.confirm_button.description == "Confirm"
    assert panel.cancel_button.description == "Cancel"
    assert (
        "Will delete 1 entry" in panel.confirm_html.value and "freeing" in panel.confirm_html.value
    )
    assert names_in(damaged_cache) == before
    panel.cancel_button.click()
    assert not confirming(panel) and "nothing was deleted" in panel.message
    assert names_in(damaged_cache) == before

    panel.row("h/complete").delete_button.click()  # type: ignore[union-attr]
    panel.confirm_button.click()
    assert not confirming(panel)
    assert names_in(damaged_cache) == before - {key, f"{key}.descriptor.txt"}
    assert panel.message.startswith("Removed 1 entry, freed ")
    assert panel.row("h/complete") is None  # refreshed
    assert "Removed 1 entry" in panel.message_html.value


def test_clear_all_cancel_then_confirm(damaged_cache: Path) -> None:
    panel = CachePanel(str(damaged_cache), listen=False)
    before = names_in(damaged_cache)
    panel.buttons["Clear all"].click()
    assert confirming(panel)
    plan = panel.pending
    assert plan is not None and len(plan.items) == 6
    assert "Will clear 6 entries" in panel.confirm_html.value
    assert plan.expected_freed_size_str in panel.confirm_html.value
    assert "not touched" in panel.confirm_html.value  # the live download
    panel.cancel_button.click()
    assert names_in(damaged_cache) == before and len(panel.rows) == 7

    panel.buttons["Clear all"].click()
    panel.confirm_button.click()
    live = cache_key("h/live")
    assert names_in(damaged_cache) == {f"{live}.lock", f"{live}.ee22.tmp", "notes.txt"}
    assert [row.name for row in panel.rows] == [live]
    assert "Removed 6 entries" in panel.message and "not touched" in panel.message


def test_repair_removes_exactly_the_leftovers(damaged_cache: Path) -> None:
    panel = CachePanel(str(damaged_cache), listen=False)
    leftovers = {name for e in panel.info.entries for name in e.leftovers}
    assert leftovers
    before = names_in(damaged_cache)
    panel.buttons["Repair"].click()
    assert confirming(panel) and "Will repair 5 entries" in panel.confirm_html.value
    assert names_in(damaged_cache) == before
    panel.confirm_button.click()
    assert names_in(damaged_cache) == before - leftovers
    assert statuses(panel) == {
        "h/complete": "complete",
        "h/complete-stale-lock": "complete",
        cache_key("h/live"): panel.row(cache_key("h/live")).status,  # type: ignore[union-attr]
    }
    # Nothing left to repair: no confirmation, just the answer.
    panel.buttons["Repair"].click()
    assert not confirming(panel) and panel.message.startswith("Nothing to repair")


def test_verify_highlights_problems_and_refresh_sees_new_folders(
    damaged_cache: Path, fake_models_dir: Path
) -> None:
    panel = CachePanel(str(damaged_cache), listen=False)
    panel.buttons["Verify"].click()
    assert panel.message.startswith("5 of 7 entries need attention:")
    row = panel.row("h/no-graph")
    assert row is not None and "has no saved_model.pb" in row.status_html.value
    assert f"color:{RED}" in row.status_html.value

    add_model(damaged_cache, "h/added", fake_models_dir / "google/tiny/1")
    assert panel.row("h/added") is None
    panel.buttons["Refresh"].click()
    added = panel.row("h/added")
    assert added is not None and added.status == "complete"
    assert "hubmagic-row" in classes(added) and "h/added" in added.handle_html.value


def test_panel_follows_a_download_live(
    prebuilt_server: HubServer, fake_hub_server: HubServer, cache: str
) -> None:
    handle = f"{prebuilt_server.url}/google/big/1"
    panel = CachePanel(cache, interval=0)
    assert panel.listening and panel.on_event in progress._listeners
    refreshed: list[list[str]] = []

    def row_of() -> CacheRow | None:
        return panel.row(handle)

    def watch(event: ProgressEvent) -> None:
        # Halfway, a Refresh finds the download's lock: still one row, still live.
        if event.phase is Phase.DOWNLOADING and not refreshed:
            panel.refresh()
            refreshed.append([r.status for r in panel.rows])

    shown: list[str] = []

    def show(event: ProgressEvent) -> None:
        # The panel heard the event first (listeners run before the callback).
        pause_at_start(event)
        watch(event)
        row = row_of()
        shown.append(row.status if row is not None else "(no row)")

    hubmagic.resolve(handle, cache_dir=cache, progress=show)
    assert shown[0] == "downloading now (connecting)"
    percents = [
        s for s in shown if s.startswith("downloading now ") and s.split(" · ")[0].endswith("%")
    ]
    assert percents, shown
    assert len(refreshed[0]) == 1 and refreshed[0][0].startswith("downloading now")
    final = panel.row(handle)
    assert final is not None and final.status == "complete" and not final.delete_button.disabled
    assert len(panel.rows) == 1

    # A failed download shows while it runs, then goes.
    missing = f"{fake_hub_server.url}/google/none/1"
    seen: list[list[str]] = []
    with pytest.raises(ModelNotFoundError):
        hubmagic.resolve(
            missing, cache_dir=cache, progress=lambda e: seen.append([r.name for r in panel.rows])
        )
    assert missing in seen[0]
    assert [r.name for r in panel.rows] == [handle]

    panel.close()
    assert not panel.listening and panel.on_event not in progress._listeners


def test_live_updates_are_throttled(cache: str) -> None:
    panel = CachePanel(cache)
    try:
        handle = "https://example.com/m.tar.gz"
        panel.on_event(ProgressEvent(handle, Phase.STARTED, total=1000))
        drawn = panel.redraws
        for i in range(1000):
            panel.on_event(ProgressEvent(handle, Phase.DOWNLOADING, bytes_done=i, total=1000))
        assert panel.redraws - drawn <= 3
        assert panel.row(handle) is not None
    finally:
        panel.close()


def test_hub_panel_magic(
    shell: Shell, cache: str, fake_models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.makedirs(cache)
    add_model(Path(cache), "h/one", fake_models_dir / "google/tiny/1")
    assert shell.magic("hub_panel", f"--cache {cache}") is None
    out = capsys.readouterr().out
    assert value_of("cache folder", out) == os.path.abspath(cache)
    assert "STATUS" in out and "h/one" in out and "complete" in out
    first = hub_magics(shell)._panel
    assert isinstance(first, CachePanel) and first.on_event in progress._listeners
    shell.magic("hub_panel", f"--cache {cache}")
    second = hub_magics(shell)._panel
    assert second is not first and not first.listening and second.listening
    with pytest.raises(UsageError, match="unrecognized arguments"):
        shell.magic("hub_panel", "--bogus")
    shell.magic("unload_ext", "hubmagic")
    assert not second.listening and second.on_event not in progress._listeners


def test_panel_is_exported_lazily(cache: str) -> None:
    from hubmagic.ui import widgets

    assert hubmagic.panel is widgets.panel
    made = hubmagic.panel(cache)
    try:
        assert isinstance(made, CachePanel) and made.rows == []
    finally:
        made.close()


def test_panel_of_a_cache_that_is_a_file_shows_the_header_and_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(blocker))
    made = open_panel()  # what %hub_panel shows: it must not raise
    try:
        header = "\n".join(made.header)
        assert header.startswith("runtime:") and "load format:" in header
        assert value_of("cache folder", header) == str(blocker)  # the one in force
        assert "free disk:" in header
        assert value_of("cache size", header) == "unknown (the cache could not be read)"
        assert made.scan_error is not None and made.rows == []
        error = f"Could not list the cache folder {blocker}"
        assert made.message.startswith(error) and "CacheError" not in made.message
        assert f"color:{RED}" in made.message_html.value and error in made.message_html.value
        text = repr(made)
        assert text.startswith("runtime:") and error in text and "STATUS" not in text

        # The buttons say what is wrong rather than raise.
        for name in ("Verify", "Repair", "Clear all"):
            made.buttons[name].click()
            assert made.message.startswith(error), name
            assert not confirming(made)

        # Once the file is gone, Refresh finds an empty cache and the error goes.
        blocker.unlink()
        made.buttons["Refresh"].click()
        assert made.scan_error is None and made.message == ""
        assert value_of("cache size", "\n".join(made.header)) == "0 B in 0 entries"
    finally:
        made.close()


def test_a_bad_setting_shows_in_the_header_in_place_of_the_settings(
    damaged_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFHUB_MODEL_LOAD_FORMAT", "bogus")
    panel = CachePanel(str(damaged_cache), listen=False)
    header = "\n".join(panel.header)
    assert "\nsettings:\n  could not be read: TFHUB_MODEL_LOAD_FORMAT='bogus'" in header
    assert "\nload format:" not in header
    assert value_of("cache folder", header) == str(damaged_cache)  # known all the same
    assert value_of("cache size", header) == f"{panel.info.size_str} in 7 entries"
    assert len(panel.rows) == 7 and panel.message == ""


@pytest.mark.parametrize("bucket", ["without credentials", "missing"])
def test_panel_of_an_unusable_bucket_shows_the_header_and_the_error(
    bucket: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shell: Shell,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if bucket == "missing":
        request.getfixturevalue("gcs")  # the emulator: credentials fine, no such bucket
        cache, error = "gs://no-such-bucket-for-the-panel/cache", "does not exist"
    else:
        pytest.importorskip("google.cloud.storage")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
        monkeypatch.setenv("NO_GCE_CHECK", "true")
        cache, error = "gs://some-bucket/cache", "No Google Cloud credentials"
    hub_magics(shell)
    shell.magic("hub_panel", f"--cache {cache}")
    out = capsys.readouterr().out
    assert out.startswith("runtime:")
    assert value_of("cache folder", out) == cache
    assert value_of("free disk", out) == "n/a (gs:// cache)"
    assert error in out and "Traceback" not in out
    made = hub_magics(shell)._panel
    assert isinstance(made, CachePanel) and made.scan_error is not None
    assert error in made.message and made.rows == []
    assert "GcsError" not in made.message
    made.close()


# -- which renderer ---------------------------------------------------------------------


@pytest.fixture
def fresh_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(magics, "_warned_no_widgets", False)


@pytest.mark.parametrize(
    ("setting", "env", "kernel", "widgets", "expected"),
    [
        ("auto", None, True, True, "widget"),
        ("auto", None, False, True, "text"),
        ("auto", None, True, False, "text"),
        ("text", None, True, True, "text"),
        ("off", None, True, True, "off"),
        ("widget", None, False, True, "widget"),
        ("text", "widget", False, True, "widget"),
        ("widget", "off", True, True, "off"),
        ("widget", "TEXT", True, True, "text"),
        ("off", "auto", True, True, "widget"),
    ],
)
def test_choose_progress(
    setting: str, env: str | None, kernel: bool, widgets: bool, expected: str
) -> None:
    environ = {"HUBMAGIC_PROGRESS": env} if env else {}
    choice = magics.choose_progress(
        setting, in_kernel=lambda: kernel, has_ipywidgets=lambda: widgets, environ=environ
    )
    assert choice == expected


def test_forced_widget_without_ipywidgets_warns_once(fresh_warning: None) -> None:
    def choose() -> str:
        return magics.choose_progress(
            "widget", in_kernel=lambda: True, has_ipywidgets=lambda: False, environ={}
        )

    with pytest.warns(UserWarning, match="pip install ipywidgets"):
        assert choose() == "text"
    assert choose() == "text"  # no second warning: filterwarnings=error would raise


def test_bad_progress_env_is_a_clear_error() -> None:
    with pytest.raises(InvalidSettingError, match="HUBMAGIC_PROGRESS='fancy'"):
        magics.choose_progress(
            "auto",
            in_kernel=lambda: True,
            has_ipywidgets=lambda: True,
            environ={"HUBMAGIC_PROGRESS": "fancy"},
        )


def test_progress_callback_in_a_real_shell(
    shell: Shell, monkeypatch: pytest.MonkeyPatch, fresh_warning: None
) -> None:
    magic = hub_magics(shell)
    assert isinstance(magic.progress_callback(), TextProgress)  # a terminal shell
    monkeypatch.setattr(shell.ip, "kernel", object(), raising=False)  # as ipykernel's shell
    assert isinstance(magic.progress_callback(), WidgetProgress)
    monkeypatch.setenv("HUBMAGIC_PROGRESS", "text")
    assert isinstance(magic.progress_callback(), TextProgress)
    monkeypatch.setenv("HUBMAGIC_PROGRESS", "off")
    assert magic.progress_callback() is None
    monkeypatch.setenv("HUBMAGIC_PROGRESS", "widget")
    assert isinstance(magic.progress_callback(), WidgetProgress)

    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real(name, *a),
    )
    with pytest.warns(UserWarning, match="pip install ipywidgets"):
        assert isinstance(magic.progress_callback(), TextProgress)
    monkeypatch.delenv("HUBMAGIC_PROGRESS")
    assert isinstance(magic.progress_callback(), TextProgress)  # auto: quietly text


@pytest.mark.tf
def test_hub_load_with_widget_progress(
    shell: Shell,
    hub_server: HubServer,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HUBMAGIC_PROGRESS", "widget")
    hub_magics(shell)
    shell.magic("hub_setup", f"--cache {cache}")
    capsys.readouterr()
    handle = f"{hub_server.url}/google/tiny/1"
    shell.run(f"model = %hub_load {handle}")
    out = capsys.readouterr().out
    assert f"{handle}: connecting" in out  # the widget's text, shown once on the first event
    assert "downloaded" in out  # the summary line
    shell.run(f"again = %hub_load {handle}")
    out = capsys.readouterr().out
    assert "connecting" not in out and "from the cache" in out  # hits show no widget


def test_rows_show_connections_resumes_and_retries(cache: str) -> None:
    """The progress row and the panel's live row word them as the text progress does."""
    handle = "https://example.com/m.tar.gz"
    widget = WidgetProgress(interval=0)
    widget(ProgressEvent(handle, Phase.STARTED, total=4 * 1024**2, connections=8))
    parallel = ProgressEvent(
        handle,
        Phase.DOWNLOADING,
        bytes_done=2 * 1024**2,
        total=4 * 1024**2,
        elapsed=1.0,
        connections=8,
        resumes=2,
        retries=3,
    )
    widget(parallel)
    row = widget.rows[handle]
    amount = "50% · 2.0 MiB / 4.0 MiB · 2.0 MiB/s · 1.00 s left · 8 connections · 2 resumed"
    assert row.amount == f"{amount} · 3 retries"
    assert f"{amount} · 3 retries" in row.amount_html.value and row.phase == "downloading"
    assert repr(row) == (
        f"{handle}: 50%, 2.0 MiB / 4.0 MiB, 2.0 MiB/s, 1.00 s left, "
        "8 connections, 2 resumed, 3 retries [downloading]"
    )
    widget(ProgressEvent(handle, Phase.DOWNLOADING, 3 * 1024**2, 4 * 1024**2, 2.0, connections=1))
    assert row.amount == "75% · 3.0 MiB / 4.0 MiB · 1.5 MiB/s · 0.67 s left"  # one stream
    panel = CachePanel(cache, listen=False)
    try:
        panel.on_event(parallel)
        live = panel.row(handle)
        assert live is not None
        assert live.status == "downloading now 50% · 8 connections · 2 resumed · 3 retries"
        assert live.status in live.status_html.value
        assert "downloading now 50% · 8 connections" in repr(panel)
    finally:
        panel.close()


def test_row_widget_repr_without_events() -> None:
    row = ProgressRow("https://example.com/m.tar.gz")
    assert repr(row) == "https://example.com/m.tar.gz: waiting to start"
    assert row._repr_mimebundle_()["text/plain"] == repr(row)


def test_panel_header_says_models_are_read_from_gcs_when_uncompressed(
    cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubmagic.core import session
    from hubmagic.plan import UncompressedProbe, plan_setup
    from hubmagic.plan.runtime import Runtime

    monkeypatch.setenv("TFHUB_CACHE_DIR", cache)
    monkeypatch.setenv("TFHUB_MODEL_LOAD_FORMAT", "UNCOMPRESSED")
    probe = UncompressedProbe("h", "h?tf-hub-format=uncompressed", location="gs://b/p/m/1")
    plan = plan_setup(
        Runtime(home=cache),
        "local",
        cache=cache,
        uncompressed=True,
        uncompressed_probe=probe,
        disk_usage=lambda path: 100 * 1024**3,
        writable=lambda path: True,
    )
    monkeypatch.setattr(session, "state", session.SessionState(plan=plan))
    panel = CachePanel(cache, listen=False)
    header = "\n".join(panel.header)
    assert value_of("models from", header).startswith("GCS, uncompressed")
    assert "checked: gs://b/p/m/1" in header
