"""Tests of ``python -m hubmagic info|setup|cache`` as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.core.handle import cache_key
from hubmagic.core.lock import lock_content, new_uid
from hubmagic.core.store import cache_error
from hubmagic.server import HubServer
from tests.subprocess_env import repo_env, run_hubmagic

TIMEOUT = 120


_run = run_hubmagic  # python -m hubmagic ARGS, output captured


def _json(*args: str, code: int = 0) -> Any:
    result = _run(*args, "--json")
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout)


def _failed_cleanly(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


@pytest.fixture
def filled(fake_hub_server: HubServer, cache: str) -> tuple[str, list[str]]:
    """A cache holding two models, fetched by ``hubmagic fetch``."""
    handles = [f"{fake_hub_server.url}/google/tiny/1", f"{fake_hub_server.url}/google/big/1"]
    result = _run("fetch", *handles, "--cache", cache)
    assert result.returncode == 0, result.stderr
    return cache, handles


# -- cache ------------------------------------------------------------------------------


def test_cache_ls_json_lists_fetched_models(filled: tuple[str, list[str]]) -> None:
    cache, handles = filled
    report = _json("cache", "ls", "--cache", cache)
    assert report["cache_dir"] == cache
    assert report["count"] == 2 and report["warnings"] == []
    by_handle = {e["handle"]: e for e in report["entries"]}
    assert set(by_handle) == set(handles)
    for handle, entry in by_handle.items():
        assert entry["key"] == cache_key(handle)
        assert entry["path"] == os.path.join(cache, cache_key(handle))
        assert entry["status"] == "complete" and entry["problem"] is None
        assert entry["size"] > 0 and isinstance(entry["last_used"], float)
    assert report["size"] == sum(e["size"] for e in report["entries"])

    table = _run("cache", "ls", "--cache", cache)
    assert table.returncode == 0, table.stderr
    assert all(h in table.stdout for h in handles) and "2 entries" in table.stdout


def test_cache_rm_acts_only_with_yes(filled: tuple[str, list[str]]) -> None:
    cache, handles = filled
    folder = Path(cache) / cache_key(handles[0])

    plan = _run("cache", "rm", handles[0], "--cache", cache)
    assert plan.returncode == 0, plan.stderr
    assert "Will delete 1 entry" in plan.stdout and "--yes" in plan.stdout
    assert folder.is_dir()

    report = _json("cache", "rm", handles[0], "--cache", cache, "--yes")
    assert [i["key"] for i in report["items"]] == [cache_key(handles[0])]
    assert report["executed"] is True
    assert report["result"]["removed"] == [cache_key(handles[0])]
    assert report["result"]["freed_size"] == report["expected_freed_size"] > 0
    assert not folder.exists()
    assert not Path(f"{folder}.descriptor.txt").exists()
    assert (Path(cache) / cache_key(handles[1]) / "saved_model.pb").is_file()


def test_cache_rm_of_an_unknown_handle_fails(filled: tuple[str, list[str]]) -> None:
    cache, _ = filled
    result = _run("cache", "rm", "https://tfhub.dev/nobody/nothing/1", "--cache", cache)
    _failed_cleanly(result, 1)
    assert result.stderr.startswith("hubmagic cache rm: error: Not in the cache")
    # One line for the error, one for its fix, naming the command, not the Python API.
    _error, fix = result.stderr.strip().splitlines()
    assert fix == "  fix: List what is there with hubmagic cache ls."
    assert len(_json("cache", "ls", "--cache", cache)["entries"]) == 2


def test_cache_rm_never_deletes_a_model_being_downloaded(filled: tuple[str, list[str]]) -> None:
    cache, handles = filled
    folder = Path(cache) / cache_key(handles[0])
    lock = Path(f"{folder}.lock")
    lock.write_text(lock_content(new_uid()))  # held by this (live) test process
    result = _run("cache", "rm", handles[0], "--cache", cache, "--yes")
    _failed_cleanly(result, 1)
    assert result.stderr.startswith("hubmagic cache rm: error: not removed:")
    assert (folder / "saved_model.pb").is_file() and lock.is_file()
    assert _run("cache", "verify", "--cache", cache).returncode == 0  # downloading is fine


def test_verify_finds_a_damaged_entry_and_repair_fixes_it(filled: tuple[str, list[str]]) -> None:
    cache, handles = filled
    assert _json("cache", "verify", "--cache", cache) == {
        "cache_dir": cache,
        "ok": True,
        "count": 2,
        "problems": [],
        "warnings": [],
    }
    damaged = Path(cache) / cache_key(handles[0])
    (damaged / "saved_model.pb").unlink()

    text = _run("cache", "verify", "--cache", cache)
    assert text.returncode == 1
    assert "1 of 2 entries needs attention" in text.stdout
    assert "hubmagic cache repair --yes" in text.stdout
    report = _json("cache", "verify", "--cache", cache, code=1)
    assert report["ok"] is False
    assert [(p["handle"], p["status"]) for p in report["problems"]] == [(handles[0], "partial")]

    plan = _json("cache", "repair", "--cache", cache)
    assert plan["action"] == "repair" and plan["executed"] is False and plan["result"] is None
    assert damaged.is_dir()

    fixed = _json("cache", "repair", "--cache", cache, "--yes")
    assert fixed["result"]["removed"] == [cache_key(handles[0])]
    assert not damaged.exists()
    assert _run("cache", "verify", "--cache", cache).returncode == 0
    assert [e["handle"] for e in _json("cache", "ls", "--cache", cache)["entries"]] == [handles[1]]


def test_prune_to_one_byte_empties_the_cache(filled: tuple[str, list[str]]) -> None:
    cache, handles = filled
    report = _json("cache", "prune", "--max-size", "1", "--cache", cache, "--yes")
    assert report["action"] == "prune"
    assert sorted(report["result"]["removed"]) == sorted(cache_key(h) for h in handles)
    assert _json("cache", "ls", "--cache", cache)["entries"] == []
    assert not any(Path(cache).iterdir())


def test_clear_json_without_yes_only_plans(filled: tuple[str, list[str]]) -> None:
    cache, handles = filled
    report = _json("cache", "clear", "--cache", cache)
    assert report["action"] == "clear" and report["executed"] is False
    assert sorted(i["handle"] for i in report["items"]) == sorted(handles)
    assert report["expected_freed_size"] == sum(i["size"] for i in report["items"]) > 0
    for handle in handles:
        assert (Path(cache) / cache_key(handle) / "saved_model.pb").is_file()


def test_cache_commands_on_an_empty_cache(cache: str) -> None:
    os.makedirs(cache)  # a --cache that does not exist is an error (test_cli_arguments.py)
    assert _json("cache", "ls", "--cache", cache)["entries"] == []
    result = _run("cache", "clear", "--cache", cache, "--yes")
    assert result.returncode == 0, result.stderr
    assert "Nothing to clear" in result.stdout


# -- info and setup ---------------------------------------------------------------------


def test_info_json(cache: str) -> None:
    report = _run("info", "--json", TFHUB_CACHE_DIR=cache)
    assert report.returncode == 0, report.stderr
    info = json.loads(report.stdout)
    runtime = info["runtime"]
    assert runtime["platform"] == "local"
    assert runtime["frontend"] == "none"
    assert runtime["accelerator"] in ("cpu", "gpu", "tpu-vm", "tpu-remote")
    assert set(runtime["packages"]) == {"tensorflow", "tensorflow-hub", "tf-keras"}
    assert {e["topic"] for e in info["evidence"]} >= {"platform", "frontend", "accelerator"}
    assert info["settings"]["cache_dir"] == cache
    assert info["settings"]["cache_dir_is_default"] is False
    assert info["settings"]["load_format"] in ("AUTO", "COMPRESSED")
    assert info["cache"] == {"cache_dir": cache, "entries": 0, "size": 0, "warnings": []}
    assert "hubmagic" in info["versions"]

    text = _run("info", TFHUB_CACHE_DIR=cache)
    assert text.returncode == 0, text.stderr
    assert "platform" in text.stdout and "Settings in force:" in text.stdout


def test_setup_dry_run_json(tmp_path: Path) -> None:
    folder = str(tmp_path / "models")
    plan = _json("setup", "--dry-run", "--cache", folder)
    assert plan["cache_dir"] == folder
    assert plan["mode"] == "local" and plan["load_format"] == "COMPRESSED"
    assert plan["env"]["TFHUB_CACHE_DIR"] == folder
    assert plan["applied"] is False and plan["ok"] is True and plan["problems"] == []
    assert plan["reasons"] and isinstance(plan["warnings"], list)
    assert plan["io_device"] is None
    assert not Path(folder).exists()  # planning creates nothing


def test_setup_prints_export_lines_for_the_shell(tmp_path: Path) -> None:
    folder = str(tmp_path / "my models")
    result = _run("setup", "cpu", "--cache", folder)
    assert result.returncode == 0, result.stderr
    assert "Setup (cpu profile):" in result.stdout
    assert f"export TFHUB_CACHE_DIR='{folder}'" in result.stdout
    assert "--print-env" in result.stdout

    env = _run("setup", "cpu", "--cache", folder, "--print-env")
    assert env.returncode == 0, env.stderr
    assert env.stdout.splitlines() == [
        f"export TFHUB_CACHE_DIR='{folder}'",
        "export TFHUB_MODEL_LOAD_FORMAT=COMPRESSED",
    ]
    assert "Setup (cpu profile):" in env.stderr  # the plan, out of eval's way
    shell = subprocess.run(
        ["sh", "-c", env.stdout + 'printf %s "$TFHUB_CACHE_DIR"'],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    assert shell.stdout == folder


def test_setup_with_problems_exits_1(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _run("setup", "--dry-run", "--json", "--cache", str(blocker / "cache"))
    _failed_cleanly(result, 1)
    plan = json.loads(result.stdout)
    assert plan["ok"] is False and plan["problems"]
    assert {"message", "fix"} <= set(plan["problems"][0])
    assert result.stderr.startswith("hubmagic setup: error: the plan has")

    env = _run("setup", "--print-env", "--cache", str(blocker / "cache"))
    _failed_cleanly(env, 1)
    assert env.stdout == ""  # eval "$(...)" then changes nothing


# -- usage and imports ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["cache"],
        ["cache", "rm"],
        ["cache", "prune"],
        ["cache", "prune", "--max-size", "lots"],
        ["cache", "ls", "--yes"],
        ["cache", "frobnicate"],
        ["setup", "bogus"],
        ["setup", "--probe", "https://tfhub.dev/google/nnlm-en-dim50/2"],
        ["setup", "--print-env", "--json"],
        ["info", "extra"],
    ],
)
def test_bad_usage_exits_2(args: list[str], cache: str) -> None:
    result = _run(*args, TFHUB_CACHE_DIR=cache)
    _failed_cleanly(result, 2)
    assert "usage:" in result.stderr
    assert result.stdout == ""


def test_no_tensorflow_is_imported(filled: tuple[str, list[str]]) -> None:
    cache, handles = filled
    code = f"""
