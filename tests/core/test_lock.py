"""Locks shared with tensorflow_hub: concurrent processes, crashed holders, other hosts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hubmagic
from hubmagic.core.handle import cache_key
from hubmagic.core.lock import parse_holder, pid_alive
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.server import HubServer
from tests.barrier import StartBarrier
from tests.resolver_child import start_child


def leftovers(cache: str) -> list[str]:
    return sorted(n for n in os.listdir(cache) if n.endswith((".lock", ".tmp")))


@pytest.mark.slow
def test_eight_processes_one_download_eight_identical_paths(
    fake_hub_server: HubServer, cache: str, tmp_path: Path
) -> None:
    handle = f"{fake_hub_server.url}/google/big/1"
    barrier = StartBarrier(tmp_path / "barrier")
    mark = fake_hub_server.mark()
    children = [start_child(handle, cache, barrier, delay=0.02) for _ in range(8)]
    barrier.release(children)  # all have imported hubmagic: they race for the lock
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0] * 8, [err for _, err in outputs]

    paths = {out.split()[0] for out, _ in outputs}
    sources = sorted(out.split()[1] for out, _ in outputs)
    assert paths == {os.path.join(cache, cache_key(handle))}
    assert sources.count("download") == 1
    downloads = [r for r in fake_hub_server.requests_since(mark) if r.path == "/google/big/1"]
    assert len(downloads) == 1
    assert leftovers(cache) == []


@pytest.mark.slow
def test_killed_downloader_is_taken_over_at_once(
    fake_hub_server: HubServer, fake_models_dir: Path, cache: str
) -> None:
    handle = f"{fake_hub_server.url}/google/big/1"
    key = cache_key(handle)
    child = start_child(handle, cache, delay=0.3)
    deadline = time.monotonic() + 60
    tmp_dirs: list[Path] = []
    while time.monotonic() < deadline:
        tmp_dirs = [p for p in Path(cache).glob(f"{key}.*.tmp") if any(p.rglob("*"))]
        if tmp_dirs:
            break
        time.sleep(0.01)
    assert tmp_dirs, "the child never started writing"
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    lock = Path(cache, f"{key}.lock")
    assert parse_holder(lock.read_text()).pid == child.pid
    assert not pid_alive(child.pid)
    assert hubmagic.scan_cache(cache).entries[0].status is hubmagic.Status.STALE_LOCK

    result = hubmagic.resolve_model(handle, cache_dir=cache)
    assert result.source == "download"
    assert result.waited_seconds < 5  # not tensorflow_hub's 10 minutes
    assert hubmagic.scan_cache(cache).entries[0].status is hubmagic.Status.COMPLETE
    assert (Path(result.path) / "saved_model.pb").read_bytes() == (
        fake_models_dir / "google/big/1/saved_model.pb"
    ).read_bytes()
    assert leftovers(cache) == []  # the dead holder's tmp folder went too


def test_live_holder_on_this_host_is_waited_for_with_progress(
    fake_hub_server: HubServer, cache: str
) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    key = cache_key(handle)
    os.makedirs(cache)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        lock = Path(cache, f"{key}.lock")
        lock.write_text(f"{socket.gethostname()}.{sleeper.pid}.feedbeef")
        events: list[ProgressEvent] = []

        def release_after_a_second(event: ProgressEvent) -> None:
            # The holder lets go once the resolver says it has waited 1 s.
            events.append(event)
            if event.phase is Phase.WAITING and event.waited >= 1.0:
                lock.unlink(missing_ok=True)

        result = hubmagic.resolve_model(handle, cache_dir=cache, progress=release_after_a_second)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.source == "download"
    assert result.waited_seconds >= 1.0
    waits = [e for e in events if e.phase is Phase.WAITING]
    assert waits, [e.phase for e in events]
    assert waits[0].lock_holder == f"{socket.gethostname()}.{sleeper.pid}.feedbeef"
    assert f"{socket.gethostname()}:{sleeper.pid}" in waits[0].message
    assert [e.waited for e in waits] == sorted(e.waited for e in waits)


def test_holder_on_another_host_loses_the_lock_after_the_inactivity_timeout(
    fake_hub_server: HubServer, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tensorflow_hub's rule (600 s by default): no change in the lock or its
    # tmp folder for that long means the holder is gone.
    monkeypatch.setenv("HUBMAGIC_LOCK_TIMEOUT", "1")
    handle = f"{fake_hub_server.url}/google/tiny/1"
    key = cache_key(handle)
    os.makedirs(cache)
    Path(cache, f"{key}.lock").write_text("tpu-worker-7.europe.internal.4242.0123abcd")
    os.makedirs(os.path.join(cache, f"{key}.0123abcd.tmp"))
    events: list[ProgressEvent] = []
    result = hubmagic.resolve_model(handle, cache_dir=cache, progress=events.append)
    assert result.source == "download"
    assert 1.0 <= result.waited_seconds < 10
    waits = [e for e in events if e.phase is Phase.WAITING]
    assert waits and "tpu-worker-7.europe.internal:4242" in waits[0].message
    # The lock was taken over: the old holder's tmp folder went with it.
    assert leftovers(cache) == []


def test_tensorflow_hub_style_lock_is_honoured_while_the_holder_works(
    fake_hub_server: HubServer, fake_models_dir: Path, cache: str
) -> None:
    # A holder that finishes while we wait: we return its folder, no download.
    handle = f"{fake_hub_server.url}/google/tiny/1"
    key = cache_key(handle)
    os.makedirs(cache)
    lock = Path(cache, f"{key}.lock")
    lock.write_text(f"{os.uname().nodename}.{os.getpid()}.cafe")

    def finish_once_waited_for(event: ProgressEvent) -> None:
        # The holder finishes once the resolver says it is waiting for it.
        if event.phase is Phase.WAITING and lock.exists():
            import shutil

            shutil.copytree(fake_models_dir / "google/tiny/1", Path(cache, key))
            lock.unlink()

    mark = fake_hub_server.mark()
    result = hubmagic.resolve_model(handle, cache_dir=cache, progress=finish_once_waited_for)
    assert result.source == "shared"
    assert fake_hub_server.requests_since(mark) == ()


def test_a_file_that_goes_while_a_folder_is_walked_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiter sizes the holder's tmp folder while the holder replaces its heartbeat file
    (a race no timing reproduces reliably: the file goes between the listing and its stat)."""
    from hubmagic.core.store import walk

    (tmp_path / "keep").write_bytes(b"12345")
    (tmp_path / "gone").write_bytes(b"x")
    real_scandir = os.scandir

    def listing_then_removal(path: str) -> list[os.DirEntry[str]]:
        found = list(real_scandir(path))
        (tmp_path / "gone").unlink(missing_ok=True)
        return found

    monkeypatch.setattr(os, "scandir", listing_then_removal)
    assert {name: st.st_size for name, st in walk(str(tmp_path))} == {"keep": 5}
