"""%hub_setup / hubmagic.setup check a gs:// cache before relying on it (real emulator)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import hubmagic
from hubmagic.core import session
from hubmagic.core.errors import PlanNotAppliedError
from tests.shell_fixtures import Shell
from tests.subprocess_env import run_hubmagic


@pytest.fixture
def bucket(gcs: Any) -> str:
    name = f"setup-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


@pytest.fixture(autouse=True)
def _forget_setup() -> Iterator[None]:
    yield
    session.reset()


def test_a_usable_bucket_is_checked_and_left_clean(gcs: Any, bucket: str) -> None:
    url = f"gs://{bucket}/team/cache"
    plan = hubmagic.setup("cpu", cache=url, dry_run=True)
    assert plan.ok, plan.describe()
    assert plan.cache_dir == url
    assert any("can list, write, read and delete" in r for r in plan.reasons)
    assert list(gcs.list_blobs(bucket)) == []  # the probe object is gone


def test_tpu_with_a_gs_cache_needs_no_io_device_but_warns_about_the_worker(
    gcs: Any, bucket: str
) -> None:
    plan = hubmagic.setup("tpu", cache=f"gs://{bucket}/cache", dry_run=True)
    assert plan.io_device is None
    assert any(
        "TPU worker reads the cache with its own service account" in w for w in plan.warnings
    )


def test_a_missing_bucket_is_a_problem_in_seconds(gcs: Any) -> None:
    start = time.monotonic()
    plan = hubmagic.setup("cpu", cache="gs://no-such-bucket-hubmagic-setup/cache", dry_run=True)
    assert time.monotonic() - start < 10
    (problem,) = plan.problems
    assert "does not exist" in problem.message
    assert problem.fix.to_dict() == {
        front: (
            "fix the bucket name or its permissions as the message says, or choose another "
            f"cache (a folder or gs://bucket/prefix): {command}"
        )
        for front, command in (
            ("api", "hubmagic.setup(cache=DIR)"),
            ("magic", "%hub_setup --cache DIR"),
            ("cli", "hubmagic setup --cache DIR"),
        )
    }


def test_an_unusable_bucket_is_never_applied(gcs: Any) -> None:
    before = dict(os.environ)
    plan = hubmagic.setup("cpu", cache="gs://no-such-bucket-hubmagic-setup/cache")
    assert not plan.ok and not plan.applied
    assert dict(os.environ) == before
    assert session.state.plan is None and session.state.io_device is None
    assert "Nothing was applied" in plan.describe()
    with pytest.raises(PlanNotAppliedError, match="1 problem,"):
        hubmagic.apply_plan(plan)
    assert dict(os.environ) == before and session.state.plan is None


def test_permission_denied_names_the_missing_permission(
    forbidding_endpoint: str,
) -> None:
    start = time.monotonic()
    plan = hubmagic.setup("cpu", cache="gs://team-bucket/cache", dry_run=True)
    assert time.monotonic() - start < 10
    (problem,) = plan.problems
    assert "permission denied (HTTP 403)" in problem.message
    assert "storage.objects.list" in problem.message
    assert "own service account" in problem.message


@pytest.mark.slow  # ~5 s (the quick lane leaves it out)
def test_an_endpoint_that_does_not_answer_is_a_problem_in_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    plan = hubmagic.setup("cpu", cache="gs://team-bucket/cache", dry_run=True)
    assert time.monotonic() - start < 15
    (problem,) = plan.problems
    assert "Check the network" in problem.message


def test_hub_setup_shows_the_bucket_problem_first(shell: Shell, gcs: Any) -> None:
    _, out = shell.show("%hub_setup --cache gs://no-such-bucket-hubmagic-setup/c --dry-run")
    assert out.startswith("Problems:")
    assert "does not exist" in out.split("Runtime:")[0]


def test_panel_and_hub_cache_show_a_gs_cache(
    shell: Shell,
    gcs: Any,
    bucket: str,
    fake_hub_server: Any,
) -> None:
    url = f"gs://{bucket}/cache"
    handle = f"{fake_hub_server.url}/google/tiny/1"
    hubmagic.resolve(handle, cache_dir=url)
    panel = hubmagic.panel(url)
    try:
        assert {row.name: row.status for row in panel.rows} == {handle: "complete"}
        assert url in repr(panel)
    finally:
        panel.close()
    assert handle in shell.show(f"%hub_cache ls --cache {url}")[1]
    assert "Removed 1 entry" in shell.show(f"%hub_cache rm {handle} --cache {url} --yes")[1]
    assert list(gcs.list_blobs(bucket)) == []


def test_hubmagic_fetch_warms_a_gs_cache(gcs: Any, bucket: str, fake_hub_server: Any) -> None:
    url = f"gs://{bucket}/cache"
    handles = [f"{fake_hub_server.url}/google/tiny/1", f"{fake_hub_server.url}/google/tiny/2"]
    # STORAGE_EMULATOR_HOST is inherited.
    done = run_hubmagic("fetch", *handles, "--cache", url, "--json")
    assert done.returncode == 0, done.stderr
    info = hubmagic.scan_cache(url)
    assert sorted(e.handle or "" for e in info.entries) == sorted(handles)
    assert {e.status for e in info.entries} == {hubmagic.Status.COMPLETE}
