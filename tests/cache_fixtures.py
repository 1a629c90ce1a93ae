"""Cache folders made by hand, in every state an entry can be in.

Fixtures (registered in tests/conftest.py):
    sleeper: the pid of a live process on this host (for locks "held" by it).
    damaged_cache: a cache folder with one entry in each state (see its doc).

Helpers: :func:`add_model` (an entry as tensorflow_hub leaves it) and
:func:`dead_pid` (the pid of a process that has exited).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubmagic.core.handle import cache_key


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def sleeper() -> Iterator[int]:
    """The pid of a live process on this host, killed after the test."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield child.pid
    child.kill()
    child.wait()


def add_model(cache: Path, handle: str, source: Path, *, age_days: float = 0) -> Path:
    """An entry as tensorflow_hub would leave it: the folder and its descriptor."""
    key = cache_key(handle)
    folder = cache / key
    shutil.copytree(source, folder)
    (cache / f"{key}.descriptor.txt").write_text(
        f"Module: {handle}\nDownload Time: 2026-01-01 00:00:00.0\nDownloader Hostname: test (PID:1)"
    )
    if age_days:
        stamp = time.time() - age_days * 86400
        os.utime(folder, (stamp, stamp))
    return folder


@pytest.fixture
def damaged_cache(tmp_path: Path, fake_models_dir: Path, sleeper: int) -> Path:
    """A cache with one entry in each state, made by hand."""
    cache = tmp_path / "cache"
    cache.mkdir()
    tiny = fake_models_dir / "google/tiny/1"
    host = socket.gethostname()
    add_model(cache, "h/complete", tiny)
    add_model(cache, "h/empty", tiny)
    for p in sorted((cache / cache_key("h/empty")).rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    partial = add_model(cache, "h/no-graph", tiny)
    (partial / "saved_model.pb").unlink()
    # An orphan tmp folder: an interrupted download whose lock is gone.
    key = cache_key("h/orphan")
    shutil.copytree(tiny, cache / f"{key}.0a1b.tmp")
    # A lock whose holder died on this host, with its tmp folder.
    key = cache_key("h/dead-lock")
    (cache / f"{key}.lock").write_text(f"{host}.{dead_pid()}.dd11")
    shutil.copytree(tiny, cache / f"{key}.dd11.tmp")
    # A live download by a process on this host.
    key = cache_key("h/live")
    (cache / f"{key}.lock").write_text(f"{host}.{sleeper}.ee22")
    (cache / f"{key}.ee22.tmp").mkdir()
    # A complete model whose lock is left by a dead process.
    add_model(cache, "h/complete-stale-lock", tiny)
    key = cache_key("h/complete-stale-lock")
    (cache / f"{key}.lock").write_text(f"{host}.{dead_pid()}.ff33")
    # Something that is not a cache entry at all.
    (cache / "notes.txt").write_text("mine")
    return cache
