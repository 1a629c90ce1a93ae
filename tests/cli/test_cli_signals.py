"""SIGTERM / SIGHUP to ``python -m hubmagic fetch`` mid-download: exit 128 + n, nothing left.

The download is held half-way by a server that stops sending (tests/stalled_download.py);
the test waits until the lock and the tmp folder exist, then signals the process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubmagic.core.handle import cache_key
from tests.faulty_server import FaultyServer
from tests.stalled_download import (
    downloading,
    leftovers,
    stalled_server,
    start_hubmagic,
    wait_for,
)
from tests.subprocess_env import repo_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def stalled(tmp_path: Path) -> Iterator[FaultyServer]:
    server = stalled_server(tmp_path / "model", stalls=2)
    yield server
    server.stop()


def _stop(proc: subprocess.Popen[str], signum: int) -> tuple[int, list[str]]:
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack on stderr
        _, err = proc.communicate()
        raise AssertionError(
            f"hubmagic fetch did not stop within 60 s of {signum}:\n{err[-8000:]}"
        ) from None
    return proc.returncode, err.splitlines()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_mid_download_removes_the_lock_and_the_tmp_folder(
    stalled: FaultyServer, tmp_path: Path, signum: int, code: int
) -> None:
    cache = tmp_path / "cache"
    handles = [f"{stalled.url}/a/model.tar.gz", f"{stalled.url}/b/model.tar.gz"]
    # Two downloads in worker threads, both held half-way.
    proc = start_hubmagic("fetch", *handles, "-j", "2", "--cache", str(cache))
    wait_for(lambda: downloading(cache, 2), "two downloads")
    started = time.monotonic()
    returncode, err = _stop(proc, signum)
    assert returncode == code, err
    assert err == [
        f"hubmagic fetch: stopped by {signal.Signals(signum).name}; "
        "unfinished downloads were cleaned up"
    ]
    assert time.monotonic() - started < 30  # not the read timeout (60 s)
    assert leftovers(cache) == []
    assert not any((cache / cache_key(h)).exists() for h in handles)


@pytest.fixture
def stalled_once(tmp_path: Path) -> Iterator[FaultyServer]:
    server = stalled_server(tmp_path / "model", stalls=1)
    yield server
    server.stop()


@pytest.mark.tf
def test_tensorflow_hub_then_downloads_at_once(stalled_once: FaultyServer, tmp_path: Path) -> None:
    """Plain tensorflow_hub waits 10 minutes on a lock left behind; none is left."""
    cache = tmp_path / "cache"
    handle = f"{stalled_once.url}/a/model.tar.gz"
    proc = start_hubmagic("fetch", handle, "--cache", str(cache))
    wait_for(lambda: downloading(cache), "the download")
    returncode, err = _stop(proc, signal.SIGTERM)
    assert returncode == 143, err
    # Stuck past 50 s, the child prints where; the server's second request sends it all.
    script = (
        "import faulthandler, sys; faulthandler.dump_traceback_later(50); "
        "import tensorflow_hub as hub; print(hub.resolve(sys.argv[1]))"
    )
    err_path = tmp_path / "tensorflow_hub.err"
    with err_path.open("w") as err_file:
        done = subprocess.run(
            [sys.executable, "-c", script, handle],
            env=repo_env(TFHUB_CACHE_DIR=str(cache)),
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
            timeout=60,  # tensorflow_hub's rule would make it wait 600 s on a leftover lock
            check=False,
        )
    assert done.returncode == 0, err_path.read_text()[-3000:]
    assert Path(done.stdout.strip()) == cache / cache_key(handle)
    assert (cache / cache_key(handle) / "saved_model.pb").is_file()


def _objects(gcs: Any, bucket: str) -> list[str]:
    return sorted(blob.name for blob in gcs.list_blobs(bucket))


def test_sigterm_mid_upload_to_gcs_leaves_nothing_in_the_bucket_or_on_disk(
    gcs: Any, stalled: FaultyServer, tmp_path: Path
) -> None:
    bucket = f"signals-{tmp_path.name[-20:].lower().replace('_', '-')}".strip("-")
    gcs.create_bucket(bucket)
    staging = tmp_path / "systmp"  # TMPDIR of the test and of its children (conftest)
    handle = f"{stalled.url}/a/model.tar.gz"
    key = cache_key(handle)
    proc = start_hubmagic("fetch", handle, "--cache", f"gs://{bucket}/cache")

    def uploading() -> bool:
        names = _objects(gcs, bucket)
        tmp_objects = [n for n in names if n.startswith(f"cache/{key}.") and ".tmp/" in n]
        staged = list(staging.glob(f"hubmagic-{key}.*.tmp-*"))
        # The graph is uploaded once the next file starts: the download is mid-way.
        graph = any(n.endswith(".tmp/saved_model.pb") for n in tmp_objects)
        return f"cache/{key}.lock" in names and graph and len(staged) == 1

    wait_for(uploading, "the lock, the tmp objects and the staging folder")
    returncode, err = _stop(proc, signal.SIGTERM)
    assert returncode == 143, err
    assert len(err) == 1 and "stopped by SIGTERM" in err[0]
    assert _objects(gcs, bucket) == []
    assert list(staging.glob("hubmagic-*")) == []
