"""Text progress: a line per download in a terminal, a line per phase change elsewhere.

The terminal cases write to a real pseudo-terminal (``pty``) and replay what
came out of it on :class:`tests.terminal_screen.Screen`; the other cases write
to a StringIO or a pipe.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import pytest

from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.server import HubServer
from hubmagic.ui.textprogress import FetchProgress, TextProgress, print_line, stream_mode
from tests.shell_fixtures import Shell
from tests.subprocess_env import repo_env
from tests.terminal_screen import Screen

MiB = 1024**2
ESC = "\x1b"


def _event(handle: str, phase: Phase, done: int = 0, **fields: Any) -> ProgressEvent:
    return ProgressEvent(handle, phase, bytes_done=done, **fields)


def _two_downloads(a: Callable[[ProgressEvent], None], b: Callable[[ProgressEvent], None]) -> None:
    """Two downloads that overlap: a starts, b starts, both progress, a ends, b ends."""
    a(_event("hub/a/1", Phase.CONNECTING, message="connecting to hub"))
    a(_event("hub/a/1", Phase.STARTED, total=4 * MiB))
    b(_event("hub/b/1", Phase.CONNECTING, message="connecting to hub"))
    b(_event("hub/b/1", Phase.STARTED, total=8 * MiB))
    a(_event("hub/a/1", Phase.DOWNLOADING, 1 * MiB, total=4 * MiB, elapsed=0.5))
    b(_event("hub/b/1", Phase.DOWNLOADING, 2 * MiB, total=8 * MiB, elapsed=0.5))
    a(_event("hub/a/1", Phase.DOWNLOADING, 3 * MiB, total=4 * MiB, elapsed=1.0))
    a(_event("hub/a/1", Phase.EXTRACTING, 4 * MiB, total=4 * MiB, elapsed=1.5, message=""))
    a(_event("hub/a/1", Phase.DONE, 4 * MiB, total=4 * MiB, elapsed=2.0))
    b(_event("hub/b/1", Phase.DOWNLOADING, 6 * MiB, total=8 * MiB, elapsed=1.5))
    b(_event("hub/b/1", Phase.DONE, 8 * MiB, total=8 * MiB, elapsed=3.0))


@contextmanager
def _terminal() -> Iterator[tuple[TextIO, list[str]]]:
    """A text stream on a real pty; after the block, the list holds all it showed."""
    master, slave = pty.openpty()
    shown: list[str] = []
    stream = open(slave, "w", encoding="utf-8")  # noqa: SIM115 (closed below, then read)
    try:
        yield stream, shown
    finally:
        stream.close()
        shown.append(_read_all(master))


def _read_all(master: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks).decode()


def _has_rows(snapshot: list[str], *prefixes: str) -> bool:
    return all(any(line.startswith(p) for line in snapshot) for p in prefixes)


# -- which mode -----------------------------------------------------------------------------


def test_the_mode_follows_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    with _terminal() as (tty, _):
        assert stream_mode(tty) == "terminal"
        monkeypatch.setenv("TERM", "dumb")  # no cursor movement there
        assert stream_mode(tty) == "plain"
    assert stream_mode(io.StringIO()) == "plain"
    read, write = os.pipe()
    with os.fdopen(read) as r, os.fdopen(write, "w") as w:
        assert stream_mode(w) == "plain"
        assert r is not None


def test_a_jupyter_kernels_stdout_is_live() -> None:
    """A real kernel: its stdout is not a tty, but it renders a carriage return."""
    manager = pytest.importorskip("jupyter_client.manager")
    km, kc = manager.start_new_kernel(kernel_name="python3", env=repo_env())
    try:
        code = "from hubmagic.ui.textprogress import stream_mode; import sys\n"
        code += "print(stream_mode(sys.stdout), sys.stdout.isatty())"
        out: list[str] = []
        reply = kc.execute_interactive(
            code,
            timeout=60,
            output_hook=lambda msg: out.append(msg["content"].get("text", "")),
        )
        assert reply["content"]["status"] == "ok"
        assert "".join(out).split() == ["live", "False"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# -- terminal -------------------------------------------------------------------------------


def test_two_downloads_in_a_terminal_get_a_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    with _terminal() as (tty, shown):
        _two_downloads(TextProgress(tty), TextProgress(tty))
    screen = Screen().feed(shown[0])
    # While both ran, each had a line of its own, redrawn in place.
    assert any(
        _has_rows(s, "hub/a/1: 75%", "hub/b/1: 25%") and len(s) == 2 for s in screen.snapshots
    ), screen.snapshots
    assert screen.text_lines() == [
        "hub/a/1: done in 2.00 s, 4.0 MiB downloaded",
        "hub/b/1: done in 3.00 s, 8.0 MiB downloaded",
    ]


def test_a_line_printed_while_downloads_run_goes_above_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The summary of one %hub_load, printed while another one still downloads."""
    monkeypatch.setenv("TERM", "xterm")
    with _terminal() as (tty, shown):
        a, b = TextProgress(tty), TextProgress(tty)
        a(_event("hub/a/1", Phase.STARTED, total=MiB))
        b(_event("hub/b/1", Phase.STARTED, total=MiB))
        a(_event("hub/a/1", Phase.DONE, MiB, total=MiB, elapsed=1.0))
        print_line("hub/a/1: summary", tty)
        b(_event("hub/b/1", Phase.DOWNLOADING, MiB // 2, total=MiB, elapsed=1.0))
        b(_event("hub/b/1", Phase.DONE, MiB, total=MiB, elapsed=2.0))
    screen = Screen().feed(shown[0])
    assert screen.text_lines() == [
        "hub/a/1: done in 1.00 s, 1.0 MiB downloaded",
        "hub/a/1: summary",
        "hub/b/1: done in 2.00 s, 1.0 MiB downloaded",
    ]


def test_an_interrupted_download_leaves_no_line_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    with _terminal() as (tty, shown):
        gone = TextProgress(tty)
        gone(_event("hub/a/1", Phase.STARTED, total=MiB))  # then Ctrl-C: no DONE, no FAILED
        del gone
        later = TextProgress(tty)
        later(_event("hub/b/1", Phase.STARTED, total=MiB))
        later(_event("hub/b/1", Phase.DONE, MiB, total=MiB, elapsed=1.0))
    assert Screen().feed(shown[0]).text_lines() == ["hub/b/1: done in 1.00 s, 1.0 MiB downloaded"]


def test_long_lines_are_cut_to_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    with _terminal() as (tty, shown):
        fcntl.ioctl(tty.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
        handle = "https://example.org/" + "x" * 300
        progress = TextProgress(tty)
        progress(_event(handle, Phase.STARTED, total=MiB))
        progress(_event(handle, Phase.DOWNLOADING, MiB // 2, total=MiB, elapsed=1.0))
        progress(_event(handle, Phase.FAILED, MiB // 2, total=MiB, elapsed=1.0, message="x"))
    screen = Screen().feed(shown[0])
    assert screen.snapshots[1][0].endswith("1.00 s left [downloading]")
    assert all(len(line) <= 59 for s in screen.snapshots[:-1] for line in s)  # one row each
    assert screen.text_lines()[-1].endswith(": failed")


def test_fetch_in_a_terminal_shows_each_download_and_a_status_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm")
    now = [0.0]
    with _terminal() as (tty, shown):
        progress = FetchProgress(tty, 2, interval=1.0, clock=lambda: now[0])
        _two_downloads(progress, progress)
        progress.finish()
    screen = Screen().feed(shown[0])
    assert any(
        _has_rows(s, "hub/a/1: 100%", "hub/b/1: 25%", "0 of 2 done, 2 running") and len(s) == 3
        for s in screen.snapshots
    ), screen.snapshots
    assert screen.text_lines() == [
        "hub/a/1: done, 4.0 MiB in 2.00 s",
        "hub/b/1: done, 8.0 MiB in 3.00 s",
    ]


# -- not a terminal -------------------------------------------------------------------------


def test_elsewhere_each_phase_change_is_a_whole_line() -> None:
    stream = io.StringIO()
    _two_downloads(TextProgress(stream), TextProgress(stream))
    text = stream.getvalue()
    assert "\r" not in text and ESC not in text
    assert text.splitlines() == [
        "hub/a/1: connecting to hub",
        "hub/a/1: downloading (4.0 MiB)",
        "hub/b/1: connecting to hub",
        "hub/b/1: downloading (8.0 MiB)",
        "hub/a/1: extracting",
        "hub/a/1: done in 2.00 s, 4.0 MiB downloaded",
        "hub/b/1: done in 3.00 s, 8.0 MiB downloaded",
    ]


def test_fetch_elsewhere_writes_phase_lines_only() -> None:
    stream = io.StringIO()
    progress = FetchProgress(stream, 2)
    _two_downloads(progress, progress)
    progress.finish()
    assert stream.getvalue().splitlines() == [
        "hub/a/1: connecting to hub",
        "hub/a/1: downloading (4.0 MiB)",
        "hub/b/1: connecting to hub",
        "hub/b/1: downloading (8.0 MiB)",
        "hub/a/1: extracting",
        "hub/a/1: done, 4.0 MiB in 2.00 s",
        "hub/b/1: done, 8.0 MiB in 3.00 s",
    ]


def test_in_a_kernel_one_download_is_one_live_line_and_several_are_phase_lines() -> None:
    stream = io.StringIO()
    one = TextProgress(stream, mode="live")
    one(_event("hub/a/1", Phase.STARTED, total=4 * MiB))
    one(_event("hub/a/1", Phase.DOWNLOADING, 2 * MiB, total=4 * MiB, elapsed=1.0))
    one(_event("hub/a/1", Phase.DONE, 4 * MiB, total=4 * MiB, elapsed=2.0))
    single = stream.getvalue()
    assert single.count("\r") >= 2 and ESC not in single  # redrawn in place
    assert Screen().feed(single).text_lines() == ["hub/a/1: done in 2.00 s, 4.0 MiB downloaded"]
    stream = io.StringIO()
    _two_downloads(TextProgress(stream, mode="live"), TextProgress(stream, mode="live"))
    assert ESC not in stream.getvalue()
    lines = Screen().feed(stream.getvalue()).text_lines()
    assert lines[0].startswith("hub/a/1: 0%, 0 B / 4.0 MiB")  # a's line, kept when b came
    assert lines[1:] == [
        "hub/b/1: connecting to hub",
        "hub/b/1: downloading (8.0 MiB)",
        "hub/a/1: extracting",
        "hub/a/1: done in 2.00 s, 4.0 MiB downloaded",
        "hub/b/1: done in 3.00 s, 8.0 MiB downloaded",
    ]


# -- real downloads in threads ----------------------------------------------------------------

_THREADS = textwrap.dedent(
    """
    import sys, threading
    from hubmagic.core.resolver import resolve_model
    from hubmagic.ui.textprogress import TextProgress

    cache, *handles = sys.argv[1:]
    together = threading.Barrier(len(handles))

    class Together(TextProgress):  # both downloads are shown before either goes on
        def __call__(self, event):
            super().__call__(event)
            if event.phase.value == "started":
                together.wait(timeout=60)

    def load(handle):
        resolve_model(handle, cache_dir=cache, progress=Together())

    threads = [threading.Thread(target=load, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
)


def _run_threads(
    server: HubServer, cache: str, stdout: int, **env: str
) -> tuple[subprocess.Popen[bytes], list[str]]:
    handles = [f"{server.url}/google/tiny/1", f"{server.url}/google/tiny/2"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _THREADS, cache, *handles],
        env=repo_env(**env),
        stdout=stdout,
        stderr=subprocess.PIPE,
    )
    return proc, handles


def test_two_loads_in_threads_in_a_terminal(fake_hub_server: HubServer, cache: str) -> None:
    master, slave = pty.openpty()
    proc, handles = _run_threads(fake_hub_server, cache, slave, TERM="xterm")
    os.close(slave)
    shown = _read_all(master)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    screen = Screen().feed(shown)
    assert any(
        len(s) == 2 and _has_rows(s, f"{handles[0]}: ", f"{handles[1]}: ") for s in screen.snapshots
    ), screen.snapshots
    final = screen.text_lines()
    assert sorted(line.split(": done in")[0] for line in final) == sorted(handles), final


def test_two_loads_in_threads_into_a_pipe(fake_hub_server: HubServer, cache: str) -> None:
    proc, handles = _run_threads(fake_hub_server, cache, subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "\r" not in text and ESC not in text
    for handle in handles:
        mine = [line for line in text.splitlines() if line.startswith(f"{handle}: ")]
        assert mine[0] == f"{handle}: connecting to {handle}?tf-hub-format=compressed", text
        assert mine[-1].startswith(f"{handle}: done in "), text
        assert len(mine) == len(set(mine)) <= 5  # a line per phase, not per chunk


@pytest.mark.tf
def test_two_hub_loads_in_threads_print_whole_lines(
    shell: Shell, hub_server: HubServer, cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.magic("hub_setup", f"--cache {cache}")
    capsys.readouterr()
    handles = [f"{hub_server.url}/google/tiny/1", f"{hub_server.url}/google/tiny/2"]
    errors: list[BaseException] = []

    def load(handle: str) -> None:
        try:
            shell.magic("hub_load", handle)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    out = capsys.readouterr().out
    assert "\r" not in out and ESC not in out
    for handle in handles:
        mine = [line for line in out.splitlines() if line.startswith(f"{handle}: ")]
        assert mine[0].startswith(f"{handle}: connecting to "), out
        assert any(line.startswith(f"{handle}: done in ") for line in mine), out
        assert any(f"{handle}: downloaded " in line and "hub.load" in line for line in mine), out


def test_a_hidden_cache_hit_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    with _terminal() as (tty, shown):
        TextProgress(tty, show_hits=False)(_event("hub/a/1", Phase.DONE, from_cache=True))
    assert shown == [""]


# -- connections, resumes and retries -------------------------------------------------------


def _parallel(progress: Callable[[ProgressEvent], None], handle: str = "hub/a/1") -> None:
    """A ranged download on 8 connections: 2 ranges resumed and 3 requests retried on the way."""
    progress(_event(handle, Phase.STARTED, total=4 * MiB, connections=8))
    progress(
        _event(
            handle,
            Phase.DOWNLOADING,
            2 * MiB,
            total=4 * MiB,
            elapsed=1.0,
            connections=8,
            resumes=2,
            retries=3,
        )
    )
    progress(_event(handle, Phase.DONE, 4 * MiB, total=4 * MiB, elapsed=2.0, resumes=2, retries=3))


def test_a_parallel_download_shows_its_connections_resumes_and_retries() -> None:
    stream = io.StringIO()
    _parallel(TextProgress(stream, mode="live"))
    assert (
        "\rhub/a/1: 50%, 2.0 MiB / 4.0 MiB, 2.0 MiB/s, 1.00 s left, "
        "8 connections, 2 resumed, 3 retries [downloading]"
    ) in stream.getvalue()
    assert Screen().feed(stream.getvalue()).text_lines() == [
        "hub/a/1: done in 2.00 s, 4.0 MiB downloaded, 2 resumed, 3 retries"
    ]
    # A single stream reads as it always did.
    stream = io.StringIO()
    single = TextProgress(stream, mode="live")
    single(_event("hub/a/1", Phase.STARTED, total=4 * MiB, connections=1))
    single(_event("hub/a/1", Phase.DOWNLOADING, 2 * MiB, total=4 * MiB, elapsed=1.0, connections=1))
    assert stream.getvalue().endswith(
        "\rhub/a/1: 50%, 2.0 MiB / 4.0 MiB, 2.0 MiB/s, 1.00 s left [downloading]"
    )


def test_a_parallel_downloads_line_is_cut_to_the_width_from_its_start() -> None:
    stream = io.StringIO()  # no terminal size: 80 columns
    _parallel(TextProgress(stream, mode="terminal"), handle="https://example.org/models/a/1")
    screen = Screen().feed(stream.getvalue())
    downloading = [line for s in screen.snapshots for line in s if "[downloading]" in line]
    assert downloading and all(len(line) <= 79 for line in downloading)
    assert downloading[-1].startswith("...")
    assert downloading[-1].endswith(
        "1.00 s left, 8 connections, 2 resumed, 3 retries [downloading]"
    )


def test_fetch_shows_each_downloads_connections_and_their_sum_in_the_status_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm")
    with _terminal() as (tty, shown):
        fcntl.ioctl(tty.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        now = [0.0]
        progress = FetchProgress(tty, 2, interval=0.0, clock=lambda: now[0])
        progress(_event("a", Phase.STARTED, total=4 * MiB, connections=6))
        progress(_event("b", Phase.STARTED, total=4 * MiB, connections=2))
        now[0] = 1.0
        progress(_event("a", Phase.DOWNLOADING, 2 * MiB, total=4 * MiB, elapsed=1.0, connections=6))
        progress(
            _event(
                "b", Phase.DOWNLOADING, MiB, total=4 * MiB, elapsed=1.0, connections=2, retries=3
            )
        )
        now[0] = 2.0
        progress(_event("a", Phase.DONE, 4 * MiB, total=4 * MiB, elapsed=2.0, resumes=2))
        progress.finish()
    screen = Screen().feed(shown[0])
    assert [
        "a: 50%, 2.0 MiB / 4.0 MiB, 2.0 MiB/s, 1.00 s left, 6 connections [downloading]",
        "b: 25%, 1.0 MiB / 4.0 MiB, 1.0 MiB/s, 3.00 s left, 2 connections, 3 retries [downloading]",
        "0 of 2 done, 2 running, 3.0 MiB downloaded, 3.0 MiB/s, 8 connections",
    ] in screen.snapshots, screen.snapshots
    assert [
        "a: done, 4.0 MiB in 2.00 s, 2 resumed",
        "b: 25%, 1.0 MiB / 4.0 MiB, 1.0 MiB/s, 3.00 s left, 2 connections, 3 retries [downloading]",
        "1 of 2 done, 1 running, 5.0 MiB downloaded, 2.5 MiB/s, 2 connections",
    ] in screen.snapshots, screen.snapshots
    assert screen.text_lines() == ["a: done, 4.0 MiB in 2.00 s, 2 resumed"]
    assert progress.transfer_note("a") == "2 resumed"
    assert progress.transfer_note("b") == "3 retries"
    assert progress.transfer_note("c") == ""


def test_fetch_of_single_streams_shows_no_connections() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = FetchProgress(stream, 2, interval=0.0, clock=lambda: now[0], mode="terminal")
    for handle in ("a", "b"):
        progress(_event(handle, Phase.STARTED, total=4 * MiB, connections=1))
    now[0] = 1.0
    for handle in ("a", "b"):
        progress(_event(handle, Phase.DOWNLOADING, MiB, total=4 * MiB, elapsed=1.0, connections=1))
    screen = Screen().feed(stream.getvalue())
    assert "connection" not in stream.getvalue()
    assert screen.snapshots[-1] == [
        "a: 25%, 1.0 MiB / 4.0 MiB, 1.0 MiB/s, 3.00 s left [downloading]",
        "b: 25%, 1.0 MiB / 4.0 MiB, 1.0 MiB/s, 3.00 s left [downloading]",
        "0 of 2 done, 2 running, 2.0 MiB downloaded, 2.0 MiB/s",
    ]
