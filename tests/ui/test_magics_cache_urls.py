"""The magics on a file:// cache, and on a cache hubmagic does not store to (s3://)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from IPython.core.error import UsageError

import hubmagic
from hubmagic.server import HubServer
from tests.shell_fixtures import Shell

S3_LINE = (
    "TFHUB_CACHE_DIR='s3://bucket/x': hubmagic caches on local folders and gs:// only, "
    "not on s3://."
)


@pytest.mark.parametrize(
    ("magic", "line"), [("hub_cache", "ls"), ("hub_cache", "verify"), ("hub_setup", "--dry-run")]
)
def test_the_magics_on_an_s3_cache_say_it_in_one_line(
    shell: Shell, monkeypatch: pytest.MonkeyPatch, magic: str, line: str
) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", "s3://bucket/x")
    with pytest.raises(UsageError) as caught:
        shell.magic(magic, line)
    message, fix = str(caught.value).splitlines()
    assert message == S3_LINE
    assert fix.startswith("fix: Set TFHUB_CACHE_DIR to a local folder, a file:///abs/path URL")
    assert os.environ["TFHUB_CACHE_DIR"] == "s3://bucket/x"  # left as it was


def test_hub_cache_with_an_s3_cache_option_says_it_in_one_line(shell: Shell) -> None:
    with pytest.raises(UsageError) as caught:
        shell.magic("hub_cache", "ls --cache s3://bucket/y")
    message, _ = str(caught.value).splitlines()
    assert message.startswith("cache='s3://bucket/y': hubmagic caches on local folders and gs://")


def test_hub_info_shows_the_s3_cache_and_why_hubmagic_does_not_use_it(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", "s3://bucket/x")
    _, out = shell.show("%hub_info")
    assert "cache folder:   s3://bucket/x" in out and "Versions:" in out
    assert f"  could not be read: {S3_LINE}\n" in out[out.index("\nCache:") :]


def test_hub_cache_on_a_file_url_cache_lists_its_folder(
    shell: Shell,
    fake_hub_server: HubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFHUB_CACHE_DIR", f"file://{tmp_path}/filled")
    handle = f"{fake_hub_server.url}/google/tiny/1"
    assert hubmagic.resolve(handle).startswith(f"{tmp_path}/filled/")
    _, out = shell.show(f"%hub_cache ls --cache file://{tmp_path}/filled")
    assert handle in out and f"{tmp_path}/filled" in out and "file://" not in out
    assert not (tmp_path / "file:").exists()
