"""``hubmagic`` shows no password or URL signature, in text or in ``--json`` (run as a command)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubmagic.core.handle import cache_key
from hubmagic.server import HubServer
from tests.faulty_server import Fault, FaultyServer
from tests.secret_urls import (
    PASSWORD,
    assert_no_secret,
    assert_tree_clean,
    dead_port,
    signed_url,
    with_password,
)
from tests.subprocess_env import run_hubmagic

FAST = {"HUBMAGIC_RETRIES": "1", "HUBMAGIC_RETRY_BACKOFF": "0.01"}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = run_hubmagic(*args, timeout=120, **{**FAST, **env})
    assert_no_secret(result.stdout, result.stderr)
    return result


@pytest.fixture
def signing(fake_models_dir: Path) -> Iterator[FaultyServer]:
    """Redirects every request to a signed URL on a dead port (v4, then v2 signing)."""
    port = dead_port()
    redirects = [Fault(redirect=signed_url(port, v2=i % 2 == 1)) for i in range(20)]
    server = FaultyServer(b"", redirects)
    yield server
    server.stop()


def test_fetch_shows_no_secret(
    signing: FaultyServer, fake_hub_server: HubServer, cache: str
) -> None:
    failing = f"{signing.url}/m.tar.gz"
    secret_handle = with_password(f"{fake_hub_server.url}/google/tiny/1")
    text = _run("fetch", failing, secret_handle, "--cache", cache, "-j", "1")
    assert text.returncode == 1
    assert "connection failed" in text.stderr and "REDACTED" in text.stderr
    assert "http://REDACTED@127.0.0.1:" in text.stdout
    assert (Path(cache) / cache_key(secret_handle) / "saved_model.pb").is_file()
    as_json = _run("fetch", failing, secret_handle, "--cache", cache, "--json")
    failed, hit = json.loads(as_json.stdout)
    assert "REDACTED" in failed["error"] and hit["source"] == "cache"
    assert hit["handle"].startswith("http://REDACTED@127.0.0.1:")
    for args in (("cache", "ls"), ("cache", "ls", "--json")):
        listed = _run(*args, "--cache", cache)
        assert listed.returncode == 0, listed.stderr
        assert "REDACTED@127.0.0.1" in listed.stdout
    assert _run("cache", "verify", "--cache", cache).returncode == 0
    assert_tree_clean(cache)


def test_a_mirror_with_a_password_is_never_printed(fake_hub_server: HubServer, cache: str) -> None:
    endpoint = with_password(fake_hub_server.url)
    for args in (("info",), ("info", "--json")):
        result = _run(*args, HUBMAGIC_ENDPOINT=endpoint, TFHUB_CACHE_DIR=cache)
        assert result.returncode == 0, result.stderr
        assert "http://REDACTED@127.0.0.1:" in result.stdout
    missing = _run(
        "fetch", "https://tfhub.dev/google/nothing/1", "--cache", cache, HUBMAGIC_ENDPOINT=endpoint
    )
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr
    dead = with_password(f"http://127.0.0.1:{dead_port()}")
    unreachable = _run(
        "fetch", "https://tfhub.dev/google/tiny/1", "--cache", cache, HUBMAGIC_ENDPOINT=dead
    )
    assert unreachable.returncode == 1 and "REDACTED" in unreachable.stderr
    assert_tree_clean(Path(cache).parent)


def test_setup_shows_the_mirror_without_its_password(cache: str) -> None:
    endpoint = with_password("https://mirror.example.com/hub")
    common = ("setup", "local", "--cache", cache, "--endpoint", endpoint)
    dry = _run(*common, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "https://REDACTED@mirror.example.com/hub" in dry.stdout
    plan = json.loads(_run(*common, "--json").stdout)
    assert plan["endpoint"] == "https://REDACTED@mirror.example.com/hub"
    shown = _run(*common)
    assert "in place of REDACTED" in shown.stdout
    # The one exception: --print-env is for eval, so its export line must work.
    env = run_hubmagic(*common, "--print-env")
    assert PASSWORD in env.stdout and PASSWORD not in env.stderr
