"""scan_cache, planned deletions, repair and prune over real cache folders."""

from __future__ import annotations

import os
import shutil
import socket
import warnings
from pathlib import Path

import pytest

import hubmagic
from hubmagic.core.cache import Status
from hubmagic.core.errors import ModelNotFoundError
from hubmagic.core.handle import cache_key
from hubmagic.server import HubServer
from tests.cache_fixtures import add_model, dead_pid


def by_handle(info: hubmagic.CacheInfo) -> dict[str, hubmagic.CacheEntry]:
    return {e.handle or e.key: e for e in info.entries}


def test_scan_gives_each_state(damaged_cache: Path) -> None:
    info = hubmagic.scan_cache(str(damaged_cache))
    entries = by_handle(info)
    status = {name: e.status for name, e in entries.items()}
    assert status == {
        "h/complete": Status.COMPLETE,
        "h/empty": Status.PARTIAL,
        "h/no-graph": Status.PARTIAL,
        cache_key("h/orphan"): Status.ORPHAN_TMP,
        cache_key("h/dead-lock"): Status.STALE_LOCK,
        cache_key("h/live"): Status.DOWNLOADING,
        "h/complete-stale-lock": Status.STALE_LOCK,
    }
    assert entries["h/complete"].problem is None
    assert entries["h/complete"].is_complete
    assert entries["h/complete-stale-lock"].is_complete
    assert not entries["h/no-graph"].is_complete
    assert "has no saved_model.pb" in (entries["h/no-graph"].problem or "")
    assert "is no longer running" in (entries[cache_key("h/dead-lock")].problem or "")
    assert "being downloaded by" in (entries[cache_key("h/live")].problem or "")
    assert entries["h/complete"].size > 0
    assert entries["h/complete"].last_used is not None
    assert info.size == sum(e.size for e in info.entries)
    assert len(info.warnings) == 1 and "notes.txt" in info.warnings[0]
    table = info.export_as_table()
    assert "h/complete" in table and "stale lock" in table and "Warnings:" in table


def test_scan_of_a_missing_cache_is_empty(tmp_path: Path) -> None:
    info = hubmagic.scan_cache(str(tmp_path / "nope"))
    assert info.entries == () and info.size == 0


def test_repair_removes_leftovers_and_nothing_else(damaged_cache: Path) -> None:
    before = set(os.listdir(damaged_cache))
    plan = hubmagic.plan_repair(str(damaged_cache))
    assert set(os.listdir(damaged_cache)) == before  # planning touches nothing
    planned = {i.entry.handle or i.entry.key for i in plan.items}
    assert planned == {
        "h/empty",
        "h/no-graph",
        cache_key("h/orphan"),
        cache_key("h/dead-lock"),
        "h/complete-stale-lock",
    }
    assert plan.expected_freed_size > 0
    assert "repair" in plan.describe()

    result = plan.execute()
    assert result.freed_size == plan.expected_freed_size
    after = by_handle(hubmagic.scan_cache(str(damaged_cache)))
    assert {n: e.status for n, e in after.items()} == {
        "h/complete": Status.COMPLETE,
        "h/complete-stale-lock": Status.COMPLETE,  # only its lock went
        cache_key("h/live"): Status.DOWNLOADING,
    }
    assert (damaged_cache / "notes.txt").exists()


def test_delete_by_handle_removes_the_folder_and_its_files(damaged_cache: Path) -> None:
    plan = hubmagic.plan_delete(["h/complete"], str(damaged_cache))
    key = cache_key("h/complete")
    assert sorted(os.path.basename(p) for p in plan.paths) == [key, f"{key}.descriptor.txt"]
    result = plan.execute()
    assert result.removed == (key,)
    assert not (damaged_cache / key).exists()
    assert not (damaged_cache / f"{key}.descriptor.txt").exists()
    assert not (damaged_cache / f"{key}.lock").exists()


def test_delete_never_touches_a_live_download(damaged_cache: Path) -> None:
    key = cache_key("h/live")
    plan = hubmagic.plan_delete([key], str(damaged_cache))
    assert plan.items == ()
    assert plan.skipped and "being downloaded" in plan.skipped[0][1]
    plan.execute()
    assert (damaged_cache / f"{key}.lock").exists()
    assert (damaged_cache / f"{key}.ee22.tmp").exists()


