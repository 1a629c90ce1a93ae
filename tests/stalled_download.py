"""A model download held mid-way, for the tests that stop a process while it downloads.

:func:`stalled_server` serves the archive of a SavedModel-shaped folder
(:mod:`tests.fake_models`) from a :class:`~tests.faulty_server.FaultyServer`
whose first requests send half of it and then go silent until the test ends;
later requests get the whole archive. :func:`wait_for` polls for what a test
waits on (a lock, a tmp folder) with a deadline instead of sleeping.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.fake_models import write_fake_saved_model
from tests.faulty_server import Fault, FaultyServer
from tests.subprocess_env import repo_env

DATA_BYTES = 24_000_000
"""The variables shard: half the archive is mid-way through it, and past the first
8 MiB that the gzip reader takes in before it decompresses anything."""

# The graph and the index first: when the download stalls in the shard, they
# are complete (and, for a gs:// cache, being uploaded to the tmp prefix).
# Folders have their own entries: tensorflow_hub creates no parent folders.
_ORDER = (
    "saved_model.pb",
    "fingerprint.pb",
    "assets",
    "variables",
    "variables/variables.index",
    "variables/variables.data-00000-of-00001",
)


def archive(folder: Path) -> bytes:
    """A .tar.gz of a SavedModel-shaped folder written in ``folder``."""
    model = write_fake_saved_model(folder, data_bytes=DATA_BYTES, label="stalled/model/1")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for rel in _ORDER:
            tar.add(model / rel, arcname=rel, recursive=False)
    return out.getvalue()


def stalled_server(folder: Path, stalls: int = 1) -> FaultyServer:
    """A server whose first ``stalls`` requests stop half-way (until ``stop()``)."""
    payload = archive(folder)
    fault = Fault(stall_after=len(payload) // 2, stall_for=300.0)
    return FaultyServer(payload, [fault] * stalls)


def wait_for(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Polls ``check`` until it is true; fails after ``timeout`` s saying ``what``."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(0.2, delay * 2)


def start_hubmagic(*args: str, **env: str) -> subprocess.Popen[str]:
    """Starts ``python -m hubmagic ARGS`` (output captured), for a test to signal."""
    return subprocess.Popen(
        [sys.executable, "-m", "hubmagic", *args],
        env=repo_env(PYTHONFAULTHANDLER="1", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def leftovers(cache: Path) -> list[str]:
    """Names in a local cache that an interrupted download leaves: locks and tmp folders."""
    if not cache.exists():
        return []
    return sorted(p.name for p in cache.iterdir() if p.name.endswith((".lock", ".tmp")))


def downloading(cache: Path, count: int = 1) -> bool:
    """``count`` locks are held and their tmp folders hold the first files (the stall is next)."""
    tmps = [p for p in cache.glob("*.tmp") if p.is_dir()] if cache.exists() else []
    # Not a heartbeat file (.hubmagic-*): that is written before the request is sent.
    extracted = sum((t / "saved_model.pb").is_file() for t in tmps)
    return len(list(cache.glob("*.lock"))) == count and extracted == count
