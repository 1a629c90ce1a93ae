"""``hubmagic cache`` and ``hubmagic info`` on a file:// cache, and on one hubmagic does not use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hubmagic.server import HubServer
from tests.subprocess_env import repo_env, run_hubmagic

S3_LINE = (
    "TFHUB_CACHE_DIR='s3://bucket/x': hubmagic caches on local folders and gs:// only, "
    "not on s3://."
)


def _run_in(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m hubmagic ARGS`` run from ``cwd`` (where a ``file:`` folder would appear)."""
    return subprocess.run(
        [sys.executable, "-m", "hubmagic", *args],
        env=repo_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cache_ls_on_an_s3_cache_says_it_in_one_line_and_fails() -> None:
    result = run_hubmagic("cache", "ls", TFHUB_CACHE_DIR="s3://bucket/x")
    assert result.returncode == 1, (result.stdout, result.stderr)
    message, fix = result.stderr.splitlines()
    assert message == f"hubmagic cache ls: error: {S3_LINE}"
    assert fix.startswith("  fix: Set TFHUB_CACHE_DIR to a local folder, a file:///abs/path URL")
    assert result.stdout == ""


def test_info_on_an_s3_cache_shows_it_with_the_reason_and_everything_else() -> None:
    result = run_hubmagic("info", TFHUB_CACHE_DIR="s3://bucket/x")
    assert "Traceback" not in result.stdout + result.stderr
    assert "  cache folder:   s3://bucket/x" in result.stdout
    cache_section = result.stdout[result.stdout.index("\nCache:") :].splitlines()
    assert cache_section[2] == f"  could not be read: {S3_LINE}"
    assert cache_section[3].startswith("  fix: Set TFHUB_CACHE_DIR")
    assert "Versions:" in result.stdout


def test_cache_commands_and_info_show_a_file_url_cache_as_its_folder(
    fake_hub_server: HubServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    url = f"file://{cache}"
    handle = f"{fake_hub_server.url}/google/tiny/1"
    fetched = _run_in(tmp_path, "fetch", handle, "--cache", url)
    assert fetched.returncode == 0, fetched.stderr
    listed = _run_in(tmp_path, "cache", "ls", TFHUB_CACHE_DIR=url)
    assert listed.returncode == 0, listed.stderr
    assert str(cache) in listed.stdout and handle in listed.stdout
    shown = _run_in(tmp_path, "info", TFHUB_CACHE_DIR=url)
    assert f"  cache folder:   {cache}\n" in shown.stdout
    assert "Cache: 1 entry, " in shown.stdout and f" in {cache}" in shown.stdout
    assert not (tmp_path / "file:").exists()


@pytest.mark.parametrize("value", ["hdfs://nn/x", "file://otherhost/x"])
def test_cache_ls_with_a_cache_option_hubmagic_does_not_use_fails_in_one_line(value: str) -> None:
    result = run_hubmagic("cache", "ls", "--cache", value)
    assert result.returncode == 1
    message, fix = result.stderr.splitlines()
    assert message.startswith(f"hubmagic cache ls: error: cache={value!r}")
    assert fix.startswith("  fix: ")
