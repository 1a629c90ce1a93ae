"""Local staging folders of gs:// fills: named after their owner, removed when it is dead.

``cache repair`` of a gs:// cache and the next resolve of the model remove a dead
owner's folder and leave a live one's (tests/conftest.py points TMPDIR, where
the folders go, into each test's own folder).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.core import staging
from hubmagic.core.handle import cache_key
from hubmagic.core.lock import hostname
from hubmagic.server import HubServer
from tests.subprocess_env import run_hubmagic


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: no process has this pid now
    return child.pid


def _folder(root: Path, key: str, pid: int, host: str | None = None) -> Path:
    uid = uuid.uuid4().hex
    path = root / f"hubmagic-{key}.{uid}.tmp-{host or hostname()}.{pid}-ab12cd34"
    (path / "variables").mkdir(parents=True)
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(b"x" * 1000)
    return path


@pytest.fixture
def bucket(gcs: Any) -> str:
    name = f"staging-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


def test_a_staging_folder_names_its_owner(tmp_path: Path) -> None:
    key = cache_key("https://example.com/model")
    made = staging.make(f"{key}.{uuid.uuid4().hex}.tmp", str(tmp_path))
    found = staging.parse(made)
    assert found is not None and found.key == key
    assert found.owner.on_this_host and found.owner.pid == os.getpid()
    assert not found.is_dead()  # ours, and we run
    assert staging.parse(str(tmp_path / "hubmagic-something-else")) is None


def test_cache_repair_removes_a_dead_owners_staging_folder_only(
    tmp_path: Path, bucket: str
) -> None:
    root = tmp_path / "systmp"
    key = cache_key("https://example.com/a")
    dead = _folder(root, key, _dead_pid())
    live = _folder(root, key, os.getpid())  # the test process runs
    remote = _folder(root, key, 1, host="another-host")  # cannot be checked: alive
    cache = f"gs://{bucket}/cache"

    plan = run_hubmagic("cache", "repair", "--cache", cache)
    assert plan.returncode == 0, plan.stderr
    assert str(dead) in plan.stdout and str(live) not in plan.stdout
    assert dead.exists()  # without --yes nothing goes

    done = run_hubmagic("cache", "repair", "--cache", cache, "--yes")
    assert done.returncode == 0, done.stderr
    assert "1 staging folder" in done.stdout
    assert not dead.exists()
    assert live.exists() and remote.exists()


def test_the_next_resolve_of_the_model_removes_its_dead_staging_folders(
    tmp_path: Path, bucket: str, fake_hub_server: HubServer
) -> None:
    root = tmp_path / "systmp"
    handle = f"{fake_hub_server.url}/google/tiny/1"
    key = cache_key(handle)
    dead = _folder(root, key, _dead_pid())
    live = _folder(root, key, os.getpid())
    other = _folder(root, cache_key("https://example.com/other"), _dead_pid())
    cache = f"gs://{bucket}/cache"

    hubmagic.resolve(handle, cache_dir=cache)  # a download
    assert not dead.exists() and live.exists() and other.exists()
    assert [p.name for p in root.glob(f"hubmagic-{key}.*")] == [live.name]  # its own is gone

    again = _folder(root, key, _dead_pid())
    hubmagic.resolve(handle, cache_dir=cache)  # a cache hit sweeps too
    assert not again.exists() and live.exists()
