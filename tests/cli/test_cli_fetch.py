"""Tests of ``python -m hubmagic fetch`` as a real subprocess, against the local hub server."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from hubmagic.core.handle import cache_key
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.server import HubServer
from hubmagic.ui.textprogress import FetchProgress
from tests.subprocess_env import repo_env, run_hubmagic
from tests.terminal_screen import Screen

TIMEOUT = 120


def _fetch(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_hubmagic("fetch", *args, timeout=TIMEOUT, **env)


def _model(server: HubServer, path: str) -> str:
    return f"{server.url}/{path}"


def _complete(cache: str, handle: str) -> bool:
    folder = Path(cache) / cache_key(handle)
    return (folder / "saved_model.pb").is_file() and (folder / "variables").is_dir()


def test_two_handles_in_parallel_fill_the_cache(fake_hub_server: HubServer, cache: str) -> None:
    handles = [_model(fake_hub_server, "google/tiny/1"), _model(fake_hub_server, "google/big/1")]
    result = _fetch(*handles, "--cache", cache)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == handles  # in the order given
    for (handle, path, source, size), expected in zip(rows, handles, strict=True):
        assert handle == expected and source == "download" and int(size) > 0
        assert Path(path) == Path(cache) / cache_key(handle)
        assert _complete(cache, handle)
    assert int(rows[1][3]) > 40_000_000  # google/big/1 really came over the wire

    # Again: both are hits, nothing downloaded; --json gives the same in JSON.
    again = _fetch(*handles, "--cache", cache, "--json")
    assert again.returncode == 0, again.stderr
    records = json.loads(again.stdout)
    assert [r["handle"] for r in records] == handles
    for record in records:
        assert record["source"] == "cache" and record["bytes"] == 0
        assert record["error"] is None and record["seconds"] >= 0
        assert Path(record["path"]) == Path(cache) / cache_key(record["handle"])


def test_cache_defaults_to_tfhub_cache_dir(fake_hub_server: HubServer, tmp_path: Path) -> None:
    cache = str(tmp_path / "from_env")
    handle = _model(fake_hub_server, "google/tiny/2")
    # UNCOMPRESSED is ignored: fetch fills the cache, which only the compressed format does.
    result = _fetch(
        handle, "-j", "1", TFHUB_CACHE_DIR=cache, TFHUB_MODEL_LOAD_FORMAT="UNCOMPRESSED"
    )
    assert result.returncode == 0, result.stderr
    assert _complete(cache, handle)
    assert result.stdout.split("\t")[1] == str(Path(cache) / cache_key(handle))


def test_a_failure_exits_1_and_the_others_are_still_fetched(
    fake_hub_server: HubServer, cache: str
) -> None:
    good = _model(fake_hub_server, "google/tiny/1")
    missing = _model(fake_hub_server, "google/missing/1")
    result = _fetch(missing, good, "--cache", cache)
    assert result.returncode == 1, result.stderr
    assert _complete(cache, good)
    assert not (Path(cache) / cache_key(missing)).exists()
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [good]
    errors = result.stderr.strip().splitlines()  # the failure once, then its fix line
    assert len(errors) == 2 and errors[0].startswith(f"hubmagic fetch: error: {missing}: ")
    assert errors[1].startswith("  fix: Check the handle's spelling")
    assert "HTTP 404" in errors[0] and "Traceback" not in result.stderr

    as_json = json.loads(_fetch(missing, good, "--cache", cache, "--json").stdout)
    assert as_json[0]["error"] and "404" in as_json[0]["error"] and as_json[0]["path"] is None
    assert as_json[1]["error"] is None and as_json[1]["source"] == "cache"


@pytest.mark.parametrize(
    "args", [[], ["--jobs", "0"], ["x", "--jobs", "two"], ["x", "--bogus"], ["--json"]]
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    result = _fetch(*args)
    assert result.returncode == 2, result.stderr
    assert "usage: hubmagic" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_fetch_never_imports_tensorflow(fake_hub_server: HubServer, cache: str) -> None:
    handle = _model(fake_hub_server, "google/tiny/1")
    code = (
        "import sys\n"
        "from hubmagic.cli import main\n"
        f"code = main(['fetch', {handle!r}, '--cache', {cache!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'tensorflow_hub', 'tf_keras', 'keras'))\n"
        "print('exit', code, 'heavy', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "exit 0 heavy []"


def test_a_terminal_gets_progress_lines_and_a_summary(
    fake_hub_server: HubServer, cache: str
) -> None:
    handles = [_model(fake_hub_server, "google/tiny/1"), _model(fake_hub_server, "google/tiny/2")]
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubmagic", "fetch", *handles, "--cache", cache],
        env=repo_env(),
        stdout=slave,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert err == ""
    out = b"".join(chunks).decode()
    screen = Screen().feed(out)
    lines = screen.text_lines()
    for handle in handles:
        assert any(line.startswith(f"{handle}: done, ") for line in lines), out
    assert "2 of 2 models in the cache:" in lines
    assert f"  {handles[0]} -> {Path(cache) / cache_key(handles[0])}" in lines
    assert not any("running" in line for line in lines)  # the status line went at the end
    assert "\t" not in out


def test_fetch_progress_writes_whole_lines_and_a_throttled_status_line() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = FetchProgress(stream, 2, interval=1.0, clock=lambda: now[0], mode="terminal")

    def event(handle: str, phase: Phase, done: int = 0, **kw: object) -> None:
        progress(ProgressEvent(handle, phase, bytes_done=done, **kw))  # type: ignore[arg-type]

    event("a", Phase.CONNECTING, message="connecting to host")
    event("b", Phase.DONE, from_cache=True)
    event("a", Phase.STARTED, total=4 * 1024**2)
    before = stream.getvalue()
    now[0] = 0.5
    event("a", Phase.DOWNLOADING, 1024**2)  # within the interval, no new phase: nothing drawn
    assert stream.getvalue() == before
    now[0] = 1.5
    event("a", Phase.DOWNLOADING, 3 * 1024**2)
    now[0] = 2.0
    event("a", Phase.DONE, 4 * 1024**2, elapsed=2.0)
    progress.finish()
    screen = Screen().feed(stream.getvalue())
    assert [
        "b: already in the cache",
        "a: connecting to host",
        "1 of 2 done, 1 running, 0 B downloaded",
    ] in screen.snapshots
    assert [
        "b: already in the cache",
        "a: 3.0 MiB [downloading]",
        "1 of 2 done, 1 running, 3.0 MiB downloaded, 2.0 MiB/s",
    ] in screen.snapshots
    assert [
        "b: already in the cache",
        "a: done, 4.0 MiB in 2.00 s",
        "2 of 2 done, 4.0 MiB downloaded, 2.0 MiB/s",
    ] in screen.snapshots
    assert not any("1.0 MiB" in line for s in screen.snapshots for line in s)  # throttled
    assert screen.text_lines() == ["b: already in the cache", "a: done, 4.0 MiB in 2.00 s"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_terminal_summary_names_resumes_and_retries(
    monkeypatch: pytest.MonkeyPatch, cache: str
) -> None:
    """A handle whose download was resumed or retried says so in the summary; others do not."""
    from hubmagic.cli import fetch as fetch_command
    from hubmagic.cli import main
    from hubmagic.core.fetch import FetchResult

    def fake_fetch(handles: list[str], **kw: object) -> list[FetchResult]:
        report = kw["progress"]
        assert isinstance(report, FetchProgress)
        report(ProgressEvent("a", Phase.STARTED, total=10, connections=8))
        report(ProgressEvent("a", Phase.DONE, 10, 10, 1.0, resumes=2, retries=3))
        report(ProgressEvent("b", Phase.DONE, 10, 10, 1.0, connections=1))
        return [FetchResult(h, f"/c/{h}", "download", 10, 1.0) for h in handles]

    monkeypatch.setattr(fetch_command, "fetch", fake_fetch)
    out = _Tty()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("TERM", "xterm")
    assert main(["fetch", "a", "b", "--cache", cache]) == 0
    lines = Screen().feed(out.getvalue()).text_lines()
    assert lines == [
        "a: done, 10 B in 1.00 s, 2 resumed, 3 retries",
        "b: done, 10 B in 1.00 s",
        "2 of 2 models in the cache:",
        "  a -> /c/a (2 resumed, 3 retries)",
        "  b -> /c/b",
    ]
