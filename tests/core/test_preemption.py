"""A preempted holder does not stall the others: heartbeats, quick take-over, fencing.

A hubmagic holder (uid ``hm...``) rewrites ``<key>.<uid>.tmp/.hubmagic-heartbeat``;
a waiter on another host takes its lock over after 4.5 silent beats, while a
tensorflow_hub holder keeps tensorflow_hub's ``HUBMAGIC_LOCK_TIMEOUT`` rule.
"Another host" is a child in its own UTS namespace (``unshare --uts``, root
here) or, for the waiter-side rules, a lock written with another hostname.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.core.errors import CacheError
from hubmagic.core.handle import cache_key
from hubmagic.core.lock import CacheLock, heartbeat_text, lock_content, new_uid, pid_alive
from hubmagic.core.names import HEARTBEAT_FILE, TMP_TAIL
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.stores import open_store
from hubmagic.server import HubServer
from hubmagic.ui.wording import phase_text, progress_line, rate_of
from tests.barrier import CHILD_CODE, StartBarrier
from tests.fake_models import write_fake_saved_model
from tests.faulty_server import Fault, FaultyServer
from tests.subprocess_env import repo_env

OTHER_HOST = "other-host"

# A resolver that prints what happened as one JSON line, with its last WAITING message.
CHILD = textwrap.dedent(
    """
    import json, socket, sys, time
    import hubmagic

    handle, cache = sys.argv[1:3]
    waits = []

    def note(event):
        if event.phase is hubmagic.Phase.WAITING:
            waits.append(event.message)

    start = time.monotonic()
    result = hubmagic.resolve_model(handle, cache_dir=cache, progress=note)
    print(json.dumps({
        "path": result.path, "source": result.source, "waited": result.waited_seconds,
        "seconds": time.monotonic() - start, "host": socket.gethostname(),
        "last_wait": waits[-1] if waits else None,
    }), flush=True)
    """
)


def _cannot_pose_as_another_host() -> str | None:
    if shutil.which("unshare") is None:
        return "needs unshare (util-linux) to pose as another host"
    done = subprocess.run(
        ["unshare", "--uts", "sh", "-c", f"hostname {OTHER_HOST} && hostname"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or done.stdout.strip() != OTHER_HOST:
        return f"unshare --uts is not permitted here (needs root): {done.stderr.strip()}"
    return None


def _child(handle: str, cache: str, *, other_host: bool, **env: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", CHILD, handle, cache]
    if other_host:
        # Its own UTS namespace: same machine and pids, another hostname.
        command = ["unshare", "--uts", "sh", "-c", f'hostname {OTHER_HOST} && exec "$@"', "-"]
        command += [sys.executable, "-c", CHILD, handle, cache]
    return subprocess.Popen(
        command, env=repo_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(delay)
        delay = min(0.2, delay * 2)


def _archive(folder: Path) -> tuple[bytes, Path]:
    """An 8 MB model as a plain .tar (gzip would be read in blocks: a stall would hold it all)."""
    model = write_fake_saved_model(folder, data_bytes=8_000_000, label="preempted/model/1")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path in sorted(model.rglob("*")):
            tar.add(path, arcname=path.relative_to(model).as_posix(), recursive=False)
    return out.getvalue(), model


class _Cache:
    """A shared cache, local (an NFS folder stands in) or on the emulator, seen from the test."""

    def __init__(self, kind: str, tmp_path: Path, gcs: Any) -> None:
        self.kind = kind
        self._gcs = gcs
        if kind == "gs":
            self.bucket = f"shared-{uuid.uuid4().hex[:12]}"
            gcs.create_bucket(self.bucket)
            self.url = f"gs://{self.bucket}/cache"
        else:
            self.url = str(tmp_path / "shared")

    def names(self) -> list[str]:
        if self.kind == "gs":
            blobs = self._gcs.list_blobs(self.bucket, prefix="cache/")
            return sorted(blob.name[len("cache/") :] for blob in blobs)
        root = Path(self.url)
        return (
            sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []
        )

    def leftovers(self) -> list[str]:
        return [n for n in self.names() if n.endswith(".lock") or ".tmp" in n]


@pytest.fixture(params=["gs", "local"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> _Cache:
    gcs = request.getfixturevalue("gcs") if request.param == "gs" else None
    return _Cache(request.param, tmp_path, gcs)


@pytest.mark.slow
def test_a_killed_holder_is_taken_over_from_another_host_in_well_under_90_s(
    shared: _Cache, tmp_path: Path
) -> None:
    reason = _cannot_pose_as_another_host()
    if reason:
        pytest.skip(reason)
    payload, model = _archive(tmp_path / "model")
    # The first download stops half-way, inside the variables shard, and stays silent.
    server = FaultyServer(payload, [Fault(stall_after=len(payload) * 3 // 4, stall_for=300.0)])
    handle = f"{server.url}/models/preempted.tar"
    key = cache_key(handle)
    # gs://: the default 10 s heartbeat (take-over after 45 s, the documented numbers);
    # the local folder: 1 s beats, to keep the test short.
    env = {} if shared.kind == "gs" else {"HUBMAGIC_HEARTBEAT_INTERVAL": "1"}
    holder = _child(handle, shared.url, other_host=False, **env)
    waiter: subprocess.Popen[str] | None = None
    try:
        # Mid-fill: beating, the graph extracted (local) or uploaded (gs), the shard stalled.
        def mid_fill() -> bool:
            names = shared.names()
            beating = any(n.endswith(f".tmp/{HEARTBEAT_FILE}") for n in names)
            graph = any(
                n.startswith(f"{key}.hm") and n.endswith(".tmp/saved_model.pb") for n in names
            )
            return beating and graph and len(server.requests) == 1

        _wait_for(lambda: mid_fill() or holder.poll() is not None, "the holder to be mid-fill")
        assert holder.poll() is None, holder.communicate()
        os.kill(holder.pid, signal.SIGKILL)  # preempted: no cleanup at all
        holder.communicate()
        assert f"{key}.lock" in shared.names()

        start = time.monotonic()
        waiter = _child(handle, shared.url, other_host=True, **env)
        out, err = waiter.communicate(timeout=180)
        elapsed = time.monotonic() - start
    finally:
        server.stop()
        for child in (holder, waiter):
            if child is not None and child.poll() is None:
                child.kill()
                child.communicate()
    assert waiter.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    print(f"{shared.kind}: the other host waited {result['waited']:.1f} s, done in {elapsed:.1f} s")
    assert result["host"] == OTHER_HOST
    assert result["source"] == "download"
    assert elapsed < 90, result  # not tensorflow_hub's 10 minutes
    assert result["last_wait"] is not None
    assert f"{socket.gethostname()}:{holder.pid}" in result["last_wait"]
    assert "taking over in" in result["last_wait"] and "heartbeat" in result["last_wait"]
    assert shared.leftovers() == []  # the dead holder's lock and tmp went
    info = hubmagic.scan_cache(shared.url)
    assert [e.status for e in info.entries] == [hubmagic.Status.COMPLETE]
    if shared.kind == "local":
        copied = Path(result["path"], "variables/variables.data-00000-of-00001").read_bytes()
        assert copied == (model / "variables/variables.data-00000-of-00001").read_bytes()


# tensorflow_hub resolving the same handle into the same cache, once released.
TF_CHILD = CHILD_CODE + textwrap.dedent(
    """
    import json, sys, time
    import tensorflow_hub as hub

    handle, ready, go = sys.argv[1:4]
    wait_at_barrier(ready, go, timeout=120)
    start = time.monotonic()
    path = hub.resolve(handle)
    print(json.dumps({"path": path, "seconds": time.monotonic() - start}), flush=True)
    """
)


@pytest.mark.tf
@pytest.mark.slow
def test_tensorflow_hub_waits_for_a_hubmagic_holder_and_uses_its_download(
    tmp_path: Path, cache: str
) -> None:
    # The hm... uid and the heartbeat file change nothing for tensorflow_hub: it
    # waits for the lock (here held 40 s mid-download) and then uses the entry.
    payload, _ = _archive(tmp_path / "model")
    server = FaultyServer(payload, [Fault(stall_after=len(payload) * 3 // 4, stall_for=40.0)])
    handle = f"{server.url}/models/shared.tar"
    barrier = StartBarrier(tmp_path / "barrier")
    env = repo_env(TFHUB_CACHE_DIR=cache, TF_CPP_MIN_LOG_LEVEL="2")
    tf_child = subprocess.Popen(
        [sys.executable, "-c", TF_CHILD, handle, *barrier.child_args()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    holder = _child(handle, cache, other_host=False)
    try:
        key = cache_key(handle)
        _wait_for(
            lambda: (
                any(Path(cache).glob(f"{key}.hm*.tmp/saved_model.pb")) or holder.poll() is not None
            ),
            "the hubmagic holder to be mid-download",
        )
        assert holder.poll() is None, holder.communicate()
        barrier.release([tf_child])  # tensorflow_hub imported: it finds the lock held
        out, err = holder.communicate(timeout=180)
        tf_out, tf_err = tf_child.communicate(timeout=180)
    finally:
        server.stop()
        for child in (holder, tf_child):
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert holder.returncode == 0, err
    assert tf_child.returncode == 0, tf_err[-3000:]
    ours = json.loads(out.strip().splitlines()[-1])
    theirs = json.loads(tf_out.strip().splitlines()[-1])
    assert ours["source"] == "download"
    assert theirs["path"] == ours["path"]
    # Only hubmagic downloaded: its first request and its resume after the stall.
    assert len(server.requests) == 2 and server.requests[1]["range"], server.requests
    assert not [n for n in os.listdir(cache) if n.endswith((".lock", ".tmp"))]


@pytest.fixture
def local_cache(cache: str) -> str:
    os.makedirs(cache)
    return cache


def _far_lock(cache: str, key: str, uid: str) -> Path:
    """A lock held by a process on another host (which this one cannot see)."""
    lock = Path(cache, f"{key}.lock")
    lock.write_text(f"tpu-worker-3.internal.4242.{uid}")
    Path(cache, f"{key}.{uid}.tmp").mkdir()
    return lock


@pytest.mark.slow  # it waits out late beats: about 12 s
def test_a_live_holder_whose_beats_come_late_keeps_its_lock(
    fake_hub_server: HubServer, fake_models_dir: Path, local_cache: str
) -> None:
    # It announces 1 s beats but beats every 2.5 s (one missed, the next late):
    # within the 4.5 s a waiter allows, so the waiter never takes over.
    handle = f"{fake_hub_server.url}/google/tiny/1"
    key = cache_key(handle)
    uid = new_uid()
    lock = _far_lock(local_cache, key, uid)
    beat_file = Path(local_cache, f"{key}.{uid}.tmp", HEARTBEAT_FILE)
    stop = threading.Event()

    def beat_late() -> None:
        beat = 0
        while not stop.is_set():
            beat_file.write_text(heartbeat_text(beat, 1.0))
            beat += 1
            stop.wait(2.5)  # the delay under test, not a synchronisation

    def finish_after_four_late_beats(event: ProgressEvent) -> None:
        if event.phase is Phase.WAITING and event.waited >= 10.0 and lock.exists():
            stop.set()
            beater.join()
            shutil.copytree(fake_models_dir / "google/tiny/1", Path(local_cache, key))
            shutil.rmtree(beat_file.parent)
            lock.unlink()

    beater = threading.Thread(target=beat_late, daemon=True)
    beater.start()
    events: list[ProgressEvent] = []

    def progress(event: ProgressEvent) -> None:
        events.append(event)
        finish_after_four_late_beats(event)

    mark = fake_hub_server.mark()
    try:
        result = hubmagic.resolve_model(handle, cache_dir=local_cache, progress=progress)
    finally:
        stop.set()
    assert result.source == "shared"  # the holder finished: never taken over
    assert result.waited_seconds >= 10.0
    assert fake_hub_server.requests_since(mark) == ()
    waits = [e for e in events if e.phase is Phase.WAITING]
    assert "tpu-worker-3.internal:4242" in waits[-1].message
    assert "if its heartbeat (every 1 s) stays silent" in waits[-1].message


def _take_lock_only(store_url: str, key: str) -> CacheLock:
    """What a waiter that judged us dead does: removes our lock only, then takes its own."""
    store = open_store(store_url)
    thief = CacheLock(store, key)
    content = store.read_text(thief.name)
    assert content is not None
    assert store.take_file(thief.name, content)
    assert thief.try_acquire()
    return thief


@pytest.mark.parametrize("kind", ["local", "gs"])
def test_a_holder_whose_lock_was_taken_over_never_publishes(
    kind: str, fake_hub_server: HubServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    shared = _Cache(kind, tmp_path, request.getfixturevalue("gcs") if kind == "gs" else None)
    handle = f"{fake_hub_server.url}/google/tiny/1"
    key = cache_key(handle)
    thieves: list[CacheLock] = []

    def taken_over_while_downloading(event: ProgressEvent) -> None:
        if event.phase is Phase.STARTED and not thieves:
            thieves.append(_take_lock_only(shared.url, key))

    with pytest.raises(CacheError, match="Another process took over") as caught:
        hubmagic.resolve_model(handle, cache_dir=shared.url, progress=taken_over_while_downloading)
    assert caught.value.fix is not None
    thief = thieves[0]
    try:
        # Nothing of the entry was published; the new holder's lock is intact.
        assert [n for n in shared.names() if n.startswith(f"{key}/")] == []
        assert shared.names() == [f"{key}.lock"]
        assert open_store(shared.url).read_text(thief.name) == thief.content
    finally:
        thief.release()
    assert shared.names() == []


def test_a_heartbeat_stops_once_its_lock_is_taken_over(
    local_cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBMAGIC_HEARTBEAT_INTERVAL", "0.2")
    store = open_store(local_cache)
    key = cache_key("https://example.com/beating")
    with CacheLock(store, key) as lock:
        assert lock.try_acquire()
        tmp = Path(lock.make_folder())
        beat_file = tmp / HEARTBEAT_FILE
        _wait_for(beat_file.exists, "the first beat")
        assert beat_file.read_text().startswith("hubmagic heartbeat every 0.2 s, beat ")
        _wait_for(lambda: "beat 2\n" in beat_file.read_text(), "the third beat")
        thief = _take_lock_only(local_cache, key)
        heartbeat = lock._heartbeat
        assert heartbeat is not None
        _wait_for(lambda: heartbeat.lost, "the heartbeat to notice")
        before = beat_file.read_text()
        with pytest.raises(CacheError, match="Another process took over"):
            store.publish(lock.tmp, key)
        assert not Path(local_cache, key).exists()
        assert beat_file.read_text() == before  # it beat no more
    assert Path(local_cache, thief.name).read_text() == thief.content
    thief.release()


@pytest.mark.parametrize(
    ("who", "uid", "beats", "long_rule"),
    [
        pytest.param(
            "tensorflow_hub (uuid4 hex, no heartbeat)",
            uuid.uuid4().hex,
            False,
            True,
            marks=pytest.mark.slow,  # waits the (short) long rule out: 4.5 s
        ),
        pytest.param(
            "hubmagic, before its first beat", new_uid(), False, True, marks=pytest.mark.slow
        ),
        ("hubmagic, heartbeat silent", new_uid(), True, False),
    ],
    ids=["tensorflow_hub", "hubmagic-before-its-first-beat", "hubmagic-silent"],
)
def test_which_rule_a_holder_on_another_host_gets(
    who: str,
    uid: str,
    beats: bool,
    long_rule: bool,
    fake_hub_server: HubServer,
    local_cache: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBMAGIC_LOCK_TIMEOUT", "4")  # tensorflow_hub's 600 s rule, shortened
    handle = f"{fake_hub_server.url}/google/tiny/1"
    key = cache_key(handle)
    _far_lock(local_cache, key, uid)
    if beats:  # its last beat announced 0.2 s beats: silent for 0.9 s means gone
        Path(local_cache, f"{key}.{uid}.tmp", HEARTBEAT_FILE).write_text(heartbeat_text(7, 0.2))
    events: list[ProgressEvent] = []
    result = hubmagic.resolve_model(handle, cache_dir=local_cache, progress=events.append)
    assert result.source == "download"
    waits = [e for e in events if e.phase is Phase.WAITING]
    assert waits and all("taking over in" in e.message for e in waits)
    if long_rule:
        assert result.waited_seconds >= 4.0, who
        assert waits[-1].message.endswith("if it shows no progress")
    else:
        assert result.waited_seconds < 4.0, who
        assert "heartbeat (every 0.2 s)" in waits[-1].message
    assert not [n for n in os.listdir(local_cache) if n.endswith((".lock", ".tmp"))]


def test_a_hubmagic_lock_is_what_tensorflow_hub_reads_and_the_scan_knows_its_tmp(
    local_cache: str,
) -> None:
    uid = new_uid()
    assert uid.startswith("hm") and "." not in uid and len(uid) == 34
    content = lock_content(uid)
    # tensorflow_hub: the tmp folder is "<key>.<content.split('.')[-1]>.tmp".
    assert content.split(".")[-1] == uid
    assert content == f"{socket.gethostname()}.{os.getpid()}.{uid}"
    assert TMP_TAIL.match(f"{uid}.tmp") and TMP_TAIL.match(f"{uuid.uuid4().hex}.tmp")
    key = cache_key("https://example.com/orphan")
    Path(local_cache, f"{key}.{uid}.tmp").mkdir()
    Path(local_cache, f"{key}.{uid}.tmp", HEARTBEAT_FILE).write_text(heartbeat_text(0, 10))
    (entry,) = hubmagic.scan_cache(local_cache).entries
    assert entry.status is hubmagic.Status.ORPHAN_TMP
    assert entry.leftovers == (f"{key}.{uid}.tmp",)


def test_the_waiting_row_says_whom_it_waits_for_and_when_it_takes_over() -> None:
    message = (
        "waiting for vm-1:42, which is downloading this model (1.0 MiB so far); "
        "taking over in 33 s if its heartbeat (every 10 s) stays silent"
    )
    event = ProgressEvent(
        "h", Phase.WAITING, lock_holder="vm-1.42.hmab", waited=12.0, message=message
    )
    assert phase_text(event) == (
        "waiting for a lock held by vm-1:42 for 12 s; "
        "taking over in 33 s if its heartbeat (every 10 s) stays silent"
    )
    assert progress_line(event, rate_of(event, None)) == (
        "h: waiting for vm-1:42, which is downloading this model (1.0 MiB so far), for 12 s; "
        "taking over in 33 s if its heartbeat (every 10 s) stays silent"
    )


@pytest.fixture
def zombie() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    yield child
    child.wait()


def test_pid_alive_on_posix(zombie: subprocess.Popen[bytes]) -> None:
    # POSIX only here: kill(pid, 0) sends nothing; on Windows hubmagic opens the
    # process instead (kill(pid, 0) would send CTRL_C_EVENT there), untested here.
    assert pid_alive(os.getpid())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not pid_alive(sleeper.pid)  # reaped: no such process
    # Exited but not reaped (a zombie) holds nothing: dead, where /proc says so.
    _wait_for(
        lambda: Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z",
        "the child to exit",
    )
    assert not pid_alive(zombie.pid)
