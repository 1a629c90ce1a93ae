"""No secret in anything shown or kept: the rule, and the engine's records, events and files."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

import hubmagic
from hubmagic.core.cache import scan_cache
from hubmagic.core.errors import DownloadError, Fix, HubmagicError, ModelNotFoundError
from hubmagic.core.fetch import fetch
from hubmagic.core.handle import cache_key
from hubmagic.core.progress import ProgressEvent
from hubmagic.core.redact import REDACTED, redact, redact_data
from hubmagic.plan.info import info
from hubmagic.server import HubServer
from tests.core.test_http import model_archive
from tests.faulty_server import Fault, FaultyServer
from tests.secret_urls import (  # noqa: F401  (fast_retries: an autouse fixture)
    PASSWORD,
    SIGNATURE,
    assert_no_secret,
    assert_tree_clean,
    dead_port,
    fast_retries,
    signed_url,
    with_password,
)


@pytest.fixture
def archive(fake_models_dir: Path) -> bytes:
    return model_archive(fake_models_dir / "google/tiny/1")


@pytest.fixture
def signing(archive: bytes) -> Iterator[FaultyServer]:
    """A server that redirects every request to a signed URL on a dead port."""
    server = FaultyServer(archive, [Fault(redirect=signed_url(dead_port()))] * 20)
    yield server
    server.stop()


@pytest.fixture
def plain(archive: bytes) -> Iterator[FaultyServer]:
    server = FaultyServer(archive)
    yield server
    server.stop()


# -- the rule ---------------------------------------------------------------------
def test_userinfo_is_hidden_and_the_rest_of_the_url_kept() -> None:
    url = "https://alice:s3cret@mirror.example.com:8443/google/tiny/1?tf-hub-format=compressed"
    assert redact(url) == (
        "https://REDACTED@mirror.example.com:8443/google/tiny/1?tf-hub-format=compressed"
    )
    assert redact("http://token@host/x") == "http://REDACTED@host/x"


def test_signing_parameters_are_hidden_wherever_they_are() -> None:
    v4 = redact(signed_url(9))
    assert v4.startswith("http://127.0.0.1:9/bucket/model.tar.gz?X-Goog-Algorithm=REDACTED&")
    assert f"X-Goog-Signature={REDACTED}" in v4 and "X-Goog-Credential=REDACTED" in v4
    v2 = redact(signed_url(9, v2=True))
    assert v2.endswith(f"?GoogleAccessId={REDACTED}&Expires=1767225600&Signature={REDACTED}")
    # requests / urllib3 name the path without a scheme
    message = (
        "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
        f"/o?X-Goog-Signature={SIGNATURE} (Caused by NewConnectionError('refused'))"
    )
    assert redact(message) == message.replace(SIGNATURE, REDACTED)
    assert redact(f"<a href='/o?a=1&amp;Signature={SIGNATURE}'>") == (
        "<a href='/o?a=1&amp;Signature=REDACTED'>"
    )
    for text in (v4, v2, message):
        assert_no_secret(redact(text))


def test_plain_text_and_a_handle_own_query_are_unchanged() -> None:
    for text in (
        "https://tfhub.dev/google/spice/2",
        "https://host/m.tar.gz?version=3&tf-hub-format=compressed",
        "gs://bucket/model.tar.gz",
        "a = b, user@example.com",
        "",
    ):
        assert redact(text) == text
    twice = redact(with_password(signed_url(9)))
    assert redact(twice) == twice


def test_redact_data_walks_json() -> None:
    data: dict[str, object] = {
        "a": [with_password("http://h/x"), 3, None],
        "b": {"c": signed_url(1)},
    }
    assert_no_secret(repr(redact_data(data)))
    assert redact_data(data)["a"] == ["http://REDACTED@h/x", 3, None]


def test_errors_redact_their_message_fix_and_url_once() -> None:
    exc = DownloadError(
        f"Could not download {with_password('http://h/m.tar.gz')}",
        url=signed_url(1),
        fix=Fix(f"Open {signed_url(1)} in {{ls}}"),
    )
    assert_no_secret(str(exc), exc.message, exc.fix.text if exc.fix else "", str(exc.url))
    assert_no_secret(*map(str, exc.args), exc.describe("cli")[1] or "")
    assert "hubmagic cache ls" in (exc.describe("cli")[1] or "")


# -- end to end through the engine ----------------------------------------------------
@pytest.mark.parametrize("v2", [False, True])
def test_a_failed_redirect_to_a_signed_url_shows_no_signature(
    archive: bytes, cache: str, v2: bool
) -> None:
    server = FaultyServer(archive, [Fault(redirect=signed_url(dead_port(), v2=v2))] * 10)
    events: list[ProgressEvent] = []
    try:
        with pytest.raises(DownloadError) as info_:
            hubmagic.resolve(f"{server.url}/m.tar.gz", cache_dir=cache, progress=events.append)
    finally:
        server.stop()
    exc = info_.value
    assert "connection failed" in exc.message and "REDACTED" in exc.message
    shown = "".join(traceback.format_exception(exc))
    assert_no_secret(shown, str(exc), repr(exc), *(repr(e) for e in events))
    assert any(e.message for e in events)
    assert_tree_clean(Path(cache).parent)


def test_fetch_results_show_no_secret(
    signing: FaultyServer, plain: FaultyServer, cache: str
) -> None:
    handles = [f"{signing.url}/m.tar.gz", with_password(f"{plain.url}/m.tar.gz")]
    failed, fetched = fetch(handles, cache_dir=cache)
    assert not failed.ok and fetched.ok
    assert_no_secret(repr(failed.to_dict()), failed.line(), repr(fetched.to_dict()))
    assert fetched.handle == f"http://REDACTED@{plain.url[len('http://') :]}/m.tar.gz"
    assert_tree_clean(cache)


def test_a_handle_with_a_password_is_cached_under_its_own_key_and_never_written(
    plain: FaultyServer, cache: str
) -> None:
    handle = with_password(f"{plain.url}/m.tar.gz")
    events: list[ProgressEvent] = []
    path = hubmagic.resolve(handle, cache_dir=cache, progress=events.append)
    assert Path(path).name == cache_key(handle)  # tensorflow_hub's key, from the handle as given
    assert_tree_clean(cache)
    descriptor = Path(cache, cache_key(handle) + ".descriptor.txt").read_text()
    assert descriptor.startswith("Module: http://REDACTED@127.0.0.1:")
    assert_no_secret(*(repr(e) for e in events))
    assert {e.cache_key for e in events} == {cache_key(handle)}
    entry = scan_cache(cache).find(handle)
    assert entry is not None and entry.handle is not None and PASSWORD not in entry.label
    # A descriptor written by someone else (tensorflow_hub writes the handle as given).
    Path(cache, cache_key(handle) + ".descriptor.txt").write_text(f"Module: {handle}\n")
    assert_no_secret(repr(scan_cache(cache).to_dict()), scan_cache(cache).export_as_table())


def test_a_mirror_with_a_password_is_shown_without_it(
    fake_hub_server: HubServer, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBMAGIC_ENDPOINT", with_password(fake_hub_server.url))
    with pytest.raises(ModelNotFoundError) as missing:
        hubmagic.resolve("https://tfhub.dev/google/nothing-here/1", cache_dir=cache)
    assert_no_secret(str(missing.value), "".join(traceback.format_exception(missing.value)))
    report = info(cache)
    assert report.settings.value is not None
    assert report.settings.value.endpoint == f"http://REDACTED@{fake_hub_server.url[7:]}"
    assert_no_secret(repr(report.to_dict()), report.runtime.value.describe())  # type: ignore[union-attr]
    monkeypatch.setenv("HUBMAGIC_ENDPOINT", with_password(f"http://127.0.0.1:{dead_port()}"))
    with pytest.raises(HubmagicError) as unreachable:
        hubmagic.resolve("https://tfhub.dev/google/tiny/1", cache_dir=cache)
    assert_no_secret(str(unreachable.value), "".join(traceback.format_exception(unreachable.value)))
    assert_tree_clean(Path(cache).parent)