import contextlib, io, sys
from hubmagic.cli import main
runs = [
    ["info"], ["info", "--json"],
    ["setup", "--dry-run", "--cache", {cache!r}], ["setup", "--json", "--cache", {cache!r}],
    ["cache", "ls", "--cache", {cache!r}], ["cache", "verify", "--json", "--cache", {cache!r}],
    ["cache", "rm", {handles[0]!r}, "--cache", {cache!r}, "--yes"],
    ["cache", "clear", "--cache", {cache!r}],
]
for argv in runs:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0, argv
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_hub"))
print(loaded)
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=repo_env(TFHUB_CACHE_DIR=cache),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert not (Path(cache) / cache_key(handles[0])).exists()


def test_fix_hints_name_commands_of_the_command_line(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()

    error = cache_error(OSError(28, "No space left on device"), str(full), "write")
    message, fix = error.describe("cli")
    assert message.endswith("the disk is full.")
    assert fix is not None and "hubmagic cache prune" in fix and "hubmagic setup --cache" in fix
    assert "%hub_cache" not in fix and "hubmagic.prune" not in fix
    assert "%hub_cache prune" in (error.describe("magic")[1] or "")
    assert "hubmagic.prune(" in str(error)  # Python users read the API's name


def test_info_with_a_broken_cache_still_reports_every_other_section(tmp_path: Path) -> None:
    broken = tmp_path / "cache-is-a-file"
    broken.write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "hubmagic", "info", "--json"],
        capture_output=True,
        text=True,
        env=repo_env(TFHUB_CACHE_DIR=str(broken)),
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["runtime"]["platform"] == "local"
    assert report["settings"]["cache_dir"] == str(broken)
    assert report["versions"]["hubmagic"] == hubmagic.__version__
    assert "error" in report["cache"] and str(broken) in report["cache"]["error"]
    text = _run("info", TFHUB_CACHE_DIR=str(broken))
    assert "Settings in force:" in text.stdout and "could not be read" in text.stdout