def test_delete_skips_an_entry_that_started_downloading_after_the_plan(
    damaged_cache: Path, sleeper: int
) -> None:
    plan = hubmagic.plan_delete(["h/complete"], str(damaged_cache))
    key = cache_key("h/complete")
    (damaged_cache / f"{key}.lock").write_text(f"{socket.gethostname()}.{sleeper}.abcd")
    result = plan.execute()
    assert result.removed == ()
    assert "being downloaded" in result.skipped[0][1]
    assert (damaged_cache / key / "saved_model.pb").exists()


def test_delete_of_an_unknown_handle_is_a_clear_error(damaged_cache: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="Not in the cache"):
        hubmagic.plan_delete(["h/never"], str(damaged_cache))


def test_clear_removes_all_but_live_downloads(damaged_cache: Path) -> None:
    plan = hubmagic.plan_clear(str(damaged_cache))
    assert len(plan.items) == 6 and len(plan.skipped) == 1
    plan.execute()
    left = hubmagic.scan_cache(str(damaged_cache))
    assert [e.status for e in left.entries] == [Status.DOWNLOADING]


def test_prune_removes_least_recently_used_complete_models(
    tmp_path: Path, fake_models_dir: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    tiny = fake_models_dir / "google/tiny/1"
    add_model(cache, "h/old", tiny, age_days=30)
    add_model(cache, "h/middle", tiny, age_days=10)
    add_model(cache, "h/new", tiny, age_days=1)
    info = hubmagic.scan_cache(str(cache))
    one = info.entries[0].size
    plan = hubmagic.plan_prune(int(one * 1.5), str(cache))
    assert [i.entry.handle for i in plan.items] == ["h/old", "h/middle"]
    result = plan.execute()
    assert result.freed_size == sum(i.entry.size for i in plan.items)
    assert [e.handle for e in hubmagic.scan_cache(str(cache)).entries] == ["h/new"]
    assert hubmagic.prune(10 * one, str(cache)).removed == ()


def test_a_cache_hit_counts_as_use_for_prune(
    tmp_path: Path, fake_hub_server: HubServer, fake_models_dir: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    used = f"{fake_hub_server.url}/google/tiny/1"
    add_model(cache, used, fake_models_dir / "google/tiny/1", age_days=30)
    add_model(cache, "h/other", fake_models_dir / "google/tiny/2", age_days=10)
    hubmagic.resolve(used, cache_dir=str(cache))
    plan = hubmagic.plan_prune(1, str(cache))
    assert [i.entry.handle for i in plan.items] == ["h/other", used]


def test_resolve_repairs_a_damaged_cache(
    damaged_cache: Path, fake_hub_server: HubServer, fake_models_dir: Path
) -> None:
    """Each broken state, given to resolve under a real handle, ends complete."""
    tiny = fake_models_dir / "google/tiny/1"
    host = socket.gethostname()
    handles = {
        name: f"{fake_hub_server.url}/google/tiny/1?case={name}"
        for name in ("empty", "no-graph", "orphan", "dead-lock")
    }
    keys = {name: cache_key(h) for name, h in handles.items()}
    (damaged_cache / keys["empty"]).mkdir()
    shutil.copytree(tiny, damaged_cache / keys["no-graph"])
    (damaged_cache / keys["no-graph"] / "saved_model.pb").unlink()
    shutil.copytree(tiny, damaged_cache / f"{keys['orphan']}.0a1b.tmp")
    (damaged_cache / f"{keys['dead-lock']}.lock").write_text(f"{host}.{dead_pid()}.dd11")
    shutil.copytree(tiny, damaged_cache / f"{keys['dead-lock']}.dd11.tmp")

    for name, handle in handles.items():
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            path = hubmagic.resolve(handle, cache_dir=str(damaged_cache))
        categories = [w.category for w in record]
        expected = [hubmagic.CacheRepairWarning] if name in ("empty", "no-graph") else []
        assert categories == expected, name
        assert (Path(path) / "saved_model.pb").exists()
    entries = {e.key: e for e in hubmagic.scan_cache(str(damaged_cache)).entries}
    assert entries[keys["empty"]].status is Status.COMPLETE
    assert entries[keys["no-graph"]].status is Status.COMPLETE
    assert entries[keys["dead-lock"]].status is Status.COMPLETE
    assert entries[keys["orphan"]].status is Status.COMPLETE
    assert not list(damaged_cache.glob(f"{keys['orphan']}.*.tmp"))
