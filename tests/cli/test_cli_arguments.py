"""The argument and path cases of ``tests/ui/test_magic_arguments.py``, through ``hubmagic``.

Each runs ``python -m hubmagic`` as a subprocess: an error is one line
``hubmagic <cmd>: error: ...`` and its fix line, exit 1 (2 for bad usage).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hubmagic.core.names import cache_key
from hubmagic.server import HubServer
from tests.subprocess_env import run_hubmagic


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_hubmagic(*args, TFHUB_CACHE_DIR=os.devnull + "-unused")


def _error(result: subprocess.CompletedProcess[str], code: int = 1) -> list[str]:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()


def test_a_cache_folder_with_spaces(tmp_path: Path) -> None:
    drive = tmp_path / "drive" / "My Drive" / "tfhub"
    result = _run("setup", "local", "--cache", str(drive), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"cache {drive}: given" in result.stdout


def test_an_empty_cache_is_an_error() -> None:
    assert _error(_run("setup", "--cache", "")) == [
        "hubmagic setup: error: cache is empty: give a folder or gs://bucket/prefix."
    ]
    assert _error(_run("cache", "ls", "--cache", "")) == [
        "hubmagic cache ls: error: cache is empty: give a folder or gs://bucket/prefix."
    ]


def test_a_file_as_cache_folder(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("x")
    result = _run("setup", "local", "--cache", str(file))
    assert result.returncode == 1
    assert f"x the cache folder {file} is a file, not a folder" in result.stdout
    assert _error(_run("cache", "ls", "--cache", str(file))) == [
        f"hubmagic cache ls: error: {file} is a file, not a cache folder.",
        "  fix: Check the path, or leave the cache option out to use the default cache.",
    ]


@pytest.mark.parametrize("action", [["ls"], ["verify"], ["clear", "--yes"]])
def test_a_cache_folder_that_does_not_exist(action: list[str]) -> None:
    command = f"hubmagic cache {action[0]}"
    assert _error(_run("cache", *action, "--cache", "/proc/nope")) == [
        f"{command}: error: The cache folder /proc/nope does not exist.",
        "  fix: Check the path, or leave the cache option out to use the default cache.",
    ]


def test_a_folder_that_is_not_a_cache_gets_one_warning() -> None:
    if not os.path.isdir("/sys/kernel"):
        pytest.fail("this test needs Linux's /sys/kernel")
    result = _run("cache", "ls", "--cache", "/sys/kernel")
    assert result.returncode == 0, result.stderr
    warnings = result.stdout.split("Warnings:\n", 1)[1].splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("  /sys/kernel is not a tensorflow_hub cache: none of its")


@pytest.mark.parametrize("size", ["-1G", "-5", "-0.5M"])
def test_a_negative_max_size_gets_the_size_error(cache: str, size: str) -> None:
    os.makedirs(cache)
    lines = _error(_run("cache", "prune", "--max-size", size, "--cache", cache), code=2)
    assert lines[-1] == (
        f"hubmagic cache prune: error: argument --max-size: {size!r} must be a positive size, "
        "like 500M or 2G."
    )


def test_an_unknown_io_device() -> None:
    assert _error(_run("setup", "--io-device", "/gpu0")) == [
        "hubmagic setup: error: io_device '/gpu0' is not a TensorFlow device name.",
        "  fix: Write it like /job:localhost, /cpu:0 or "
        "/job:localhost/replica:0/task:0/device:CPU:0.",
    ]


@pytest.mark.parametrize("tail", ["/", "//", "?tf-hub-format=compressed", "/?tf-hub-format=x"])
def test_a_handle_with_a_trailing_slash_or_a_format_query_downloads(
    fake_hub_server: HubServer, cache: str, tail: str
) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1{tail}"
    result = run_hubmagic("fetch", handle, "--cache", cache)
    assert result.returncode == 0, result.stderr
    # The cache key stays sha1 of the handle as given: tensorflow_hub's rule.
    assert (Path(cache) / cache_key(handle) / "saved_model.pb").is_file()
    assert result.stdout.split("\t")[:2] == [handle, str(Path(cache) / cache_key(handle))]


def test_fetch_into_a_file_says_it_is_a_file(fake_hub_server: HubServer, tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("x")
    handle = f"{fake_hub_server.url}/google/tiny/1"
    for cache, what in (
        (file, "is a file, not a folder"),
        (file / "tfhub", f"cannot be created: {file} is a file"),
    ):
        assert _error(run_hubmagic("fetch", handle, "--cache", str(cache))) == [
            f"hubmagic fetch: error: {handle}: The cache folder {cache} {what}.",
            "  fix: Choose a folder: hubmagic setup --cache DIR.",
        ]
